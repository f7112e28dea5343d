"""The ``cilium-gitops`` command line: parses options, runs one pass, prints, sets the exit code.

Sits at the outermost edge. Options come from the command line, ``CILIUM_GITOPS_*`` environment
variables or a config file (see ``config``). Every error this package raises is turned into a
message and an exit code here, in one place:

* 0 success, whether or not a commit was needed;
* 1 runtime failure (git remote, control plane, workdir);
* 2 bad usage or configuration;
* 3 the valid policies were committed (or rendered) but some were rejected.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from reconciler import __version__
from reconciler.config import DEFAULT_PATH, env_var, load_config
from reconciler.controlplane.command import control_plane
from reconciler.errors import CiliumGitopsError, ConfigError, redact
from reconciler.history import history
from reconciler.logs import configure
from reconciler.review_commands import diff, explain
from reconciler.validate.command import validate

# The pass's modules (pydantic models, GitPython) are imported by the commands that use them:
# ``validate`` in CI starts once per run, and would otherwise pay for all of them.
if TYPE_CHECKING:
    from reconciler.gitops import GitSettings, Identity, Signing
    from reconciler.models import Rejection
    from reconciler.plan import Plan
    from reconciler.pull_request import Proposal
    from reconciler.sources import DesiredState, TlsFiles
    from reconciler.sync import PassOptions, SyncResult

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_REJECTED = 3
TOKEN_ENV = "CILIUM_GITOPS_GIT_TOKEN"  # noqa: S105 - the name of a variable, not a secret
CONTROL_PLANE_TOKEN_ENV = "CILIUM_GITOPS_TOKEN"  # noqa: S105 - the name of a variable

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("cilium_gitops")


def _option(name: str, **kwargs: Any) -> Callable[[F], F]:  # noqa: ANN401 - click's own kwargs
    """A click option that also reads ``CILIUM_GITOPS_<NAME>`` and shows it in --help."""
    return click.option(f"--{name}", envvar=env_var(name), show_envvar=True, **kwargs)


def _file_option(name: str, help: str) -> Callable[[F], F]:  # noqa: A002 - click's word
    """An option naming an existing file (a key, a certificate, a token)."""
    path = click.Path(dir_okay=False, exists=True, path_type=Path)
    return _option(name, type=path, default=None, help=help)


def _source_options(func: F) -> F:
    for decorator in reversed(
        [
            _option(
                "control-plane",
                required=True,
                metavar="URL",
                help="Where desired state comes from: file://PATH (YAML or JSON), "
                "grpc://HOST:PORT or grpcs://HOST:PORT.",
            ),
            _option("region", default=None, help="Only policies of this region (others skipped)."),
            _file_option(
                "ca-file",
                "PEM CA bundle for a grpcs:// control plane [default: system roots].",
            ),
            _file_option(
                "client-cert",
                "PEM client certificate for mutual TLS (with --client-key).",
            ),
            _file_option(
                "client-key",
                "PEM private key of --client-cert.",
            ),
            _option(
                "token-file",
                type=click.Path(dir_okay=False, path_type=Path),
                default=None,
                help=f"File holding the control plane's bearer token (or set "
                f"{CONTROL_PLANE_TOKEN_ENV} to the token itself).",
            ),
            _option(
                "templates",
                type=click.Path(file_okay=False, exists=True, path_type=Path),
                default=None,
                help="Folder overriding header.txt and/or commit-message.txt.",
            ),
            _option(
                "output",
                type=click.Choice(["text", "json"]),
                default="text",
                show_default=True,
                help="How to print the plan and result.",
            ),
        ]
    ):
        func = decorator(func)
    return func


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar=env_var("config"),
    show_envvar=True,
    help="YAML file of option values (keys are option names, e.g. 'repo: URL').",
)
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.version_option(__version__, prog_name="cilium-gitops")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, verbose: int) -> None:
    """Keep a GitOps repository's CiliumNetworkPolicies in step with a control plane."""
    level = logging.WARNING - 10 * min(verbose, 2)
    configure(level)
    if config is None:
        return
    known = {p.name for command in cli.commands.values() for p in command.params if p.name}
    values = _guard(lambda: load_config(config, known))
    ctx.default_map = {
        name: {p.name: values[p.name] for p in command.params if p.name in values}
        for name, command in cli.commands.items()
    }


def _git_options(func: F) -> F:
    """The options that say where and how to commit (shared by ``sync`` and ``run``)."""
    for decorator in reversed(_GIT_OPTIONS):
        func = decorator(func)
    return func


_GIT_OPTIONS: list[Callable[[Any], Any]] = [
    _option(
        "repo", required=True, metavar="URL", help="Git remote: file://, ssh://, https://, path."
    ),
    _option("branch", default="main", show_default=True, help="Branch Flux watches."),
    _option(
        "push-branch",
        default=None,
        metavar="TEMPLATE",
        help="Pull-request mode: push to this branch instead (e.g. 'cilium-gitops/{region}'), "
        "rebuilt on --branch every pass, with the pull request's title and body as a git note "
        "(refs/notes/cilium-gitops/BRANCH); deleted when nothing is pending.",
    ),
    _option(
        "path", default=DEFAULT_PATH, show_default=True, help="Managed folder in the repository."
    ),
    _option(
        "workdir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Clone to reuse between runs [default: a per-remote folder under ~/.cache].",
    ),
    _option("dry-run", is_flag=True, default=False, help="Print the plan; change nothing."),
    _option("author", default="cilium-gitops <cilium-gitops@localhost>", show_default=True),
    _option("committer", default=None, help="'Name <email>' [default: the author]."),
    _file_option(
        "git-token-file",
        f"File holding an HTTPS token (or set {TOKEN_ENV} to the token itself).",
    ),
    _file_option("ssh-key", "SSH private key for ssh:// remotes (with --known-hosts)."),
    _file_option(
        "known-hosts",
        "Pinned known_hosts for --ssh-key; host keys are checked strictly.",
    ),
    _file_option(
        "sign-ssh-key",
        "Sign commits with this SSH key (gpg.format=ssh): the private key, or its .pub when "
        "ssh-agent holds it. No passphrase: unencrypted or in an agent.",
    ),
    _option(
        "sign-openpgp-key",
        default=None,
        metavar="KEYID",
        help="Sign commits with this OpenPGP key id or fingerprint from gpg's keyring "
        "(GNUPGHOME). No passphrase: unencrypted or unlocked in gpg-agent.",
    ),
    _option(
        "verify-base",
        is_flag=True,
        default=False,
        help="Commit only on a head of --branch with a trusted signature (Flux's spec.verify "
        "checks HEAD only; ours must not vouch for an unsigned commit). Needs a signing key.",
    ),
    _file_option(
        "allowed-signers",
        "With --verify-base: git's allowed signers file for SSH signatures (OpenPGP ones are "
        "checked against gpg's keyring).",
    ),
    _option(
        "push-attempts",
        type=click.IntRange(1, 50),
        default=5,
        show_default=True,
        help="Push tries when another writer pushed first (fetch, re-plan, retry).",
    ),
]


@cli.command()
@_source_options
@_git_options
def sync(**kw: Any) -> None:  # noqa: ANN401 - click passes the options as keywords
    """Reconcile once: plan, commit and push the managed tree, then exit."""
    from reconciler.gitops import Workspace  # noqa: PLC0415 - see the imports
    from reconciler.sources import read_state  # noqa: PLC0415
    from reconciler.sync import reconcile  # noqa: PLC0415
    from reconciler.templates import load_templates  # noqa: PLC0415

    settings, options, workdir, cp_token = _git_setup(kw)

    def run() -> tuple[DesiredState, SyncResult]:
        templates = load_templates(kw["templates"])
        state = read_state(kw["control_plane"], region=kw["region"], token=cp_token, tls=_tls(kw))
        with Workspace(workdir, settings) as workspace:
            return state, reconcile(state, workspace, templates, options)

    secrets = (*settings.secrets, cp_token) if cp_token else settings.secrets
    _report_sync(kw, settings, options, _guard(run, secrets=secrets))


def _tls(kw: dict[str, Any]) -> TlsFiles:
    from reconciler.sources import TlsFiles  # noqa: PLC0415 - see the imports

    return TlsFiles(ca=kw["ca_file"], cert=kw["client_cert"], key=kw["client_key"])


def _git_setup(kw: dict[str, Any]) -> tuple[GitSettings, PassOptions, Path, str | None]:
    from reconciler.gitops import (  # noqa: PLC0415 - see the imports
        GitSettings,
        default_workdir,
        push_branch_name,
    )
    from reconciler.sync import Backoff, PassOptions  # noqa: PLC0415

    token = _read_token(kw["git_token_file"], "git-token-file", TOKEN_ENV)
    cp_token = _read_token(kw["token_file"], "token-file", CONTROL_PLANE_TOKEN_ENV)
    settings = _guard(
        lambda: GitSettings(
            url=kw["repo"],
            branch=kw["branch"],
            author=_guard(lambda: _identity(kw["author"], "--author")),
            committer=_guard(lambda: _identity(kw["committer"], "--committer"))
            if kw["committer"]
            else None,
            token=token,
            ssh_key=kw["ssh_key"],
            known_hosts=kw["known_hosts"],
            signing=_signing(kw),
            verify_base=kw["verify_base"],
            allowed_signers=kw["allowed_signers"],
            push_branch=_guard(
                lambda: push_branch_name(
                    kw["push_branch"], region=kw["region"], branch=kw["branch"]
                )
            )
            if kw["push_branch"]
            else None,
        )
    )
    if kw["known_hosts"] is not None and kw["ssh_key"] is None:
        _fail(EXIT_USAGE, "--known-hosts needs --ssh-key")
    options = PassOptions(
        path=kw["path"],
        region=kw["region"],
        dry_run=kw["dry_run"],
        backoff=Backoff(attempts=kw["push_attempts"]),
    )
    workdir = kw["workdir"] or default_workdir(kw["repo"], kw["branch"])
    return settings, options, workdir, cp_token


def _signing(kw: dict[str, Any]) -> Signing | None:
    """The commit-signing key, from at most one of the two signing options."""
    from reconciler.gitops import Signing  # noqa: PLC0415 - see the imports

    ssh_key, openpgp_key = kw["sign_ssh_key"], kw["sign_openpgp_key"]
    if ssh_key is not None and openpgp_key:
        _fail(EXIT_USAGE, "--sign-ssh-key and --sign-openpgp-key exclude each other; pick one")
    if ssh_key is not None:
        return _guard(lambda: Signing("ssh", str(ssh_key)))
    if openpgp_key:
        return _guard(lambda: Signing("openpgp", str(openpgp_key)))
    return None


def _report_sync(
    kw: dict[str, Any],
    settings: GitSettings,
    options: PassOptions,
    outcome: tuple[DesiredState, SyncResult],
) -> None:
    from reconciler.report import plan_json, proposal_json  # noqa: PLC0415 - see the imports

    state, result = outcome
    plan, commit, proposal = result.plan, result.commit, result.proposal
    rejections = state.rejections + plan.rejections
    if kw["output"] == "json":
        data = plan_json(plan, commit=commit, dry_run=options.dry_run, rejections=rejections)
        if proposal is not None:
            data["pull_request"] = proposal_json(proposal)
        click.echo(json.dumps(data, indent=2))
        sys.exit(EXIT_REJECTED if rejections else EXIT_OK)
    _print_text(plan, rejections)
    target = f"{kw['branch']} of {redact(kw['repo'], settings.secrets)}"
    if options.dry_run:
        click.echo(f"dry run: nothing written; {plan.summary}")
    elif proposal is not None:
        click.echo(_proposal_line(proposal, target, plan))
    elif commit is None:
        click.echo(f"up to date: {target} already matches version {plan.version}")
    else:
        click.echo(f"committed {commit[:12]} to {target}: {plan.summary}")
    sys.exit(EXIT_REJECTED if rejections else EXIT_OK)


def _proposal_line(proposal: Proposal, target: str, plan: Plan) -> str:
    if proposal.description is not None and proposal.commit is not None:
        return (
            f"proposed {proposal.commit[:12]} on {proposal.branch} for {target}: {plan.summary}\n"
            f"pull request: {proposal.description.title}"
        )
    if proposal.commit is not None:
        return (
            f"up to date: {proposal.branch} already proposes this change ({proposal.commit[:12]})"
        )
    if proposal.pushed:
        return f"nothing pending against {target}: deleted {proposal.branch}"
    return f"up to date: {target} already matches version {plan.version}; no pull request"


@cli.command()
@_source_options
@_option(
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write the managed tree into (no git).",
)
def render(**kw: Any) -> None:  # noqa: ANN401 - click passes the options as keywords
    """Write the managed tree for the desired state into a folder, without git."""
    from reconciler.report import plan_json  # noqa: PLC0415 - see the imports
    from reconciler.sources import read_state  # noqa: PLC0415
    from reconciler.sync import render_only  # noqa: PLC0415
    from reconciler.templates import load_templates  # noqa: PLC0415

    cp_token = _read_token(kw["token_file"], "token-file", CONTROL_PLANE_TOKEN_ENV)

    def run() -> tuple[DesiredState, Plan]:
        templates = load_templates(kw["templates"])
        state = read_state(kw["control_plane"], region=kw["region"], token=cp_token, tls=_tls(kw))
        kw["out"].mkdir(parents=True, exist_ok=True)
        return state, render_only(state, kw["out"], templates)

    state, plan = _guard(run, secrets=(cp_token,) if cp_token else ())
    rejections = state.rejections + plan.rejections
    if kw["output"] == "json":
        click.echo(
            json.dumps(plan_json(plan, commit=None, dry_run=False, rejections=rejections), indent=2)
        )
    else:
        _print_text(plan, rejections)
        click.echo(f"rendered into {kw['out']}")
    sys.exit(EXIT_REJECTED if rejections else EXIT_OK)


@cli.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to put the demo's repositories [default: a new temporary folder].",
)
def demo(directory: Path | None) -> None:
    """Run the whole flow on a local bare remote seeded from the sample repository."""
    from reconciler.demo import run_demo  # noqa: PLC0415 - only the demo needs it

    _guard(lambda: run_demo(directory, click.echo))


def _print_text(plan: Plan, rejections: tuple[Rejection, ...]) -> None:
    from reconciler.report import plan_lines, rejection_lines  # noqa: PLC0415 - see the imports

    for line in plan_lines(plan):
        click.echo(line)
    for line in rejection_lines(rejections):
        click.echo(line, err=True)


def _identity(value: str, option: str) -> Identity:
    from reconciler.gitops import Identity  # noqa: PLC0415 - see the imports

    name, sep, rest = value.partition("<")
    email = rest.removesuffix(">").strip()
    if not sep or not name.strip() or not email or not rest.endswith(">"):
        msg = f"{option} must look like 'Name <email>', got {value!r}"
        raise ConfigError(msg)
    return Identity(name.strip(), email)


def _read_token(path: Path | None, option: str, env: str) -> str | None:
    """The token in the file ``--option`` names, else the token itself in ``env``."""
    if path is not None:
        try:
            token = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            _fail(EXIT_USAGE, f"--{option} {path}: cannot read: {exc.strerror}")
        if not token:
            _fail(EXIT_USAGE, f"--{option} {path} is empty")
        return token
    return os.environ.get(env) or None


T = TypeVar("T")


def _guard(func: Callable[[], T], *, secrets: tuple[str, ...] = ()) -> T:
    """Run ``func``; turn our errors into a message and the exit code for their group."""
    try:
        return func()
    except ConfigError as exc:
        _fail(EXIT_USAGE, redact(str(exc), secrets))
    except CiliumGitopsError as exc:
        _fail(EXIT_FAILURE, redact(str(exc), secrets))


def _fail(code: int, message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@cli.command("run")
@_source_options
@_git_options
@_option(
    "batch-window",
    type=click.FloatRange(0),
    default=1.0,
    show_default=True,
    help="Seconds without a new event that close a batch (one commit per batch).",
)
@_option(
    "batch-max-wait",
    type=click.FloatRange(0),
    default=10.0,
    show_default=True,
    help="Longest a batch stays open while events keep arriving (each extends the window).",
)
@_option(
    "resync-interval",
    type=click.FloatRange(1),
    default=300.0,
    show_default=True,
    help="Seconds between full resyncs (jittered by 10%).",
)
@_option(
    "max-delete-share",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="A resync deleting more than this share of managed policies commits nothing.",
)
@_option(
    "http-address",
    default=None,
    metavar="HOST:PORT",
    help="Serve /healthz, /readyz and /metrics here (e.g. 0.0.0.0:8080) [default: off].",
)
@_option(
    "allow-mass-delete",
    is_flag=True,
    default=False,
    help="Lift the deletion guard (after checking the control plane is right).",
)
def run_service(**kw: Any) -> None:  # noqa: ANN401 - click passes the options as keywords
    """Run the service: follow the control plane's stream, batch, commit, resync; until stopped."""
    from reconciler.controller import Controller, RunSettings  # noqa: PLC0415 - grpc on demand
    from reconciler.gitops import Workspace  # noqa: PLC0415
    from reconciler.health import serve_http  # noqa: PLC0415
    from reconciler.sources import open_source  # noqa: PLC0415
    from reconciler.templates import load_templates  # noqa: PLC0415

    if not kw["control_plane"].startswith(("grpc://", "grpcs://")):
        _fail(EXIT_USAGE, "run needs a streaming control plane: --control-plane grpc://HOST:PORT")
    settings, options, workdir, cp_token = _git_setup(kw)
    run_settings = RunSettings(
        batch_window=kw["batch_window"],
        max_batch_wait=kw["batch_max_wait"],
        resync_interval=kw["resync_interval"],
        max_delete_share=None if kw["allow_mass_delete"] else kw["max_delete_share"],
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    def serve() -> None:
        templates = load_templates(kw["templates"])
        source = open_source(kw["control_plane"], region=kw["region"], token=cp_token, tls=_tls(kw))
        with Workspace(workdir, settings) as workspace:
            controller = Controller(source, workspace, templates, options, run_settings, stop=stop)  # type: ignore[arg-type]
            if kw["http_address"]:
                metrics, ready = controller.metrics, controller.status.ready.is_set
                _, port = serve_http(kw["http_address"], metrics, ready, controller.describe)
                log.warning("http: /healthz /readyz /metrics on port %d", port)
            log.warning(
                "running: %s -> %s", kw["control_plane"], redact(kw["repo"], settings.secrets)
            )
            controller.run()

    secrets = (*settings.secrets, cp_token) if cp_token else settings.secrets
    _guard(serve, secrets=secrets)
    log.warning("stopped")


cli.add_command(control_plane)
cli.add_command(validate)
cli.add_command(history)
cli.add_command(diff)
cli.add_command(explain)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="cilium-gitops")

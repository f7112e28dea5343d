"""Where option values come from, the options ``sync`` and ``run`` share, and the exit codes.

Sits under every command module. Every option has three sources, highest first: the command
line, an environment variable ``CILIUM_GITOPS_<OPTION>`` (``--control-plane`` ->
``CILIUM_GITOPS_CONTROL_PLANE``), and a YAML config file (``--config FILE`` or
``CILIUM_GITOPS_CONFIG``) whose keys are option names::

    control-plane: file:///etc/cilium-gitops/desired-state.yaml
    repo: ssh://git@git.example.com/platform/fleet.git
    branch: main
    region: eu-west-1
    ssh-key: /var/run/secrets/git/id_ed25519
    known-hosts: /var/run/secrets/git/known_hosts
    sign-ssh-key: /var/run/secrets/git-signing/id_ed25519

Secrets are never read from the config file itself: it names files (``git-token-file``,
``ssh-key``, ``sign-ssh-key``) or key ids (``sign-openpgp-key``) so the file can be committed
or shown without leaking anything.

Every error this package raises is turned into a message and an exit code by ``guard``, in one
place:

* 0 success, whether or not a commit was needed;
* 1 runtime failure (git remote, control plane, workdir);
* 2 bad usage or configuration;
* 3 the valid policies were committed (or rendered) but some were rejected;
* 4 the deletion guard refused the pass: nothing was committed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from reconciler.desired.limits import Limits
from reconciler.desired.names import DEFAULT_PATH
from reconciler.errors import CiliumGitopsError, ConfigError, MassDeletionError
from reconciler.scrub import printable, redact

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_REJECTED = 3
EXIT_GUARDED = 4
ENV_PREFIX = "CILIUM_GITOPS_"
TOKEN_ENV = "CILIUM_GITOPS_GIT_TOKEN"  # noqa: S105 - the name of a variable, not a secret
CONTROL_PLANE_TOKEN_ENV = "CILIUM_GITOPS_TOKEN"  # noqa: S105 - the name of a variable
# Keys a config file may not hold: the value itself is a secret.
_SECRET_KEYS = frozenset({"git-token", "token", "password"})

_LIMITS = Limits()  # the defaults; desired.limits says why each is what it is
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def env_var(option: str) -> str:
    """The environment variable for an option name (``dry-run`` -> ``CILIUM_GITOPS_DRY_RUN``)."""
    return ENV_PREFIX + option.upper().replace("-", "_")


def load_config(path: Path, known: Iterable[str]) -> dict[str, object]:
    """Read a config file into ``{parameter_name: value}``; unknown keys are an error."""
    from reconciler.desired.reading import load_document  # noqa: PLC0415 - ruamel on demand

    # A config file is a few lines; a megabyte is generous and keeps a wrong path harmless.
    document = load_document(path, max_bytes=1 << 20, what="config file")
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        msg = f"{path}: a config file is a mapping of option names to values"
        raise ConfigError(msg)
    allowed = {name.replace("_", "-") for name in known}
    values: dict[str, object] = {}
    for raw_key, value in document.items():
        key = str(raw_key).replace("_", "-")
        if key in _SECRET_KEYS:
            msg = f"{path}: {raw_key!r} would put a secret in the config file; use git-token-file"
            raise ConfigError(msg)
        if key not in allowed:
            msg = f"{path}: unknown option {raw_key!r}; known: {', '.join(sorted(allowed))}"
            raise ConfigError(msg)
        values[key.replace("-", "_")] = value
    return values


def option(name: str, **kwargs: Any) -> Callable[[F], F]:  # noqa: ANN401 - click's own kwargs
    """A click option that also reads ``CILIUM_GITOPS_<NAME>`` and shows it in --help."""
    return click.option(f"--{name}", envvar=env_var(name), show_envvar=True, **kwargs)


def file_option(name: str, help: str) -> Callable[[F], F]:  # noqa: A002 - click's word
    """An option naming an existing file (a key, a certificate, a token)."""
    path = click.Path(dir_okay=False, exists=True, path_type=Path)
    return option(name, type=path, default=None, help=help)


def _apply(decorators: list[Callable[[Any], Any]], func: F) -> F:
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def source_options(func: F) -> F:
    """Where the desired state comes from and how results are printed (every pass command)."""
    return _apply(_SOURCE_OPTIONS, func)


def git_options(func: F) -> F:
    """The options that say where and how to commit (shared by ``sync`` and ``run``)."""
    return _apply(_GIT_OPTIONS, func)


_SOURCE_OPTIONS: list[Callable[[Any], Any]] = [
    option(
        "control-plane",
        required=True,
        metavar="URL",
        help="Where desired state comes from: file://PATH (YAML or JSON), "
        "grpc://HOST:PORT or grpcs://HOST:PORT.",
    ),
    option("region", default=None, help="Only policies of this region (others skipped)."),
    file_option("ca-file", "PEM CA bundle for a grpcs:// control plane [default: system roots]."),
    file_option("client-cert", "PEM client certificate for mutual TLS (with --client-key)."),
    file_option("client-key", "PEM private key of --client-cert."),
    option(
        "token-file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help=f"File holding the control plane's bearer token (or set "
        f"{CONTROL_PLANE_TOKEN_ENV} to the token itself).",
    ),
    option(
        "templates",
        type=click.Path(file_okay=False, exists=True, path_type=Path),
        default=None,
        help="Folder overriding header.txt and/or commit-message.txt.",
    ),
    option(
        "output",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="How to print the plan and result.",
    ),
    option(
        "control-plane-timeout",
        type=click.FloatRange(1),
        default=60.0,
        show_default=True,
        help="Seconds a list or get may go without progress before it is cut and retried.",
    ),
    option(
        "control-plane-keepalive",
        type=click.FloatRange(1),
        default=300.0,
        show_default=True,
        help="Ping an idle watch this often; a stream whose pings go unanswered is reopened "
        "(gRPC servers refuse pings more often than every 5 minutes unless told otherwise).",
    ),
    # The input limits (docs/configuration.md, "Limits").
    option(
        "max-state-bytes",
        type=click.IntRange(1),
        default=_LIMITS.state_bytes,
        show_default=True,
        help="Refuse a desired-state file larger than this, unread.",
    ),
    option(
        "max-policy-bytes",
        type=click.IntRange(1),
        default=_LIMITS.policy_bytes,
        show_default=True,
        help="Reject a policy whose rendered file is larger (the API server stores 1.5 MiB).",
    ),
    option(
        "max-policies",
        type=click.IntRange(1),
        default=_LIMITS.policies,
        show_default=True,
        help="Refuse a desired state with more policies than this; nothing is changed.",
    ),
    option(
        "max-message-bytes",
        type=click.IntRange(1024),
        default=_LIMITS.message_bytes,
        show_default=True,
        help="Largest gRPC message read from the control plane.",
    ),
]

_GIT_OPTIONS: list[Callable[[Any], Any]] = [
    option(
        "repo", required=True, metavar="URL", help="Git remote: file://, ssh://, https://, path."
    ),
    option("branch", default="main", show_default=True, help="Branch Flux watches."),
    option(
        "push-branch",
        default=None,
        metavar="TEMPLATE",
        help="Pull-request mode: push to this branch instead (e.g. 'cilium-gitops/{region}'), "
        "rebuilt on --branch every pass, with the pull request's title and body as a git note "
        "(refs/notes/cilium-gitops/BRANCH); deleted when nothing is pending.",
    ),
    option(
        "path", default=DEFAULT_PATH, show_default=True, help="Managed folder in the repository."
    ),
    option(
        "workdir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Clone to reuse between runs [default: a per-remote folder under ~/.cache].",
    ),
    option("dry-run", is_flag=True, default=False, help="Print the plan; change nothing."),
    option("author", default="cilium-gitops <cilium-gitops@localhost>", show_default=True),
    option("committer", default=None, help="'Name <email>' [default: the author]."),
    file_option(
        "git-token-file",
        f"File holding an HTTPS token (or set {TOKEN_ENV} to the token itself).",
    ),
    file_option("ssh-key", "SSH private key for ssh:// remotes (with --known-hosts)."),
    file_option("known-hosts", "Pinned known_hosts for --ssh-key; host keys are checked strictly."),
    file_option(
        "sign-ssh-key",
        "Sign commits with this SSH key (gpg.format=ssh): the private key, or its .pub when "
        "ssh-agent holds it. No passphrase: unencrypted or in an agent.",
    ),
    option(
        "sign-openpgp-key",
        default=None,
        metavar="KEYID",
        help="Sign commits with this OpenPGP key id or fingerprint from gpg's keyring "
        "(GNUPGHOME). No passphrase: unencrypted or unlocked in gpg-agent.",
    ),
    option(
        "verify-base",
        is_flag=True,
        default=False,
        help="Commit only on a head of --branch with a trusted signature (Flux's spec.verify "
        "checks HEAD only; ours must not vouch for an unsigned commit). Needs a signing key.",
    ),
    file_option(
        "allowed-signers",
        "With --verify-base: git's allowed signers file for SSH signatures (OpenPGP ones are "
        "checked against gpg's keyring).",
    ),
    option(
        "max-delete-share",
        type=click.FloatRange(0, 1),
        default=0.5,
        show_default=True,
        help="A pass (a resync, for run) deleting more than this share of the managed policies "
        "commits nothing; an empty desired state never deletes without --allow-mass-delete.",
    ),
    option(
        "allow-mass-delete",
        is_flag=True,
        default=False,
        help="Lift the deletion guard for this run (after checking the control plane is right).",
    ),
    option(
        "git-timeout",
        type=click.FloatRange(1),
        default=60.0,
        show_default=True,
        help="Seconds a fetch or push may go without progress before it is cut and retried.",
    ),
    option(
        "push-attempts",
        type=click.IntRange(1, 50),
        default=5,
        show_default=True,
        help="Push tries when another writer pushed first (fetch, re-plan, retry).",
    ),
]


def read_token(path: Path | None, option_name: str, env: str) -> str | None:
    """The token in the file ``--option_name`` names, else the token itself in ``env``."""
    if path is not None:
        try:
            token = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            fail(EXIT_USAGE, f"--{option_name} {path}: cannot read: {exc.strerror}")
        if not token:
            fail(EXIT_USAGE, f"--{option_name} {path} is empty")
        return token
    return os.environ.get(env) or None


def guard(func: Callable[[], T], *, secrets: tuple[str, ...] = ()) -> T:
    """Run ``func``; turn our errors into a message and the exit code for their group."""
    try:
        return func()
    except MassDeletionError as exc:
        fail(EXIT_GUARDED, redact(str(exc), secrets))
    except ConfigError as exc:
        fail(EXIT_USAGE, redact(str(exc), secrets))
    except CiliumGitopsError as exc:
        fail(EXIT_FAILURE, redact(str(exc), secrets))


def fail(code: int, message: str) -> NoReturn:
    """Print ``error: message`` on stderr, on one line, and exit with ``code``."""
    click.echo(f"error: {printable(message)}", err=True)
    sys.exit(code)

"""The demo's script: the whole flow, offline, on a temporary local remote.

Run by ``cilium-gitops demo`` (``commands.demo``), it uses the same pieces as ``sync`` and
``run``: it seeds a bare repository from the shipped ``sample-repo`` (without the generated
policies) and starts the reference control plane on 127.0.0.1, serving the sample desired state
over real gRPC. Then:

1. the first sync renders and pushes every sample policy in one commit;
2. one policy changes and another is removed: the second commit updates one file, deletes one;
3. nothing changed: the third sync makes no commit;
4. the long-running service follows the control plane's stream: a live edit becomes a commit;
5. pull-request mode (``--push-branch``): the control plane opens the storefront to the world,
   and the change arrives as a signed commit on ``cilium-gitops/eu-west-1`` with the pull
   request's title and description (flows, risks, control-plane version) beside it.

Everything lives under one folder that is printed, so a user can ``git log`` the result.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ruamel.yaml import YAML

from reconciler.controlplane.client import GrpcSource
from reconciler.controlplane.endpoint import Endpoint
from reconciler.controlplane.server import ReferenceControlPlane, RunningServer, start
from reconciler.desired.names import DEFAULT_PATH
from reconciler.errors import SourceUnavailableError, StalledError
from reconciler.gitops import GitSettings, Identity, Signing, Workspace, init_bare, notes_ref
from reconciler.gitops.log import describe
from reconciler.reconcile.passes import PassOptions, SyncResult, reconcile
from reconciler.reconcile.plan import Plan
from reconciler.reconcile.report import plan_lines
from reconciler.render.templates import data_dir, load_templates
from reconciler.service.controller import Controller
from reconciler.service.run_settings import RunSettings

if TYPE_CHECKING:
    from collections.abc import Callable

BRANCH = "main"
DESIRED_STATE = "desired-state.yaml"
# The policy the demo edits and the one it removes between the first and second sync.
EDITED = ("shop", "allow-get-only")
REMOVED = ("payments", "allow-dns-egress")
# The policy edited live in step 4, and the region the sample's policies belong to.
LIVE = ("shop", "default-deny-ingress")
REGION = "eu-west-1"
PROPOSAL_BRANCH = f"cilium-gitops/{REGION}"
# Step 5's change: a new policy letting the world reach the storefront over HTTPS.
PUBLIC_STOREFRONT: dict[str, Any] = {
    "id": "cp-shop-allow-public-storefront",
    "namespace": "shop",
    "name": "allow-public-storefront",
    "region": REGION,
    "policy": {
        "description": "Let customers reach the storefront",
        "endpointSelector": {"matchLabels": {"app": "storefront"}},
        "ingress": [
            {
                "fromEntities": ["world"],
                "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}],
            }
        ],
    },
}


@dataclass(frozen=True, slots=True)
class DemoResult:
    """Where the demo left things and what each pass did."""

    base: Path
    remote_url: str
    workdir: Path
    passes: tuple[SyncResult, ...]


def run_demo(directory: Path | None, echo: Callable[[str], None]) -> DemoResult:
    """Seed a local remote, run the five steps, and narrate them through ``echo``."""
    base = directory or Path(tempfile.mkdtemp(prefix="cilium-gitops-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    sample = data_dir("sample-repo")
    remote_url = init_bare(base / "remote.git", BRANCH)
    settings = GitSettings(url=remote_url, branch=BRANCH)
    _seed(
        sample,
        base / "seed",
        GitSettings(remote_url, BRANCH, Identity("Platform Team", "platform@example.com")),
    )
    desired = base / "control-plane" / DESIRED_STATE
    desired.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sample / DESIRED_STATE, desired)
    servicer = ReferenceControlPlane()
    servicer.load_file(desired)
    server = start(servicer)
    echo(f"demo folder:    {base}")
    echo(f"bare remote:    {remote_url} (seeded from the sample Flux repository)")
    echo(f"control plane:  {server.url} (the reference server, serving {desired})")
    try:
        passes = _passes(server, desired, settings, base / "workdir", echo)
        passes.append(_live(server, desired, settings, base / "workdir", echo))
        passes.append(_pull_request(server, desired, settings, base, echo))
    finally:
        server.stop()
    workdir = base / "workdir"
    echo("")
    echo(f"look around:    git -C {workdir} log --stat")
    echo(f"                kubectl kustomize {workdir / DEFAULT_PATH}")
    echo(f"                git -C {base / 'remote.git'} log -p main..{PROPOSAL_BRANCH}")
    echo(f"                cilium-gitops diff --repo {workdir} main origin/{PROPOSAL_BRANCH}")
    echo(f"                cat {base / 'pull-request' / 'body.md'}")
    return DemoResult(base, remote_url, workdir, tuple(passes))


def _source(server: RunningServer) -> GrpcSource:
    return GrpcSource(Endpoint(f"127.0.0.1:{server.port}", tls=False), region=REGION)


def _passes(
    server: RunningServer,
    desired: Path,
    settings: GitSettings,
    workdir: Path,
    echo: Callable[[str], None],
) -> list[SyncResult]:
    """Steps 1 to 3: one ``sync`` each, as ``cilium-gitops sync`` runs it."""
    templates = load_templates()
    passes: list[SyncResult] = []
    steps: list[tuple[str, Callable[[], None] | None]] = [
        ("1. first sync: render every desired policy", None),
        (
            f"2. the control plane changes {'/'.join(EDITED)} and removes {'/'.join(REMOVED)}",
            lambda: _edit_and_publish(server, desired),
        ),
        ("3. sync again with nothing changed: no commit", None),
    ]
    with Workspace(workdir, settings) as workspace:
        for title, before in steps:
            echo("")
            echo(f"== {title}")
            if before is not None:
                before()
            with _source(server) as source:
                result = reconcile(source.desired, workspace, templates, PassOptions())
            passes.append(result)
            for line in plan_lines(result.plan):
                echo(f"   {line}")
            if result.commit is None:
                echo("   no commit: the repository already matches the control plane")
                continue
            echo("")
            echo(_indent(describe(workspace, result.commit)))
            if len(passes) == 1:
                echo("   tree:")
                echo(_indent(_tree(workdir / DEFAULT_PATH), "     "))
    return passes


def _live(
    server: RunningServer,
    desired: Path,
    settings: GitSettings,
    workdir: Path,
    echo: Callable[[str], None],
) -> SyncResult:
    """Step 4: ``cilium-gitops run`` follows the stream; one live edit becomes one commit."""
    echo("")
    echo(f"== 4. the service follows the stream: the control plane edits {'/'.join(LIVE)}")
    stop = threading.Event()
    run_settings = RunSettings(batch_window=0.2, resync_interval=3600)
    with _source(server) as source, Workspace(workdir, settings) as workspace:
        controller = Controller(
            source, workspace, load_templates(), PassOptions(), run_settings, stop=stop
        )
        thread = threading.Thread(target=controller.run, daemon=True)
        thread.start()
        try:
            _wait(controller.status.ready.is_set, "the service's first resync")
            _edit_desired_state(desired, edited=LIVE, removed=None, note="live edit")
            version = server.servicer.load_file(desired)
            echo(f"   control plane: version {version}; the service gets the event and commits")
            _wait(lambda: controller.status.commits > 0, "the live commit")
        finally:
            stop.set()
            thread.join(timeout=30)
        head = workspace.head()
        echo("")
        echo(_indent(describe(workspace, head or "HEAD")))
    return SyncResult(Plan(changes=()), head, 1)


def _pull_request(
    server: RunningServer,
    desired: Path,
    settings: GitSettings,
    base: Path,
    echo: Callable[[str], None],
) -> SyncResult:
    """Step 5: ``sync --push-branch``: a signed proposal branch and its description."""
    echo("")
    echo("== 5. pull-request mode: the control plane opens shop's storefront to the world")
    document: Any = _yaml().load(desired)
    document["policies"].append({**PUBLIC_STOREFRONT, "version": int(document["version"]) + 1})
    with desired.open("w", encoding="utf-8") as handle:
        _yaml().dump(document, handle)
    version = server.servicer.load_file(desired)
    signing, signers = _signing_key(base / "signing")
    proposing = dataclasses.replace(settings, push_branch=PROPOSAL_BRANCH, signing=signing)
    with _source(server) as source, Workspace(base / "workdir", proposing) as workspace:
        options = PassOptions(region=REGION)
        result = reconcile(source.desired, workspace, load_templates(), options)
        for line in plan_lines(result.plan):
            echo(f"   {line}")
        proposal = result.proposal
        if proposal is None or proposal.commit is None or proposal.description is None:
            msg = "demo: pull-request mode proposed nothing"
            raise StalledError(msg)
        echo(f"   control plane: version {version}; main is unchanged")
        echo(f"   pushed {proposal.commit[:12]} to {proposal.branch}, one commit on top of main")
        if signers is not None:
            key = workspace.verify(proposal.commit, allowed_signers=signers)
            echo(f"   git verify-commit: good signature, ssh key {key}")
        else:
            echo("   (ssh-keygen is not installed: the commit is not signed)")
    folder = base / "pull-request"
    folder.mkdir(exist_ok=True)
    (folder / "title.txt").write_text(proposal.description.title + "\n", encoding="utf-8")
    (folder / "body.md").write_text(proposal.description.body + "\n", encoding="utf-8")
    echo(f"   the pull request, as the workflow reads it from {notes_ref(proposal.branch)}:")
    echo("")
    for line in proposal.description.note.rstrip("\n").splitlines():
        echo(f"   | {line}".rstrip())
    echo(f"   (also in {folder}/title.txt and body.md)")
    return result


def _signing_key(folder: Path) -> tuple[Signing | None, Path | None]:
    """A fresh ed25519 key and an allowed-signers file trusting it, if ssh-keygen is here."""
    program = shutil.which("ssh-keygen")
    if program is None:
        return None, None
    folder.mkdir(parents=True, exist_ok=True)
    key = folder / "id_ed25519"
    key.unlink(missing_ok=True)
    command = [program, "-q", "-t", "ed25519", "-N", "", "-C", "demo", "-f", str(key)]
    subprocess.run(command, check=True, capture_output=True)  # noqa: S603 - fixed argv, no shell
    public = Path(f"{key}.pub").read_text(encoding="utf-8")
    signers = folder / "allowed_signers"
    signers.write_text(f'cilium-gitops@localhost namespaces="git" {public}', encoding="utf-8")
    return Signing("ssh", str(key)), signers


def _edit_and_publish(server: RunningServer, desired: Path) -> None:
    _edit_desired_state(desired)
    server.servicer.load_file(desired)


def _wait(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            msg = f"demo: timed out waiting for {what}"
            raise SourceUnavailableError(msg)
        time.sleep(0.05)


def _seed(sample: Path, seed_dir: Path, settings: GitSettings) -> None:
    """Push the sample repository, minus what the tool generates, as the remote's first commit."""
    with Workspace(seed_dir, settings) as seed:
        seed.update()
        shutil.copytree(
            sample,
            seed.path,
            dirs_exist_ok=True,
            ignore=lambda folder, _names: _generated(sample, Path(folder)),
        )
        seed.commit(seed.path, "Flux repository layout: clusters and Cilium", {})
        seed.push()


def _generated(sample: Path, folder: Path) -> set[str]:
    if folder == sample:
        return {DESIRED_STATE}
    if folder == sample / "infrastructure":
        return {Path(DEFAULT_PATH).name}
    return set()


def _edit_desired_state(
    path: Path,
    *,
    edited: tuple[str, str] = EDITED,
    removed: tuple[str, str] | None = REMOVED,
    note: str = "reviewed by the platform team",
) -> None:
    """Change one policy's body and drop another, as a control-plane operator would."""
    yaml = _yaml()
    document: Any = yaml.load(path)
    kept = []
    for entry in document["policies"]:
        key = (entry.get("namespace"), entry.get("name"))
        if key == removed:
            continue
        if key == edited:
            body = entry["policy"]
            spec = body.get("spec", body)
            spec["description"] = f"{spec.get('description', key[1])}; {note}"
            entry["version"] = int(document.get("version") or 0) + 100
        kept.append(entry)
    document["policies"] = kept
    with path.open("w", encoding="utf-8") as handle:
        yaml.dump(document, handle)


def _yaml() -> YAML:
    yaml = YAML()
    yaml.width = 100  # the sample's own width, so a dump changes only what was edited
    return yaml


def _tree(root: Path) -> str:
    return "\n".join(
        str(path.relative_to(root)) for path in sorted(root.rglob("*")) if path.is_file()
    )


def _indent(text: str, prefix: str = "   ") -> str:
    return "\n".join(prefix + line if line else line for line in text.rstrip("\n").splitlines())

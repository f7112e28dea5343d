"""``cilium-gitops demo``: the whole flow, offline, on a temporary local remote.

Sits beside the CLI and uses the same pieces as ``sync``: it seeds a bare repository from the
shipped ``sample-repo`` (without the generated policies), then runs three passes against it from
a control-plane file it edits between passes:

1. the first sync renders and pushes every sample policy in one commit;
2. one policy changes and another is removed: the second commit updates one file, deletes one;
3. nothing changed: the third sync makes no commit.

Everything lives under one folder that is printed, so a user can ``git log`` the result.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ruamel.yaml import YAML

from reconciler.gitops import GitSettings, Identity, Workspace, init_bare
from reconciler.report import plan_lines
from reconciler.sources import FileSource
from reconciler.sync import DEFAULT_PATH, PassOptions, SyncResult, reconcile
from reconciler.templates import data_dir, load_templates

if TYPE_CHECKING:
    from collections.abc import Callable

BRANCH = "main"
DESIRED_STATE = "desired-state.yaml"
# The policy the demo edits and the one it removes between the first and second sync.
EDITED = ("shop", "allow-get-only")
REMOVED = ("payments", "allow-dns-egress")


@dataclass(frozen=True, slots=True)
class DemoResult:
    """Where the demo left things and what each pass did."""

    base: Path
    remote_url: str
    workdir: Path
    passes: tuple[SyncResult, ...]


def run_demo(directory: Path | None, echo: Callable[[str], None]) -> DemoResult:
    """Seed a local remote, run three syncs, and narrate them through ``echo``."""
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
    echo(f"demo folder:    {base}")
    echo(f"bare remote:    {remote_url} (seeded from the sample Flux repository)")
    echo(f"control plane:  {desired}")
    templates = load_templates()
    workdir = base / "workdir"
    passes: list[SyncResult] = []
    steps: list[tuple[str, Callable[[], None] | None]] = [
        ("1. first sync: render every desired policy", None),
        (
            f"2. the control plane changes {'/'.join(EDITED)} and removes {'/'.join(REMOVED)}",
            lambda: _edit_desired_state(desired),
        ),
        ("3. sync again with nothing changed: no commit", None),
    ]
    with Workspace(workdir, settings) as workspace:
        for title, before in steps:
            echo("")
            echo(f"== {title}")
            if before is not None:
                before()
            state = FileSource(desired).desired()
            result = reconcile(state, workspace, templates, PassOptions())
            passes.append(result)
            for line in plan_lines(result.plan):
                echo(f"   {line}")
            if result.commit is None:
                echo("   no commit: the repository already matches the control plane")
                continue
            echo("")
            echo(_indent(workspace.describe(result.commit)))
            if len(passes) == 1:
                echo("   tree:")
                echo(_indent(_tree(workdir / DEFAULT_PATH), "     "))
    echo("")
    echo(f"look around:    git -C {workdir} log --stat")
    echo(f"                kubectl kustomize {workdir / DEFAULT_PATH}")
    return DemoResult(base, remote_url, workdir, tuple(passes))


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


def _edit_desired_state(path: Path) -> None:
    """Change one policy's body and drop another, as a control-plane operator would."""
    yaml = YAML()
    document: Any = yaml.load(path)
    kept = []
    for entry in document["policies"]:
        key = (entry.get("namespace"), entry.get("name"))
        if key == REMOVED:
            continue
        if key == EDITED:
            body = entry["policy"]
            spec = body.get("spec", body)
            spec["description"] = "Catalog answers GET only; reviewed by the platform team"
            entry["version"] = int(document.get("version") or 0) + 100
        kept.append(entry)
    document["policies"] = kept
    with path.open("w", encoding="utf-8") as handle:
        yaml.dump(document, handle)


def _tree(root: Path) -> str:
    return "\n".join(
        str(path.relative_to(root)) for path in sorted(root.rglob("*")) if path.is_file()
    )


def _indent(text: str, prefix: str = "   ") -> str:
    return "\n".join(prefix + line if line else line for line in text.rstrip("\n").splitlines())

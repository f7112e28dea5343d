"""The managed tree of a commit as git lists it, and where a pass keeps what it learned of it.

Sits beside ``workspace``: a pass reads the tree it plans against from the commit (one
``git ls-tree``) rather than from disk, and the tree cache (``render.tree_cache``) says what is
known of each blob. The cache lives in the workdir's ``.git``, where nothing is committed and a
fresh clone starts without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from reconciler.gitops.workspace import Workspace


def list_tree(workspace: Workspace, root: Path) -> dict[str, tuple[str, str]]:
    """Every file under ``root`` in HEAD: path from ``root`` -> (git mode, blob id).

    Read from the commit, not from disk: 100,000 files in a few hundredths of a second.
    """
    relative = root.relative_to(workspace.path).as_posix()
    output = workspace.run("ls-tree", "-r", "-z", "--full-tree", "HEAD", "--", relative)
    prefix = relative + "/"
    found: dict[str, tuple[str, str]] = {}
    for line in output.split("\0"):
        meta, tab, path = line.partition("\t")
        if not tab or not path.startswith(prefix):
            continue
        mode, _, rest = meta.partition(" ")
        found[path[len(prefix) :]] = (mode, rest.rpartition(" ")[2])
    return found


def tree_cache_file(workdir: Path) -> Path:
    """Where passes in ``workdir`` keep what they learned of the tree's files."""
    return workdir / ".git" / "cilium-gitops" / "tree-cache"

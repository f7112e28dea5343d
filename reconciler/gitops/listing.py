"""The managed tree of a commit as git lists it, and where a pass keeps what it learned of it.

Sits beside ``workspace``: a pass reads the tree it plans against from the commit (one
``git ls-tree``) rather than from disk, and the tree cache (``render.tree_cache``) says what is
known of each blob. The cache lives in the workdir's ``.git``, where nothing is committed and a
fresh clone starts without it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import git

from reconciler.errors import GitCommandError

if TYPE_CHECKING:
    from pathlib import Path

    from reconciler.gitops.workspace import Workspace


# "<mode> <type> <object>\t<path>\0", as ``git ls-tree -z`` writes each entry.
_ENTRY = re.compile(r"([0-7]{6}) [a-z]+ ([0-9a-f]+)\t([^\0]*)\0")


def list_tree(workspace: Workspace, root: Path) -> dict[str, tuple[str, str]]:
    """Every file under ``root`` in HEAD: path from ``root`` -> (git mode, blob id).

    Read from the commit, not from disk: 100,000 files in a few hundredths of a second.
    """
    relative = root.relative_to(workspace.path).as_posix()
    output = workspace.run("ls-tree", "-r", "-z", "--full-tree", "HEAD", "--", relative)
    prefix = relative + "/"
    cut = len(prefix)
    # One pass of a compiled pattern over the whole listing, not a split per line.
    return {
        path[cut:]: (mode, blob)
        for mode, blob, path in _ENTRY.findall(output + "\0")
        if path.startswith(prefix)
    }


def read_blob(workspace: Workspace, blob: str) -> bytes:
    """The bytes of one blob, from the object store (not the working tree)."""
    try:
        output = workspace.repo.git.execute(
            ["git", "cat-file", "blob", blob], stdout_as_string=False, with_extended_output=False
        )
    except git.GitCommandError as exc:
        msg = f"git cat-file failed: reading blob {blob}"
        raise GitCommandError(msg, str(exc.stderr or "")) from None
    return bytes(output)


def tree_cache_file(workdir: Path) -> Path:
    """Where passes in ``workdir`` keep what they learned of the tree's files."""
    return workdir / ".git" / "cilium-gitops" / "tree-cache"


def settled_file(workdir: Path) -> Path:
    """Where passes in ``workdir`` say which commit matches which desired set."""
    return workdir / ".git" / "cilium-gitops" / "settled"

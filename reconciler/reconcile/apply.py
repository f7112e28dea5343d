"""Writes a Plan to disk under the managed root, refusing any path that could leave it.

Sits after ``plan`` and before ``gitops`` commits. It is the only module that writes policy
files. Every path comes from the plan, which built it from validated names, and is checked again
here anyway: relative, no ``..``, no symlink on the way, resolved inside the root. Existing files
are replaced atomically, so a stop mid-way leaves each whole; new files are written in place
(a cold sync writes 100,000 of them), never through anything found at their name.

The checks are per folder, not per file: a cold sync writes 10,000 files into 100 folders, and
resolving every file's full path would cost more than writing it. A symlink at the file itself
is harmless, because ``os.replace`` and ``os.unlink`` act on the link, never on what it points
to.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
from typing import TYPE_CHECKING

from reconciler.desired.names import KUSTOMIZATION
from reconciler.errors import DiskFullError, UnsafePathError
from reconciler.reconcile.plan import Action, Plan

if TYPE_CHECKING:
    from pathlib import Path

_TEMP_SUFFIX = ".cilium-gitops-tmp"
_NOT_NAMES = frozenset({"", ".", ".."})
_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
# O_NOFOLLOW: never open through a symlink someone planted at the temporary name.
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)


def apply_plan(root: Path, plan: Plan) -> None:
    """Make the files under ``root`` match ``plan``.

    A full disk (or quota) raises ``DiskFullError``, to be retried; each file is whole or
    untouched, and the pass that failed commits nothing.
    """
    try:
        _apply(root, plan)
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            msg = f"no space left to write the managed tree in {root} ({exc.strerror})"
            raise DiskFullError(msg) from None
        raise


def _apply(root: Path, plan: Plan) -> None:
    root.mkdir(parents=True, exist_ok=True)
    guard = _Guard(root.resolve())
    # Check every path before touching any, so a refused plan leaves the tree as it was.
    targets = {relative: guard.target(relative) for relative in written_paths(plan)}
    made: set[Path] = set()  # folders made (or found) already: one mkdir per folder, not per file
    for change in plan.effective:
        if change.action in {Action.CREATE, Action.UPDATE}:
            content = change.content
            assert content is not None  # noqa: S101 - the planner always sets it
            target = targets[change.path]
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            if change.action is Action.CREATE:
                _create(target, content)
            else:
                _write(target, content)
        elif change.action is Action.DELETE:
            targets[change.path].unlink(missing_ok=True)
    for folder, content in plan.kustomization_writes.items():
        _write(targets[_join(folder, KUSTOMIZATION)], content)
    for folder in plan.kustomization_removals:
        targets[_join(folder, KUSTOMIZATION)].unlink(missing_ok=True)
    # Folders left empty go, deepest first, so git and kustomize see no stale directory.
    folders = {relative.rpartition("/")[0] for relative in targets if "/" in relative}
    for folder in sorted(folders, key=lambda f: f.count("/"), reverse=True):
        target = guard.root / folder
        if target.is_dir() and not target.is_symlink() and not any(target.iterdir()):
            target.rmdir()


def written_paths(plan: Plan) -> list[str]:
    """Every path (relative to the root) that applying ``plan`` writes or removes."""
    paths = [c.path for c in plan.effective]
    paths += [_join(f, KUSTOMIZATION) for f in plan.kustomization_writes]
    paths += [_join(f, KUSTOMIZATION) for f in plan.kustomization_removals]
    return paths


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


class _Guard:
    """Checks paths against one resolved root, remembering the folders already found safe."""

    def __init__(self, real_root: Path) -> None:
        self.root = real_root
        self._safe_folders: set[str] = {""}

    def target(self, relative: str) -> Path:
        """``relative`` under the root, or ``UnsafePathError`` if it could lead outside."""
        parts = relative.split("/")
        # An empty part is "/a" or "a//b" or "a/", and "." or ".." leads elsewhere: a path must
        # be relative and normalised. String checks, not PurePosixPath: 100,000 paths a pass.
        if "\0" in relative or any(p in _NOT_NAMES for p in parts):
            msg = (
                f"refusing path {relative!r}: it must be relative and stay inside the managed root"
            )
            raise UnsafePathError(msg)
        if relative.rpartition("/")[0] not in self._safe_folders:
            self._check_folder(relative, tuple(parts[:-1]))
        return self.root / relative

    def _check_folder(self, relative: str, parts: tuple[str, ...]) -> None:
        for depth in range(1, len(parts) + 1):
            folder = "/".join(parts[:depth])
            if folder in self._safe_folders:
                continue
            path = self.root.joinpath(*parts[:depth])
            if path.is_symlink():
                msg = f"refusing path {relative!r}: {folder} is a symlink"
                raise UnsafePathError(msg)
            if path.exists() and not path.resolve().is_relative_to(self.root):
                msg = f"refusing path {relative!r}: it resolves outside the managed root"
                raise UnsafePathError(msg)
            self._safe_folders.add(folder)


def _create(target: Path, content: bytes) -> None:
    """Write a file the plan says is new, in place: nothing there to keep whole.

    O_EXCL: if something is there after all (planted since the plan), this fails rather than
    write through it. A stop mid-way leaves a partial new file, which no commit holds: the next
    pass aligns the workdir with the commit (``gitops.workspace.update``), removing it.
    """
    try:
        handle = os.open(target, _CREATE, 0o644)
    except FileExistsError:
        _write(target, content)  # replaced whole, as an update is
        return
    with os.fdopen(handle, "wb") as stream:
        stream.write(content)


def _write(target: Path, content: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # Named by a hash of the target's name, not after it: a 250-character policy name plus a
    # suffix would pass the file system's 255-byte limit on names.
    digest = hashlib.sha256(target.name.encode()).hexdigest()[:16]
    temporary = target.with_name(f".{digest}{_TEMP_SUFFIX}")
    # A stale temporary file from an interrupted run (or anything planted there) goes first.
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    handle = os.open(temporary, _CREATE, 0o644)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
        # os.replace swaps the directory entry: it never writes through a symlink at target.
        temporary.replace(target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise

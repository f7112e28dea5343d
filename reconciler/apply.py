"""Writes a Plan to disk under the managed root, refusing any path that could leave it.

Sits after ``plan`` and before ``gitops`` commits. It is the only module that writes policy
files. Every path comes from the plan, which built it from validated names, and is checked again
here anyway: relative, no ``..``, no symlink on the way, resolved inside the root. Files are
replaced atomically, so a stop mid-way leaves whole files only.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path, PurePosixPath

from reconciler.errors import UnsafePathError
from reconciler.plan import Action, Plan
from reconciler.tree import KUSTOMIZATION


def apply_plan(root: Path, plan: Plan) -> None:
    """Make the files under ``root`` match ``plan``."""
    root.mkdir(parents=True, exist_ok=True)
    real_root = root.resolve()
    # Check every path before touching any, so a refused plan leaves the tree as it was.
    for relative in _paths(plan):
        safe_target(real_root, relative)
    for change in plan.changes:
        if change.action in {Action.CREATE, Action.UPDATE}:
            assert change.content is not None  # noqa: S101 - the planner always sets it
            _write(real_root, change.path, change.content)
        elif change.action is Action.DELETE:
            _remove(real_root, change.path)
    for folder, content in plan.kustomization_writes.items():
        _write(real_root, _join(folder, KUSTOMIZATION), content)
    for folder in plan.kustomization_removals:
        _remove(real_root, _join(folder, KUSTOMIZATION))
        _remove_if_empty(real_root, folder)


def _paths(plan: Plan) -> list[str]:
    paths = [c.path for c in plan.changes if c.action is not Action.UNCHANGED]
    paths += [_join(f, KUSTOMIZATION) for f in plan.kustomization_writes]
    paths += [_join(f, KUSTOMIZATION) for f in plan.kustomization_removals]
    return paths


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def safe_target(real_root: Path, relative: str) -> Path:
    """Resolve ``relative`` under ``real_root`` or raise ``UnsafePathError``."""
    pure = PurePosixPath(relative)
    if pure.is_absolute() or not pure.parts or any(p in {"", ".", ".."} for p in pure.parts):
        msg = f"refusing path {relative!r}: it must be relative and stay inside the managed root"
        raise UnsafePathError(msg)
    target = real_root.joinpath(*pure.parts)
    probe = target
    while probe != real_root:
        if probe.is_symlink():
            msg = f"refusing path {relative!r}: {probe.relative_to(real_root)} is a symlink"
            raise UnsafePathError(msg)
        probe = probe.parent
    if not target.resolve().is_relative_to(real_root):
        msg = f"refusing path {relative!r}: it resolves outside the managed root"
        raise UnsafePathError(msg)
    return target


def _write(real_root: Path, relative: str, content: bytes) -> None:
    target = safe_target(real_root, relative)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".cilium-gitops-")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
        # os.replace swaps the directory entry: it never writes through a symlink at target.
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _remove(real_root: Path, relative: str) -> None:
    target = safe_target(real_root, relative)
    target.unlink(missing_ok=True)
    if "/" in relative:
        _remove_if_empty(real_root, relative.rpartition("/")[0])


def _remove_if_empty(real_root: Path, folder: str) -> None:
    target = safe_target(real_root, folder)
    if target.is_dir() and not any(target.iterdir()):
        target.rmdir()

"""The workdir belongs to one process at a time, and what a killed process left is cleared.

Sits under ``workspace``. The workdir is a cache of the remote: nothing in it is lost by
rebuilding it, so a broken one is rebuilt rather than reported for a person to delete.

* ``WorkdirLock``: an exclusive ``flock`` on ``.git/cilium-gitops.lock``, held while a
  ``Workspace`` is open. Two processes never share a workdir (a second one is refused at once,
  naming the holder), and so every git lock file found in it is stale: a pod killed inside
  ``git commit`` leaves ``.git/index.lock``, and every later git command would fail with
  "Another git process seems to be running" until a person deleted it.
* ``clear_stale_locks``: removes those files; safe only under the ``WorkdirLock``.
* ``wipe``: empties a workdir for a fresh clone, keeping the lock file (and so the lock).
* ``is_damage``: whether a failed local git command means the repository itself is broken.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.errors import DiskFullError, WorkdirError

if TYPE_CHECKING:
    from collections.abc import Iterator

LOCK_NAME = "cilium-gitops.lock"
# git's lock files: <file>.lock beside the file it replaces (lockfile.c); these are the ones a
# killed fetch, checkout, commit or push leaves.
_GIT_LOCKS = ("index.lock", "HEAD.lock", "ORIG_HEAD.lock", "FETCH_HEAD.lock", "config.lock",
              "packed-refs.lock", "shallow.lock", "MERGE_HEAD.lock")  # fmt: skip
# What git says when the repository itself is damaged, not the remote or the input.
_DAMAGE = (
    "not a git repository",
    "bad object",
    "index file corrupt",
    "corrupt",
    "unable to read",
    "invalid sha1 pointer",
    "loose object",
    "does not point to a valid object",
    "bad signature",
    "fatal: bad config",
    "unknown index entry format",
    "broken link",
    "invalid object",
    "missing object",
    "unable to resolve reference",
    "reference broken",
    "not a valid object name",
    "bad config line",
    "index file smaller than expected",
    "index file",
    "unknown repository format",
    "invalid gitfile",
)


class WorkdirLock:
    """An exclusive lock on a workdir, for as long as this object is open."""

    def __init__(self, git_dir: Path) -> None:
        """Take the lock, or refuse at once: a second process must not share the workdir."""
        git_dir.mkdir(parents=True, exist_ok=True)
        self.path = git_dir / LOCK_NAME
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(self._fd)
            self._fd = None
            msg = (
                f"{git_dir.parent} is in use by another cilium-gitops process (pid {holder}); "
                "give each process a workdir of its own"
            )
            raise WorkdirError(msg) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        """Let the next process have the workdir."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def clear_stale_locks(git_dir: Path) -> list[str]:
    """Remove git lock files left by a killed process; the relative paths removed.

    Only under a held ``WorkdirLock``: then no other process runs git in this workdir, and this
    process runs one git command at a time, between which no lock file may remain.
    """
    found = [git_dir / name for name in _GIT_LOCKS if (git_dir / name).exists()]
    refs = git_dir / "refs"
    if refs.is_dir():
        found += sorted(refs.rglob("*.lock"))
    removed = []
    for path in found:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path.relative_to(git_dir).as_posix())
    return removed


def wipe(workdir: Path) -> None:
    """Remove everything in ``workdir`` but the lock file (whose lock this process holds)."""
    for entry in workdir.iterdir():
        if entry.name == ".git" and entry.is_dir() and not entry.is_symlink():
            for inner in entry.iterdir():
                if inner.name != LOCK_NAME:
                    _remove(inner)
        else:
            _remove(entry)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def is_damage(detail: str) -> bool:
    """Whether git's words about a failed local command mean the repository is damaged."""
    lowered = detail.lower()
    return any(sign in lowered for sign in _DAMAGE)


@contextlib.contextmanager
def scratch_file(folder: Path, text: str) -> Iterator[Path]:
    """``text`` in a temporary file in ``folder``, removed after; a full disk is ours to say."""
    try:
        with tempfile.NamedTemporaryFile(
            "w", dir=folder, prefix="MSG-", encoding="utf-8", delete=False
        ) as handle:
            handle.write(text)
    except OSError as exc:
        if exc.errno in {errno.ENOSPC, errno.EDQUOT}:
            raise DiskFullError(f"no space left in {folder.parent}: {exc.strerror}") from None
        raise
    try:
        yield Path(handle.name)
    finally:
        Path(handle.name).unlink(missing_ok=True)

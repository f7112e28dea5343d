"""A broken workdir is repaired, never pushed. Issue 20.

What a pod killed mid-pass, a disk gone bad or a person's hands leave in the workdir (a stale
git lock, a damaged HEAD or index, an emptied object store, a half-written file, the whole
folder gone) is cleared or the workdir cloned again before the next pass; the branch rewritten
upstream is followed without a merge; a second process on the same workdir is refused at
once; a full disk is a retryable failure that leaves nothing half-written in a commit.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from typing import TYPE_CHECKING

import pytest
from conftest import DEFAULT_PATH, Remote, entry, git, write_state
from fault_support import assert_history_sound, rendered, tree_at
from hostile_support import Run, assert_well_behaved, run_cli
from test_cli import sync_args

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

ENTRIES = [entry("shop", "api"), entry("shop", "db"), entry("payments", "ledger")]


def sync(remote: Remote, tmp_path: Path, entries: list[dict[str, object]] = ENTRIES) -> Run:
    state = write_state(tmp_path / "desired.json", entries)
    return run_cli(*sync_args(state, remote, tmp_path / "work"))


def converged(remote: Remote, tmp_path: Path, entries: list[dict[str, object]]) -> bool:
    return tree_at(remote.path) == rendered(entries, tmp_path / "want")


def break_lock(work: Path) -> None:
    (work / ".git" / "index.lock").write_text("", encoding="utf-8")
    (work / ".git" / "refs" / "heads" / "main.lock").write_text("", encoding="utf-8")


def break_head(work: Path) -> None:
    (work / ".git" / "HEAD").write_text("\x00garbage\n", encoding="utf-8")


def break_index(work: Path) -> None:
    (work / ".git" / "index").write_bytes(b"DIRC\x00\x00\x00\x02 not an index")


def empty_objects(work: Path) -> None:
    objects = work / ".git" / "objects"
    for entry_path in objects.iterdir():
        shutil.rmtree(entry_path)


def delete_workdir(work: Path) -> None:
    shutil.rmtree(work)


def half_write(work: Path) -> None:
    policy = work / DEFAULT_PATH / "shop" / "api.yaml"
    policy.write_bytes(policy.read_bytes()[:40])


def break_config(work: Path) -> None:
    (work / ".git" / "config").write_text("[core\nbroken", encoding="utf-8")


BREAKAGES: dict[str, Callable[[Path], None]] = {
    "stale git locks": break_lock,
    "damaged HEAD": break_head,
    "damaged index": break_index,
    "emptied object store": empty_objects,
    "deleted workdir": delete_workdir,
    "half-written file": half_write,
    "damaged config": break_config,
}


@pytest.mark.parametrize("name", sorted(BREAKAGES))
def test_a_broken_workdir_is_repaired_and_the_next_change_lands(
    name: str, remote: Remote, tmp_path: Path
) -> None:
    """Broken between two syncs: the second still lands exactly its change, in one commit."""
    assert_well_behaved(sync(remote, tmp_path), codes=(0,))
    BREAKAGES[name](tmp_path / "work")
    changed = [*ENTRIES[:2], entry("payments", "ledger", port="9999")]
    run = sync(remote, tmp_path, changed)
    assert_well_behaved(run, codes=(0,))
    assert converged(remote, tmp_path, changed)
    assert len(remote.commits()) == 2  # nothing broken was ever pushed, nothing twice
    assert_history_sound(remote.path)


def test_a_second_process_on_the_same_workdir_is_refused_at_once(
    remote: Remote, tmp_path: Path
) -> None:
    """Two processes never share a workdir: the second says who holds it, and changes nothing."""
    assert_well_behaved(sync(remote, tmp_path), codes=(0,))
    lock = tmp_path / "work" / ".git" / "cilium-gitops.lock"
    with lock.open("r+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.seek(0)
        held.write("4242\n")
        held.flush()
        run = sync(remote, tmp_path, [*ENTRIES, entry("shop", "cart")])
    assert_well_behaved(run, codes=(1,))
    assert "in use by another cilium-gitops process (pid 4242)" in run.stderr
    assert len(remote.commits()) == 1


def test_a_branch_rewritten_upstream_is_followed_without_a_merge(
    remote: Remote, tmp_path: Path
) -> None:
    """Someone force-pushes main to a different history: the next pass builds on it."""
    assert_well_behaved(sync(remote, tmp_path), codes=(0,))
    other = tmp_path / "other"
    git("init", "--quiet", "-b", "main", str(other), cwd=tmp_path)
    (other / "README.md").write_text("rewritten\n", encoding="utf-8")
    git("add", "-A", cwd=other)
    git("commit", "--quiet", "-m", "a new history", cwd=other)
    git("push", "--quiet", "--force", remote.url, "HEAD:main", cwd=other)
    run = sync(remote, tmp_path)
    assert_well_behaved(run, codes=(0,))
    assert converged(remote, tmp_path, ENTRIES)
    assert len(remote.commits()) == 2
    assert remote.show("README.md") == "rewritten\n"
    assert_history_sound(remote.path)


def _can_mount_tmpfs(where: Path) -> str | None:
    """Why a small tmpfs cannot be mounted here, or None when it can."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root (the full-disk case runs where the tests run as root)"
    where.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        return f"cannot mount a tmpfs: {result.stderr.strip()}"
    return None


def test_a_full_disk_is_retried_and_commits_nothing_half_written(
    remote: Remote, tmp_path: Path
) -> None:
    """The workdir's disk fills up mid-pass: exit 1 naming it, the remote unchanged; space
    back, the next sync lands the whole change."""
    disk = tmp_path / "disk"
    why = _can_mount_tmpfs(disk)
    if why is not None:
        pytest.skip(why)
    try:
        work = disk / "work"
        state = write_state(tmp_path / "desired.json", ENTRIES)
        args = ["sync", "--control-plane", f"file://{state}", "--repo", remote.url]
        assert_well_behaved(run_cli(*args, "--workdir", str(work)), codes=(0,))
        before = remote.commits()
        # Leave a few kilobytes free: the checkout fits, a bigger tree does not.
        filler = disk / "filler"
        free = os.statvfs(disk)
        filler.write_bytes(b"\0" * (free.f_bavail * free.f_frsize - 32 * 1024))
        big = [*ENTRIES, *(entry("shop", f"p{n:03}", port=str(1000 + n)) for n in range(300))]
        state = write_state(tmp_path / "desired.json", big)
        run = run_cli(*args, "--workdir", str(work))
        assert_well_behaved(run, codes=(1,))
        assert "no space left" in run.stderr.lower()
        assert remote.commits() == before
        filler.unlink()
        run = run_cli(*args, "--workdir", str(work))
        assert_well_behaved(run, codes=(0,))
        assert converged(remote, tmp_path, big)
        assert_history_sound(remote.path)
    finally:
        subprocess.run(["umount", str(disk)], check=False)

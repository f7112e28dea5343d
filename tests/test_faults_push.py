"""Push failures, sorted by what git and the Git hosts really say. Issue 20.

A race (another writer moved the ref) is retried after a fetch and a new plan; a refusal a
person must lift stalls, with git's words in the message. Checked against the hosts' messages
as fixtures, and against real git: hooks that decline, and a pre-receive hook that holds two
pushes until both have arrived, so that one of them loses the ref update inside the server.
"""

from __future__ import annotations

import json
import stat
import threading
from typing import TYPE_CHECKING

import pytest
from conftest import DEFAULT_PATH, Remote, entry, git, write_state
from hostile_support import assert_well_behaved, run_cli
from test_cli import sync_args

from reconciler.gitops.refusals import PushFailure, classify

if TYPE_CHECKING:
    from pathlib import Path

# What git and the hosts print, verbatim in their wording (ids shortened).
RACES = {
    "git fetch first": " ! [rejected]        HEAD -> main (fetch first)\n"
    "error: failed to push some refs to 'file:///srv/fleet.git'",
    "git non-fast-forward": " ! [rejected]        HEAD -> main (non-fast-forward)",
    "git server-side lock": "remote: error: cannot lock ref 'refs/heads/main': is at 1a2b3c but "
    "expected 4d5e6f\n ! [remote rejected] HEAD -> main (failed to update ref)",
    "github": " ! [remote rejected] main -> main (cannot lock ref 'refs/heads/main': is at "
    "1a2b3c4d but expected 5e6f7a8b)",
    "gitlab": " ! [remote rejected] main -> main (incorrect old value provided)",
    "gitea lease": " ! [rejected]        cilium-gitops/eu -> cilium-gitops/eu (stale info)",
}
REFUSALS = {
    "git hook": "remote: rejected by policy\n ! [remote rejected] HEAD -> main "
    "(pre-receive hook declined)",
    "github protected": "remote: error: GH006: Protected branch update failed for "
    "refs/heads/main.\n ! [remote rejected] main -> main (protected branch hook declined)",
    "github rules": "remote: error: GH013: Repository rule violations found for refs/heads/main."
    "\nremote: - Commits must have verified signatures.\n ! [remote rejected] main -> main "
    "(push declined due to repository rule violations)",
    "gitlab protected": "remote: GitLab: You are not allowed to push code to protected branches "
    "on this project.\n ! [remote rejected] main -> main (pre-receive hook declined)",
    "gitlab hook": "remote: GL-HOOK-ERR: commits must be signed\n ! [remote rejected] main -> "
    "main (pre-receive hook declined)",
    "bitbucket": " ! [remote rejected] main -> main (pre-receive hook declined)\nremote: "
    "Branch refs/heads/main can only be modified through pull requests.",
    "git deny current": " ! [remote rejected] main -> main (branch is currently checked out)\n"
    "remote: error: refusing to update checked out branch: refs/heads/main",
}
TRANSPORT = {
    "unreachable": "fatal: unable to access 'https://git.example.com/fleet.git/': Could not "
    "resolve host: git.example.com",
    "hung up": "fatal: the remote end hung up unexpectedly",
}


@pytest.mark.parametrize("name", sorted(RACES))
def test_races_are_retried(name: str) -> None:
    assert classify(RACES[name]) is PushFailure.RACE


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_refusals_stall(name: str) -> None:
    assert classify(REFUSALS[name]) is PushFailure.REFUSED


@pytest.mark.parametrize("name", sorted(TRANSPORT))
def test_other_failures_are_transport(name: str) -> None:
    assert classify(TRANSPORT[name]) is PushFailure.TRANSPORT


def install_hook(remote: Remote, name: str, script: str) -> None:
    hook = remote.path / "hooks" / name
    hook.write_text("#!/bin/sh\n" + script, encoding="utf-8")
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)


def test_a_declining_hook_is_a_refusal_with_its_words(remote: Remote, tmp_path: Path) -> None:
    """exit 1, git's reason and the hook's own message in the error; nothing pushed."""
    install_hook(remote, "pre-receive", "echo 'policy changes need a ticket' >&2\nexit 1\n")
    state = write_state(tmp_path / "desired.json", [entry("shop", "api")])
    run = run_cli(*sync_args(state, remote, tmp_path / "work", "--output", "json"))
    assert_well_behaved(run, codes=(1,))
    assert "the remote refused the push" in run.stderr
    assert "pre-receive hook declined" in run.stderr
    assert "policy changes need a ticket" in run.stderr
    assert git("for-each-ref", "refs/heads", cwd=remote.path) == ""


# The pre-receive hook holds each push until two have arrived, once: both then update main
# from the same old value, and the one that locks the ref second is told "cannot lock ref ...
# is at X but expected Y" (a deadline keeps a lone push from waiting forever).
BARRIER = """\
[ -e "$GIT_DIR/barrier.done" ] && exit 0
touch "$GIT_DIR/arrived.$$"
i=0
while [ "$(ls "$GIT_DIR"/arrived.* 2>/dev/null | wc -l)" -lt 2 ] && [ $i -lt 400 ]; do
  sleep 0.025; i=$((i + 1))
done
touch "$GIT_DIR/barrier.done"
exit 0
"""


def test_two_syncs_racing_both_succeed_one_commit_each_change(
    remote: Remote, tmp_path: Path
) -> None:
    """Two writers push at once: the loser fetches, re-plans on the winner's commit, and
    finds it has nothing left to do or pushes only its own change. Linear history, no loss."""
    install_hook(remote, "pre-receive", BARRIER)
    first = write_state(tmp_path / "a.json", [entry("shop", "api"), entry("shop", "db")])
    second = write_state(tmp_path / "b.json", [entry("shop", "api"), entry("shop", "db")])
    runs: dict[str, object] = {}

    def go(name: str, state: Path) -> None:
        runs[name] = run_cli(
            *sync_args(state, remote, tmp_path / f"work-{name}", "--output", "json")
        )

    threads = [threading.Thread(target=go, args=(n, s)) for n, s in (("a", first), ("b", second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    results = [json.loads(run.stdout) for run in runs.values()]  # type: ignore[attr-defined]
    for run in runs.values():
        assert_well_behaved(run, codes=(0,))  # type: ignore[arg-type]
    assert (remote.path / "barrier.done").exists()
    # Exactly one of them committed; the other found the same tree after its retry.
    assert sorted(r["commit"] is None for r in results) == [False, True]
    assert len(remote.commits()) == 1
    files = remote.files(DEFAULT_PATH)
    assert f"{DEFAULT_PATH}/shop/api.yaml" in files
    assert f"{DEFAULT_PATH}/shop/db.yaml" in files

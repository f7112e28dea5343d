"""A one-shot pass over the commit the last pass settled on, with the same desired set.

``reconcile.settled``: the pass reads the desired state as always, and when the workdir's commit
and the state's fingerprint are what the last pass left, its plan is known without reading the
tree. These tests watch whether the tree is read (``passes.read_tree``) and compare every plan
with the full path's; ``test_fast_path`` runs the same against random sequences of states.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from admitting import planned_from
from conftest import DEFAULT_PATH, Remote, entry, git, write_state

from reconciler.desired.record import Record
from reconciler.desired.state import DesiredState, FileSource
from reconciler.gitops import GitSettings, Workspace, settled_file, tree_cache_file
from reconciler.reconcile import passes
from reconciler.reconcile.passes import PassOptions, SyncResult, reconcile
from reconciler.reconcile.settled import fingerprint, is_settled, settle
from reconciler.render.templates import load_templates

if TYPE_CHECKING:
    from pathlib import Path

TEMPLATES = load_templates()


class Passes:
    """One-shot passes in one workdir, counting those that read the tree."""

    def __init__(self, remote: Remote, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.remote, self.workdir = remote, workdir
        self.reads = 0
        real = passes.read_tree

        def counted(*args: object, **kw: object) -> object:
            self.reads += 1
            return real(*args, **kw)  # type: ignore[arg-type]

        monkeypatch.setattr(passes, "read_tree", counted)

    def sync(
        self, state_file: Path, options: PassOptions | None = None, push_branch: str | None = None
    ) -> tuple[SyncResult, int]:
        """A pass, and whether it read the tree (1) or knew its plan (0)."""
        before = self.reads
        settings = GitSettings(url=self.remote.url, push_branch=push_branch)
        with Workspace(self.workdir, settings) as workspace:
            result = reconcile(
                FileSource(state_file).desired, workspace, TEMPLATES, options or PassOptions()
            )
        return result, self.reads - before

    def full(self, state_file: Path) -> SyncResult:
        """The same pass with nothing known: no tree cache, no settled line."""
        tree_cache_file(self.workdir).unlink(missing_ok=True)
        settled_file(self.workdir).unlink(missing_ok=True)
        result, read = self.sync(state_file)
        assert read == 1
        return result


@pytest.fixture
def three(tmp_path: Path) -> Path:
    return write_state(tmp_path / "desired.json", [entry("shop", n) for n in ("web", "api", "db")])


@pytest.fixture
def runs(remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Passes:
    return Passes(remote, tmp_path / "work", monkeypatch)


def test_a_pass_over_the_settled_commit_does_not_read_the_tree(runs: Passes, three: Path) -> None:
    first, read = runs.sync(three)
    assert first.commit is not None
    assert read == 1
    again, read = runs.sync(three)
    assert read == 0
    assert again.commit is None
    assert again.plan.summary == "0 created, 0 updated, 0 deleted"
    full = runs.full(three)
    assert again.plan == full.plan  # the very plan make_plan gives, three unchanged
    assert planned_from(again.state) == planned_from(full.state)


def test_a_change_another_writer_pushed_is_repaired(
    runs: Passes, three: Path, remote: Remote, tmp_path: Path
) -> None:
    runs.sync(three)
    runs.sync(three)
    other = remote.clone(tmp_path / "other")
    (other / DEFAULT_PATH / "shop" / "web.yaml").unlink()
    git("commit", "--quiet", "-am", "hand delete", cwd=other)
    git("push", "--quiet", "origin", "HEAD:main", cwd=other)
    repaired, read = runs.sync(three)
    assert read == 1  # another commit: nothing is settled about it
    assert repaired.plan.summary == "1 created, 0 updated, 0 deleted"
    assert "app: web" in remote.show(f"{DEFAULT_PATH}/shop/web.yaml")


def test_a_changed_desired_state_is_planned(runs: Passes, three: Path) -> None:
    runs.sync(three)
    write_state(three, [entry("shop", "web", port="9090", version=2), entry("shop", "api")])
    changed, read = runs.sync(three)
    assert read == 1
    assert changed.plan.summary == "0 created, 1 updated, 1 deleted"
    again, read = runs.sync(three)
    assert (read, again.commit) == (0, None)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda b: b[:-7], id="torn"),
        pytest.param(lambda b: b.replace(b"settled 1", b"settled 2"), id="other format"),
        pytest.param(lambda b: b[:-2] + (b"0" if b[-2:-1] != b"0" else b"1") + b"\n", id="edited"),
        pytest.param(lambda _: b"\xff\xfe", id="not UTF-8"),
    ],
)
def test_a_damaged_settled_line_costs_one_full_pass(
    damage: object, runs: Passes, three: Path
) -> None:
    runs.sync(three)
    line = settled_file(runs.workdir)
    line.write_bytes(damage(line.read_bytes()))  # type: ignore[operator]
    result, read = runs.sync(three)
    assert (read, result.commit) == (1, None)
    again, read = runs.sync(three)  # the full pass said it again
    assert (read, again.commit) == (0, None)


def test_a_lost_tree_cache_is_rebuilt_before_the_commit_is_taken_as_settled(
    runs: Passes, three: Path
) -> None:
    runs.sync(three)
    tree_cache_file(runs.workdir).unlink()
    # The line still holds, but every entry had to be validated: the full pass teaches the cache.
    result, read = runs.sync(three)
    assert (read, result.commit) == (1, None)
    assert tree_cache_file(runs.workdir).is_file()
    again, read = runs.sync(three)
    assert (read, again.commit) == (0, None)


def test_rejected_input_is_never_settled(runs: Passes, three: Path) -> None:
    bad = entry("shop", "bad")
    bad["policy"] = {"endpointSelector": "not a selector"}
    write_state(three, [entry("shop", "web"), bad])
    for _ in range(2):
        result, read = runs.sync(three)
        assert read == 1
        assert [r.policy_id for r in result.state.rejections] == ["shop-bad"]  # type: ignore[union-attr]


def test_a_dry_run_settles_nothing(runs: Passes, three: Path) -> None:
    dry, read = runs.sync(three, PassOptions(dry_run=True))
    assert (read, dry.plan.summary) == (1, "3 created, 0 updated, 0 deleted")
    assert not settled_file(runs.workdir).exists()


def test_a_pull_request_pass_over_a_settled_commit_withdraws_its_branch(
    runs: Passes, three: Path, remote: Remote
) -> None:
    runs.sync(three)
    kept = three.read_bytes()
    write_state(three, [entry("shop", "web", port="9090", version=2)])
    proposed, _ = runs.sync(three, push_branch="cilium-gitops/proposal")
    assert proposed.proposal is not None
    assert proposed.proposal.pushed
    three.write_bytes(kept)  # the control plane takes it back: main already is this state
    withdrawn, read = runs.sync(three, push_branch="cilium-gitops/proposal")
    assert read == 1  # the pass must look, to know the branch has to go
    assert withdrawn.proposal is not None
    assert withdrawn.proposal.pushed
    heads = git("for-each-ref", "--format=%(refname)", "refs/heads", cwd=remote.path).split()
    assert heads == ["refs/heads/main"]


# -- the pure parts -----------------------------------------------------------------------------


def _record(name: str, key: str | None) -> Record:
    return Record(f"shop/{name}", f"shop/{name}.yaml", 1, "d", "h", key)


def test_the_fingerprint_follows_every_input_in_order() -> None:
    a, b = _record("a", "1" * 64), _record("b", "2" * 64)
    one = fingerprint(DesiredState((a, b), (), 3))
    assert one == fingerprint(DesiredState((a, b), (), 4))  # the version plans nothing
    assert one != fingerprint(DesiredState((b, a), (), 3))
    assert one != fingerprint(DesiredState((a,), (), 3))
    assert fingerprint(DesiredState((a, _record("c", None)), (), 3)) is None


def test_a_settled_line_names_one_commit_and_one_set(tmp_path: Path) -> None:
    a, b = _record("a", "1" * 64), _record("b", "2" * 64)
    one, other = DesiredState((a, b), (), 1), DesiredState((b,), (), 1)
    unknown = DesiredState((a, _record("c", None)), (), 1)  # no fingerprint
    line = tmp_path / "settled"
    assert not is_settled(line, "c1:p", one)
    settle(line, "c1:p", one)
    assert is_settled(line, "c1:p", one)
    assert not is_settled(line, "c2:p", one)
    assert not is_settled(line, "c1:p", other)
    assert not is_settled(line, "c1:p", unknown)
    settle(line, "c1:p", unknown)  # says nothing, and leaves what was said
    assert is_settled(line, "c1:p", one)
    settle(line, "c2:p", other)
    assert not is_settled(line, "c1:p", one)
    assert is_settled(line, "c2:p", other)

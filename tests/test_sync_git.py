"""A reconcile pass against real git remotes (file:// and git daemon), end to end."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from admitting import read
from conftest import DEFAULT_PATH, Remote, entry, git, write_state

from reconciler.desired.state import DesiredState, FileSource
from reconciler.errors import (
    ConfigError,
    MassDeletionError,
    PushRejectedError,
    StalledError,
    UnsafePathError,
)
from reconciler.gitops import VERSION_TRAILER, GitSettings, Identity, Workspace, init_bare
from reconciler.gitops.log import read_cursor
from reconciler.reconcile.intake import PassCache
from reconciler.reconcile.passes import Backoff, PassOptions, SyncResult, reconcile
from reconciler.reconcile.plan import Action

if TYPE_CHECKING:
    from pathlib import Path

    from reconciler.render.templates import Templates

SHOP = [entry("shop", "cart", version=3), entry("shop", "catalog", version=4)]


def state_of(tmp_path: Path, entries: list[dict[str, object]]) -> DesiredState:
    return read(FileSource(write_state(tmp_path / "desired.json", entries)))


def sync(
    remote_url: str,
    workdir: Path,
    state: DesiredState,
    templates: Templates,
    **options: object,
) -> SyncResult:
    settings = GitSettings(url=remote_url, author=Identity("cilium-gitops", "bot@example.com"))
    with Workspace(workdir, settings) as workspace:
        return reconcile(state, workspace, templates, PassOptions(**options))  # type: ignore[arg-type]


def test_first_sync_pushes_tree_and_second_sync_makes_no_commit(
    seeded_remote: Remote, tmp_path: Path, templates: Templates
) -> None:
    state = state_of(tmp_path, SHOP)
    first = sync(seeded_remote.url, tmp_path / "work", state, templates)
    assert first.commit == seeded_remote.commits()[0]
    assert first.plan.summary == "2 created, 0 updated, 0 deleted"
    assert sorted(seeded_remote.files(DEFAULT_PATH)) == [
        f"{DEFAULT_PATH}/kustomization.yaml",
        f"{DEFAULT_PATH}/shop/cart.yaml",
        f"{DEFAULT_PATH}/shop/catalog.yaml",
        f"{DEFAULT_PATH}/shop/kustomization.yaml",
    ]
    # The human-written files elsewhere in the repository are untouched.
    assert seeded_remote.show("README.md") == "# fleet\n"
    message = git("log", "-1", "--format=%B", "main", cwd=seeded_remote.path)
    assert message.startswith("network-policies: 2 created, 0 updated, 0 deleted\n")
    assert "shop/cart.yaml (policy shop-cart): missing" in message
    assert f"{VERSION_TRAILER}: 4" in message

    second = sync(seeded_remote.url, tmp_path / "work", state, templates)
    assert second.commit is None
    assert second.plan.is_empty
    # A fresh workdir (a restarted pod with no volume) also sees nothing to do.
    third = sync(seeded_remote.url, tmp_path / "fresh", state, templates)
    assert third.commit is None
    assert len(seeded_remote.commits()) == 2


def test_author_and_committer_are_configurable(
    remote: Remote, tmp_path: Path, templates: Templates
) -> None:
    settings = GitSettings(
        url=remote.url,
        author=Identity("Policy Bot", "bot@example.com"),
        committer=Identity("Release Train", "train@example.com"),
    )
    with Workspace(tmp_path / "work", settings) as workspace:
        reconcile(state_of(tmp_path, SHOP), workspace, templates, PassOptions())
    people = git("log", "-1", "--format=%an <%ae>|%cn <%ce>", "main", cwd=remote.path)
    assert people.strip() == "Policy Bot <bot@example.com>|Release Train <train@example.com>"


def test_removed_policy_deletes_exactly_its_file(
    seeded_remote: Remote, tmp_path: Path, templates: Templates
) -> None:
    sync(seeded_remote.url, tmp_path / "work", state_of(tmp_path, SHOP), templates)
    result = sync(seeded_remote.url, tmp_path / "work", state_of(tmp_path, SHOP[:1]), templates)
    assert result.plan.summary == "0 created, 0 updated, 1 deleted"
    assert [c.reason for c in result.plan.effective] == ["orphaned"]
    assert f"{DEFAULT_PATH}/shop/catalog.yaml" not in seeded_remote.files()
    assert f"{DEFAULT_PATH}/shop/cart.yaml" in seeded_remote.files()
    assert "- catalog.yaml" not in seeded_remote.show(f"{DEFAULT_PATH}/shop/kustomization.yaml")


def test_empty_desired_state_keeps_root_kustomization(
    remote: Remote, tmp_path: Path, templates: Templates
) -> None:
    sync(remote.url, tmp_path / "work", state_of(tmp_path, SHOP), templates)
    # An empty state deletes every policy only when told to (the deletion guard, issue 20).
    with pytest.raises(MassDeletionError, match="the desired state is empty"):
        sync(remote.url, tmp_path / "work", state_of(tmp_path, []), templates)
    sync(remote.url, tmp_path / "work", state_of(tmp_path, []), templates, allow_mass_delete=True)
    assert remote.files(DEFAULT_PATH) == [f"{DEFAULT_PATH}/kustomization.yaml"]
    assert "resources: []" in remote.show(f"{DEFAULT_PATH}/kustomization.yaml")


def test_unmanaged_and_hand_edited_files(
    remote: Remote, tmp_path: Path, templates: Templates
) -> None:
    sync(remote.url, tmp_path / "work", state_of(tmp_path, SHOP), templates)
    other = remote.clone(tmp_path / "human")
    shop = other / DEFAULT_PATH / "shop"
    (shop / "break-glass.yaml").write_text("apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\n")
    cart = shop / "cart.yaml"
    cart.write_text(cart.read_text().replace('port: "8080"', 'port: "9999"'))
    (shop / "catalog.yaml").unlink()
    git("add", "-A", cwd=other)
    git("commit", "--quiet", "-m", "hand edits", cwd=other)
    git("push", "--quiet", "origin", "HEAD:main", cwd=other)

    result = sync(remote.url, tmp_path / "work", state_of(tmp_path, SHOP), templates)
    reasons = {c.path: (c.action, c.reason) for c in result.plan.effective}
    assert reasons == {
        "shop/cart.yaml": (Action.UPDATE, "hand-edited"),
        "shop/catalog.yaml": (Action.CREATE, "missing"),
    }
    # The human's file is kept and stays listed, so Flux keeps applying it.
    assert remote.show(f"{DEFAULT_PATH}/shop/break-glass.yaml").startswith("apiVersion")
    assert "- break-glass.yaml" in remote.show(f"{DEFAULT_PATH}/shop/kustomization.yaml")
    assert 'port: "8080"' in remote.show(f"{DEFAULT_PATH}/shop/cart.yaml")
    # All drift is repaired in one commit.
    assert len(remote.commits()) == 3


def test_concurrent_push_is_retried_and_both_commits_survive(
    remote: Remote, tmp_path: Path, templates: Templates, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync(remote.url, tmp_path / "work", state_of(tmp_path, SHOP), templates)
    other = remote.clone(tmp_path / "other")
    real_push = Workspace.push
    raced: list[int] = []

    def push_after_someone_else(self: Workspace) -> None:
        # Another writer pushes for real between our commit and our push, once.
        if not raced:
            raced.append(1)
            (other / "docs.md").write_text("written by a human\n")
            git("add", "docs.md", cwd=other)
            git("commit", "--quiet", "-m", "human change", cwd=other)
            git("push", "--quiet", "origin", "HEAD:main", cwd=other)
        real_push(self)

    monkeypatch.setattr(Workspace, "push", push_after_someone_else)
    delays: list[float] = []
    changed = [entry("shop", "cart", port="9090", version=5), SHOP[1]]
    settings = GitSettings(url=remote.url)
    with Workspace(tmp_path / "work", settings) as workspace:
        result = reconcile(
            state_of(tmp_path, changed), workspace, templates, PassOptions(), sleep=delays.append
        )
    assert result.attempts == 2
    assert len(delays) == 1
    log = git("log", "--format=%s", "main", cwd=remote.path).splitlines()
    assert log[:2] == ["network-policies: 0 created, 1 updated, 0 deleted", "human change"]
    assert remote.show("docs.md") == "written by a human\n"
    assert 'port: "9090"' in remote.show(f"{DEFAULT_PATH}/shop/cart.yaml")
    # Linear history: our commit sits on top of theirs, nothing was force-pushed.
    assert git("rev-list", "--merges", "main", cwd=remote.path) == ""


def test_push_retries_are_bounded(
    remote: Remote, tmp_path: Path, templates: Templates, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = remote.clone(tmp_path / "other")
    real_push = Workspace.push
    counter = iter(range(100))

    def always_lose_the_race(self: Workspace) -> None:
        n = next(counter)
        (other / f"race-{n}.md").write_text(f"{n}\n")
        git("add", "-A", cwd=other)
        git("commit", "--quiet", "-m", f"race {n}", cwd=other)
        git("push", "--quiet", "origin", "HEAD:main", cwd=other)
        real_push(self)

    monkeypatch.setattr(Workspace, "push", always_lose_the_race)
    delays: list[float] = []
    with (
        Workspace(tmp_path / "work", GitSettings(url=remote.url)) as workspace,
        pytest.raises(PushRejectedError),
    ):
        reconcile(
            state_of(tmp_path, SHOP),
            workspace,
            templates,
            PassOptions(backoff=Backoff(attempts=3, base=1.0, ceiling=2.0)),
            sleep=delays.append,
        )
    assert len(delays) == 2
    assert all(0 <= d <= 2.0 for d in delays)
    assert f"{DEFAULT_PATH}/shop/cart.yaml" not in remote.files()


def test_remote_hook_refusal_stalls(remote: Remote, tmp_path: Path, templates: Templates) -> None:
    hook = remote.path / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'branch is protected' >&2\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(StalledError, match="refused the push"):
        sync(remote.url, tmp_path / "work", state_of(tmp_path, SHOP), templates)
    assert git("branch", "--list", cwd=remote.path) == ""


def test_sync_over_git_daemon(
    git_daemon: tuple[str, Path], tmp_path: Path, templates: Templates
) -> None:
    base_url, served = git_daemon
    init_bare(served / "fleet.git", "main")
    url = f"{base_url}/fleet.git"
    first = sync(url, tmp_path / "work", state_of(tmp_path, SHOP), templates)
    assert first.commit is not None
    assert git("rev-parse", "main", cwd=served / "fleet.git").strip() == first.commit
    again = sync(url, tmp_path / "other-work", state_of(tmp_path, SHOP), templates)
    assert again.commit is None


def test_unreachable_remote_is_retryable(tmp_path: Path, templates: Templates) -> None:
    from reconciler.errors import GitRemoteError  # noqa: PLC0415

    with pytest.raises(GitRemoteError):
        sync(
            "git://127.0.0.1:9/nothing.git", tmp_path / "work", state_of(tmp_path, SHOP), templates
        )


def test_dry_run_changes_nothing(remote: Remote, tmp_path: Path, templates: Templates) -> None:
    result = sync(remote.url, tmp_path / "work", state_of(tmp_path, SHOP), templates, dry_run=True)
    assert result.commit is None
    assert result.plan.count(Action.CREATE) == 2
    assert git("branch", "--list", cwd=remote.path) == ""
    assert not (tmp_path / "work" / DEFAULT_PATH).exists()


def test_cursor_is_read_back_from_the_branch(
    remote: Remote, tmp_path: Path, templates: Templates
) -> None:
    sync(remote.url, tmp_path / "work", state_of(tmp_path, SHOP), templates)
    with Workspace(tmp_path / "restart", GitSettings(url=remote.url)) as workspace:
        workspace.update()
        assert read_cursor(workspace) == 4


def test_workdir_of_someone_else_is_refused(
    remote: Remote, tmp_path: Path, templates: Templates
) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me\n")
    from reconciler.errors import WorkdirError  # noqa: PLC0415

    with pytest.raises(WorkdirError, match="not created by cilium-gitops"):
        sync(remote.url, mine, state_of(tmp_path, SHOP), templates)
    assert (mine / "notes.txt").read_text() == "keep me\n"


def test_path_outside_repository_is_a_config_error(
    remote: Remote, tmp_path: Path, templates: Templates
) -> None:
    for bad in ("../escape", "/etc/cilium", ".git/hooks"):
        with pytest.raises(ConfigError):
            sync(remote.url, tmp_path / "work", state_of(tmp_path, SHOP), templates, path=bad)
    assert not (tmp_path / "escape").exists()


def push_symlink_outside(remote: Remote, tmp_path: Path, link: str) -> Path:
    """Another writer pushes ``link`` as a symlink to an empty folder outside the repository."""
    outside = tmp_path / "outside"
    outside.mkdir()
    other = remote.clone(tmp_path / "other")
    (other / link).parent.mkdir(parents=True, exist_ok=True)
    (other / link).symlink_to(outside)
    git("add", "-A", cwd=other)
    git("commit", "--quiet", "-m", "sneaky symlink", cwd=other)
    git("push", "--quiet", "origin", "HEAD:main", cwd=other)
    return outside


def test_symlinked_root_pointing_outside_is_refused(
    remote: Remote, tmp_path: Path, templates: Templates
) -> None:
    outside = push_symlink_outside(remote, tmp_path, DEFAULT_PATH)
    with pytest.raises(UnsafePathError):
        sync(remote.url, tmp_path / "work", state_of(tmp_path, SHOP), templates)
    assert list(outside.iterdir()) == []


def test_symlinked_namespace_folder_is_not_written_through(
    remote: Remote, tmp_path: Path, templates: Templates
) -> None:
    outside = push_symlink_outside(remote, tmp_path, f"{DEFAULT_PATH}/shop")
    result = sync(remote.url, tmp_path / "work", state_of(tmp_path, SHOP), templates)
    assert {(r.policy_id, r.field) for r in result.plan.rejections} == {
        ("shop-cart", "name"),
        ("shop-catalog", "name"),
    }
    assert all("shop is a symlink" in r.reason for r in result.plan.rejections)
    assert list(outside.iterdir()) == []


def test_long_running_passes_share_a_cache_and_still_see_remote_edits(
    seeded_remote: Remote, tmp_path: Path, templates: Templates
) -> None:
    """A controller keeps one workspace and one cache; another writer's edit is still repaired."""
    settings = GitSettings(url=seeded_remote.url, author=Identity("bot", "bot@example.com"))
    cache = PassCache()
    state = state_of(tmp_path, SHOP)
    with Workspace(tmp_path / "work", settings) as workspace:
        first = reconcile(state, workspace, templates, PassOptions(), cache=cache)
        assert first.commit is not None
        # Same objects, same cache, remote unchanged: nothing to do.
        assert reconcile(state, workspace, templates, PassOptions(), cache=cache).commit is None
        other = seeded_remote.clone(tmp_path / "other")
        cart = other / DEFAULT_PATH / "shop" / "cart.yaml"
        cart.write_text(cart.read_text().replace('"8080"', '"8081"'))
        (other / DEFAULT_PATH / "shop" / "catalog.yaml").unlink()
        git("commit", "--quiet", "-am", "hand edit and delete", cwd=other)
        git("push", "--quiet", "origin", "HEAD:main", cwd=other)
        repair = reconcile(state, workspace, templates, PassOptions(), cache=cache)
        assert repair.commit is not None
        reasons = {
            c.path: c.reason for c in repair.plan.changes if c.action is not Action.UNCHANGED
        }
        assert reasons == {"shop/cart.yaml": "hand-edited", "shop/catalog.yaml": "missing"}
        # One changed policy, as an event would deliver it: one update, one commit.
        changed = state_of(tmp_path, [entry("shop", "cart", version=5, port="8443"), SHOP[1]])
        update = reconcile(changed, workspace, templates, PassOptions(), cache=cache)
        assert update.plan.summary == "0 created, 1 updated, 0 deleted"
        assert reconcile(changed, workspace, templates, PassOptions(), cache=cache).commit is None
    assert '"8443"' in seeded_remote.show(f"{DEFAULT_PATH}/shop/cart.yaml")
    assert len(seeded_remote.commits()) == 5


def test_a_pass_without_fetch_learns_of_another_writer_from_the_rejected_push(
    remote: Remote, tmp_path: Path, templates: Templates
) -> None:
    """The service's event passes skip the fetch; a remote that moved is caught at the push.

    Both writers' commits survive, ours on top, and the retry does not wait (the rejection was
    news we chose not to fetch, not contention).
    """
    settings = GitSettings(url=remote.url, author=Identity("bot", "bot@example.com"))
    no_fetch = PassOptions(fetch=False)
    delays: list[float] = []
    with Workspace(tmp_path / "work", settings) as workspace:
        reconcile(state_of(tmp_path, SHOP), workspace, templates, PassOptions())
        # Nothing moved: the pass trusts what it pushed, plans, commits and pushes once.
        moved = [entry("shop", "cart", port="9090", version=5), SHOP[1]]
        quick = reconcile(state_of(tmp_path, moved), workspace, templates, no_fetch)
        assert (quick.attempts, quick.commit) == (1, remote.commits()[0])

        other = remote.clone(tmp_path / "other")
        (other / "docs.md").write_text("written by a human\n", encoding="utf-8")
        git("add", "docs.md", cwd=other)
        git("commit", "--quiet", "-m", "human change", cwd=other)
        git("push", "--quiet", "origin", "HEAD:main", cwd=other)
        again = [entry("shop", "cart", port="9191", version=6), SHOP[1]]
        caught = reconcile(
            state_of(tmp_path, again), workspace, templates, no_fetch, sleep=delays.append
        )
    assert caught.attempts == 2
    assert delays == []
    log = git("log", "--format=%s", "main", cwd=remote.path).splitlines()
    assert log[:2] == ["network-policies: 0 created, 1 updated, 0 deleted", "human change"]
    assert remote.show("docs.md") == "written by a human\n"
    assert 'port: "9191"' in remote.show(f"{DEFAULT_PATH}/shop/cart.yaml")


def test_changes_to_known_files_commit_as_git_commit_would(
    remote: Remote, tmp_path: Path, templates: Templates
) -> None:
    """Updates and deletions of known files (``Workspace._commit_known``): same people, same
    message and trailers, the index in step with HEAD, and the split index not piling up."""
    settings = GitSettings(
        url=remote.url,
        author=Identity("Policy Bot", "bot@example.com"),
        committer=Identity("Release Train", "train@example.com"),
    )
    work = tmp_path / "work"
    events = PassOptions(fetch=False, save_tree_cache=False)
    with Workspace(work, settings) as workspace:
        cache = PassCache()
        reconcile(state_of(tmp_path, SHOP), workspace, templates, PassOptions(), cache=cache)
        for port in range(9000, 9012):
            changed = [entry("shop", "cart", port=str(port), version=port), SHOP[1]]
            result = reconcile(
                state_of(tmp_path, changed), workspace, templates, events, cache=cache
            )
            assert result.plan.summary == "0 created, 1 updated, 0 deleted"
        gone = reconcile(state_of(tmp_path, [SHOP[1]]), workspace, templates, events, cache=cache)
        assert gone.plan.summary == "0 created, 0 updated, 1 deleted"
    assert len(remote.commits()) == 14
    people = git("log", "-1", "--format=%an <%ae>|%cn <%ce>", "main", cwd=remote.path)
    assert people.strip() == "Policy Bot <bot@example.com>|Release Train <train@example.com>"
    updated = git("log", "-1", "--format=%B", "main~1", cwd=remote.path)
    assert f"{VERSION_TRAILER}: 9011" in updated
    assert 'port: "9011"' in git("show", f"main~1:{DEFAULT_PATH}/shop/cart.yaml", cwd=remote.path)
    files = git("ls-tree", "-r", "--name-only", "main", cwd=remote.path).split()
    assert f"{DEFAULT_PATH}/shop/cart.yaml" not in files
    assert f"{DEFAULT_PATH}/shop/catalog.yaml" in files
    # The workdir is exactly the commit it pushed: nothing staged, nothing changed, nothing left.
    assert git("status", "--porcelain", "--untracked-files=all", cwd=work) == ""
    assert git("rev-parse", "HEAD", cwd=work) == git("rev-parse", "main", cwd=remote.path)
    assert len(list((work / ".git").glob("sharedindex.*"))) <= 1

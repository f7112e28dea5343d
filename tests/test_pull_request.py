"""Pull-request mode (--push-branch) against real bare remotes, and its description."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from admitting import read
from click.testing import CliRunner, Result
from conftest import DEFAULT_PATH, Remote, assert_golden, entry, git, wait_for, write_state
from test_signing import allowed_signers_for, make_ssh_key

from reconciler.commands.cli import cli
from reconciler.controlplane.client import GrpcSource
from reconciler.controlplane.endpoint import Endpoint
from reconciler.controlplane.server import ReferenceControlPlane, start
from reconciler.desired.state import FileSource
from reconciler.errors import ConfigError, StalledError
from reconciler.gitops import GitSettings, Identity, Signing, Workspace, notes_ref
from reconciler.reconcile.description import MARKER, Description, Origin, change_lines, describe
from reconciler.reconcile.passes import PassOptions, SyncResult, reconcile
from reconciler.review import compare
from reconciler.service.controller import Controller
from reconciler.service.run_settings import RunSettings

if TYPE_CHECKING:
    from reconciler.render.templates import Templates

BRANCH = "cilium-gitops/eu-west-1"
SHOP = [entry("shop", "cart", version=3), entry("shop", "catalog", version=4)]
SCRIPT = Path(__file__).resolve().parents[1] / "sample-repo/.github/scripts"
GOLDEN = Path(__file__).resolve().parent / "golden" / "pull_request"


def sync(
    remote: Remote,
    tmp_path: Path,
    templates: Templates,
    entries: list[dict[str, object]],
    *,
    push_branch: str | None = BRANCH,
    signing: Signing | None = None,
) -> SyncResult:
    state = read(FileSource(write_state(tmp_path / "desired.json", entries)))
    bot = Identity("cilium-gitops", "bot@example.com")
    settings = GitSettings(remote.url, author=bot, push_branch=push_branch, signing=signing)
    with Workspace(tmp_path / "work", settings) as workspace:
        return reconcile(state, workspace, templates, PassOptions(region="eu-west-1"))


def refs(remote: Remote) -> dict[str, str]:
    listing = git("for-each-ref", "--format=%(refname) %(objectname)", cwd=remote.path)
    return dict(line.split(" ") for line in listing.splitlines())


def note_of(remote: Remote, revision: str) -> Description:
    text = git("notes", f"--ref={notes_ref(BRANCH)}", "show", revision, cwd=remote.path)
    return Description.from_note(text)


@pytest.fixture
def on_main(remote: Remote, tmp_path: Path, templates: Templates) -> Remote:
    """A remote whose main already holds SHOP, pushed directly (as without pull requests)."""
    sync(remote, tmp_path, templates, SHOP, push_branch=None)
    return remote


def test_change_becomes_one_commit_on_the_branch_with_its_description(
    on_main: Remote, tmp_path: Path, templates: Templates
) -> None:
    main_before = on_main.commits()
    changed = [entry("shop", "cart", port="9090", version=7), SHOP[1]]
    result = sync(on_main, tmp_path, templates, changed)

    assert on_main.commits() == main_before  # the watched branch did not move
    # Nor did the workdir's own main: the proposal was committed on a detached HEAD.
    assert git("rev-parse", "main", cwd=tmp_path / "work").strip() == main_before[0]
    proposal = result.proposal
    assert proposal is not None
    assert proposal.pushed
    assert proposal.branch == BRANCH
    assert refs(on_main)[f"refs/heads/{BRANCH}"] == proposal.commit == result.commit
    # Exactly the pending change: one commit, on top of main.
    ahead = git("rev-list", f"main..{BRANCH}", cwd=on_main.path).split()
    assert ahead == [proposal.commit]
    assert git("rev-parse", f"{BRANCH}^", cwd=on_main.path).strip() == main_before[0]
    cart = git("show", f"{BRANCH}:{DEFAULT_PATH}/shop/cart.yaml", cwd=on_main.path)
    assert 'port: "9090"' in cart
    trailers = git("log", "-1", "--format=%(trailers)", BRANCH, cwd=on_main.path)
    assert "Control-Plane-Version: 7" in trailers
    assert "Control-Plane-Region: eu-west-1" in trailers

    # The description travels with the push, as a note on that very commit.
    note = note_of(on_main, BRANCH)
    assert note == proposal.description
    assert note.title == (
        "Network policies for eu-west-1: 0 created, 1 updated, 0 deleted (control-plane version 7)"
    )
    assert note.body.startswith(MARKER)
    assert "| Control-plane version | `7` |" in note.body
    assert f"| Built on | `main` at `{main_before[0][:12]}` |" in note.body
    # What changed in traffic: the old port's flow removed, the new one added.
    assert "`TCP/8080`" in note.body
    assert "`TCP/9090`" in note.body
    assert "spec.ingress[0].toPorts[0].ports[0].port" in note.body
    assert "- updated shop/cart.yaml (policy shop-cart)" in note.body


def test_same_pending_change_is_not_pushed_again(
    on_main: Remote, tmp_path: Path, templates: Templates
) -> None:
    changed = [entry("shop", "cart", port="9090", version=7), SHOP[1]]
    first = sync(on_main, tmp_path, templates, changed)
    before = refs(on_main)
    again = sync(on_main, tmp_path, templates, changed)
    assert refs(on_main) == before  # no force push: a reviewer's approval stays valid
    assert again.commit is None
    assert again.proposal is not None
    assert not again.proposal.pushed
    assert first.proposal is not None
    assert again.proposal.commit == first.proposal.commit


def test_branch_is_rebuilt_on_a_moved_main_and_deleted_once_nothing_is_pending(
    on_main: Remote, tmp_path: Path, templates: Templates
) -> None:
    changed = [entry("shop", "cart", port="9090", version=7), SHOP[1]]
    sync(on_main, tmp_path, templates, changed)
    # Someone merges something else into main.
    other = on_main.clone(tmp_path / "other")
    (other / "README.md").write_text("fleet\n", encoding="utf-8")
    git("add", "README.md", cwd=other)
    git("commit", "--quiet", "-m", "docs", cwd=other)
    git("push", "--quiet", "origin", "HEAD:main", cwd=other)

    rebuilt = sync(on_main, tmp_path, templates, changed)
    assert rebuilt.proposal is not None
    assert rebuilt.proposal.pushed
    assert git("rev-list", f"main..{BRANCH}", cwd=on_main.path).split() == [rebuilt.commit]
    assert git("rev-parse", f"{BRANCH}^", cwd=on_main.path).strip() == on_main.commits()[0]
    assert note_of(on_main, BRANCH).title.endswith("(control-plane version 7)")

    # The control plane reverts: nothing is pending, so the branch and its note go.
    reverted = sync(on_main, tmp_path, templates, SHOP)
    assert reverted.proposal is not None
    assert reverted.proposal.pushed
    assert reverted.proposal.commit is None
    assert set(refs(on_main)) == {"refs/heads/main"}
    # And once it is gone, a further pass has nothing to delete.
    quiet = sync(on_main, tmp_path, templates, SHOP)
    assert quiet.proposal is not None
    assert not quiet.proposal.pushed


def test_a_push_to_the_branch_in_between_is_caught_by_the_lease_and_retried(
    on_main: Remote, tmp_path: Path, templates: Templates, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync(on_main, tmp_path, templates, [entry("shop", "cart", port="9090", version=7), SHOP[1]])
    other = on_main.clone(tmp_path / "other")
    real = Workspace.push_refs
    raced: list[str] = []

    def someone_pushes_first(self: Workspace, refspecs: list[str], leases: list[str]) -> None:
        if not raced:  # a person pushes a fix-up to the bot's branch, for real, once
            raced.append("yes")
            git("fetch", "--quiet", "origin", BRANCH, cwd=other)
            git("checkout", "--quiet", "-b", "fixup", "FETCH_HEAD", cwd=other)
            (other / "by-hand.txt").write_text("x\n", encoding="utf-8")
            git("add", "by-hand.txt", cwd=other)
            git("commit", "--quiet", "-m", "by hand", cwd=other)
            git("push", "--quiet", "origin", f"HEAD:{BRANCH}", cwd=other)
        real(self, refspecs, leases)

    monkeypatch.setattr(Workspace, "push_refs", someone_pushes_first)
    changed = [entry("shop", "cart", port="9191", version=8), SHOP[1]]
    result = sync(on_main, tmp_path, templates, changed)
    assert raced
    assert result.attempts == 2  # the lease refused the first push; the pass was redone
    files = git("ls-tree", "-r", "--name-only", BRANCH, cwd=on_main.path).split()
    assert "by-hand.txt" not in files  # the branch holds exactly the pending change again
    assert 'port: "9191"' in git(
        "show", f"{BRANCH}:{DEFAULT_PATH}/shop/cart.yaml", cwd=on_main.path
    )


def test_the_service_proposes_live_changes_and_withdraws_reverted_ones(
    remote: Remote, tmp_path: Path, templates: Templates
) -> None:
    server = start(ReferenceControlPlane())
    server.servicer.load(SHOP)
    stop = threading.Event()
    source = GrpcSource(Endpoint(f"127.0.0.1:{server.port}", tls=False), region="eu-west-1")
    # main already holds what the control plane serves (its versions, so the cursor agrees).
    with Workspace(tmp_path / "direct", GitSettings(remote.url)) as direct:
        reconcile(source.desired, direct, templates, PassOptions(region="eu-west-1"))
    on_main, main = remote, remote.commits()
    settings = GitSettings(on_main.url, push_branch=BRANCH)
    fast = RunSettings(batch_window=0.2, resync_interval=3600, retry_delay=0.2)
    with Workspace(tmp_path / "service", settings) as workspace:
        options = PassOptions(region="eu-west-1")
        controller = Controller(source, workspace, templates, options, fast, stop=stop)
        thread = threading.Thread(target=controller.run, daemon=True)
        thread.start()
        try:
            wait_for(controller.status.ready.is_set, timeout=20, what="the first resync")
            assert set(refs(on_main)) == {"refs/heads/main"}  # nothing pending, no branch
            server.servicer.load([entry("shop", "cart", port="9090"), SHOP[1]])
            wait_for(lambda: f"refs/heads/{BRANCH}" in refs(on_main), timeout=20, what="a PR")
            assert "`TCP/9090`" in note_of(on_main, BRANCH).body
            server.servicer.load(SHOP)  # the control plane reverts before anyone merged
            wait_for(
                lambda: set(refs(on_main)) == {"refs/heads/main"}, timeout=20, what="withdrawal"
            )
        finally:
            stop.set()
            thread.join(timeout=20)
            server.stop()
    assert on_main.commits() == main  # the watched branch never moved


def test_the_watched_branch_is_never_the_pull_request_branch(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="other than the one Flux watches"):
        GitSettings("file:///nowhere", branch="main", push_branch="main")
    with (
        Workspace(tmp_path / "work", GitSettings("file:///nowhere")) as workspace,
        pytest.raises(StalledError, match="refusing to force-push refs/heads/main"),
    ):
        workspace.push_refs(["HEAD:refs/heads/main"], leases=["refs/heads/main:"])


def test_risky_change_is_flagged_in_the_title_and_body(
    on_main: Remote, tmp_path: Path, templates: Templates
) -> None:
    world = entry("shop", "cart", version=9)
    world["policy"] = {
        "endpointSelector": {"matchLabels": {"app": "cart"}},
        "ingress": [{"fromEntities": ["world"], "toPorts": [{"ports": [{"port": "443"}]}]}],
    }
    result = sync(on_main, tmp_path, templates, [world, SHOP[1]])
    assert result.proposal is not None
    description = result.proposal.description
    assert description is not None
    assert description.title.endswith("1 risk flagged")
    assert "#### ⚠️ Risks" in description.body
    assert "world" in description.body


def test_pull_request_commits_are_signed(
    on_main: Remote, tmp_path: Path, templates: Templates
) -> None:
    key = make_ssh_key(tmp_path / "signing_ed25519")
    signers = allowed_signers_for(key, tmp_path / "allowed_signers")
    changed = [entry("shop", "cart", port="9090", version=7), SHOP[1]]
    sync(on_main, tmp_path, templates, changed, signing=Signing("ssh", str(key)))
    trust = f"gpg.ssh.allowedSignersFile={signers}"
    git("-c", trust, "verify-commit", BRANCH, cwd=on_main.path)


def test_workflow_script_reads_the_description_a_sync_pushed(
    on_main: Remote, tmp_path: Path, templates: Templates
) -> None:
    changed = [entry("shop", "cart", port="9090", version=7), SHOP[1]]
    result = sync(on_main, tmp_path, templates, changed)
    assert result.proposal is not None
    assert result.proposal.description is not None
    clone = on_main.clone(tmp_path / "actions")  # as actions/checkout leaves it
    git("fetch", "--quiet", "origin", BRANCH, cwd=clone)
    out = tmp_path / "pr"
    script = str(SCRIPT / "pull-request-description.sh")
    done = subprocess.run(
        [script, BRANCH, "FETCH_HEAD", str(out)], cwd=clone, capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert (out / "title.txt").read_text() == result.proposal.description.title + "\n"
    assert (out / "body.md").read_text() == result.proposal.description.body + "\n"

    # A run started for an older push finds no note for its commit and stands down.
    stale = subprocess.run(
        [script, BRANCH, "main", str(tmp_path / "stale")],
        cwd=clone,
        capture_output=True,
        check=False,
    )
    assert stale.returncode == 3
    assert b"has moved on" in stale.stderr
    assert not (tmp_path / "stale").exists()


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_cli_pull_request_mode(on_main: Remote, tmp_path: Path) -> None:
    state = write_state(tmp_path / "changed.json", [entry("shop", "cart", port="9090"), SHOP[1]])
    base = ["sync", "--control-plane", f"file://{state}", "--repo", on_main.url]
    base += ["--workdir", str(tmp_path / "cli-work")]
    missing = run(*base, "--push-branch", "cilium-gitops/{region}")
    assert missing.exit_code == 2
    assert "--push-branch 'cilium-gitops/{region}' needs --region" in missing.stderr

    args = [*base, "--region", "eu-west-1", "--push-branch", "cilium-gitops/{region}"]
    proposed = run(*args)
    assert proposed.exit_code == 0, proposed.stderr
    tip = refs(on_main)[f"refs/heads/{BRANCH}"]
    assert f"proposed {tip[:12]} on {BRANCH} for main of {on_main.url}" in proposed.stdout
    assert "pull request: Network policies for eu-west-1: 0 created, 1 updated" in proposed.stdout
    again = run(*args)
    assert f"up to date: {BRANCH} already proposes this change ({tip[:12]})" in again.stdout
    as_json = json.loads(run(*args, "--output", "json").stdout)
    assert as_json["commit"] is None  # nothing pushed by this pass
    assert as_json["pull_request"] == {
        "branch": BRANCH,
        "commit": tip,
        "pushed": False,
        "title": None,
        "body": None,
    }


def test_description_golden() -> None:
    """The body a reviewer reads, pinned for a fixed change (a port moves, a rule widens)."""
    before = {"shop/cart.yaml": _policy("8080", "frontend").encode()}
    after = {"shop/cart.yaml": _policy("9090", None).encode()}
    from reconciler.reconcile.plan import Action, Change, Plan  # noqa: PLC0415

    plan = Plan((Change(Action.UPDATE, "shop/cart.yaml", "shop-cart", "changed", b""),), version=12)
    origin = Origin(12, "eu-west-1", "main", "0123456789abcdef0123")
    description = describe(plan, compare(before, after), change_lines(plan), origin)
    assert_golden(GOLDEN / "title.txt", description.title + "\n")
    assert_golden(GOLDEN / "body.md", description.body + "\n")


def _policy(port: str, peer: str | None) -> str:
    source = f"\n      - matchLabels: {{app: {peer}}}" if peer else " [{}]"
    return f"""apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: cart
  namespace: shop
spec:
  endpointSelector:
    matchLabels: {{app: cart}}
  ingress:
    - fromEndpoints:{source}
      toPorts:
        - ports:
            - port: "{port}"
              protocol: TCP
"""

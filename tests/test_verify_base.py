"""`--verify-base`: never sign on top of a head of main that no allowed signer signed.

Real ssh-keygen and gpg keys, real bare remotes, a person's commits pushed with plain git.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner, Result
from conftest import (
    Remote,
    allowed_signers_for,
    entry,
    git,
    git_with,
    gnupg_env,
    make_ssh_key,
    ssh_fingerprint,
    wait_for,
    write_state,
)

from reconciler.commands.cli import cli
from reconciler.controlplane.client import GrpcSource
from reconciler.controlplane.endpoint import Endpoint
from reconciler.controlplane.server import ReferenceControlPlane, start
from reconciler.errors import ConfigError
from reconciler.gitops import GitSettings, Identity, Signing, Workspace
from reconciler.gitops.trust import TrustedCommits
from reconciler.reconcile.passes import PassOptions
from reconciler.service.controller import Controller
from reconciler.service.run_settings import RunSettings

if TYPE_CHECKING:
    from pathlib import Path

    from reconciler.render.templates import Templates

EXIT_STALLED = 1  # cli.EXIT_FAILURE: a StalledError that is not a configuration error
BOT = Identity("bot", "bot@example.com")


class Keys:
    """The service's signing key, a person's allowed key, a stranger's, and the trust file."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir()
        self.bot = make_ssh_key(folder / "bot")
        self.person = make_ssh_key(folder / "person")
        self.stranger = make_ssh_key(folder / "stranger")
        self.allowed = allowed_signers_for(self.bot, folder / "allowed_signers", self.person)

    def verify_args(self) -> list[str]:
        return ["--verify-base", "--allowed-signers", str(self.allowed)]

    def sign_args(self) -> list[str]:
        return ["--sign-ssh-key", str(self.bot)]


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    return Keys(tmp_path / "keys")


def sync(tmp_path: Path, remote: Remote, *extra: str, port: str = "8080", **env: str) -> Result:
    """`cilium-gitops sync` of one policy (its port varies, so each sync has work to do)."""
    state = write_state(tmp_path / "desired.json", [entry("shop", "cart", port=port)])
    args = ["sync", "--control-plane", f"file://{state}", "--repo", remote.url]
    args += ["--workdir", str(tmp_path / "work"), *extra]
    return CliRunner().invoke(cli, args, env=env or None, catch_exceptions=False)


def ssh_signing(key: Path) -> list[str]:
    return ["-c", "gpg.format=ssh", "-c", f"user.signingKey={key}", "-c", "commit.gpgSign=true"]


def push_by_hand(
    remote: Remote, clone: Path, *config: str, env: dict[str, str] | None = None
) -> str:
    """A person edits README.md on main and pushes with plain git; ``config`` may sign it."""
    if clone.exists():
        git("pull", "--quiet", "--ff-only", cwd=clone)
    else:
        remote.clone(clone)
    readme = clone / "README.md"
    readme.write_text((readme.read_text() if readme.exists() else "") + "edit\n", "utf-8")
    git("add", "README.md", cwd=clone)
    git_with(env or {}, *config, "commit", "--quiet", "-m", "by hand", cwd=clone)
    git("push", "--quiet", "origin", "HEAD:main", cwd=clone)
    return remote.commits()[0]


def parent(remote: Remote) -> str:
    return git("rev-parse", "main^", cwd=remote.path).strip()


def workdir_is_clean(tmp_path: Path) -> bool:
    return git("status", "--porcelain", "--untracked-files=all", cwd=tmp_path / "work") == ""


def refused(result: Result, commit: str, why: str) -> bool:
    return result.exit_code == EXIT_STALLED and (
        f"error: refusing to commit on top of main: its head {commit[:12]} {why}. "
        "Flux verifies only the head commit"
    ) in result.stderr.replace("\n", " ")


def test_a_head_signed_by_an_allowed_signer_is_built_on(
    remote: Remote, tmp_path: Path, keys: Keys
) -> None:
    """A head an allowed SSH key signed passes: the sync commits on it and pushes."""
    signed = push_by_hand(remote, tmp_path / "person", *ssh_signing(keys.person))
    result = sync(tmp_path, remote, *keys.verify_args(), *keys.sign_args())
    assert result.exit_code == 0, result.stderr
    assert len(remote.commits()) == 2
    assert parent(remote) == signed


def test_an_unsigned_commit_pushed_by_hand_stops_the_next_sync(
    remote: Remote, tmp_path: Path, keys: Keys
) -> None:
    """After an unsigned push to main the sync exits 1 naming it; main and the workdir stay as
    they are; once the person signs a commit on top, the next sync goes on."""
    assert sync(tmp_path, remote, *keys.verify_args(), *keys.sign_args()).exit_code == 0
    unsigned = push_by_hand(remote, tmp_path / "person")
    result = sync(tmp_path, remote, *keys.verify_args(), *keys.sign_args(), port="9090")
    assert refused(result, unsigned, "is unsigned"), result.stderr
    assert "Sign that commit, or revert it with a signed commit, on main" in result.stderr
    assert remote.commits()[0] == unsigned
    assert workdir_is_clean(tmp_path)
    fixed = push_by_hand(remote, tmp_path / "person", *ssh_signing(keys.person))
    result = sync(tmp_path, remote, *keys.verify_args(), *keys.sign_args(), port="9090")
    assert result.exit_code == 0, result.stderr
    assert parent(remote) == fixed


def test_a_head_signed_by_a_key_not_allowed_is_refused(
    remote: Remote, tmp_path: Path, keys: Keys
) -> None:
    """A head signed by a key missing from allowed signers is refused, naming that key
    (the options given as an environment variable and a config file key)."""
    foreign = push_by_hand(remote, tmp_path / "person", *ssh_signing(keys.stranger))
    config = tmp_path / "cilium-gitops.yaml"
    config.write_text(f"allowed-signers: {keys.allowed}\n", encoding="utf-8")
    env = {"CILIUM_GITOPS_VERIFY_BASE": "1", "CILIUM_GITOPS_CONFIG": str(config)}
    result = sync(tmp_path, remote, *keys.sign_args(), **env)
    why = f"is signed by {ssh_fingerprint(keys.stranger)}, which is not an allowed signer"
    assert refused(result, foreign, why), result.stderr
    assert remote.commits() == [foreign]
    assert workdir_is_clean(tmp_path)


def test_without_verify_base_an_unsigned_head_is_built_on(
    remote: Remote, tmp_path: Path, keys: Keys
) -> None:
    """Without `--verify-base` the sync signs on top of an unsigned head, as it always did."""
    unsigned = push_by_hand(remote, tmp_path / "person")
    result = sync(tmp_path, remote, *keys.sign_args())
    assert result.exit_code == 0, result.stderr
    assert parent(remote) == unsigned


def test_a_head_signed_with_a_gpg_key_of_the_keyring_is_built_on(
    remote: Remote, tmp_path: Path, gnupg: tuple[Path, str]
) -> None:
    """OpenPGP: a head signed by a key in gpg's keyring (GNUPGHOME) passes; the sync commits."""
    home, fingerprint = gnupg
    signing = ["-c", f"user.signingKey={fingerprint}", "-c", "commit.gpgSign=true"]
    signed = push_by_hand(remote, tmp_path / "person", *signing, env=gnupg_env(home))
    extra = ("--verify-base", "--sign-openpgp-key", fingerprint)
    result = sync(tmp_path, remote, *extra, **gnupg_env(home))
    assert result.exit_code == 0, result.stderr
    assert parent(remote) == signed


def test_an_empty_remote_needs_no_verification(remote: Remote, tmp_path: Path, keys: Keys) -> None:
    """On an empty remote the first sync commits; the next one builds on that signed commit."""
    assert sync(tmp_path, remote, *keys.verify_args(), *keys.sign_args()).exit_code == 0
    first = remote.commits()
    result = sync(tmp_path, remote, *keys.verify_args(), *keys.sign_args(), port="9090")
    assert result.exit_code == 0, result.stderr
    assert remote.commits()[1:] == first


def test_pull_request_mode_proposes_nothing_on_an_unverified_main(
    remote: Remote, tmp_path: Path, keys: Keys
) -> None:
    """With `--push-branch`, an unsigned main is refused and no proposal branch is pushed."""
    unsigned = push_by_hand(remote, tmp_path / "person")
    extra = ("--push-branch", "cilium-gitops/{branch}", *keys.verify_args(), *keys.sign_args())
    result = sync(tmp_path, remote, *extra)
    assert refused(result, unsigned, "is unsigned"), result.stderr
    refs = git("for-each-ref", "--format=%(refname)", cwd=remote.path).split()
    assert refs == ["refs/heads/main"]
    assert workdir_is_clean(tmp_path)


def test_verify_base_needs_a_signing_key_and_allowed_signers_needs_it(tmp_path: Path) -> None:
    """`--verify-base` without a signing key (our own commits are the next base), or
    `--allowed-signers` without `--verify-base`, is a configuration error."""
    with pytest.raises(ConfigError, match="--verify-base needs --sign-ssh-key"):
        GitSettings("file:///nowhere", verify_base=True)
    with pytest.raises(ConfigError, match="--allowed-signers is read only with --verify-base"):
        GitSettings("file:///nowhere", allowed_signers=tmp_path / "allowed")


def test_the_service_stays_up_on_an_unsigned_head_and_goes_on_once_it_is_signed(
    remote: Remote,
    tmp_path: Path,
    keys: Keys,
    templates: Templates,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`run`: the refusal is logged once, the service keeps running with no timed retry, and
    the next event after a signed commit on main is committed on top of it."""
    unsigned = push_by_hand(remote, tmp_path / "person")
    server = start(ReferenceControlPlane())
    server.servicer.load([entry("shop", "cart")])
    signing = Signing("ssh", str(keys.bot))
    settings = GitSettings(
        remote.url, author=BOT, signing=signing, verify_base=True, allowed_signers=keys.allowed
    )
    pace = RunSettings(batch_window=0.1, resync_interval=3600, retry_delay=0.05)
    stop = threading.Event()
    source = GrpcSource(Endpoint(f"127.0.0.1:{server.port}", tls=False), region="eu-west-1")
    with Workspace(tmp_path / "work", settings) as workspace:
        controller = Controller(source, workspace, templates, PassOptions(), pace, stop=stop)
        thread = threading.Thread(target=controller.run, daemon=True)
        thread.start()
        try:
            wait_for(lambda: controller.describe()["stalled"] is not None, what="the refusal")
            fixed = push_by_hand(remote, tmp_path / "person", *ssh_signing(keys.person))
            assert thread.is_alive()
            assert remote.commits()[0] == fixed
            server.servicer.load([entry("shop", "cart", port="9090")])
            wait_for(lambda: len(remote.commits()) == 3, timeout=20, what="the commit")
        finally:
            stop.set()
            thread.join(timeout=20)
            server.stop()
    assert parent(remote) == fixed
    refusals = [r for r in caplog.records if "refusing to commit" in r.getMessage()]
    assert [r.levelno for r in refusals] == [logging.ERROR]
    assert (
        f"resync: stalled (unverified-base): refusing to commit on top of main: its head "
        f"{unsigned[:12]}"
    ) in refusals[0].getMessage()
    assert controller.describe()["stalled"] is None


def test_a_long_running_service_keeps_only_recent_trusted_commits() -> None:
    """Only the head is ever checked: months of commits must not pile up in memory."""
    trusted = TrustedCommits(limit=3)
    for commit in ("a", "b", "c", "a", "d"):  # "a" again: it becomes the newest
        trusted.add(commit)
    assert len(trusted) == 3
    assert "b" not in trusted
    assert all(commit in trusted for commit in ("c", "a", "d"))

"""Signed commits: real ssh-keygen and gpg keys, a real sync, ``git verify-commit`` in a clone."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from admitting import read
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
    write_state,
)

from reconciler.commands.cli import cli
from reconciler.desired.state import FileSource
from reconciler.errors import ConfigError, StalledError
from reconciler.gitops import GitSettings, Identity, Signing, Workspace
from reconciler.reconcile.passes import PassOptions, SyncResult, reconcile

if TYPE_CHECKING:
    from pathlib import Path

    from reconciler.render.templates import Templates

SHOP = [entry("shop", "cart", version=3), entry("shop", "catalog", version=4)]


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def sync_args(tmp_path: Path, remote: Remote, *extra: str) -> list[str]:
    state = write_state(tmp_path / "desired.json", SHOP)
    source = ["--control-plane", f"file://{state}"]
    return ["sync", *source, "--repo", remote.url, "--workdir", str(tmp_path / "work"), *extra]


def sync(remote: Remote, tmp_path: Path, templates: Templates, signing: Signing) -> SyncResult:
    bot = Identity("bot", "bot@example.com")
    settings = GitSettings(url=remote.url, author=bot, signing=signing)
    state = read(FileSource(write_state(tmp_path / "desired.json", SHOP)))
    with Workspace(tmp_path / "work", settings) as workspace:
        return reconcile(state, workspace, templates, PassOptions())


def pushed_nothing(remote: Remote) -> bool:
    return git("branch", "--list", cwd=remote.path) == ""


@pytest.fixture
def ssh_key(tmp_path: Path) -> Path:
    return make_ssh_key(tmp_path / "signing_ed25519")


@pytest.fixture
def allowed_signers(ssh_key: Path, tmp_path: Path) -> Path:
    return allowed_signers_for(ssh_key, tmp_path / "allowed_signers")


def test_ssh_signed_sync_verifies_in_a_clone(
    remote: Remote, tmp_path: Path, ssh_key: Path, allowed_signers: Path
) -> None:
    """`sync --sign-ssh-key` pushes a commit `git verify-commit` accepts, signed by that key."""
    result = run(*sync_args(tmp_path, remote, "--sign-ssh-key", str(ssh_key)))
    assert result.exit_code == 0, result.stderr
    clone = remote.clone(tmp_path / "check")
    trust = f"gpg.ssh.allowedSignersFile={allowed_signers}"
    git("-c", trust, "verify-commit", "HEAD", cwd=clone)
    signer = git("-c", trust, "log", "-1", "--format=%G?|%GF", "HEAD", cwd=clone).strip()
    assert signer == f"G|{ssh_fingerprint(ssh_key)}"
    assert git("rev-parse", "HEAD", cwd=clone).strip() == remote.commits()[0]


def test_openpgp_signed_sync_from_config_file_verifies_in_a_clone(
    remote: Remote, tmp_path: Path, gnupg: tuple[Path, str]
) -> None:
    """`sign-openpgp-key` in the config file signs with that gpg key; verify-commit accepts it."""
    home, fingerprint = gnupg
    config = tmp_path / "cilium-gitops.yaml"
    config.write_text(f"sign-openpgp-key: '{fingerprint}'\n", encoding="utf-8")
    result = run("--config", str(config), *sync_args(tmp_path, remote), env=gnupg_env(home))
    assert result.exit_code == 0, result.stderr
    clone = remote.clone(tmp_path / "check")
    git_with(gnupg_env(home), "verify-commit", "HEAD", cwd=clone)
    signer = git_with(gnupg_env(home), "log", "-1", "--format=%G?|%GF", "HEAD", cwd=clone)
    assert signer.strip() == f"G|{fingerprint}"


def test_workspace_verify_names_the_openpgp_key_from_gnupg_home(
    remote: Remote, tmp_path: Path, templates: Templates, gnupg: tuple[Path, str]
) -> None:
    """A `Signing` with its own gnupg_home signs, and `Workspace.verify` returns its fingerprint."""
    home, fingerprint = gnupg
    signing = Signing("openpgp", fingerprint, gnupg_home=home)
    result = sync(remote, tmp_path, templates, signing)
    assert result.commit == remote.commits()[0]
    settings = GitSettings(url=remote.url, signing=signing)
    with Workspace(tmp_path / "work", settings) as workspace:
        assert workspace.verify(result.commit) == fingerprint


def test_workspace_verify_rejects_a_key_not_in_allowed_signers(
    remote: Remote, tmp_path: Path, templates: Templates, ssh_key: Path, allowed_signers: Path
) -> None:
    """`verify` accepts the signer listed in allowed signers and stalls on any other key."""
    result = sync(remote, tmp_path, templates, Signing("ssh", str(ssh_key)))
    assert result.commit is not None
    stranger = allowed_signers_for(make_ssh_key(tmp_path / "stranger"), tmp_path / "others")
    with Workspace(tmp_path / "work", GitSettings(url=remote.url)) as workspace:
        assert workspace.verify(result.commit, allowed_signers=allowed_signers) == (
            ssh_fingerprint(ssh_key)
        )
        with pytest.raises(StalledError, match="no valid signature"):
            workspace.verify(result.commit, allowed_signers=stranger)


def test_missing_ssh_key_stalls_and_pushes_nothing(
    remote: Remote, tmp_path: Path, templates: Templates
) -> None:
    """A signing key file that is gone stops the pass with an error naming it; nothing is pushed."""
    gone = tmp_path / "secrets" / "id_ed25519"
    with pytest.raises(ConfigError, match=f"ssh key {gone} is not a readable file") as caught:
        sync(remote, tmp_path, templates, Signing("ssh", str(gone)))
    assert isinstance(caught.value, StalledError)
    assert pushed_nothing(remote)
    result = run(*sync_args(tmp_path, remote, "--sign-ssh-key", str(gone)))
    assert result.exit_code == 2
    assert "--sign-ssh-key" in result.stderr
    assert pushed_nothing(remote)


def test_unusable_ssh_key_names_the_path_but_not_the_content(
    remote: Remote, tmp_path: Path, templates: Templates
) -> None:
    """A file that is not a key fails the commit, names the path, never echoes the bytes."""
    bad = tmp_path / "not-a-key"
    bad.write_text("hunter2-secret-material\n", encoding="utf-8")
    bad.chmod(0o600)
    with pytest.raises(ConfigError, match="cannot sign commits with ssh key") as caught:
        sync(remote, tmp_path, templates, Signing("ssh", str(bad)))
    assert str(bad) in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert pushed_nothing(remote)


def test_unknown_openpgp_key_stalls_naming_the_key_id(
    remote: Remote, tmp_path: Path, templates: Templates, gnupg: tuple[Path, str]
) -> None:
    """An OpenPGP key id missing from the keyring fails with that id; nothing is pushed."""
    home, _ = gnupg
    signing = Signing("openpgp", "DEADBEEFDEADBEEF", gnupg_home=home)
    with pytest.raises(ConfigError, match="OpenPGP key DEADBEEFDEADBEEF"):
        sync(remote, tmp_path, templates, signing)
    assert pushed_nothing(remote)


def test_both_signing_options_are_a_usage_error(
    remote: Remote, tmp_path: Path, ssh_key: Path
) -> None:
    """Asking for ssh and OpenPGP signing at once exits 2 before touching the remote."""
    extra = ("--sign-ssh-key", str(ssh_key), "--sign-openpgp-key", "DEADBEEF")
    result = run(*sync_args(tmp_path, remote, *extra))
    assert result.exit_code == 2
    assert "--sign-ssh-key and --sign-openpgp-key exclude each other" in result.stderr
    assert pushed_nothing(remote)


def test_unsigned_sync_still_works(remote: Remote, tmp_path: Path) -> None:
    """Without a signing option the sync pushes as before, and the commit carries no signature."""
    result = run(*sync_args(tmp_path, remote))
    assert result.exit_code == 0, result.stderr
    assert git("log", "-1", "--format=%G?", "main", cwd=remote.path).strip() == "N"
    with (
        Workspace(tmp_path / "work", GitSettings(url=remote.url)) as workspace,
        pytest.raises(StalledError, match="unsigned"),
    ):
        workspace.verify(remote.commits()[0])


def test_signing_settings_are_checked_up_front(tmp_path: Path) -> None:
    """An unknown format, an empty key or a GNUPGHOME for ssh is a configuration error."""
    with pytest.raises(ConfigError, match="'ssh' or 'openpgp'"):
        Signing("x509", "key")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="key is required"):
        Signing("openpgp", " ")
    with pytest.raises(ConfigError, match="OpenPGP signing only"):
        Signing("ssh", "key", gnupg_home=tmp_path)

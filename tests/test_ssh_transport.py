"""``--ssh-key`` and ``--known-hosts`` against a real sshd on 127.0.0.1, through the CLI.

A private ``sshd`` runs for this module with its own host key and authorized_keys; the user
logs in as whoever runs the tests, and git runs ``git-upload-pack``/``git-receive-pack`` on a
bare remote in a temp folder. Skipped where sshd is not installed.
"""

from __future__ import annotations

import getpass
import os
import pty
import select
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner, Result
from conftest import DEFAULT_PATH, ROOT, Remote, _free_port, entry, git, wait_for, write_state

from reconciler.commands.cli import cli

if TYPE_CHECKING:
    from collections.abc import Iterator

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
POLICIES = [entry("shop", "cart", version=2), entry("shop", "catalog", version=3)]
# A prompt would wait forever; a refused login takes well under a second.
PROMPT_DEADLINE = 15.0


@dataclass(frozen=True)
class SshServer:
    """A running sshd: where it listens, who may log in, and the client's files for it."""

    port: int
    user: str
    client_key: Path
    known_hosts: Path
    keys: Path

    def url(self, repository: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{repository.resolve()}"

    def pin(self, public_key: Path, name: str) -> Path:
        """A known_hosts file holding ``public_key`` for this server's address."""
        kind, key = public_key.read_text(encoding="utf-8").split()[:2]
        path = self.keys / name
        path.write_text(f"[127.0.0.1]:{self.port} {kind} {key}\n", encoding="utf-8")
        return path


def _keygen(path: Path) -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "cilium-gitops-test", "-f", path],
        check=True,
        capture_output=True,
    )
    return path


def _sshd_config(keys: Path, port: int) -> Path:
    config = keys / "sshd_config"
    config.write_text(
        f"ListenAddress 127.0.0.1\n"
        f"Port {port}\n"
        f"HostKey {keys / 'host_key'}\n"
        f"AuthorizedKeysFile {keys / 'authorized_keys'}\n"
        f"PidFile {keys / 'sshd.pid'}\n"
        "UsePAM no\n"
        "StrictModes no\n"
        "PubkeyAuthentication yes\n"
        # Offered so that a client that would ask for a password does ask (and the test below
        # sees it). It can never succeed: root may not use it (prohibit-password), and an sshd
        # not running as root cannot read /etc/shadow to check one.
        "PasswordAuthentication yes\n"
        "PermitEmptyPasswords no\n"
        "KbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\n"
        "PrintMotd no\n",
        encoding="utf-8",
    )
    return config


def _start_sshd(keys: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start sshd on a free port, trying another port if one was taken in the meantime."""
    for _ in range(5):
        port = _free_port()
        process = _launch_sshd(keys, port)
        if process is not None:
            return process, port
    pytest.fail("sshd found no free port in five tries")


def _launch_sshd(keys: Path, port: int) -> subprocess.Popen[bytes] | None:
    """sshd listening on ``port``, or None if the port was taken; fails on any other error."""
    log, pid_file = keys / "sshd.log", keys / "sshd.pid"
    pid_file.unlink(missing_ok=True)
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", _sshd_config(keys, port)],
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=sink,
        )
    # sshd writes its pid file once it listens.
    wait_for(lambda: pid_file.exists() or process.poll() is not None, what="sshd to listen")
    if process.poll() is None:
        return process
    text = log.read_text(encoding="utf-8", errors="replace")
    if "Address already in use" not in text:
        pytest.fail(f"sshd did not start:\n{text}")
    return None


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """A private sshd on 127.0.0.1 that accepts one client key for the current user."""
    if not Path(SSHD).is_file():
        pytest.skip(
            "sshd is not installed on this machine (Debian: apt-get install openssh-server)"
        )
    if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        pytest.skip("the OpenSSH client (ssh, ssh-keygen) is not installed on this machine")
    if os.geteuid() == 0:
        # sshd started as root insists on its privilege-separation folder.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    keys = tmp_path_factory.mktemp("sshd")
    host_key = _keygen(keys / "host_key")
    client_key = _keygen(keys / "client_key")
    shutil.copyfile(keys / "client_key.pub", keys / "authorized_keys")
    process, port = _start_sshd(keys)
    server = SshServer(port, getpass.getuser(), client_key, keys / "known_hosts", keys)
    server.pin(host_key.with_suffix(".pub"), "known_hosts")
    try:
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(autouse=True)
def _no_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ssh-agent: the only key ssh may offer is the one the command line names."""
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)


def sync_args(server: SshServer, remote: Remote, tmp_path: Path, **files: Path) -> list[str]:
    state = write_state(tmp_path / "desired.json", POLICIES)
    return [
        "sync",
        "--control-plane",
        f"file://{state}",
        "--repo",
        server.url(remote.path),
        "--workdir",
        str(tmp_path / "work"),
        "--ssh-key",
        str(files.get("ssh_key", server.client_key)),
        "--known-hosts",
        str(files.get("known_hosts", server.known_hosts)),
    ]


def run(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def secret_lines(private_key: Path) -> list[str]:
    """The base64 body of a private key: none of it may ever appear in output."""
    lines = private_key.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line and not line.startswith("-----")]


def assert_nothing_pushed(remote: Remote) -> None:
    assert git("branch", "--list", cwd=remote.path) == ""


def test_sync_over_ssh_pushes_the_policies(sshd: SshServer, remote: Remote, tmp_path: Path) -> None:
    """With the accepted key and the pinned host key, a sync commits and pushes over ssh://."""
    args = sync_args(sshd, remote, tmp_path)
    result = run(args)
    assert result.exit_code == 0, result.stderr
    [head] = remote.commits()
    assert f"committed {head[:12]} to main of ssh://" in result.stdout
    assert sorted(remote.files(DEFAULT_PATH)) == [
        f"{DEFAULT_PATH}/kustomization.yaml",
        f"{DEFAULT_PATH}/shop/cart.yaml",
        f"{DEFAULT_PATH}/shop/catalog.yaml",
        f"{DEFAULT_PATH}/shop/kustomization.yaml",
    ]
    assert "app: cart" in remote.show(f"{DEFAULT_PATH}/shop/cart.yaml")

    # The second pass fetches over ssh too, and finds nothing to do.
    again = run(args)
    assert again.exit_code == 0, again.stderr
    assert "up to date" in again.stdout
    assert remote.commits() == [head]


def test_host_key_other_than_the_pinned_one_is_refused(
    sshd: SshServer, remote: Remote, tmp_path: Path
) -> None:
    """A server whose host key is not the pinned one gets nothing, and the error says why."""
    impostor = sshd.pin(_keygen(tmp_path / "other_host_key").with_suffix(".pub"), "pinned")
    result = run(sync_args(sshd, remote, tmp_path, known_hosts=impostor))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: git fetch failed")
    assert "Host key verification failed." in result.stderr
    assert str(impostor) in result.stderr
    for line in secret_lines(sshd.client_key):
        assert line not in result.stdout + result.stderr
    assert_nothing_pushed(remote)


def run_on_a_terminal(args: list[str], *, timeout: float) -> tuple[int | None, str]:
    """Run the CLI with a pseudo-terminal as its controlling terminal, as from a shell.

    ssh asks for passwords and host-key confirmations on ``/dev/tty``, not on stdin, so only
    a process with a controlling terminal can show whether it would prompt. Returns the exit
    code (None if it was still running at the deadline, and was killed) and all it printed.
    """
    master, terminal = pty.openpty()
    # In its new session, the child makes the pty its controlling terminal, then becomes the CLI.
    take_terminal = (
        "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
        "os.execv(sys.executable, [sys.executable, '-m', 'reconciler', *sys.argv[1:]])"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", take_terminal, *args],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
        cwd=ROOT,
    )
    os.close(terminal)
    output = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while (left := deadline - time.monotonic()) > 0 and select.select([master], [], [], left)[
            0
        ]:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: every process holding the terminal has closed it
                break
            if not chunk:
                break
            output += chunk
        try:
            code: int | None = process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            code = None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        os.close(master)
    return code, output.decode(errors="replace").replace("\r\n", "\n")


def test_client_key_the_server_refuses_fails_without_prompting(
    sshd: SshServer, remote: Remote, tmp_path: Path
) -> None:
    """An unaccepted key fails at once, even on a terminal: no password prompt, nothing pushed."""
    stranger = _keygen(tmp_path / "stranger")
    code, output = run_on_a_terminal(
        sync_args(sshd, remote, tmp_path, ssh_key=stranger), timeout=PROMPT_DEADLINE
    )
    assert "password:" not in output
    assert code == 1, f"still running after {PROMPT_DEADLINE}s:\n{output}"
    assert output.startswith("error: git fetch failed")
    assert f"{sshd.user}@127.0.0.1: Permission denied (publickey" in output
    for line in secret_lines(stranger):
        assert line not in output
    assert_nothing_pushed(remote)

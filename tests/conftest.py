"""Shared fixtures: real git remotes, a git daemon on 127.0.0.1, sample desired states, keys."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from reconciler.gitops import init_bare
from reconciler.render.templates import Templates, load_templates

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]
# The Cilium CRDs and example policies, vendored verbatim from ../shared/cilium (Apache-2.0, see
# tests/data/cilium/SOURCE.md) so that a clean clone runs every corpus test; test_corpus.py
# checks the copy against ../shared/ where that folder is present.
CILIUM = ROOT / "tests" / "data" / "cilium"
EXAMPLES = CILIUM / "examples"
SHARED = ROOT.parent / "shared"
DEFAULT_PATH = "infrastructure/network-policies"


def git(*args: str, cwd: Path) -> str:
    """Run the real git binary; fail the test with git's own message."""
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.fail(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout


@pytest.fixture(autouse=True)
def _isolated_git(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No user or system git config, caches in a temp folder: every test starts clean."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    for who in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{who}_NAME", "Someone Else")
        monkeypatch.setenv(f"GIT_{who}_EMAIL", "someone@example.com")
    for name in [n for n in os.environ if n.startswith("CILIUM_GITOPS_")]:
        monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def templates() -> Templates:
    return load_templates()


@dataclass
class Remote:
    """A bare repository and a helper clone standing for 'another writer'."""

    path: Path
    url: str
    branch: str = "main"

    def clone(self, into: Path) -> Path:
        git("clone", "--quiet", self.url, str(into), cwd=into.parent)
        return into

    def commits(self) -> list[str]:
        out = git("log", "--format=%H", self.branch, cwd=self.path)
        return out.split()

    def show(self, path: str) -> str:
        return git("show", f"{self.branch}:{path}", cwd=self.path)

    def files(self, under: str = "") -> list[str]:
        args = ["ls-tree", "-r", "--name-only", self.branch]
        if under:
            args += ["--", under]
        return git(*args, cwd=self.path).split()


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    """An empty bare remote reached over file://."""
    path = tmp_path / "remote.git"
    return Remote(path, init_bare(path, "main"))


@pytest.fixture
def seeded_remote(remote: Remote, tmp_path: Path) -> Remote:
    """A remote whose main branch already holds a hand-written README and a Flux folder."""
    work = remote.clone(tmp_path / "seed")
    (work / "README.md").write_text("# fleet\n", encoding="utf-8")
    (work / "clusters" / "prod").mkdir(parents=True)
    (work / "clusters" / "prod" / "flux.yaml").write_text("kind: Kustomization\n", encoding="utf-8")
    git("add", "-A", cwd=work)
    git("commit", "--quiet", "-m", "seed", cwd=work)
    git("push", "--quiet", "origin", "HEAD:main", cwd=work)
    return remote


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], bool], *, timeout: float = 10.0, what: str) -> None:
    """Poll ``condition`` until it holds or the deadline passes (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def git_daemon(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real ``git daemon`` on 127.0.0.1 serving a folder, with push enabled.

    Yields the base URL (``git://127.0.0.1:PORT``) and the folder it serves.
    """
    daemon = shutil.which("git-daemon") or "/usr/lib/git-core/git-daemon"
    if not Path(daemon).exists():
        pytest.skip("git-daemon is not installed on this machine")
    base = tmp_path / "served"
    base.mkdir()
    port = _free_port()
    process = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--enable=receive-pack",
            "--listen=127.0.0.1",
            f"--port={port}",
            f"--base-path={base}",
            str(base),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def listening() -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    try:
        wait_for(listening, what="git daemon to listen")
        yield f"git://127.0.0.1:{port}", base
    finally:
        process.terminate()
        process.wait(timeout=10)


def entry(
    namespace: str | None,
    name: str,
    *,
    policy_id: str | None = None,
    port: str = "8080",
    version: int = 1,
    region: str | None = None,
) -> dict[str, object]:
    """One desired-state entry: allow TCP ``port`` from pods labelled app=frontend."""
    body: dict[str, object] = {
        "endpointSelector": {"matchLabels": {"app": name}},
        "ingress": [
            {
                "fromEndpoints": [{"matchLabels": {"app": "frontend"}}],
                "toPorts": [{"ports": [{"port": port, "protocol": "TCP"}]}],
            }
        ],
    }
    item: dict[str, object] = {
        "id": policy_id or f"{namespace or 'cluster'}-{name}",
        "name": name,
        "version": version,
        "policy": body,
    }
    if namespace is not None:
        item["namespace"] = namespace
    if region is not None:
        item["region"] = region
    return item


def write_state(path: Path, entries: list[dict[str, object]], version: int | None = None) -> Path:
    """Write a desired-state file (JSON, which is also YAML) and return its path."""
    import json  # noqa: PLC0415 - keeps the fixture module's imports about git

    document: dict[str, object] = {"policies": entries}
    if version is not None:
        document["version"] = version
    path.write_text(json.dumps(document, indent=1), encoding="utf-8")
    return path


GOLDEN = Path(__file__).resolve().parent / "golden"


def assert_golden(path: Path, actual: bytes | str) -> None:
    """Compare with a golden file; ``UPDATE_GOLDEN=1 pytest`` rewrites it (review the diff)."""
    data = actual.encode() if isinstance(actual, str) else actual
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    if not path.exists():
        pytest.fail(f"golden file {path} is missing; run with UPDATE_GOLDEN=1 and review it")
    assert data.decode() == path.read_text(encoding="utf-8"), f"differs from golden file {path}"


# -- signing keys: real ssh-keygen and gpg, generated per test --------------------------


def make_ssh_key(path: Path) -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "signer", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path


def ssh_fingerprint(key: Path) -> str:
    out = subprocess.run(
        ["ssh-keygen", "-l", "-f", f"{key}.pub"], check=True, capture_output=True, text=True
    )
    return out.stdout.split()[1]


def allowed_signers_for(key: Path, path: Path, *more: Path) -> Path:
    """git's allowed signers file: a principal, then the public key; one line per key."""
    publics = [Path(f"{k}.pub").read_text(encoding="utf-8") for k in (key, *more)]
    path.write_text("".join(f'bot@example.com namespaces="git" {p}' for p in publics), "utf-8")
    return path


def gnupg_env(home: Path) -> dict[str, str]:
    return {"GNUPGHOME": str(home)}


def git_with(env: dict[str, str], *args: str, cwd: Path) -> str:
    """Like ``git``, with extra environment (gpg finds its keyring through it)."""
    command = ["git", *args]
    result = subprocess.run(
        command, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def gpg(home: Path, *args: str) -> str:
    command = ["gpg", "--batch", *args]
    env = {**os.environ, **gnupg_env(home)}
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.fail(f"gpg {' '.join(args)} failed: {result.stderr}")
    return result.stdout


@pytest.fixture
def gnupg() -> Iterator[tuple[Path, str]]:
    """A throwaway GNUPGHOME holding one unencrypted ed25519 signing key; its fingerprint."""
    if shutil.which("gpg") is None:
        pytest.skip("gpg is not installed on this machine")
    # Short and under /tmp: gpg-agent's socket path must fit in a sockaddr_un.
    home = Path(tempfile.mkdtemp(prefix="g", dir="/tmp"))
    try:
        user = "Test <t@example.com>"
        gpg(home, "--passphrase", "", "--quick-gen-key", user, "ed25519", "sign", "never")
        listing = gpg(home, "--with-colons", "--list-secret-keys").splitlines()
        fingerprint = next(line.split(":")[9] for line in listing if line.startswith("fpr:"))
        yield home, fingerprint
    finally:
        subprocess.run(
            ["gpgconf", "--kill", "gpg-agent"],
            env={**os.environ, **gnupg_env(home)},
            check=False,
            capture_output=True,
        )
        shutil.rmtree(home, ignore_errors=True)

"""Real processes for the fault suite: ``cilium-gitops run``, a git daemon that can go down, and
the checks every fault case ends with (the tree is the rendering of the final desired state,
history is linear, no commit is empty, no change is committed twice)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from admitting import admission
from conftest import DEFAULT_PATH, git, wait_for
from hostile_support import CLI

from reconciler.desired.state import build_state
from reconciler.reconcile.passes import render_only

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

REGION = "eu-west-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """``cilium-gitops run`` as a process, its log in a file, its HTTP face on a free port."""

    control_plane: str
    repo: str
    workdir: Path
    log: Path
    extra: Sequence[str] = ()
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        args = [
            str(CLI), "run", "--control-plane", self.control_plane, "--region", REGION,
            "--repo", self.repo, "--workdir", str(self.workdir), "--batch-window", "0.2",
            "--http-address", f"127.0.0.1:{self.port}", *self.extra,
        ]  # fmt: skip
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                args,
                stdout=subprocess.DEVNULL,
                stderr=sink,
                start_new_session=True,
                env={**os.environ, **self.env},
            )
        return self

    def get(self, path: str) -> tuple[int, str]:
        try:
            url = f"http://127.0.0.1:{self.port}{path}"
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            return 0, ""

    def status(self) -> dict[str, Any]:
        code, body = self.get("/status")
        return json.loads(body) if code == 200 else {}

    def metric(self, name: str) -> float | None:
        _, body = self.get("/metrics")
        for line in body.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        return None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_serving(self) -> None:
        wait_for(lambda: self.get("/healthz")[0] == 200, timeout=30, what="the service's /healthz")

    def kill(self) -> None:
        if self.alive():
            assert self.process is not None
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> int:
        """SIGTERM, as Kubernetes stops a pod; the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)

    def logged(self) -> list[dict[str, Any]]:
        lines = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


class Daemon:
    """``git daemon`` serving a folder on a fixed port, that a test can take down and back."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"git://127.0.0.1:{self.port}"

    def up(self) -> None:
        self.process = subprocess.Popen(
            [
                "git", "daemon", "--reuseaddr", "--export-all", "--enable=receive-pack",
                "--listen=127.0.0.1", f"--port={self.port}", f"--base-path={self.base}",
                str(self.base),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

        def listening() -> bool:
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", self.port)) == 0

        wait_for(listening, what="git daemon to listen")

    def down(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


# The control-plane version a file records (and the checksum over it) depends on how many
# events led there; everything else must be exactly the rendering of the final state.
_VERSIONED = re.compile(
    rb"^(    cilium-gitops\.io/version: .*|# cilium-gitops-checksum: .*)\n", re.MULTILINE
)


def normalised(content: bytes) -> bytes:
    return _VERSIONED.sub(b"", content)


def rendered(entries: list[dict[str, Any]], out: Path) -> dict[str, bytes]:
    """What the managed tree must hold for ``entries``: rendered by the product itself."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    state = build_state(entries, admission(), region=REGION)
    render_only(state, out)
    return {
        p.relative_to(out).as_posix(): normalised(p.read_bytes())
        for p in out.rglob("*")
        if p.is_file()
    }


def tree_at(remote: Path, branch: str = "main") -> dict[str, bytes]:
    """The managed folder's files on the remote's branch (versions aside, see ``normalised``)."""
    names = git("ls-tree", "-r", "--name-only", branch, "--", DEFAULT_PATH, cwd=remote).split()
    found = {}
    for name in names:
        blob = subprocess.run(
            ["git", "show", f"{branch}:{name}"], cwd=remote, capture_output=True, check=True
        ).stdout
        found[name.removeprefix(f"{DEFAULT_PATH}/")] = normalised(blob)
    return found


def assert_history_sound(remote: Path, branch: str = "main") -> None:
    """Linear, no empty commit, and no file content committed twice."""
    lines = git("log", "--format=%H %P", branch, cwd=remote).splitlines()
    assert all(len(line.split()) <= 2 for line in lines), "a merge commit"
    seen: set[tuple[str, str]] = set()
    for line in lines:
        commit = line.split()[0]
        changed = git(
            "diff-tree", "--no-commit-id", "-r", "--root", "--raw", commit, cwd=remote
        ).splitlines()
        assert changed, f"commit {commit[:12]} changes nothing"
        for entry in changed:
            meta, _, path = entry.partition("\t")
            blob = meta.split()[3]
            if path.endswith("kustomization.yaml") or set(blob) == {"0"}:
                continue  # deletions, and kustomizations that list the same names again
            assert (path, blob) not in seen, f"{path} committed twice with the same content"
            seen.add((path, blob))

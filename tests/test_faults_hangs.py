"""Nothing hangs forever: a remote or a control plane that accepts and then says nothing is cut
after its deadline, as a retryable failure with a clear message; a watch whose connection goes
silent without closing is found by keepalive and reopened. Issue 20.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import TYPE_CHECKING

import pytest
from conftest import DEFAULT_PATH, Remote, entry, wait_for, write_state
from fault_support import REGION, Service, free_port
from hostile_support import assert_well_behaved, run_cli

from reconciler.controlplane.server import ReferenceControlPlane, start

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


class SilentServer:
    """Accepts TCP connections and never sends a byte: a hung git daemon or control plane."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(conn)  # held open, never answered

    def close(self) -> None:
        self._stop.set()
        for conn in self.accepted:
            conn.close()
        self.sock.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def test_a_git_remote_that_never_answers_is_cut(silent: SilentServer, tmp_path: Path) -> None:
    """git:// accepts and says nothing: cut after --git-timeout, exit 1, the reason named."""
    state = write_state(tmp_path / "desired.json", [entry("shop", "api")])
    run = run_cli(
        "sync",
        "--control-plane",
        f"file://{state}",
        "--repo",
        f"git://127.0.0.1:{silent.port}/fleet.git",
        "--workdir",
        str(tmp_path / "work"),
        "--git-timeout",
        "2",
        timeout=60,
    )
    assert_well_behaved(run, codes=(1,))
    assert "the remote sent nothing for 2 s (--git-timeout)" in run.stderr
    assert silent.accepted, "git never connected: the test proves nothing"
    assert run.seconds < 30


def test_a_control_plane_that_never_answers_is_cut(silent: SilentServer, tmp_path: Path) -> None:
    """grpc:// accepts and says nothing: the list is cut after --control-plane-timeout, exit 1,
    and the repository is left as it is (nothing pushed)."""
    remote = tmp_path / "remote.git"
    run = run_cli(
        "sync",
        "--control-plane",
        f"grpc://127.0.0.1:{silent.port}",
        "--region",
        REGION,
        "--repo",
        remote.as_uri(),
        "--workdir",
        str(tmp_path / "work"),
        "--control-plane-timeout",
        "2",
        timeout=60,
    )
    assert_well_behaved(run, codes=(1,))
    assert "control plane: listing desired policies" in run.stderr
    assert run.seconds < 30
    assert not remote.exists()


def test_one_shot_commands_give_up_within_three_minutes_by_default(
    silent: SilentServer, tmp_path: Path
) -> None:
    """With the defaults (no timeout options), a hung control plane still ends the command in
    well under three minutes."""
    run = run_cli(
        "sync",
        "--control-plane",
        f"grpc://127.0.0.1:{silent.port}",
        "--region",
        REGION,
        "--repo",
        (tmp_path / "remote.git").as_uri(),
        "--workdir",
        str(tmp_path / "work"),
        timeout=180,
    )
    assert_well_behaved(run, codes=(1,))
    assert run.seconds < 180


class FreezingProxy:
    """A TCP proxy to a real server that can stop forwarding while keeping every connection
    open: a stream that goes silent without closing (a network partition, a stuck proxy)."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.frozen = threading.Event()
        self.connections = 0
        self.open: list[socket.socket] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                break
            if not data:
                break
            if self.frozen.is_set():
                continue  # swallowed: the peer hears nothing, and nothing closes
            try:
                sink.sendall(data)
            except OSError:
                break
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.sock.close()
        for conn in self.open:
            conn.close()


def test_a_watch_that_goes_silent_is_reopened(remote: Remote, tmp_path: Path) -> None:
    """The connection to the control plane stops carrying anything: keepalive pings go
    unanswered, the watch is dropped and reopened on a new connection, and the next event is
    committed."""
    servicer = ReferenceControlPlane()
    servicer.load([entry("shop", "api", region=REGION)])
    server = start(servicer)
    proxy = FreezingProxy(server.port)
    service = Service(
        f"grpc://127.0.0.1:{proxy.port}",
        remote.url,
        tmp_path / "work",
        tmp_path / "log",
        extra=["--control-plane-keepalive", "1", "--control-plane-timeout", "5"],
        port=free_port(),
    ).start()
    try:
        wait_for(lambda: service.get("/readyz")[0] == 200, timeout=30, what="the first sync")
        opened = proxy.connections
        proxy.frozen.set()
        # The frozen connection is given up; new ones go through once the proxy thaws.
        wait_for(
            lambda: (
                (service.metric("cilium_gitops_watch_failures_total") or 0) >= 1
                or any("watch:" in r["message"] for r in service.logged())
            ),
            timeout=60,
            what="the silent watch to be noticed",
        )
        proxy.frozen.clear()
        servicer.load([entry("shop", "api", region=REGION), entry("shop", "db", region=REGION)])
        wait_for(
            lambda: f"{DEFAULT_PATH}/shop/db.yaml" in remote.files(),
            timeout=60,
            what="the event after the silence",
        )
        assert proxy.connections > opened
        assert service.alive()
    finally:
        assert service.stop() == 0
        proxy.close()
        server.stop()

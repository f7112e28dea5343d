"""The long-running service against a real gRPC control plane and a real bare remote."""

from __future__ import annotations

import contextlib
import json
import queue
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from functools import partial
from typing import TYPE_CHECKING

import pytest
from conftest import DEFAULT_PATH, Remote, entry, git, wait_for

from reconciler.controlplane.client import GrpcSource
from reconciler.controlplane.endpoint import Endpoint
from reconciler.controlplane.server import ReferenceControlPlane, RunningServer, start
from reconciler.desired.events import Applied, Deleted, Event, Received
from reconciler.desired.record import Rejection
from reconciler.gitops import GitSettings, Identity, Workspace
from reconciler.reconcile.passes import PassOptions
from reconciler.render.templates import load_templates
from reconciler.service.controller import Controller
from reconciler.service.health import Metrics, serve_http
from reconciler.service.run_settings import RunSettings

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from subprocess import Popen
    from typing import Self

    from reconciler.desired.record import Admit
    from reconciler.render.templates import Templates

FAST = RunSettings(batch_window=0.3, resync_interval=3600, retry_delay=0.2, breaker_cool_down=0.2)


class Service:
    """A controller running in a thread, as ``cilium-gitops run`` runs it."""

    def __init__(
        self,
        server_port: int,
        remote: Remote,
        workdir: Path,
        templates: Templates,
        *,
        settings: RunSettings = FAST,
        options: PassOptions | None = None,
    ) -> None:
        self.stop = threading.Event()
        self.source = GrpcSource(
            Endpoint(f"127.0.0.1:{server_port}", tls=False), region="eu-west-1"
        )
        git_settings = GitSettings(url=remote.url, author=Identity("bot", "bot@example.com"))
        self.workspace = Workspace(workdir, git_settings)
        self.controller = Controller(
            self.source,
            self.workspace,
            templates,
            options or PassOptions(),
            settings,
            stop=self.stop,
        )
        self.thread = threading.Thread(target=self.controller.run, daemon=True)
        self.thread.start()

    def __enter__(self) -> Self:
        wait_for(self.controller.status.ready.is_set, timeout=20, what="the first sync")
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=20)
        assert not self.thread.is_alive()
        self.workspace.close()


@pytest.fixture
def server() -> Iterator[RunningServer]:
    running = start(ReferenceControlPlane())
    running.servicer.load([entry("shop", "cart", port="80"), entry("shop", "api")])
    yield running
    running.stop()


def files(remote: Remote) -> list[str]:
    born = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", "refs/heads/main"],
        cwd=remote.path,
        capture_output=True,
        check=False,
    )
    return sorted(remote.files(f"{DEFAULT_PATH}/shop")) if born.returncode == 0 else []


def port_in(remote: Remote, name: str) -> str:
    return remote.show(f"{DEFAULT_PATH}/shop/{name}.yaml")


def test_a_change_flows_from_the_control_plane_to_a_commit(
    server: RunningServer, remote: Remote, tmp_path: Path, templates: Templates
) -> None:
    with Service(server.port, remote, tmp_path / "work", templates):
        assert len(files(remote)) == 3
        first = remote.commits()
        server.servicer.load([entry("shop", "cart", port="9090"), entry("shop", "db")])
        wait_for(
            lambda: len(remote.commits()) > len(first), timeout=20, what="a commit for the edit"
        )
        wait_for(lambda: '"9090"' in port_in(remote, "cart"), timeout=20, what="the new port")
        assert sorted(files(remote)) == [
            f"{DEFAULT_PATH}/shop/cart.yaml",
            f"{DEFAULT_PATH}/shop/db.yaml",
            f"{DEFAULT_PATH}/shop/kustomization.yaml",
        ]
        message = git("log", "-1", "--format=%B", "main", cwd=remote.path)
        assert f"Control-Plane-Version: {server.servicer.version}" in message


def test_a_burst_of_events_becomes_few_commits(
    server: RunningServer, remote: Remote, tmp_path: Path, templates: Templates
) -> None:
    with Service(
        server.port,
        remote,
        tmp_path / "work",
        templates,
        settings=RunSettings(batch_window=1.0, resync_interval=3600),
    ) as service:
        before = len(remote.commits())
        for port in range(8000, 8050):
            server.servicer.load([entry("shop", "cart", port=str(port)), entry("shop", "api")])
        wait_for(lambda: '"8049"' in port_in(remote, "cart"), timeout=30, what="the last edit")
        assert service.controller.status.events >= 50
        assert len(remote.commits()) - before <= 3


def test_a_burst_beyond_the_backlog_waits_on_the_wire_and_lands_whole(
    server: RunningServer, remote: Remote, tmp_path: Path, templates: Templates
) -> None:
    """With more events in flight than ``backlog``, the watch waits for the worker (gRPC's flow
    control holds the rest): nothing is lost or reordered, and the burst is still one commit."""
    settings = RunSettings(batch_window=1.0, resync_interval=3600, backlog=8)
    with Service(server.port, remote, tmp_path / "work", templates, settings=settings):
        before = len(remote.commits())
        server.servicer.load([entry("shop", f"p{k}", port=str(8000 + k)) for k in range(200)])
        version = server.servicer.version
        wait_for(
            lambda: (
                f"Control-Plane-Version: {version}"
                in git("log", "-1", "--format=%B", "main", cwd=remote.path)
            ),
            timeout=60,
            what="the burst",
        )
        assert len(remote.commits()) - before <= 2
        assert len(files(remote)) == 201  # the 200, and the kustomization (cart, api deleted)
        assert '"8199"' in port_in(remote, "p199")


class Arrivals:
    """Events reaching the worker's queue at set times on an injected clock.

    Stands in for the watcher thread so the batching rule is checked exactly: with real threads
    the gaps between events would be whatever the machine's load makes them.
    """

    def __init__(self, times: list[float]) -> None:
        self.now = 0.0
        self.pending: list[tuple[float, Event]] = [
            (at, Deleted(version=k + 1, policy_id=f"p{k}", namespace="shop", name=f"p{k}"))
            for k, at in enumerate(times)
        ]

    def clock(self) -> float:
        return self.now

    def get(self, timeout: float | None = None) -> Event:
        limit = self.now + (timeout or 0.0)
        if not self.pending or self.pending[0][0] > limit:
            self.now = limit
            raise queue.Empty
        at, event = self.pending.pop(0)
        self.now = max(self.now, at)
        return event

    def get_nowait(self) -> Event:
        return self.get(0.0)


def worker(arrivals: Arrivals, settings: RunSettings) -> Controller:
    """A controller whose worker takes its events from ``arrivals``, on their clock."""
    controller = Controller(
        None,  # type: ignore[arg-type] - only the batching is exercised
        None,  # type: ignore[arg-type]
        load_templates(),
        PassOptions(),
        settings,
        stop=threading.Event(),
        clock=arrivals.clock,
    )
    controller._queue = arrivals  # type: ignore[assignment]
    return controller


def batches(times: list[float], settings: RunSettings) -> list[list[int]]:
    """The batches the worker takes from events arriving at ``times``, as event versions."""
    arrivals = Arrivals(times)
    controller = worker(arrivals, settings)
    taken = []
    while arrivals.pending:
        batch, _ = controller._collect(wait=60.0)
        taken.append([event.version for event in batch])
    return taken


def test_a_batch_closes_a_window_after_its_newest_event() -> None:
    window = RunSettings(batch_window=0.3, max_batch_wait=5.0)
    # One event waits one window; the next, 0.5 s later, is a batch of its own.
    assert batches([0.0, 0.5], window) == [[1], [2]]
    # A burst the server takes 1.4 s to send (longer than the window) is one batch.
    assert batches([0.2 * k for k in range(8)], window) == [list(range(1, 9))]
    # A steady trickle is cut at max_batch_wait after a batch's first event.
    trickle = batches([0.2 * k for k in range(40)], window)
    assert [len(b) for b in trickle] == [26, 14]
    assert [v for b in trickle for v in b] == list(range(1, 41))


def test_the_service_catches_up_after_the_control_plane_restarts(
    server: RunningServer, remote: Remote, tmp_path: Path, templates: Templates
) -> None:
    with Service(server.port, remote, tmp_path / "work", templates):
        servicer, port = server.servicer, server.port
        server.stop()
        # While it is down, the control plane's state moves on; then it comes back on its port.
        servicer.load([entry("shop", "cart", port="7070"), entry("shop", "api")])
        again = start(servicer, port=port)
        try:
            wait_for(lambda: '"7070"' in port_in(remote, "cart"), timeout=40, what="catch-up")
        finally:
            again.stop()


def test_a_control_plane_that_suddenly_lists_nothing_deletes_nothing(
    server: RunningServer, remote: Remote, tmp_path: Path, templates: Templates
) -> None:
    first = Service(server.port, remote, tmp_path / "work", templates)
    wait_for(first.controller.status.ready.is_set, timeout=20, what="first sync")
    first.close()
    commits = remote.commits()
    server.servicer.load([])  # a wrong region, a broken database: everything "gone"
    second = Service(server.port, remote, tmp_path / "work2", templates)
    try:
        wait_for(lambda: second.controller.status.guard_tripped, timeout=20, what="the guard")
        assert remote.commits() == commits
        assert len(files(remote)) == 3
    finally:
        second.close()


@contextlib.contextmanager
def run_command(server: RunningServer, remote: Remote, workdir: Path) -> Iterator[Popen[str]]:
    """``cilium-gitops run`` as a process; killed on the way out if the test did not stop it."""
    args = [sys.executable, "-m", "reconciler", "run", "--control-plane", server.url]
    args += ["--region", "eu-west-1", "--repo", remote.url, "--workdir", str(workdir)]
    args += ["--batch-window", "0.2"]
    process = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def test_run_command_follows_edits_and_stops_on_sigterm(
    server: RunningServer, remote: Remote, tmp_path: Path
) -> None:
    with run_command(server, remote, tmp_path / "work") as process:
        wait_for(lambda: len(files(remote)) == 3, timeout=30, what="the first sync")
        server.servicer.load([entry("shop", "cart", port="6060")])
        wait_for(lambda: len(files(remote)) == 2, timeout=30, what="the delete")
        assert '"6060"' in port_in(remote, "cart")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert process.stderr is not None
        assert "stopped" in process.stderr.read()


def test_killed_service_restarts_to_the_same_tree_without_duplicate_commits(
    server: RunningServer, remote: Remote, tmp_path: Path
) -> None:
    with run_command(server, remote, tmp_path / "work") as process:
        wait_for(lambda: len(files(remote)) == 3, timeout=30, what="the first sync")
        for port in range(5000, 5020):
            server.servicer.load([entry("shop", "cart", port=str(port)), entry("shop", "api")])
        process.send_signal(signal.SIGKILL)  # in the middle of a batch, or of a push
        process.wait(timeout=30)
    with run_command(server, remote, tmp_path / "work") as restarted:
        wait_for(lambda: '"5019"' in port_in(remote, "cart"), timeout=30, what="catch-up")
        commits = remote.commits()
        subjects = git("log", "--format=%s", "main", cwd=remote.path).splitlines()
        # Nothing committed twice: every commit changed something, and the newest reflects
        # the control plane's newest version.
        assert all("0 created, 0 updated, 0 deleted" not in s for s in subjects)
        message = git("log", "-1", "--format=%B", "main", cwd=remote.path)
        assert f"Control-Plane-Version: {server.servicer.version}" in message
        restarted.send_signal(signal.SIGTERM)
        assert restarted.wait(timeout=30) == 0
        assert remote.commits() == commits


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_probes_and_metrics(
    server: RunningServer, remote: Remote, tmp_path: Path, templates: Templates
) -> None:
    metrics = Metrics()
    ready = threading.Event()
    http, port = serve_http("127.0.0.1:0", metrics, ready.is_set)
    try:
        assert get(port, "/healthz") == (200, "ok\n")
        assert get(port, "/readyz")[0] == 503
        with Service(server.port, remote, tmp_path / "work", templates) as service:
            http.shutdown()
            http.server_close()
            controller = service.controller
            http, port = serve_http(
                "127.0.0.1:0",
                controller.metrics,
                controller.status.ready.is_set,
                controller.describe,
            )
            assert get(port, "/readyz") == (200, "ready\n")
            typo = {
                **entry("shop", "typo"),
                "policy": {"endpointSelector": {}, "ingress": [{"toPort": []}]},
            }
            server.servicer.load([entry("shop", "cart", port="4040"), typo])
            wait_for(lambda: '"4040"' in port_in(remote, "cart"), timeout=20, what="the edit")
            wait_for(
                lambda: "cilium_gitops_commits_pushed_total 2.0" in get(port, "/metrics")[1],
                timeout=20,
                what="metrics",
            )
            text = get(port, "/metrics")[1]
        assert f"cilium_gitops_control_plane_version {float(server.servicer.version)}" in text
        assert "cilium_gitops_events_received_total 3.0" in text  # two applies, one delete
        assert 'cilium_gitops_breaker{cilium_gitops_breaker="closed"} 1.0' in text
        assert "cilium_gitops_sync_duration_seconds_count" in text
        assert get(port, "/nope")[0] == 404
        status = json.loads(get(port, "/status")[1])
        assert status["rejected"] == [
            {"policy": "shop-typo", "field": "spec.ingress[0].toPort", "reason": "unknown field"}
        ]
        assert status["ready"] is True
        assert "cilium_gitops_events_rejected_total 1.0" in text
    finally:
        http.shutdown()
        http.server_close()


def test_remote_down_keeps_the_state_and_pushes_it_once_back(
    server: RunningServer, remote: Remote, tmp_path: Path, templates: Templates
) -> None:
    with Service(server.port, remote, tmp_path / "work", templates) as service:
        hidden = remote.path.with_name("remote-away.git")
        remote.path.rename(hidden)  # the Git server goes away
        try:
            server.servicer.load([entry("shop", "cart", port="3030")])
            wait_for(lambda: service.controller._pending, timeout=20, what="a failed push")
        finally:
            hidden.rename(remote.path)  # and comes back
        # The next pass (a retry after the delay) pushes what was held, in one commit.
        before = len(remote.commits())
        wait_for(lambda: '"3030"' in port_in(remote, "cart"), timeout=30, what="the held change")
        assert len(remote.commits()) == before + 1
        assert len(files(remote)) == 2  # cart and the kustomization: api was deleted too


def test_dry_run_service_resyncs_without_committing(
    server: RunningServer, remote: Remote, tmp_path: Path, templates: Templates
) -> None:
    """``run --dry-run`` holds for the resync too: it plans, and nothing reaches the remote."""
    options = PassOptions(dry_run=True)
    with Service(server.port, remote, tmp_path / "work", templates, options=options):
        assert files(remote) == []


def test_a_batch_is_validated_while_its_window_runs() -> None:
    """The pass after the window finds the events validated: the wait was not idle time."""
    arrivals = Arrivals([0.0, 0.1, 0.2])
    validated_at: list[float] = []

    def validate(version: int, admit: Admit) -> Applied:
        del admit  # nothing is admitted: each event is rejected
        validated_at.append(arrivals.now)
        return Applied(version, f"p{version}", None, (Rejection(f"p{version}", "spec", "x"),))

    arrivals.pending = [
        (at, Received(event.version, event.policy_id, partial(validate, event.version)))
        for at, event in arrivals.pending
    ]
    controller = worker(arrivals, RunSettings(batch_window=0.3, max_batch_wait=5.0))
    batch, _ = controller._collect(wait=60.0)
    assert [type(e).__name__ for e in batch] == ["Applied"] * 3
    assert [e.version for e in batch] == [1, 2, 3]
    assert len(validated_at) == 3
    assert all(at < 0.2 + 0.3 for at in validated_at)  # before the window closed


def test_a_burst_is_validated_as_it_is_taken_never_more_than_the_backlog_behind() -> None:
    """A stream that never rests still has its events validated as they come: at most
    ``backlog`` wait unparsed in the batch (each holds its wire message)."""
    arrivals = Arrivals([0.0] * 35)  # one burst: the stream never rests within it
    taken_when_validated: list[int] = []

    def validate(version: int, admit: Admit) -> Applied:
        del admit
        taken_when_validated.append(35 - len(arrivals.pending))
        return Applied(version, f"p{version}", None, (Rejection(f"p{version}", "spec", "x"),))

    arrivals.pending = [
        (at, Received(event.version, event.policy_id, partial(validate, event.version)))
        for at, event in arrivals.pending
    ]
    settings = RunSettings(batch_window=0.3, max_batch_wait=5.0, backlog=10)
    batch, _ = worker(arrivals, settings)._collect(wait=60.0)
    assert [e.version for e in batch] == list(range(1, 36))  # one batch, in order
    assert all(isinstance(e, Applied) for e in batch)
    behind = [taken - k for k, taken in enumerate(taken_when_validated)]
    assert max(behind) <= 10

"""The metrics the deployment's alerts and dashboard need beyond the pass counters (issue 18):
the latency from an event to the push that holds it, watch failures, and passes that could not
reach the remote. Against a real gRPC control plane, a real ``git daemon`` and ``run`` itself.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from conftest import Remote, entry, wait_for
from fault_support import REGION, Daemon, Service

from reconciler.controlplane.client import GrpcSource
from reconciler.controlplane.endpoint import Endpoint
from reconciler.controlplane.server import ReferenceControlPlane, start
from reconciler.gitops import GitSettings, Identity, Workspace, init_bare
from reconciler.reconcile.passes import Backoff, PassOptions
from reconciler.service.controller import Controller
from reconciler.service.run_settings import RunSettings

if TYPE_CHECKING:
    from pathlib import Path

    from reconciler.render.templates import Templates

LATENCY = "cilium_gitops_event_to_push_seconds"


def policies(*names: str, port: str = "8080") -> list[dict[str, Any]]:
    return [entry("shop", name, region=REGION, port=port) for name in names]


def test_one_event_is_timed_from_its_batch_to_its_push(remote: Remote, tmp_path: Path) -> None:
    """One observation per pushed batch, at least the batch window long; the resync adds none."""
    servicer = ReferenceControlPlane()
    servicer.load(policies("api"))
    server = start(servicer)
    service = Service(server.url, remote.url, tmp_path / "work", tmp_path / "log").start()
    try:
        wait_for(lambda: service.get("/readyz")[0] == 200, timeout=30, what="the first sync")
        assert service.metric(f"{LATENCY}_count") == 0.0  # the start-up resync held no event
        commits = len(remote.commits())
        sent = time.monotonic()
        servicer.load(policies("api", port="9090"))
        wait_for(lambda: len(remote.commits()) > commits, timeout=30, what="the event's commit")
        wait_for(lambda: service.metric(f"{LATENCY}_count") == 1.0, timeout=10, what="the timing")
        elapsed = time.monotonic() - sent
        observed = service.metric(f"{LATENCY}_sum")
        assert observed is not None
        # The batch closes a window (0.2 s, see fault_support) after its event, then the push.
        assert 0.2 <= observed <= elapsed
        # Buckets up to an hour: a remote or control plane outage holds events that long.
        assert service.metric(f'{LATENCY}_bucket{{le="3600.0"}}') == 1.0
    finally:
        assert service.stop() == 0
        server.stop()


def test_events_held_through_a_remote_outage_are_timed_until_their_push(tmp_path: Path) -> None:
    """Failed passes are counted; the held event's latency runs until the remote is back."""
    served = tmp_path / "served"
    served.mkdir()
    bare = served / "fleet.git"
    init_bare(bare, "main")
    daemon = Daemon(served)
    daemon.up()
    servicer = ReferenceControlPlane()
    servicer.load(policies("api"))
    server = start(servicer)
    service = Service(
        server.url, f"{daemon.url}/fleet.git", tmp_path / "work", tmp_path / "log"
    ).start()
    try:
        wait_for(lambda: service.get("/readyz")[0] == 200, timeout=30, what="the first sync")
        assert service.metric("cilium_gitops_push_failures_total") == 0.0
        daemon.down()
        servicer.load(policies("api", "cart"))
        wait_for(
            lambda: (service.metric("cilium_gitops_events_received_total") or 0) >= 1,
            timeout=30,
            what="the event",
        )
        taken = time.monotonic()  # the batch was opened before this
        wait_for(
            lambda: (service.metric("cilium_gitops_push_failures_total") or 0) >= 2,
            timeout=60,
            what="two failed passes",
        )
        assert service.metric(f"{LATENCY}_count") == 0.0
        back = time.monotonic()
        daemon.up()
        wait_for(lambda: service.metric(f"{LATENCY}_count") == 1.0, timeout=60, what="the push")
        observed = service.metric(f"{LATENCY}_sum")
        assert observed is not None
        assert observed >= back - taken
        assert service.alive()
    finally:
        assert service.stop() == 0
        server.stop()
        daemon.down()


def test_a_lost_control_plane_counts_watch_failures_and_opens_the_breaker(
    remote: Remote, tmp_path: Path, templates: Templates
) -> None:
    """Every failed watch is counted; at the threshold the breaker metric says open."""
    servicer = ReferenceControlPlane()
    servicer.load(policies("api"))
    server = start(servicer)
    settings = RunSettings(
        batch_window=0.2,
        resync_interval=3600,
        reconnect=Backoff(attempts=0, base=0.01, ceiling=0.05),
        breaker_threshold=3,
        breaker_cool_down=3600,  # stays open: the test reads the state, not the probe
    )
    stop = threading.Event()
    source = GrpcSource(Endpoint(f"127.0.0.1:{server.port}", tls=False), region=REGION)
    workspace = Workspace(
        tmp_path / "work", GitSettings(url=remote.url, author=Identity("bot", "bot@example.com"))
    )
    controller = Controller(source, workspace, templates, PassOptions(), settings, stop=stop)
    sample = controller.metrics.registry.get_sample_value
    worker = threading.Thread(target=controller.run, daemon=True)
    worker.start()
    try:
        wait_for(controller.status.ready.is_set, timeout=30, what="the first sync")
        servicer.load(policies("api", "cart"))  # one event: the watch is connected
        wait_for(
            lambda: sample("cilium_gitops_events_received_total") == 1.0, timeout=30, what="event"
        )
        assert sample("cilium_gitops_watch_failures_total") == 0.0
        server.stop()
        wait_for(
            lambda: sample("cilium_gitops_breaker", {"cilium_gitops_breaker": "open"}) == 1.0,
            timeout=30,
            what="the breaker to open",
        )
        assert sample("cilium_gitops_watch_failures_total") == 3.0
        assert sample("cilium_gitops_breaker", {"cilium_gitops_breaker": "closed"}) == 0.0
    finally:
        stop.set()
        worker.join(timeout=30)
        workspace.close()
        server.stop()
    assert not worker.is_alive()

"""The service's HTTP face: ``/healthz``, ``/readyz`` and Prometheus ``/metrics``.

Sits beside the controller: ``Metrics`` holds the counters the controller updates as it works,
in a registry of its own (so two services in one process, as in tests, do not collide), and
``serve_http`` answers probes and scrapes from a background thread.

``/healthz`` is 200 while the process runs; ``/readyz`` is 200 once the first sync succeeded
(503 before); ``/metrics`` is the Prometheus text format; ``/status`` is the desired-state
status as JSON: the version reflected, the last sync, and every rejected policy with its field
and reason. The alerts and the dashboard under ``deploy/`` read these metric names, and
``tests/test_deploy_monitoring.py`` fails when one of them is renamed.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Enum,
    Gauge,
    Histogram,
    generate_latest,
)

if TYPE_CHECKING:
    from collections.abc import Callable

# From the first event of a batch to the push of the commit that holds it (seconds): a batch
# waits at least its window (1 s by default, up to --batch-max-wait), a pass takes tens of
# milliseconds to seconds, and a remote or control plane that is down holds events for minutes.
_EVENT_TO_PUSH_BUCKETS = (0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600)


class EventLatency:
    """Times events to their push: ``cilium_gitops_event_to_push_seconds``.

    The worker says when a batch it is about to reconcile was opened (``received``) and when a
    pass succeeded (``pushed``). Events a failed pass kept in memory are timed from the first
    of them until the commit that finally holds them is pushed; a pass that pushes nothing (the
    events changed nothing in the tree) observes nothing.
    """

    def __init__(self, histogram: Histogram) -> None:
        """Observe into ``histogram``."""
        self._histogram = histogram
        self._since: float | None = None  # when the oldest event not yet pushed was received

    def received(self, at: float) -> None:
        """A batch whose first event came at ``at`` goes into the held state."""
        if self._since is None:
            self._since = at

    def pushed(self, at: float, *, committed: bool) -> None:
        """A pass succeeded at ``at``: the held state is in git (in a new commit or not)."""
        if self._since is not None and committed:
            self._histogram.observe(max(0.0, at - self._since))
        self._since = None


class Metrics:
    """Everything the service reports, named ``cilium_gitops_*``."""

    def __init__(self) -> None:
        """Create the metrics in a fresh registry."""
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter("cilium_gitops_events_received", "Watch events received.", registry=r)
        self.rejected = Counter(
            "cilium_gitops_events_rejected", "Events whose policy failed validation.", registry=r
        )
        self.rejected_policies = Gauge(
            "cilium_gitops_rejected_policies",
            "Policies the control plane wants that were rejected (invalid or too large) in the "
            "last pass; their files are kept as they were.",
            registry=r,
        )
        self.commits = Counter("cilium_gitops_commits_pushed", "Commits pushed.", registry=r)
        self.push_retries = Counter(
            "cilium_gitops_push_retries", "Pushes retried after another writer.", registry=r
        )
        self.drift = Counter(
            "cilium_gitops_resync_drift", "Resyncs that found and repaired drift.", registry=r
        )
        self.breaker = Enum(
            "cilium_gitops_breaker",
            "Control-plane circuit breaker state.",
            states=["closed", "open", "half-open"],
            registry=r,
        )
        self.stalled = Gauge(
            "cilium_gitops_stalled",
            "1 while a condition a person must fix stops the passes (by reason).",
            ["reason"],
            registry=r,
        )
        self.guard = Gauge(
            "cilium_gitops_deletion_guard_tripped",
            "1 while a resync is refused for deleting too much.",
            registry=r,
        )
        self.last_sync = Gauge(
            "cilium_gitops_last_successful_sync_timestamp_seconds",
            "Unix time of the last successful pass.",
            registry=r,
        )
        self.version = Gauge(
            "cilium_gitops_control_plane_version", "Newest version reflected.", registry=r
        )
        self.duration = Histogram(
            "cilium_gitops_sync_duration_seconds", "Duration of a reconcile pass.", registry=r
        )
        self.event_to_push = Histogram(
            "cilium_gitops_event_to_push_seconds",
            "From when the first event of a batch was taken from the watch to the push of the "
            "commit that holds it.",
            buckets=_EVENT_TO_PUSH_BUCKETS,
            registry=r,
        )
        self.event_latency = EventLatency(self.event_to_push)
        self.watch_failures = Counter(
            "cilium_gitops_watch_failures",
            "Control-plane watches that failed or ended; each is retried with backoff behind "
            "the circuit breaker.",
            registry=r,
        )
        self.push_failures = Counter(
            "cilium_gitops_push_failures",
            "Passes that could not fetch or push (the remote unreachable, or every push attempt "
            "rejected); their changes are kept in memory and tried again.",
            registry=r,
        )


def serve_http(
    address: str,
    metrics: Metrics,
    ready: Callable[[], bool],
    status: Callable[[], dict[str, object]] | None = None,
) -> tuple[ThreadingHTTPServer, int]:
    """Answer ``/healthz``, ``/readyz``, ``/metrics`` (and ``/status``) on ``HOST:PORT``."""
    host, _, port = address.rpartition(":")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._send(200, b"ok\n", "text/plain")
            elif self.path == "/readyz":
                ok = ready()
                self._send(200 if ok else 503, b"ready\n" if ok else b"not ready\n", "text/plain")
            elif self.path == "/metrics":
                self._send(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
            elif self.path == "/status" and status is not None:
                body = json.dumps(status(), indent=2, sort_keys=True).encode() + b"\n"
                self._send(200, body, "application/json")
            else:
                self._send(404, b"not found\n", "text/plain")

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002, ARG002 - the base's signature
            # Probes every few seconds would drown the service's own log.
            return

    server = ThreadingHTTPServer((host or "0.0.0.0", int(port)), Handler)  # noqa: S104 - a probe port
    threading.Thread(target=server.serve_forever, name="cilium-gitops-http", daemon=True).start()
    return server, server.server_address[1]

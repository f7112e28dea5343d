"""The service's HTTP face: ``/healthz``, ``/readyz`` and Prometheus ``/metrics``.

Sits beside the controller: ``Metrics`` holds the counters the controller updates as it works,
in a registry of its own (so two services in one process, as in tests, do not collide), and
``serve_http`` answers probes and scrapes from a background thread.

``/healthz`` is 200 while the process runs; ``/readyz`` is 200 once the first sync succeeded
(503 before); ``/metrics`` is the Prometheus text format; ``/status`` is the desired-state
status as JSON: the version reflected, the last sync, and every rejected policy with its field
and reason.
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

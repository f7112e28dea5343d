"""How the long-running service paces itself: batching, resyncs, retries, the breaker, the guard.

Plain values, read by the worker (``controller``) and the watch (``watching``), built by the
``run`` command from its options. Every duration is in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciler.reconcile.passes import Backoff


@dataclass(frozen=True, slots=True)
class RunSettings:
    """How the service paces itself; every duration is in seconds."""

    batch_window: float = 1.0
    # A batch stays open while events keep coming (each one extends it by the window), so a
    # burst becomes one commit; this caps how long a steady trickle can hold a batch open.
    max_batch_wait: float = 10.0
    # Held events are small (a wire message, or a packed record once admitted): a burst of
    # 100,000 is one batch, one commit.
    max_batch: int = 250_000
    # Events off the wire not yet validated, at most (the queue, and as many in the batch). Each
    # holds its wire message (about 1 KiB parsed): beyond this the watch waits, and gRPC's flow
    # control holds the rest on the server, so a burst of 100,000 never sits in memory unparsed.
    backlog: int = 4096
    resync_interval: float = 300.0
    resync_jitter: float = 0.1  # share of the interval, either way, so replicas spread out
    retry_delay: float = 5.0  # after a failed pass (remote or control plane down)
    reconnect: Backoff = field(default_factory=lambda: Backoff(attempts=0, base=1.0, ceiling=30.0))
    breaker_threshold: int = 5
    breaker_cool_down: float = 30.0
    max_delete_share: float | None = 0.5
    # A stalled service (a person must act) tries again this often, and at once on an event.
    stalled_retry_interval: float = 300.0

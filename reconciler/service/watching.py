"""The watch: follow the control plane's stream into the worker's queue, reconnecting forever.

Sits beside the worker (``controller``), in a thread of its own: it takes events off the wire
at wire speed and queues them, waiting while the queue is full (``RunSettings.backlog``: the
worker is behind, and gRPC's flow control then holds the stream on the server); the worker
validates, batches and reconciles. It reconnects with
jittered backoff behind the circuit breaker, from the newest version either side has seen (the
shared ``Cursor``). What it cannot carry on from goes to the worker as a queue item: an expired
cursor asks for a resync (``RESYNC``); a configuration error before the first successful pass
ends the process (the worker raises it), and after it is a stall (``WatchStall``) that waits
for a person while the watch is tried again on the long interval.
"""

from __future__ import annotations

import logging
import queue
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from reconciler.errors import ConfigError, CursorExpiredError, SourceUnavailableError

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Iterator

    from reconciler.desired.events import Event
    from reconciler.desired.record import Admit
    from reconciler.desired.state import DesiredState
    from reconciler.service.breaker import CircuitBreaker
    from reconciler.service.health import Metrics
    from reconciler.service.run_settings import RunSettings

log = logging.getLogger("cilium_gitops.controller")

RESYNC = "resync"


class WatchSource(Protocol):
    """A control plane that can list the whole set and stream changes."""

    def desired(self, admit: Admit) -> DesiredState:
        """The complete desired set, each policy admitted through ``admit``."""
        ...

    def watch(self, cursor: int) -> Iterator[Event]:
        """Every change after ``cursor``."""
        ...

    def close(self) -> None:
        """Close connections; a watch in progress ends."""
        ...


@dataclass(frozen=True, slots=True)
class WatchStall:
    """The watch met a condition a person must fix; the worker records it."""

    error: ConfigError


class Cursor:
    """The newest control-plane version known: where a reconnecting watch resumes."""

    def __init__(self) -> None:
        """Start before every version."""
        self.value = 0

    def advance(self, version: int) -> None:
        """Move forward to ``version`` (never back)."""
        self.value = max(self.value, version)


Item = "Event | str | Exception | WatchStall"


class Watcher:
    """The loop that keeps a watch open and feeds ``queue``; see the module docstring."""

    def __init__(  # noqa: PLR0913 - the watch's collaborators, each needed
        self,
        source: WatchSource,
        into: queue.Queue[Event | str | Exception | WatchStall],
        *,
        cursor: Cursor,
        breaker: CircuitBreaker,
        metrics: Metrics,
        settings: RunSettings,
        stop: threading.Event,
        started: Callable[[], bool],
    ) -> None:
        """``started`` says whether the service is past start-up (a first pass succeeded)."""
        self.source = source
        self.queue = into
        self.cursor = cursor
        self.breaker = breaker
        self.metrics = metrics
        self.settings = settings
        self.stop = stop
        self.started = started
        self._failures = 0

    def run(self) -> None:
        """Watch until ``stop`` is set."""
        while not self.stop.is_set():
            if not self.breaker.allow():
                self.stop.wait(1.0)
                continue
            try:
                self._stream()
                if self.stop.is_set():
                    return
                raise SourceUnavailableError("the control plane ended the watch")  # noqa: TRY301
            except ConfigError as exc:
                if not self.started():
                    self._put(exc)  # start-up: the worker ends the process (exit 2)
                    return
                # After start-up a refused token or region waits for a person; the watch is
                # tried again on the long interval, and the service keeps serving.
                self._put(WatchStall(exc))
                self.stop.wait(self.settings.stalled_retry_interval)
                continue
            except CursorExpiredError as exc:
                log.warning("watch: %s; resyncing", exc)
                self._put(RESYNC)
            except SourceUnavailableError as exc:
                log.warning("watch: %s (breaker %s)", exc, self.breaker.state)
            self._failed()

    def _stream(self) -> None:
        """One watch from the cursor, every event queued, until it ends or fails."""
        cursor = self.cursor.value
        connected = False
        for event in self.source.watch(cursor):
            if self._failures:
                log.info("watch: reconnected at version %d", cursor)
                self._failures = 0
            if not connected:  # once per stream: this loop runs at wire speed
                connected = True
                self.breaker.record_success()
                self.metrics.breaker.state(self.breaker.state.value)
            self.cursor.advance(event.version)
            self._put(event)

    def _put(self, item: Event | str | Exception | WatchStall) -> None:
        """Queue ``item``, waiting while the queue is full (the worker is behind), until stopped.

        While the watch waits, it reads nothing: gRPC's flow control then holds the stream on
        the server, so a burst is held there, not in this process.
        """
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.5)
            except queue.Full:
                continue
            return

    def _failed(self) -> None:
        self.metrics.watch_failures.inc()
        self.breaker.record_failure()
        self.metrics.breaker.state(self.breaker.state.value)
        self._failures += 1
        self.stop.wait(self.settings.reconnect.delay(self._failures))

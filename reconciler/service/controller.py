"""The long-running service: the watch loop, batching, and the resync loop.

Sits on top of ``reconcile.passes``: one worker thread owns the workspace and runs every reconcile
pass, so git is never used concurrently. A watcher thread follows the control plane's stream and
queues events; it reconnects with jittered backoff behind a circuit breaker. The worker:

1. resyncs at start and then every ``resync_interval`` (jittered): the complete desired set
   replaces what it holds, and the repository is repaired in one commit. A resync that would
   delete more than ``max_delete_share`` of the managed policies commits nothing (and no
   pass empties the tree without ``--allow-mass-delete``);
2. in between, takes events in batches (a batch closes when no event came for a
   ``batch_window``, ``max_batch_wait`` after its first, or at ``max_batch`` events), patches
   the held set, and reconciles once per batch.

Events are hints; the resync is the truth. The repository records the version each commit
reflects (trailer), so a restart resumes from git. If the remote is down, the held state is
kept and pushed in one commit once it is back; if the control plane is down, nothing is
deleted and the repository is left as it is. A branch head that ``verify_base`` refuses is
logged and left for a person; the next event or resync tries again, nothing sooner.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import random
import sys
import threading
import time
from typing import TYPE_CHECKING, TypeGuard

from reconciler.desired.events import Applied, DesiredSet, Event, coalesce, validate_ahead
from reconciler.errors import (
    ConfigError,
    MassDeletionError,
    RetryableError,
    SourceUnavailableError,
)
from reconciler.gitops.log import read_cursor
from reconciler.reconcile.intake import PassCache
from reconciler.reconcile.passes import PassOptions, SyncResult, reconcile
from reconciler.render.admission import Admission
from reconciler.render.manifest import Renderer
from reconciler.service.breaker import CircuitBreaker
from reconciler.service.health import Metrics
from reconciler.service.stalls import Stalls
from reconciler.service.watching import RESYNC, Cursor, Watcher, WatchSource, WatchStall

if TYPE_CHECKING:
    from collections.abc import Callable

    from reconciler.desired.record import Rejection
    from reconciler.gitops import Workspace
    from reconciler.render.templates import Templates
    from reconciler.service.run_settings import RunSettings

log = logging.getLogger("cilium_gitops.controller")


class Status:
    """What the service has done, read from its metrics (counted once) plus readiness."""

    def __init__(self, metrics: Metrics) -> None:
        """Read from ``metrics``; ``ready`` is set after the first successful pass."""
        self._metrics = metrics
        self.ready = threading.Event()
        self.resyncs = 0  # attempts that got a listing (in /status; not a metric)

    def _sample(self, name: str) -> float:
        return self._metrics.registry.get_sample_value(name) or 0.0

    @property
    def events(self) -> int:
        """Watch events received."""
        return int(self._sample("cilium_gitops_events_received_total"))

    @property
    def rejected(self) -> int:
        """Events whose policy failed validation."""
        return int(self._sample("cilium_gitops_events_rejected_total"))

    @property
    def commits(self) -> int:
        """Commits pushed."""
        return int(self._sample("cilium_gitops_commits_pushed_total"))

    @property
    def drift_commits(self) -> int:
        """Resyncs that found and repaired drift."""
        return int(self._sample("cilium_gitops_resync_drift_total"))

    @property
    def guard_tripped(self) -> bool:
        """Whether the last resync was refused for deleting too much."""
        return self._sample("cilium_gitops_deletion_guard_tripped") == 1

    @property
    def version(self) -> int:
        """The newest control-plane version a successful pass reflected."""
        return int(self._sample("cilium_gitops_control_plane_version"))


# Events validated at a time while a batch's window runs (about 5 ms of work): few enough that a
# new event is taken, and its window started, almost as soon as it arrives.
_VALIDATE_AHEAD = 64
# How long the stream must be quiet before the worker validates ahead (seconds). Validating holds
# the GIL, and while events still flow it would slow the watch (and an in-process server) by far
# more than the work it moves: the threads wait out the interpreter's switch interval.
_REST = 0.02


class Controller:
    """Runs until ``stop`` is set; see the module docstring for the loop."""

    def __init__(  # noqa: PLR0913 - the service's collaborators, each needed
        self,
        source: WatchSource,
        workspace: Workspace,
        templates: Templates,
        options: PassOptions,
        settings: RunSettings,
        *,
        stop: threading.Event,
        clock: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
    ) -> None:
        """Wire the collaborators; nothing runs until ``run``."""
        self.source = source
        self.workspace = workspace
        self.templates = templates
        self.options = options
        self.settings = settings
        self.stop = stop
        self.clock = clock
        self.metrics = metrics or Metrics()
        self.status = Status(self.metrics)
        self.breaker = CircuitBreaker(
            threshold=settings.breaker_threshold, cool_down=settings.breaker_cool_down, clock=clock
        )
        self._queue: queue.Queue[Event | str | Exception | WatchStall] = queue.Queue(
            maxsize=settings.backlog
        )
        self.stalls = Stalls(self.metrics)
        self._cache = PassCache()
        self._renderer = Renderer(templates, max_bytes=options.limits.policy_bytes)
        # Events are admitted with packed bodies: the held set keeps 100,000 files in a few
        # tens of MiB.
        self._admit = Admission(self._renderer, pack=True)
        self._held: DesiredSet | None = None
        self._pending = False  # held changes not yet pushed (a pass failed)
        self._retry_at = 0.0  # when a failed pass may be tried again
        self._next_resync = 0.0  # when the next resync is due (the clock's time)
        self._cursor = Cursor()  # where the watch resumes; advanced by resyncs and events
        self._reported: dict[str, tuple[Rejection, ...]] = {}  # rejections already logged
        self._rejections: tuple[Rejection, ...] = ()  # of the last successful pass
        self._batch_opened = 0.0  # when the first event of the last batch was taken

    # -- the worker -----------------------------------------------------------------------

    def run(self) -> None:
        """Resync, start watching, then batch events and resync on schedule until stopped."""
        watch = Watcher(
            self.source,
            self._queue,
            cursor=self._cursor,
            breaker=self.breaker,
            metrics=self.metrics,
            settings=self.settings,
            stop=self.stop,
            started=self.status.ready.is_set,
        )
        watcher = threading.Thread(target=watch.run, name="cilium-gitops-watch", daemon=True)
        self._next_resync = self.clock()
        try:
            while not self.stop.is_set():
                if self.clock() >= self._next_resync:
                    listed = self._resync()
                    delay = self._resync_delay() if listed else self.settings.retry_delay
                    self._next_resync = self.clock() + delay
                    if self.stalls.current is not None:
                        self._next_resync = min(
                            self._next_resync, self.clock() + self.settings.stalled_retry_interval
                        )
                    if listed and not watcher.is_alive():
                        watcher.start()
                    continue
                wait = max(0.0, min(self._next_resync - self.clock(), 1.0))
                batch, resync = self._collect(wait)
                if resync:
                    self._next_resync = self.clock()
                if batch or (self._pending and self.clock() >= self._retry_at):
                    self._apply(batch)
        finally:
            self.stop.set()
            self.source.close()
            if watcher.is_alive():
                watcher.join(timeout=10)

    def _resync_delay(self) -> float:
        jitter = self.settings.resync_jitter * (2 * random.random() - 1)  # noqa: S311 - spread, not secrecy
        return self.settings.resync_interval * (1 + jitter)

    def _resync(self) -> bool:
        """List and reconcile the whole set; False when the control plane could not be read."""
        try:
            held = self._held.by_input() if self._held is not None else None
            # What the set already holds at the same version and bytes is reused, not admitted.
            state = self.source.desired(Admission(self._renderer, held=held, pack=True))
        except SourceUnavailableError as exc:
            log.warning("resync: control plane unavailable, repository left as it is: %s", exc)
            return False
        except ConfigError as exc:
            # At start-up a configuration error ends the process (exit 2); after it, a token
            # rotated wrong or a state over a limit waits for a person, and nothing is deleted.
            if not self.status.ready.is_set():
                raise
            self._stall(exc, "resync")
            return True
        self.status.resyncs += 1
        self._held = DesiredSet(state)
        self._cursor.advance(state.version)
        # The resync is the one pass the deletion guard applies to; everything else, --dry-run
        # included, is as the caller set it.
        options = dataclasses.replace(self.options, max_delete_share=self.settings.max_delete_share)
        result = self._pass(options, "resync")
        if result is not None and self.status.resyncs == 1:
            # The branch records the newest version any earlier run pushed; resume from there
            # if it is ahead of the listing (the last events were deletes, say).
            recorded = read_cursor(self.workspace) or 0
            log.info("cursor: %d from the branch, %d from the listing", recorded, state.version)
            self._cursor.advance(recorded)
        if result is not None and result.commit is not None:
            self.metrics.drift.inc()
        return True

    def _collect(self, wait: float) -> tuple[list[Event], bool]:
        """The next batch: wait up to ``wait`` for a first event, then until the stream rests.

        The batch closes ``batch_window`` after its newest event, ``max_batch_wait`` after its
        first, or at ``max_batch`` events, whichever comes first: one event waits one window,
        and a burst that the server takes longer than a window to send is still one commit.
        Once the stream rests within the window, the events taken so far are validated, so the
        pass that follows the window has less to do. A stream that does not rest is validated
        as it is taken, never more than ``backlog`` events behind; that work does not count
        against ``max_batch_wait``.
        """
        batch: list[Event] = []
        validated = 0  # batch[:validated] holds no Received: validate_ahead has been there
        resting = False  # nothing has arrived for _REST: validating now slows no stream
        resync = False
        deadline = cap = 0.0
        timeout = wait
        while len(batch) < self.settings.max_batch:
            ahead = validated < len(batch)
            try:
                if timeout <= 0 or (ahead and resting):
                    item = self._queue.get_nowait()
                else:
                    item = self._queue.get(timeout=min(timeout, _REST) if ahead else timeout)
            except queue.Empty:
                if ahead and self.clock() < deadline:
                    resting = True
                    validated = validate_ahead(batch, validated, _VALIDATE_AHEAD, self._admit)
                    timeout = max(0.0, deadline - self.clock())
                    continue
                break
            resting = False
            if item == RESYNC:
                resync = True
                break
            if not self._is_event(item):
                continue
            batch.append(item)
            if len(batch) - validated >= self.settings.backlog:
                # A burst: validate what the batch holds unparsed before taking more, while
                # the full queue holds the watch (memory bounded by twice the backlog). The
                # time this takes is work, not waiting: it does not count against the cap.
                started = self.clock()
                validated = validate_ahead(batch, validated, len(batch) - validated, self._admit)
                cap += self.clock() - started
            now = self.clock()
            if len(batch) == 1:
                self._batch_opened = now
                cap = now + max(self.settings.max_batch_wait, self.settings.batch_window)
            deadline = min(now + self.settings.batch_window, cap)
            timeout = max(0.0, deadline - now)
        return batch, resync

    def _is_event(self, item: Event | str | Exception | WatchStall) -> TypeGuard[Event]:
        """Whether ``item`` is an event; a stall is recorded, an exception raised."""
        if isinstance(item, WatchStall):
            self._stall(item.error, "watch")
            return False
        if isinstance(item, Exception):
            raise item
        return not isinstance(item, str)

    def _apply(self, batch: list[Event]) -> None:
        if self._held is None:
            return
        self.metrics.events.inc(len(batch))
        taken = coalesce(batch, self._admit)
        changed = [self._held.apply(event) for event in taken]
        rejected = [e for e in taken if isinstance(e, Applied) and e.policy is None]
        self.metrics.rejected.inc(len(rejected))
        if any(changed) or self._pending:
            if batch:
                self.metrics.event_latency.received(self._batch_opened)
            # Events trust the last known remote head (no fetch round trip before the commit);
            # a remote that moved rejects the push and the pass is redone after a fetch. The
            # share limit is the resync's: deletes the control plane sent one by one pass; an
            # empty state is refused all the same.
            options = dataclasses.replace(
                self.options, fetch=False, max_delete_share=None, save_tree_cache=False
            )
            self._pass(options, f"{len(batch)} event(s)")

    def _pass(self, options: PassOptions, why: str) -> SyncResult | None:
        assert self._held is not None  # noqa: S101 - a pass always follows a resync
        state = self._held.state()
        started = self.clock()
        try:
            result = reconcile(
                state,
                self.workspace,
                self.templates,
                options,
                sleep=self._sleep,
                cache=self._cache,
            )
            if why == "resync":
                # A no-op resync reads the tree from the commit and leaves the working tree as
                # it found it; align it now, so the next event's pass does not wait for it.
                self.workspace.align()
        except RetryableError as exc:
            self.metrics.push_failures.inc()
            self._pending = True
            self._retry_at = self.clock() + self.settings.retry_delay
            log.warning("%s: not pushed yet, kept in memory: %s", why, exc)
            return None
        except ConfigError:
            if not self.status.ready.is_set():
                raise  # start-up: the configuration is wrong, exit 2
            self._stall(sys.exc_info()[1], why)
            return None
        except Exception as exc:  # noqa: BLE001 - nothing a pass meets ends the service
            if isinstance(exc, MassDeletionError):
                self.metrics.guard.set(1)
            self._stall(exc, why)
            return None
        self.stalls.clear()
        self._report_rejections((*state.rejections, *result.plan.rejections))
        self._pending = False
        self.status.ready.set()
        self.metrics.guard.set(0)
        self.metrics.last_sync.set_to_current_time()
        self.metrics.version.set(state.version)
        self.metrics.duration.observe(self.clock() - started)
        self.metrics.event_latency.pushed(self.clock(), committed=result.commit is not None)
        self.metrics.push_retries.inc(result.attempts - 1)
        if result.commit is not None:
            self.metrics.commits.inc()
            log.info(
                "%s: pushed %s (%s) at version %d in %.2fs",
                why, result.commit[:12], result.plan.summary, state.version, self.clock() - started,
            )  # fmt: skip
        return result

    def _stall(self, exc: BaseException | None, why: str) -> None:
        """A person must act: say so once, keep serving, retry on the long interval or an event."""
        assert exc is not None  # noqa: S101 - called from an except clause
        self.stalls.record(exc, why)
        self._pending = False
        self._next_resync = min(
            self._next_resync, self.clock() + self.settings.stalled_retry_interval
        )

    def is_ready(self) -> bool:
        """``/readyz``: the first pass succeeded, and nothing stalls the service now."""
        return self.status.ready.is_set() and self.stalls.current is None

    def _report_rejections(self, rejections: tuple[Rejection, ...]) -> None:
        """Log each rejection once (again only when its reason changes), and count them.

        A rejected policy stays rejected pass after pass until the control plane fixes it; a
        line per pass would bury everything else in the log.
        """
        current: dict[str, tuple[Rejection, ...]] = {}
        for rejection in rejections:
            current[rejection.policy_id] = (*current.get(rejection.policy_id, ()), rejection)
        for policy_id, problems in current.items():
            if self._reported.get(policy_id) != problems:
                for problem in problems:
                    log.warning(
                        "rejected: %s: %s: %s", problem.policy_id, problem.field, problem.reason
                    )
        self._reported = current
        self._rejections = tuple(rejections)
        self.metrics.rejected_policies.set(len(current))

    def _sleep(self, seconds: float) -> None:
        # Push-retry backoff that a stop request cuts short.
        self.stop.wait(seconds)

    def describe(self) -> dict[str, object]:
        """The desired-state status: what ``/status`` shows."""
        held = self._held.state() if self._held is not None else None
        rejected = self._rejections
        return {
            "version": self.status.version,
            "ready": self.status.ready.is_set(),
            "resyncs": self.status.resyncs,
            "policies": len(held.policies) if held is not None else 0,
            "pending_push": self._pending,
            "deletion_guard_tripped": self.status.guard_tripped,
            "stalled": self.stalls.describe(),
            "breaker": self.breaker.state.value,
            "rejected": [
                {"policy": r.policy_id, "field": r.field, "reason": r.reason} for r in rejected
            ],
        }

"""Why the service is stalled, since when, and what it tells its watchers about it.

Sits beside the controller. Flux's controllers never exit on a reconcile error: they mark the
object Stalled, keep serving health and metrics, and try again. So does ``run``: after start-up
(where a configuration error still ends it with exit 2), a condition a person must fix (a
protected branch, a declined hook, an unsigned base, the deletion guard, a broken tree, a
rotated secret) is recorded here and the process stays up. While stalled:

* ``/status`` says ``stalled`` with the reason, the message and since when;
* ``cilium_gitops_stalled{reason="..."}`` is 1 (every known reason is exported, at 0 when it
  does not hold, so an alert can name one);
* ``/readyz`` fails, so ``kubectl get pods`` shows the pod not ready (it is not restarted:
  restarting would not lift the cause and would lose this status);
* the log says it once, and again only when the reason or the message changes.

The controller retries on a long interval (``RunSettings.stalled_retry_interval``) and at once
when an event arrives; the first pass that succeeds clears the stall and says so.
"""

from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.desired.limits import InputLimitError
from reconciler.errors import (
    ConfigError,
    MassDeletionError,
    PushRefusedError,
    UnsafePathError,
    UnverifiedCommitError,
    WorkdirError,
)

if TYPE_CHECKING:
    from reconciler.service.health import Metrics

log = logging.getLogger("cilium_gitops.controller")


class Reason(enum.StrEnum):
    """What a person must look at; the ``reason`` label of ``cilium_gitops_stalled``."""

    PUSH_REFUSED = "push-refused"
    UNVERIFIED_BASE = "unverified-base"
    DELETION_GUARD = "deletion-guard"
    UNSAFE_TREE = "unsafe-tree"
    WORKDIR = "workdir"
    INPUT_LIMIT = "input-limit"
    CONFIGURATION = "configuration"
    ERROR = "error"  # an exception nobody foresaw: a bug to report, logged with its traceback


def reason_of(exc: BaseException) -> Reason:
    """The reason an error stalls the service."""
    kinds: list[tuple[type[BaseException], Reason]] = [
        (PushRefusedError, Reason.PUSH_REFUSED),
        (UnverifiedCommitError, Reason.UNVERIFIED_BASE),
        (MassDeletionError, Reason.DELETION_GUARD),
        (UnsafePathError, Reason.UNSAFE_TREE),
        (WorkdirError, Reason.WORKDIR),
        (InputLimitError, Reason.INPUT_LIMIT),
        (ConfigError, Reason.CONFIGURATION),
    ]
    return next((reason for kind, reason in kinds if isinstance(exc, kind)), Reason.ERROR)


@dataclass(frozen=True, slots=True)
class Stall:
    """One stalled condition."""

    reason: Reason
    message: str
    since: float  # Unix time


class Stalls:
    """The current stall, if any, kept in step with its metric."""

    def __init__(self, metrics: Metrics) -> None:
        """Export every reason at 0."""
        self._metrics = metrics
        self.current: Stall | None = None
        for reason in Reason:
            metrics.stalled.labels(reason=reason.value).set(0)

    def record(self, exc: BaseException, why: str) -> None:
        """Stalled by ``exc`` during ``why`` (a resync, N events); logged once per condition."""
        reason = reason_of(exc)
        message = str(exc) or type(exc).__name__
        known = self.current
        if known is not None and known.reason is reason and known.message == message:
            log.debug("%s: still stalled (%s)", why, reason)
            return
        if known is not None and known.reason is not reason:
            self._metrics.stalled.labels(reason=known.reason.value).set(0)
        self.current = Stall(reason, message, known.since if known else time.time())
        self._metrics.stalled.labels(reason=reason.value).set(1)
        if reason is Reason.ERROR:
            log.error("%s: stalled (%s): %s", why, reason, message, exc_info=exc)
        else:
            log.error("%s: stalled (%s): %s", why, reason, message)

    def clear(self) -> None:
        """A pass succeeded: whatever stalled the service no longer does."""
        if self.current is None:
            return
        log.warning("recovered from %s", self.current.reason)
        self._metrics.stalled.labels(reason=self.current.reason.value).set(0)
        self.current = None

    def describe(self) -> dict[str, object] | None:
        """What ``/status`` shows under ``stalled``."""
        stall = self.current
        if stall is None:
            return None
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stall.since))
        return {"reason": stall.reason.value, "message": stall.message, "since": since}

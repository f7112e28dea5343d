"""A circuit breaker for the control-plane connection: closed, open, half-open.

Sits in the watch loop (issue 3): every connection attempt asks ``allow()`` first and reports
its outcome. After ``threshold`` consecutive failures the breaker opens and refuses attempts for
``cool_down`` seconds, so a dead control plane is not hammered; then it lets one probe through
(half-open). The probe's success closes it; its failure opens it again. The clock is injected,
so tests move time instead of sleeping. Pure: no I/O.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


class BreakerState(enum.StrEnum):
    """Where the breaker is; shown in logs and metrics."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass
class CircuitBreaker:
    """Counts consecutive failures and decides whether the next attempt may go ahead."""

    threshold: int = 5
    cool_down: float = 30.0  # seconds the breaker stays open before a probe
    clock: Callable[[], float] = time.monotonic
    state: BreakerState = field(default=BreakerState.CLOSED, init=False)
    failures: int = field(default=0, init=False)
    _opened_at: float = field(default=0.0, init=False)

    def allow(self) -> bool:
        """Whether an attempt may go ahead now (moves an expired open breaker to half-open)."""
        if self.state is BreakerState.OPEN:
            if self.clock() - self._opened_at < self.cool_down:
                return False
            self.state = BreakerState.HALF_OPEN
            return True
        # Half-open lets exactly one probe through; until it reports back, nothing else.
        return self.state is BreakerState.CLOSED

    def record_success(self) -> None:
        """An attempt worked: close the breaker and forget the failures."""
        self.state = BreakerState.CLOSED
        self.failures = 0

    def record_failure(self) -> None:
        """An attempt failed: open after ``threshold`` in a row, or at once if it was the probe."""
        self.failures += 1
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.threshold:
            self.state = BreakerState.OPEN
            self._opened_at = self.clock()

"""Watch events and the desired set a long-running service holds between passes.

Sits between the control-plane client (which turns wire messages into ``Received`` and ``Deleted``)
and ``reconcile.passes`` (which reconciles a ``DesiredState``). A resync replaces the whole set;
events patch it. Unchanged policies stay the very same ``Record`` objects, so the next pass plans
only the delta (``plan.replan``). Pure: no I/O.

An apply event is validated and admitted (rendered, see ``record.Admit``) by the worker, not as
it arrives: the watch then drains the stream at wire speed. The worker admits what has arrived
while a batch's window is open and the stream rests, or as soon as too many wait unvalidated
(``validate_ahead``), and the rest when it takes the batch (``coalesce``), where a policy
changed many times within one batch is admitted once, at its last version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.desired.record import many_policies
from reconciler.desired.state import DesiredState

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from reconciler.desired.record import Admit, Record, Rejection


@dataclass(frozen=True, slots=True)
class Applied:
    """The control plane wants ``policy`` (or sent something invalid: ``rejections``)."""

    version: int
    policy_id: str
    policy: Record | None
    rejections: tuple[Rejection, ...] = ()


@dataclass(frozen=True, slots=True)
class Deleted:
    """The control plane no longer wants a policy; ``policy_id`` may be empty on old servers."""

    version: int
    policy_id: str
    namespace: str
    name: str


@dataclass(frozen=True, slots=True)
class Received:
    """An apply event as it came off the wire; ``validate`` admits it as an ``Applied``."""

    version: int
    policy_id: str
    validate: Callable[[Admit], Applied]


Event = Applied | Deleted | Received


def coalesce(batch: Sequence[Event], admit: Admit) -> list[Applied | Deleted]:
    """The batch, in order, without events that a later one for the same policy replaces.

    A delete that names no id (older control planes) finds its policy by namespace and name in
    the set as it is then, so events never move across it: it ends a run of coalescing. The
    batch's last event, which carries its highest version, is always kept.
    """
    kept: list[Event] = []
    replaced: set[str] = set()
    for event in reversed(batch):
        if not event.policy_id:
            replaced.clear()
        elif event.policy_id in replaced:
            continue
        else:
            replaced.add(event.policy_id)
        kept.append(event)
    with many_policies():
        return [e.validate(admit) if isinstance(e, Received) else e for e in reversed(kept)]


def validate_ahead(batch: list[Event], start: int, count: int, admit: Admit) -> int:
    """Validate, in place, the received events of ``batch[start:start + count]``; returns the end.

    The worker calls it while a batch's window is open and the stream rests, so that most of the
    validation ``coalesce`` would do after the window is done while the window runs. An event
    that a later one replaces is then validated for nothing; ``coalesce`` drops it all the same.
    """
    end = min(len(batch), start + count)
    with many_policies():
        for k in range(start, end):
            event = batch[k]
            if isinstance(event, Received):
                batch[k] = event.validate(admit)
    return end


class DesiredSet:
    """The desired state as last resynced and then patched by events, at ``version``."""

    def __init__(self, state: DesiredState) -> None:
        """Start from a complete state (a resync)."""
        self.version = state.version
        self._policies = {p.id: p for p in state.policies}
        self._rejected: dict[str, tuple[Rejection, ...]] = {}
        for rejection in state.rejections:
            self._rejected[rejection.policy_id] = (
                *self._rejected.get(rejection.policy_id, ()),
                rejection,
            )

    def apply(self, event: Applied | Deleted) -> bool:
        """Patch the set; False when the event changes nothing (old, duplicate, or no-op)."""
        if event.version <= self.version:
            return False
        self.version = event.version
        if isinstance(event, Applied):
            return self._apply(event)
        return self._delete(event)

    def _apply(self, event: Applied) -> bool:
        if event.policy is None:
            # An invalid update holds the policy's file as it is: broken input never removes
            # protection that is already in place.
            self._policies.pop(event.policy_id, None)
            self._rejected[event.policy_id] = event.rejections
            return True
        self._rejected.pop(event.policy_id, None)
        if self._policies.get(event.policy_id) == event.policy:
            return False
        self._policies[event.policy_id] = event.policy
        return True

    def _delete(self, event: Deleted) -> bool:
        # An old control plane names the policy by namespace and name alone; every policy held
        # under that name goes, so the outcome never depends on the order they arrived in.
        ids = [event.policy_id] if event.policy_id else self._named(event.namespace, event.name)
        changed = False
        for policy_id in ids:
            removed = self._policies.pop(policy_id, None) is not None
            changed = self._rejected.pop(policy_id, None) is not None or removed or changed
        return changed  # deleting what is not there succeeds, and changes nothing

    def _named(self, namespace: str, name: str) -> list[str]:
        return [
            policy.id
            for policy in self._policies.values()
            if (policy.namespace or "") == namespace and policy.name == name
        ]

    def by_input(self) -> dict[str, Record]:
        """The held records by input digest: what a resync need not admit again."""
        return {p.input: p for p in self._policies.values() if p.input is not None}

    def state(self) -> DesiredState:
        """The set as a ``DesiredState`` for a reconcile pass."""
        rejections = tuple(r for group in self._rejected.values() for r in group)
        return DesiredState(tuple(self._policies.values()), rejections, self.version)

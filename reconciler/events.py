"""Watch events and the desired set a long-running service holds between passes.

Sits between the control-plane client (which turns wire messages into ``Applied`` and
``Deleted``) and ``sync`` (which reconciles a ``DesiredState``). A resync replaces the whole set;
events patch it. Unchanged policies stay the very same objects, so the next pass plans only the
delta (``plan.replan``). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.sources import DesiredState

if TYPE_CHECKING:
    from reconciler.models import DesiredPolicy, Rejection


@dataclass(frozen=True, slots=True)
class Applied:
    """The control plane wants ``policy`` (or sent something invalid: ``rejections``)."""

    version: int
    policy_id: str
    policy: DesiredPolicy | None
    rejections: tuple[Rejection, ...] = ()


@dataclass(frozen=True, slots=True)
class Deleted:
    """The control plane no longer wants a policy; ``policy_id`` may be empty on old servers."""

    version: int
    policy_id: str
    namespace: str
    name: str


Event = Applied | Deleted


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

    def apply(self, event: Event) -> bool:
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
        policy_id = event.policy_id or self._find(event.namespace, event.name)
        if policy_id is None:
            return False  # deleting what is not there succeeds
        removed = self._policies.pop(policy_id, None) is not None
        return self._rejected.pop(policy_id, None) is not None or removed

    def _find(self, namespace: str, name: str) -> str | None:
        for policy in self._policies.values():
            if (policy.namespace or "") == namespace and policy.name == name:
                return policy.id
        return None

    def state(self) -> DesiredState:
        """The set as a ``DesiredState`` for a reconcile pass."""
        rejections = tuple(r for group in self._rejected.values() for r in group)
        return DesiredState(tuple(self._policies.values()), rejections, self.version)

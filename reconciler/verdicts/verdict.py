"""What the engine is asked and what it answers: a ``Flow``, and a ``Verdict`` with its reasons.

The engine's vocabulary (identity -> selectors -> rules -> engine -> *verdict*): a verdict is
the decision of each enforcement point a flow crosses, the source's egress and the
destination's ingress (``layer3.rst``: "policy must be configured on both sides"), and the
end-to-end decision: deny when either side denies, "undecided" when a side the model cannot
evaluate could decide it, allow otherwise. Each side names the policy and rule that decided,
or why nothing did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from reconciler.verdicts.identity import Endpoint
    from reconciler.verdicts.l7 import HttpRequest
    from reconciler.verdicts.ports import Probe
    from reconciler.verdicts.rules import Direction, PolicyRef

Decision = Literal["allow", "deny", "undecided"]
# Why a side decided as it did, for programs (the JSON output) and for the review's grouping.
Cause = Literal[
    "no-policy",  # nothing selects the endpoint for this direction
    "not-enforced",  # the endpoint is not one Cilium enforces policy on
    "allowed",  # an allow rule matched
    "localhost",  # the local host may always reach its endpoints (--allow-localhost)
    "default-allow",  # selected only by policies with enableDefaultDeny false
    "deny-rule",  # an ingressDeny/egressDeny rule matched
    "default-deny",  # in default deny and no rule allowed it
    "l7-denied",  # the connection is allowed, the request is not (HTTP 403, DNS refused)
    "unknown",  # the model cannot decide
]


@dataclass(frozen=True, slots=True)
class Flow:
    """The question: can ``source`` reach ``destination`` on this port, with this request."""

    source: Endpoint
    destination: Endpoint
    probe: Probe
    http: HttpRequest | None = None
    dns: str | None = None  # the DNS query name

    def text(self) -> str:
        """``shop/frontend -> shop/api TCP/8080 GET /cart``."""
        request = ""
        if self.http is not None:
            request = f" {self.http.text()}"
        elif self.dns is not None:
            request = f" DNS {self.dns}"
        return f"{self.source.name} -> {self.destination.name} {self.probe.text()}{request}"


@dataclass(frozen=True, slots=True)
class Step:
    """One enforcement point's decision: the source's egress or the destination's ingress."""

    direction: Direction
    endpoint: str
    decision: Decision
    cause: Cause
    reason: str
    policy: PolicyRef | None = None
    rule: str | None = None  # the rule's path in the policy: spec.ingress[0].toPorts[1]


@dataclass(frozen=True, slots=True)
class Verdict:
    """The end-to-end answer and both sides' steps."""

    decision: Decision
    egress: Step
    ingress: Step

    @property
    def deciding(self) -> tuple[Step, ...]:
        """The steps that explain the decision: the denying or undecided side, else both."""
        if self.decision == "allow":
            return (self.egress, self.ingress)
        return tuple(s for s in (self.egress, self.ingress) if s.decision == self.decision)

    @property
    def reason(self) -> str:
        """One line: each deciding side, ``egress: ...; ingress: ...``."""
        return "; ".join(f"{s.direction}: {s.reason}" for s in self.deciding)


def combine(egress: Step, ingress: Step) -> Verdict:
    """Deny when either side denies; undecided when a side cannot tell; allow otherwise."""
    decisions = {egress.decision, ingress.decision}
    if "deny" in decisions:
        return Verdict("deny", egress, ingress)
    if "undecided" in decisions:
        return Verdict("undecided", egress, ingress)
    return Verdict("allow", egress, ingress)

"""Real traffic under two revisions of the policies: which flows a change would drop or open.

The middle of ``replay`` (hubble -> *replaying* -> replay_formats). The distinct flows Hubble
recorded (``hubble.tally``) are rebuilt as engine flows, the source and the destination from
the identity labels Hubble reported, and evaluated end to end under each revision:

* ``compare`` (two revisions): the flows whose verdict differs, *newly denied* first, each with
  how often it was seen, the rule that used to allow it and the reason it is denied now;
  grouped by the namespace of the endpoint whose policy changed its mind;
* ``fidelity`` (one revision): where the model disagrees with the verdict Hubble recorded at
  the same enforcement point (the egress or ingress the event was seen at), a measure of how
  well the model fits the cluster, and a way to find policies that were never applied.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from reconciler.verdicts.identity import from_labels
from reconciler.verdicts.l7 import HttpRequest
from reconciler.verdicts.ports import Probe
from reconciler.verdicts.verdict import Flow

if TYPE_CHECKING:
    from collections.abc import Mapping

    from reconciler.verdicts.engine import Engine
    from reconciler.verdicts.hubble import Observed, Side
    from reconciler.verdicts.identity import Endpoint
    from reconciler.verdicts.verdict import Step, Verdict

Change = Literal["newly denied", "newly allowed", "newly undecided", "now decided"]
CHANGES: tuple[Change, ...] = ("newly denied", "newly allowed", "newly undecided", "now decided")
OUTSIDE = "(outside the cluster)"
_Key = tuple[object, ...]


@dataclass(frozen=True, slots=True)
class Replayed:
    """One distinct flow whose verdict a change flips."""

    flow: Flow
    count: int
    before: Verdict
    after: Verdict
    change: Change

    @property
    def side(self) -> Step:
        """The step (egress or ingress) whose decision changed, after the change."""
        if self.before.egress.decision != self.after.egress.decision:
            return self.after.egress
        return self.after.ingress

    @property
    def was(self) -> Step:
        """The same step before the change: for a newly denied flow, the rule that allowed it."""
        return self.before.egress if self.side.direction == "egress" else self.before.ingress

    @property
    def namespace(self) -> str:
        """The namespace of the endpoint whose policy changed its mind."""
        endpoint = self.flow.source if self.side.direction == "egress" else self.flow.destination
        return endpoint.namespace or OUTSIDE


@dataclass(frozen=True, slots=True)
class Replay:
    """The flows a change flips, in order: newly denied, then by count and text."""

    changes: tuple[Replayed, ...]
    distinct: int  # distinct flows evaluated
    lines: int  # flow lines read (skipped ones included)
    skipped: int

    def of(self, change: Change) -> list[Replayed]:
        """The flows of one kind of change."""
        return [r for r in self.changes if r.change == change]

    def by_namespace(self, change: Change) -> list[tuple[str, list[Replayed]]]:
        """One kind of change, grouped by namespace, namespaces in order."""
        groups: dict[str, list[Replayed]] = {}
        for replayed in self.of(change):
            groups.setdefault(replayed.namespace, []).append(replayed)
        return sorted(groups.items())


@dataclass(frozen=True, slots=True)
class Disagreement:
    """A distinct flow where the model and Hubble disagree at one enforcement point."""

    flow: Flow
    count: int
    recorded: str  # FORWARDED or DROPPED, at this direction
    model: Step


@dataclass(frozen=True, slots=True)
class Fidelity:
    """How well the model fits what Hubble recorded under one revision."""

    agreed: int  # events (not distinct flows) where both say the same
    disagreements: tuple[Disagreement, ...]
    undecided: int  # events at a point the model cannot decide
    unjudged: int  # events with no policy verdict to compare (other drops, no direction)
    lines: int
    skipped: int

    @property
    def compared(self) -> int:
        """Events compared: agreements and disagreements."""
        return self.agreed + sum(d.count for d in self.disagreements)


class _Endpoints:
    """Endpoints rebuilt from Hubble's sides, one per distinct side."""

    def __init__(self) -> None:
        self._made: dict[Side, Endpoint] = {}

    def of(self, side: Side) -> Endpoint:
        found = self._made.get(side)
        if found is None:
            ip = ipaddress.ip_address(side.ip) if side.ip else None
            labels = side.labels or (("reserved:world",) if ip is not None else ())
            found = from_labels(side.display, labels, ip=ip, names=side.names)
            self._made[side] = found
        return found


def flow_of(observed: Observed, endpoints: _Endpoints) -> Flow:
    """The engine's flow for one distinct Hubble flow."""
    http = None
    if observed.http is not None:
        method, path, host = observed.http
        http = HttpRequest(method, path, host or None)
    return Flow(
        endpoints.of(observed.source),
        endpoints.of(observed.destination),
        Probe(observed.protocol, observed.port),
        http,
        observed.dns,
    )


def compare(
    counts: Mapping[Observed, int], before: Engine, after: Engine, *, lines: int, skipped: int
) -> Replay:
    """Every distinct flow under both revisions; the ones whose verdict differs."""
    merged: Counter[_Key] = Counter()
    samples: dict[_Key, Observed] = {}
    for observed, count in counts.items():
        # Where it was seen and what Hubble said do not matter here: one flow, end to end.
        key: _Key = (observed.source, observed.destination, observed.protocol, observed.port)
        key += (observed.http, observed.dns)
        merged[key] += count
        samples.setdefault(key, observed)
    endpoints = _Endpoints()
    found: list[Replayed] = []
    for key, count in merged.items():
        flow = flow_of(samples[key], endpoints)
        old, new = before.evaluate(flow), after.evaluate(flow)
        change = _change(old.decision, new.decision)
        if change is not None:
            found.append(Replayed(flow, count, old, new, change))
    found.sort(key=lambda r: (CHANGES.index(r.change), -r.count, r.flow.text()))
    return Replay(tuple(found), len(merged), lines, skipped)


def _change(before: str, after: str) -> Change | None:
    if before == after:
        return None
    if after == "deny":
        return "newly denied"
    if after == "allow":
        return "newly allowed" if before == "deny" else "now decided"
    return "newly undecided"


def fidelity(
    counts: Mapping[Observed, int], engine: Engine, *, lines: int, skipped: int
) -> Fidelity:
    """Where the model's decision at the recorded enforcement point differs from Hubble's."""
    endpoints = _Endpoints()
    agreed = undecided = unjudged = 0
    found: dict[tuple[Flow, str, str], Disagreement] = {}
    for observed, count in counts.items():
        recorded = _recorded(observed)
        if recorded is None or observed.direction not in ("ingress", "egress"):
            unjudged += count
            continue
        flow = flow_of(observed, endpoints)
        step = engine.side(flow, "ingress" if observed.direction == "ingress" else "egress")
        if step.decision == "undecided":
            undecided += count
        elif (step.decision == "allow") == (recorded == "FORWARDED"):
            agreed += count
        else:
            key = (flow, observed.direction, recorded)
            old = found.get(key)
            total = count + (old.count if old else 0)
            found[key] = Disagreement(flow, total, recorded, step)
    ordered = sorted(found.values(), key=lambda d: (-d.count, d.flow.text()))
    return Fidelity(agreed, tuple(ordered), undecided, unjudged, lines, skipped)


def _recorded(observed: Observed) -> str | None:
    if observed.verdict in ("FORWARDED", "REDIRECTED"):
        return "FORWARDED"
    if observed.policy_drop:
        return "DROPPED"
    return None

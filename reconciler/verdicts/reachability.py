"""What can now reach what: the workload pairs whose end-to-end verdict a change flips.

The review's end-to-end answer (workloads -> *reachability*): every workload of the repository
(``workloads``) and the entities ``world`` (some address outside the cluster),
``kube-apiserver`` and ``host`` (a node) are endpoints; each ordered pair is asked, under both
revisions, about each of the destination's container ports, every port the changed policies
name, and one port no rule names ("any other port", which shows a default deny coming or
going). Only pairs a changed policy can touch are asked: a policy only changes verdicts for
the endpoints its rules select, as the source's egress or the destination's ingress.

New reachability from the world comes first, then other newly allowed pairs, then newly denied
ones; each carries both revisions' verdicts with the reason on each side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from reconciler.verdicts import identity as ident
from reconciler.verdicts.engine import Engine
from reconciler.verdicts.policy_files import documents, is_policy, rules_of
from reconciler.verdicts.ports import MAX_PORT, Probe
from reconciler.verdicts.rules import CCNP, PolicyRef, mapping
from reconciler.verdicts.verdict import Flow
from reconciler.verdicts.workloads import Workload, built_folders, workloads

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from reconciler.verdicts.identity import Endpoint
    from reconciler.verdicts.rules import Direction, Rule
    from reconciler.verdicts.verdict import Verdict

ReachChange = Literal["now allowed", "now denied", "now undecided", "now decided"]
_ORDER: tuple[ReachChange, ...] = ("now allowed", "now denied", "now undecided", "now decided")
# A port for "any other port": the highest one no rule and no container port names.
_OTHER_FROM = 64999


@dataclass(frozen=True, slots=True)
class Reach:
    """One pair and port whose end-to-end verdict differs between the revisions."""

    source: Endpoint
    destination: Endpoint
    probe: Probe
    other_ports: bool  # the probe stands for every port no rule names
    before: Verdict
    after: Verdict

    @property
    def change(self) -> ReachChange:
        """How the verdict moved."""
        after, before = self.after.decision, self.before.decision
        if after == "allow":
            return "now allowed" if before == "deny" else "now decided"
        return "now denied" if after == "deny" else "now undecided"

    @property
    def from_world(self) -> bool:
        """New reachability from outside the cluster: the first thing a reviewer reads."""
        return self.source.kind == "world"

    @property
    def port_text(self) -> str:
        """``TCP/8080``, or ``other TCP ports``."""
        return f"other {self.probe.protocol} ports" if self.other_ports else self.probe.text()


@dataclass(frozen=True, slots=True)
class Reachability:
    """The pairs a change flips, ordered, and how many were asked."""

    workloads: int
    asked: int  # (pair, port) questions put to both revisions
    changes: tuple[Reach, ...]


def entities() -> list[Endpoint]:
    """The entities every reachability question includes besides the workloads."""
    return [
        ident.entity("world", "world"),
        ident.entity("kube-apiserver", "kube-apiserver"),
        ident.entity("host", "host"),
    ]


def reachability(before: Mapping[str, bytes], after: Mapping[str, bytes]) -> Reachability:
    """The pairs whose verdict changes from ``before`` to ``after`` (whole trees by path)."""
    old_rules, new_rules = rules_of(_built(before)), rules_of(_built(after))
    changed = _changed(before, after)
    found_workloads = _union(workloads(before), workloads(after))
    endpoints = [w.endpoint for w in found_workloads] + entities()
    old, new = Engine(old_rules), Engine(new_rules)
    touched = [r for r in (*old_rules, *new_rules) if r.policy in changed]
    sources = [e for e in endpoints if _touches(touched, e, "egress", old, new)]
    targets = [e for e in endpoints if _touches(touched, e, "ingress", old, new)]
    pairs = {(s.name, d.name): (s, d) for s in sources for d in endpoints if s is not d}
    pairs |= {(s.name, d.name): (s, d) for s in endpoints for d in targets if s is not d}
    named = _named_ports(touched)
    asked = 0
    found: list[Reach] = []
    for source, destination in pairs.values():
        for probe, other in _probes(destination, named, touched):
            asked += 1
            flow = Flow(source, destination, probe)
            was, now = old.evaluate(flow), new.evaluate(flow)
            if was.decision != now.decision:
                found.append(Reach(source, destination, probe, other, was, now))
    found.sort(key=_order)
    return Reachability(len(found_workloads), asked, tuple(found))


def _order(reach: Reach) -> tuple[object, ...]:
    first = not (reach.change == "now allowed" and reach.from_world)
    names = (reach.source.name, reach.destination.name)
    return (first, _ORDER.index(reach.change), names, reach.other_ports, reach.probe.port)


def _built(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """The files Kustomize builds (all of them when the tree has no kustomization)."""
    folders = built_folders(files)
    if not folders:
        return dict(files)
    return {p: c for p, c in files.items() if _under(p, folders)}


def _under(path: str, folders: Iterable[str]) -> bool:
    return any(not f or path.startswith(f + "/") for f in folders)


def _union(before: list[Workload], after: list[Workload]) -> list[Workload]:
    by_name = {w.name: w for w in before} | {w.name: w for w in after}
    return [by_name[name] for name in sorted(by_name)]


def _changed(before: Mapping[str, bytes], after: Mapping[str, bytes]) -> set[PolicyRef]:
    """The policies whose rules differ between the revisions (labels and notes do not count)."""
    old, new = _specs(before), _specs(after)
    return {ref for ref in old.keys() | new.keys() if old.get(ref) != new.get(ref)}


def _specs(files: Mapping[str, bytes]) -> dict[PolicyRef, object]:
    found: dict[PolicyRef, object] = {}
    for _, doc in documents(_built(files)):
        if not is_policy(doc):
            continue
        metadata = mapping(doc.get("metadata"))
        kind = str(doc["kind"])
        namespace = None if kind == CCNP else str(metadata.get("namespace") or "default")
        ref = PolicyRef(kind, namespace, str(metadata.get("name") or ""))
        found[ref] = (doc.get("spec"), doc.get("specs"))
    return found


def _touches(rules: list[Rule], endpoint: Endpoint, direction: Direction, *engines: Engine) -> bool:
    """Whether a changed rule selects ``endpoint`` and has rules in ``direction``."""
    for engine in engines:
        selected = {id(r) for r in engine.selecting(endpoint)}
        if any(id(r) in selected and r.enforces(direction) for r in rules):
            return True
    return False


def _named_ports(rules: list[Rule]) -> set[tuple[str, int]]:
    """The (protocol, port) the changed rules name, the first port of a range."""
    found: set[tuple[str, int]] = set()
    for rule in rules:
        for entry in rule.entries:
            for port_rule in entry.port_rules:
                for match in port_rule.ports:
                    if match.name is None and match.port:
                        for protocol in ("TCP", "UDP", "SCTP"):
                            if match.covers_protocol(protocol):
                                found.add((protocol, match.port))
    return found


def _probes(
    destination: Endpoint, named: set[tuple[str, int]], rules: list[Rule]
) -> list[tuple[Probe, bool]]:
    ports = {(protocol, number) for _, number, protocol in destination.ports} | named
    probes = [(Probe(protocol, number), False) for protocol, number in sorted(ports)]
    taken = {number for protocol, number in ports if protocol == "TCP"}
    ranges = [
        (m.port, max(m.port, m.end_port))
        for r in rules
        for e in r.entries
        for p in e.port_rules
        for m in p.ports
        if m.port
    ]
    other = next(
        n
        for n in range(_OTHER_FROM, 0, -1)
        if n not in taken and not any(low <= n <= high for low, high in ranges)
    )
    assert other <= MAX_PORT  # noqa: S101 - counted down from below it
    return [*probes, (Probe("TCP", other), True)]

"""A policy as the flows it allows or denies: the model every review output is built from.

Second layer of ``review`` (peers -> flows -> diff/explain -> formats). ``policy_rules`` reads
each rule of a CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy (``spec`` and ``specs[]``)
into a ``Rule``: who it selects (``Subject``), its ``Clause`` values (one per ``toPorts`` entry,
so each keeps its own L7 conditions), what it puts in default deny and any ``fromRequires``.
``flows_of`` multiplies clauses out into ``Flow`` values, one per peer and port, which is the
unit a connectivity diff adds, removes or changes.

The reading is syntactic: a flow says what the YAML grants, not what a cluster would match
(entity ``all`` is not expanded into the flows it covers, CIDR groups and named ports are not
resolved). Cilium's rules about absent and empty fields are kept where they change meaning:
a rule without any peer field but with ports admits any peer; an empty peer list admits none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from reconciler.review import peers
from reconciler.review.peers import AUTH, EVERY_NAMESPACE, UNSET_NAMESPACE, Peer
from reconciler.validate.documents import items, rules_of

if TYPE_CHECKING:
    from collections.abc import Iterator

Direction = Literal["ingress", "egress"]
Verdict = Literal["allow", "deny"]
CLUSTERWIDE = "CiliumClusterwideNetworkPolicy"
_SHORT_KIND = {"CiliumNetworkPolicy": "CNP", CLUSTERWIDE: "CCNP"}

# The keys naming peers, per direction, with how to read each entry. ``fromRequires`` and
# ``toRequires`` are absent on purpose: they narrow other rules instead of admitting anyone.
_INGRESS_PEERS = ("fromEndpoints", "fromEntities", "fromCIDR", "fromCIDRSet", "fromNodes")
_EGRESS_PEERS = ("toEndpoints", "toEntities", "toCIDR", "toCIDRSet", "toNodes", "toFQDNs")
_PEER_KEYS: dict[Direction, tuple[str, ...]] = {
    "ingress": (*_INGRESS_PEERS, "fromGroups"),
    "egress": (*_EGRESS_PEERS, "toServices", "toGroups"),
}
SECTIONS: tuple[tuple[str, Direction, Verdict], ...] = (
    ("ingress", "ingress", "allow"),
    ("ingressDeny", "ingress", "deny"),
    ("egress", "egress", "allow"),
    ("egressDeny", "egress", "deny"),
)


@dataclass(frozen=True, slots=True)
class PolicyRef:
    """Which policy: what the cluster keys it by (not the file it lives in)."""

    kind: str
    namespace: str | None  # None for a clusterwide policy, or a namespaced one without it
    name: str

    @property
    def display(self) -> str:
        """``CNP shop/frontend`` or ``CCNP lockdown``."""
        short = _SHORT_KIND.get(self.kind, self.kind)
        return f"{short} {self.namespace}/{self.name}" if self.namespace else f"{short} {self.name}"

    @property
    def order(self) -> tuple[str, str, str]:
        """A sort key (``namespace`` may be None)."""
        return (self.namespace or "", self.name, self.kind)


@dataclass(frozen=True, slots=True)
class Subject:
    """What a rule selects: pods (by namespace and labels) or, in host policies, nodes."""

    namespace: str  # a name, EVERY_NAMESPACE or UNSET_NAMESPACE (see peers)
    text: str  # canonical: "app=web", "all pods", "nodes: role=ssh", "all nodes"
    phrase: str  # starts a sentence: "Pods in namespace `shop` with labels app=web"
    every_pod: bool  # selects all pods of ``namespace`` (so it can set a namespace's default)


@dataclass(frozen=True, slots=True)
class Clause:
    """One rule item (or one ``toPorts`` entry of it): peers x ports, with shared conditions."""

    rule: str  # the item: "spec.ingress[0]"
    direction: Direction
    verdict: Verdict
    peers: tuple[Peer, ...]
    ports: tuple[tuple[str, str], ...]  # (protocol, port or range or "*")
    l7: tuple[str, ...]  # sorted conditions past L4 (peers.FILTERS, peers.CARRIERS)
    part: str = ""  # "toPorts[1]" or "icmps" when the item was split; "" when it was not


@dataclass(frozen=True, slots=True)
class Requirement:
    """A ``fromRequires``/``toRequires`` entry: every peer of the subject must also match it."""

    rule: str
    direction: Direction
    labels: str


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of a policy (``spec`` or ``specs[i]``), read."""

    path: str
    subject: Subject
    clauses: tuple[Clause, ...]
    empty_items: tuple[str, ...]  # paths of items that admit no peer ({} and the like)
    requires: tuple[Requirement, ...]
    default_deny: tuple[Direction, ...]  # directions this rule puts its subject in default deny
    default_deny_off: tuple[Direction, ...]  # directions where enableDefaultDeny says false


@dataclass(frozen=True, slots=True)
class Flow:
    """One allowed or denied flow, and the policy rule it comes from."""

    namespace: str  # of the subject: a name, EVERY_NAMESPACE or UNSET_NAMESPACE
    subject: str
    direction: Direction
    verdict: Verdict
    peer_kind: peers.PeerKind
    peer: str
    protocol: str  # TCP, UDP, SCTP, ANY, ICMP, ICMPv6, ...
    port: str  # "80", "80-444", a port name, an ICMP type, or "*" for every port
    l7: tuple[str, ...]
    policy: PolicyRef
    rule: str  # "spec.ingress[0]", "specs[1].egressDeny[2]"

    @property
    def key(self) -> tuple[str, ...]:
        """What the flow allows or denies, without where it comes from or its L7 conditions."""
        return (
            self.namespace,
            self.subject,
            self.direction,
            self.verdict,
            self.peer_kind,
            self.peer,
            self.protocol,
            self.port,
        )

    @property
    def order(self) -> tuple[Any, ...]:
        """A total sort key."""
        return (*self.key, self.l7, self.policy.order, self.rule)


def reference(doc: Mapping[str, Any]) -> PolicyRef:
    """The identity of a policy document (empty strings where metadata is missing)."""
    metadata = doc.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    kind = str(doc.get("kind", ""))
    namespace = metadata.get("namespace")
    namespaced = kind != CLUSTERWIDE and isinstance(namespace, str) and namespace
    return PolicyRef(kind, namespace if namespaced else None, str(metadata.get("name") or ""))


def _path(parts: tuple[str | int, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")


def subject_of(spec: Mapping[str, Any], ref: PolicyRef) -> Subject:
    """Who a rule selects; a namespaced policy selects only in its own namespace."""
    if "nodeSelector" in spec:
        labels = peers.selection(spec["nodeSelector"]).full
        if not labels:
            return Subject(EVERY_NAMESPACE, "all nodes", "All nodes", every_pod=False)
        return Subject(
            EVERY_NAMESPACE, f"nodes: {labels}", f"Nodes with labels {labels}", every_pod=False
        )
    chosen = peers.selection(spec.get("endpointSelector"))
    if ref.kind == CLUSTERWIDE:
        namespace = chosen.namespace or EVERY_NAMESPACE
        labels = chosen.labels
    else:
        namespace = ref.namespace or UNSET_NAMESPACE
        # Cilium adds the policy's namespace to the selector; one naming another selects nobody.
        same = chosen.namespace in {None, ref.namespace}
        labels = chosen.labels if same else chosen.full
    if namespace == EVERY_NAMESPACE:
        where = "the cluster" if not labels else "every namespace"
    elif namespace == UNSET_NAMESPACE:
        where = "the policy's namespace"
    else:
        where = f"namespace `{namespace}`"
    phrase = f"Pods in {where} with labels {labels}" if labels else f"All pods in {where}"
    return Subject(namespace, labels or "all pods", phrase, every_pod=not labels)


def _peers(item: Mapping[str, Any], direction: Direction, namespace: str) -> tuple[Peer, ...]:
    found: list[Peer] = []
    for key in _PEER_KEYS[direction]:
        value = item.get(key)
        if key.endswith("Endpoints"):
            found.extend(peers.endpoints(e, namespace) for e in peers.listed(value))
        elif key.endswith("Entities"):
            found.extend(peers.entity(e) for e in peers.listed(value))
        elif key.endswith("CIDR"):
            found.extend(peers.cidr(e) for e in peers.listed(value))
        elif key.endswith("CIDRSet"):
            found.extend(peers.cidr_set(e) for _, e in items(value))
        elif key.endswith("Nodes"):
            found.extend(peers.nodes(e) for e in peers.listed(value))
        elif key == "toFQDNs":
            found.extend(peers.fqdn(e) for _, e in items(value))
        elif key == "toServices":
            found.extend(peers.service(e, namespace) for _, e in items(value))
        else:
            found.extend(peers.group(e) for _, e in items(value))
    return tuple(sorted(set(found), key=lambda p: (p.kind, p.text)))


def _clauses(
    item: Mapping[str, Any], where: str, direction: Direction, verdict: Verdict, namespace: str
) -> Iterator[Clause]:
    port_rules = list(items(item.get("toPorts")))
    icmps = [
        peers.icmp(entry)
        for _, icmp_rule in items(item.get("icmps"))
        for _, entry in items(icmp_rule.get("fields"))
    ]
    if any(key in item for key in _PEER_KEYS[direction]):
        found = _peers(item, direction, namespace)
    else:
        # Cilium: with no peer field at all, ports (or ICMP types) alone admit any peer.
        found = (peers.ANY_PEER,) if "toPorts" in item or "icmps" in item else ()
    if not found:
        return
    auth = item.get("authentication")
    mode = auth.get("mode") if isinstance(auth, Mapping) else None
    extra = [f"{AUTH}{mode}"] if mode and mode != "disabled" else []
    for index, port_rule in port_rules:
        ports = [peers.port_range(p) for _, p in items(port_rule.get("ports"))]
        l7 = tuple(sorted({*peers.conditions(port_rule), *extra}))
        yield Clause(where, direction, verdict, found, _ports(ports), l7, f"toPorts[{index}]")
    if icmps:
        yield Clause(where, direction, verdict, found, _ports(icmps), tuple(extra), "icmps")
    if not port_rules and not icmps:
        yield Clause(where, direction, verdict, found, (("ANY", "*"),), tuple(extra))


def _ports(found: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    # A toPorts entry without ports covers every port.
    return tuple(sorted(set(found))) or (("ANY", "*"),)


def _default_deny(spec: Mapping[str, Any]) -> tuple[tuple[Direction, ...], tuple[Direction, ...]]:
    """Directions put in default deny, and those explicitly kept out (``enableDefaultDeny``)."""
    setting = spec.get("enableDefaultDeny")
    setting = setting if isinstance(setting, Mapping) else {}
    on: list[Direction] = []
    off: list[Direction] = []
    direction: Direction
    for direction in ("ingress", "egress"):
        explicit = setting.get(direction)
        # The CRD: when unset, true for each direction that has (allow or deny) rules.
        has_rules = bool(spec.get(direction)) or bool(spec.get(f"{direction}Deny"))
        if explicit is True or (explicit is None and has_rules):
            on.append(direction)
        elif explicit is False:
            off.append(direction)
    return tuple(on), tuple(off)


def _read_rule(base: str, spec: Mapping[str, Any], ref: PolicyRef) -> Rule:
    subject = subject_of(spec, ref)
    namespace = EVERY_NAMESPACE if ref.kind == CLUSTERWIDE else ref.namespace or UNSET_NAMESPACE
    clauses: list[Clause] = []
    empty: list[str] = []
    requires: list[Requirement] = []
    for section, direction, verdict in SECTIONS:
        for index, item in items(spec.get(section)):
            where = f"{base}.{section}[{index}]"
            found = list(_clauses(item, where, direction, verdict, namespace))
            clauses.extend(found)
            if not found:
                empty.append(where)
            key = "fromRequires" if direction == "ingress" else "toRequires"
            requires.extend(
                Requirement(where, direction, peers.selection(s).full or "(anything)")
                for s in peers.listed(item.get(key))
            )
    on, off = _default_deny(spec)
    return Rule(base, subject, tuple(clauses), tuple(empty), tuple(requires), on, off)


def policy_rules(doc: Mapping[str, Any]) -> list[Rule]:
    """Every rule of a policy document, read."""
    ref = reference(doc)
    return [_read_rule(_path(base), spec, ref) for base, spec in rules_of(doc)]


def flows_of(doc: Mapping[str, Any]) -> list[Flow]:
    """The flows a CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy document names, sorted."""
    ref = reference(doc)
    found = {
        Flow(
            rule.subject.namespace,
            rule.subject.text,
            clause.direction,
            clause.verdict,
            peer.kind,
            peer.text,
            protocol,
            port,
            clause.l7,
            ref,
            clause.rule,
        )
        for rule in policy_rules(doc)
        for clause in rule.clauses
        for peer in clause.peers
        for protocol, port in clause.ports
    }
    return sorted(found, key=lambda f: f.order)


def effective_l7(flows: tuple[Flow, ...]) -> tuple[str, ...]:
    """The conditions on a flow granted by several rules: any rule without them lifts them all.

    Cilium merges rules on the same port and peer; one that names no L7 rule allows every
    request, whatever the others say. Mutual authentication is the exception: when Cilium
    merges the entries, an explicit auth mode wins over none and the higher mode over the lower
    (``MapStateEntry.Merge``), so one rule that requires it requires it for the flow.
    """
    if not flows or any(not f.l7 for f in flows):
        return tuple(sorted({c for f in flows for c in authentication(f.l7)}))
    return tuple(sorted({condition for f in flows for condition in f.l7}))


def authentication(l7: tuple[str, ...]) -> tuple[str, ...]:
    """The mutual-authentication requirements among a flow's conditions (``auth required``)."""
    return tuple(c for c in l7 if c.startswith(AUTH))


def filters(l7: tuple[str, ...]) -> tuple[str, ...]:
    """The conditions that filter requests (HTTP, DNS, Kafka, generic L7, SNI)."""
    return tuple(c for c in l7 if c.startswith(peers.FILTERS))


@dataclass(frozen=True, slots=True)
class FlowChange:
    """One flow (an L4 key) granted before, after, or both with other L7 conditions."""

    before: tuple[Flow, ...]  # every grant of the key before, sorted; () when added
    after: tuple[Flow, ...]  # every grant after, sorted; () when removed

    @property
    def change(self) -> Literal["added", "removed", "changed"]:
        """What happened to the flow."""
        if not self.before:
            return "added"
        return "removed" if not self.after else "changed"

    @property
    def flow(self) -> Flow:
        """The flow as it is now, or as it was when removed."""
        return (self.after or self.before)[0]

    @property
    def l7_before(self) -> tuple[str, ...]:
        """Conditions in force before."""
        return effective_l7(self.before)

    @property
    def l7_after(self) -> tuple[str, ...]:
        """Conditions in force after."""
        return effective_l7(self.after)

    @property
    def grants(self) -> tuple[Flow, ...]:
        """The rules that grant it now, or granted it before it was removed."""
        return self.after or self.before

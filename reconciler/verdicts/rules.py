"""A CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy read into rules the engine evaluates.

Fifth step of ``verdicts`` (identity -> selectors -> ports/l7 -> rules -> engine), the
model of ``ParseToCiliumRule`` (``pkg/k8s/apis/cilium.io/utils/utils.go``) and of the rule
types in ``pkg/policy/api`` (``rule.go``, ``ingress.go``, ``egress.go``, ``l4.go``):

* each of ``spec`` and ``specs[]`` is one ``Rule``; its ``endpointSelector`` is confined to
  the policy's namespace (``selectors.subject``), a ``nodeSelector`` makes it a host policy;
* every ``ingress``/``egress`` item is an ``Entry`` (``ingressDeny``/``egressDeny`` ones deny);
  its peers are the union of its peer fields, ``fromEndpoints``/``toEndpoints`` scoped by
  ``selectors.scoped``; an item with no peer field but with ``toPorts`` or ``icmps`` admits
  every peer, one with neither admits nothing (``ingress: [{}]`` is the usual default deny);
* an item without ``toPorts`` and ``icmps`` covers every port and protocol (an L3-only rule);
* ``enableDefaultDeny`` defaults to true for each direction that has rules.

What the model does not know (Services for ``toServices``, CiliumCIDRGroups, cloud groups,
``fromRequires``, which Cilium 1.19 removed, a field Cilium would reject) is kept on the rule
or the entry as ``unknown``, so the engine says it cannot decide instead of guessing.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from reconciler.verdicts import selectors as sel
from reconciler.verdicts.identity import CLUSTER, DEFAULT_CLUSTER
from reconciler.verdicts.l7 import DnsRule, L7Error, L7Rules, dns_rule, l7_rules
from reconciler.verdicts.ports import IcmpMatch, PortError, PortMatch, icmp_match, port_match

if TYPE_CHECKING:
    from reconciler.verdicts.identity import Address, Identity

Direction = Literal["ingress", "egress"]
DIRECTIONS: tuple[Direction, ...] = ("ingress", "egress")
CNP = "CiliumNetworkPolicy"
CCNP = "CiliumClusterwideNetworkPolicy"
KNP = "NetworkPolicy"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_WORLD = ("world", "world-ipv4", "world-ipv6")
# The entity "cluster" (InitEntities, pkg/policy/api/entity.go): these reserved identities,
# and every pod of the local cluster.
_CLUSTER = ("host", "remote-node", "init", "ingress", "health", "unmanaged", "kube-apiserver")
ENTITY_NAMES = frozenset({*_WORLD, *_CLUSTER, "cluster", "all", "none"})


class RuleError(ValueError):
    """Something in a policy Cilium would reject, or this model cannot read."""


@dataclass(frozen=True, slots=True)
class PolicyRef:
    """A policy as the cluster keys it; ``file`` says where it was read."""

    kind: str
    namespace: str | None
    name: str
    file: str = field(default="", compare=False)

    @property
    def display(self) -> str:
        """``shop/allow-api`` (a clusterwide policy by name), with its kind when not a CNP."""
        name = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return name if self.kind == CNP else f"{self.kind} {name}"


@dataclass(frozen=True, slots=True)
class CidrMatch:
    """A ``fromCIDR``/``toCIDR`` prefix, or a ``CIDRSet`` item with its ``except`` prefixes."""

    network: Network
    excepts: tuple[Network, ...] = ()

    def matches(self, ip: Address) -> bool:
        """Whether the address is in the prefix and in none of the exceptions."""
        if ip.version != self.network.version or ip not in self.network:
            return False
        return not any(ip in e for e in self.excepts if e.version == ip.version)

    def text(self) -> str:
        """``10.0.0.0/8 except 10.96.0.0/12``."""
        if not self.excepts:
            return str(self.network)
        return f"{self.network} except {', '.join(str(e) for e in self.excepts)}"


@dataclass(frozen=True, slots=True)
class Peers:
    """Who an entry admits (or denies): the union of its peer fields."""

    endpoints: tuple[sel.Selector, ...] = ()
    entities: tuple[str, ...] = ()
    nodes: tuple[sel.Selector, ...] = ()
    cidrs: tuple[CidrMatch, ...] = ()
    fqdns: tuple[DnsRule, ...] = ()
    everyone: bool = False  # no peer field, but ports: every identity
    unknown: str | None = None  # a peer field the model cannot evaluate

    def match(self, peer: Identity, *, subject_cluster: str) -> str | None:
        """Why ``peer`` is one of these peers (``fromEndpoints app=api``), or None.

        ``toFQDNs`` is not matched here: it also needs the DNS proxy (see the engine).
        """
        if self.everyone:
            return "any peer (no peer field)"
        for selector in self.endpoints:
            if selector.matches(peer):
                return f"endpoints {selector.text()}"
        for name in self.entities:
            if entity_selects(name, peer, subject_cluster):
                return f"entity {name}"
        if peer.has_reserved("host") or peer.has_reserved("remote-node"):
            for selector in self.nodes:
                if selector.matches(peer):
                    return f"nodes {selector.text()}"
        return self._cidr(peer)

    def _cidr(self, peer: Identity) -> str | None:
        """CIDR rules select only the world (``layer3.rst``, "IP/CIDR based")."""
        if not peer.is_world:
            return None
        for cidr in self.cidrs:
            # An address-less world endpoint ("some address outside") is in a /0 only.
            inside = cidr.matches(peer.ip) if peer.ip is not None else cidr.network.prefixlen == 0
            if inside:
                return f"CIDR {cidr.text()}"
        return None


def entity_selects(name: str, peer: Identity, subject_cluster: str) -> bool:
    """``EntitySelectorMapping`` (``pkg/policy/api/entity.go``) applied to one identity."""
    if name == "all":
        return True
    if name == "world":
        return peer.is_world
    if name == "cluster":
        if any(peer.has_reserved(n) for n in _CLUSTER):
            return True
        return peer.get(f"k8s.{CLUSTER}") == subject_cluster
    return peer.has_reserved(name)


@dataclass(frozen=True, slots=True)
class PortRule:
    """One ``toPorts`` item: its ports and, for allow rules, its L7 rules."""

    ports: tuple[PortMatch, ...]
    l7: L7Rules | None = None
    path: str = ""
    # What the model cannot see of a connection: TLS server names (serverNames) and a
    # redirect to a CiliumEnvoyConfig listener.
    unseen: str | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    """One ``ingress``/``egress``/``ingressDeny``/``egressDeny`` item."""

    path: str
    direction: Direction
    deny: bool
    peers: Peers
    port_rules: tuple[PortRule, ...] = ()
    icmps: tuple[IcmpMatch, ...] = ()
    authentication: str | None = None

    @property
    def admits_nothing(self) -> bool:
        """An item such as ``ingress: [{}]``: no peer at all, the usual way to default deny."""
        peers = self.peers
        return not (
            peers.everyone
            or peers.unknown
            or peers.endpoints
            or peers.entities
            or peers.nodes
            or peers.cidrs
            or peers.fqdns
        )

    @property
    def l3_only(self) -> bool:
        """No ports and no ICMP types: every port of every protocol."""
        return not self.port_rules and not self.icmps


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule (``spec`` or an item of ``specs``) of one policy."""

    policy: PolicyRef
    path: str
    subject: sel.Selector | None  # the scoped endpointSelector; None for a host policy
    nodes: sel.Selector | None = None  # the nodeSelector of a host policy
    entries: tuple[Entry, ...] = ()
    default_deny: tuple[bool, bool] = (True, True)  # ingress, egress
    unknown: str | None = None  # why the rule cannot be read at all

    def selects(self, identity: Identity, *, node: bool) -> bool:
        """Whether the rule applies to this endpoint (``matchesSubject``)."""
        selector = self.nodes if node else self.subject
        return selector is not None and selector.matches(identity)

    def enforces(self, direction: Direction) -> bool:
        """The rule has ``direction`` rules, allow or deny: it puts its subjects in policy."""
        return any(e.direction == direction for e in self.entries)

    def only_denies(self, direction: Direction) -> bool:
        """Every ``direction`` item admits nothing: a pure default-deny rule."""
        return all(e.admits_nothing for e in self.entries if e.direction == direction)

    def default_denies(self, direction: Direction) -> bool:
        """It puts its subjects into default deny for ``direction`` (``enableDefaultDeny``)."""
        return self.enforces(direction) and self.default_deny[DIRECTIONS.index(direction)]

    @property
    def where(self) -> str:
        """``shop/allow-api spec``: the policy and the rule, for reasons."""
        return f"{self.policy.display} {self.path}"


def read_policy(data: dict[str, Any], file: str = "") -> list[Rule]:
    """The rules of a CNP or CCNP document (its ``spec`` and every ``specs`` item)."""
    kind = str(data.get("kind"))
    metadata = mapping(data.get("metadata"))
    name = str(metadata.get("name") or "")
    namespace = None if kind == CCNP else str(metadata.get("namespace") or "default")
    ref = PolicyRef(kind, namespace, name, file)
    found: list[Rule] = []
    spec = data.get("spec")
    if isinstance(spec, dict):
        found.append(_rule(ref, "spec", spec))
    specs = data.get("specs")
    if isinstance(specs, list):
        found.extend(
            _rule(ref, f"specs[{i}]", item)
            for i, item in enumerate(specs)
            if isinstance(item, dict)
        )
    return found


def _rule(ref: PolicyRef, path: str, spec: dict[str, Any]) -> Rule:
    namespace = ref.namespace
    try:
        subject, nodes = _subjects(spec, namespace)
    except (sel.SelectorError, RuleError) as exc:
        return Rule(ref, path, None, unknown=f"{path}: {exc}")
    endpoint_selector = spec.get("endpointSelector")
    init = isinstance(endpoint_selector, dict) and sel.compile_selector(endpoint_selector).has_key(
        "reserved.init"
    )
    entries: list[Entry] = []
    try:
        for key, direction, deny in _SECTIONS:
            items = spec.get(key)
            if not isinstance(items, list):
                continue
            for index, item in enumerate(items):
                where = f"{path}.{key}[{index}]"
                entries.append(
                    _entry(item, where, direction, deny=deny, namespace=namespace, init=init)
                )
    except (sel.SelectorError, PortError, L7Error, RuleError) as exc:
        return Rule(ref, path, subject, nodes, unknown=f"{exc}")
    return Rule(ref, path, subject, nodes, tuple(entries), _default_deny(spec))


_SECTIONS: tuple[tuple[str, Direction, bool], ...] = (
    ("ingress", "ingress", False),
    ("ingressDeny", "ingress", True),
    ("egress", "egress", False),
    ("egressDeny", "egress", True),
)


def _subjects(
    spec: dict[str, Any], namespace: str | None
) -> tuple[sel.Selector | None, sel.Selector | None]:
    nodes = spec.get("nodeSelector")
    if isinstance(nodes, dict):
        return None, sel.compile_selector(nodes)
    raw = spec.get("endpointSelector")
    if not isinstance(raw, dict):
        msg = "neither endpointSelector nor nodeSelector"
        raise RuleError(msg)
    return sel.subject(sel.compile_selector(raw), namespace), None


def _default_deny(spec: dict[str, Any]) -> tuple[bool, bool]:
    raw = spec.get("enableDefaultDeny")
    values = raw if isinstance(raw, dict) else {}
    return (values.get("ingress") is not False, values.get("egress") is not False)


def _entry(  # noqa: PLR0913 - the item and where it sits, keyword-only
    item: Any,  # noqa: ANN401 - raw YAML
    path: str,
    direction: Direction,
    *,
    deny: bool,
    namespace: str | None,
    init: bool,
) -> Entry:
    if not isinstance(item, dict):
        msg = f"{path} must be a mapping"
        raise RuleError(msg)
    port_rules = tuple(
        _port_rule(p, f"{path}.toPorts[{i}]", deny=deny)
        for i, p in enumerate(listed(item.get("toPorts")))
    )
    icmps = tuple(
        icmp_match(f)
        for rule in listed(item.get("icmps"))
        for f in listed(mapping(rule).get("fields"))
    )
    peers = _peers(item, direction, namespace, init=init, ports=bool(port_rules or icmps))
    auth = item.get("authentication")
    mode = auth.get("mode") if isinstance(auth, dict) else None
    return Entry(
        path, direction, deny, peers, port_rules, icmps, mode if mode != "disabled" else None
    )


def mapping(value: object) -> dict[str, Any]:
    """``value`` when it is a mapping, else an empty one (the validator reports the type)."""
    return value if isinstance(value, dict) else {}


def listed(value: object) -> list[Any]:
    """``value`` when it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def _port_rule(item: Any, path: str, *, deny: bool) -> PortRule:  # noqa: ANN401 - raw YAML
    if not isinstance(item, dict):
        msg = f"{path} must be a mapping"
        raise RuleError(msg)
    ports = tuple(port_match(p) for p in listed(item.get("ports")))
    rules = None if deny else l7_rules(item.get("rules"))
    unseen = None
    if item.get("serverNames"):
        unseen = f"serverNames {', '.join(str(n) for n in listed(item['serverNames']))} (TLS SNI)"
    elif item.get("listener"):
        unseen = "a listener (a CiliumEnvoyConfig this model does not read)"
    return PortRule(ports, rules, path, unseen)


_PEER_FIELDS = {
    "ingress": ("fromEndpoints", "fromEntities", "fromNodes", "fromCIDR", "fromCIDRSet"),
    "egress": ("toEndpoints", "toEntities", "toNodes", "toCIDR", "toCIDRSet", "toFQDNs"),
}
_UNKNOWN_FIELDS = {
    "ingress": ("fromRequires", "fromGroups"),
    "egress": ("toRequires", "toGroups", "toServices"),
}


def _peers(
    item: dict[str, Any], direction: Direction, namespace: str | None, *, init: bool, ports: bool
) -> Peers:
    names = _PEER_FIELDS[direction]
    endpoints_key, entities_key, nodes_key, cidr_key, cidr_set_key = names[:5]
    unknown = [f"{key} ({_why(key)})" for key in _UNKNOWN_FIELDS[direction] if item.get(key)]
    present = any(item.get(k) is not None for k in (*names, *_UNKNOWN_FIELDS[direction]))
    endpoints = tuple(
        sel.scoped(sel.compile_selector(raw), namespace, subject_is_init=init)
        for raw in listed(item.get(endpoints_key))
    )
    entities = tuple(str(e) for e in listed(item.get(entities_key)))
    for name in entities:
        if name not in ENTITY_NAMES:
            msg = f"unknown entity {name!r}"
            raise RuleError(msg)
    nodes = tuple(sel.compile_selector(raw) for raw in listed(item.get(nodes_key)))
    cidrs = [cidr_match(str(c)) for c in listed(item.get(cidr_key))]
    for entry in listed(item.get(cidr_set_key)):
        if not isinstance(entry, dict) or not entry.get("cidr"):
            unknown.append(f"{cidr_set_key} cidrGroupRef/cidrGroupSelector (a CiliumCIDRGroup)")
            continue
        outer = cidr_match(str(entry["cidr"]))
        excepts = tuple(cidr_match(str(e)).network for e in listed(entry.get("except")))
        cidrs.append(CidrMatch(outer.network, excepts))
    fqdns = tuple(dns_rule(f) for f in listed(item.get("toFQDNs"))) if direction == "egress" else ()
    return Peers(
        endpoints,
        entities,
        nodes,
        tuple(cidrs),
        fqdns,
        everyone=not present and ports,
        unknown="; ".join(unknown) or None,
    )


def _why(key: str) -> str:
    if key.endswith("Requires"):
        return "deprecated in Cilium 1.17 and removed in 1.19"
    if key == "toServices":
        return "needs the Services' selectors and endpoints"
    return "needs the cloud provider's groups"


def cidr_match(text: str) -> CidrMatch:
    """A prefix (or a bare address, a /32 or /128) as a ``CidrMatch``; raises ``RuleError``."""
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        msg = f"{text!r} is not a CIDR"
        raise RuleError(msg) from None
    return CidrMatch(network)


def subject_cluster(identity: Identity) -> str:
    """The cluster an endpoint belongs to, for the ``cluster`` entity."""
    return identity.get(f"k8s.{CLUSTER}") or DEFAULT_CLUSTER

"""Lint: legal policies that are probably not what their author meant (warnings).

Runs after ``semantics`` on the same raw document (documents -> structure -> semantics -> lint
-> repository) and never raises on unexpected types: the earlier layers report those. Each
check has a stable id (CG3xx) and a one-line rationale in ``findings.RULES``.

Two checks look past one document: DNS allowed for a whole namespace satisfies the DNS checks
of every policy in it, and a namespace needs one default-deny policy somewhere in the tree.
``check`` gathers the ``Facts`` those need from each document, ``Namespaces`` sums them up
by namespace (small enough to come back from a worker process), and the runner decides once
every file has been read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reconciler.validate.documents import items, rules_of
from reconciler.validate.findings import Issue, Severity, rule

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from reconciler.validate.findings import Path

EGRESS_WITHOUT_DNS = rule(
    "CG301",
    "egress-without-dns",
    Severity.WARNING,
    "A pod whose egress is restricted cannot resolve names unless DNS (port 53) is allowed.",
    "Allow egress to kube-dns on port 53 (UDP and TCP), in this policy or a namespace-wide one.",
)
FQDN_WITHOUT_DNS_PROXY = rule(
    "CG302",
    "fqdn-without-dns-proxy",
    Severity.WARNING,
    "toFQDNs matches only names the DNS proxy saw resolved; without a DNS rule it sees none.",
    "Add a toPorts entry on port 53 with rules.dns (matchPattern: '*') for the DNS server.",
)
INGRESS_FROM_WORLD = rule(
    "CG303",
    "ingress-from-world",
    Severity.WARNING,
    "Ingress from world, all or 0.0.0.0/0 opens the pods to every address, outside included.",
    "Name the clients: endpoints, a namespace, or the narrowest CIDR that covers them.",
)
EMPTY_SELECTOR = rule(
    "CG304",
    "empty-selector-allows",
    Severity.WARNING,
    "An empty endpointSelector selects every pod in the namespace; an allow rule on it is broad.",
    "Select the pods the rule is for with matchLabels, or keep empty selectors to default-deny.",
)
PORT_WITHOUT_PROTOCOL = rule(
    "CG305",
    "port-without-protocol",
    Severity.WARNING,
    "A port without protocol means ANY: TCP, UDP and SCTP are all opened.",
    "Add protocol: TCP (or UDP, SCTP) to the port entry.",
)
HTTP_WITHOUT_MATCH = rule(
    "CG306",
    "http-rule-matches-all",
    Severity.WARNING,
    "An HTTP rule without method or path allows every request, so the L7 filter does nothing.",
    "Add method and path (regular expressions) to the HTTP rule.",
)
NO_DEFAULT_DENY = rule(
    "CG307",
    "namespace-without-default-deny",
    Severity.WARNING,
    "Pods that no policy selects accept all traffic; a default-deny policy closes that gap.",
    "Add a policy with endpointSelector: {} and ingress: [{}] (and egress: [{}]) to the namespace.",
)

_WORLD_ENTITIES = frozenset({"world", "all", "world-ipv4", "world-ipv6"})
_WORLD_CIDRS = frozenset({"0.0.0.0/0", "::/0"})
_DNS_PORTS = frozenset({"53", 53, "domain"})


@dataclass(frozen=True, slots=True)
class Facts:
    """What the tree-wide checks need from one policy."""

    namespace: str | None
    default_deny: bool  # selects every pod and grants nothing
    dns_port: bool  # allows DNS egress (port 53) for every pod of the namespace
    dns_proxy: bool  # sends every pod's DNS through the proxy (rules.dns)
    dns_issues: tuple[Issue, ...]  # CG301/CG302: void when the namespace covers them


def check(document: dict[str, Any]) -> tuple[list[Issue], Facts]:
    """The per-policy warnings, and the facts for the tree-wide checks."""
    issues: list[Issue] = []
    dns_issues: list[Issue] = []
    rules = list(rules_of(document))
    default_deny = bool(rules)
    dns_port = dns_proxy = False
    for base, spec in rules:
        issues.extend(_world_ingress(base, spec))
        issues.extend(_ports_and_http(base, spec))
        empty = spec.get("endpointSelector") == {}
        grants = _grants(spec)
        default_deny = default_deny and empty and not grants
        # Letting every pod reach DNS is the usual companion of a default deny, not a leak.
        if empty and grants and not _only_dns(spec):
            issues.append(
                Issue(
                    EMPTY_SELECTOR,
                    (*base, "endpointSelector"),
                    "empty endpointSelector "
                    "selects every pod in the namespace, and this rule allows traffic",
                )
            )
        dns_port = dns_port or (empty and _allows_dns(spec))
        dns_proxy = dns_proxy or (empty and _proxies_dns(spec))
        dns_issues.extend(_dns(base, spec))
    metadata = document.get("metadata")
    namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
    return issues, Facts(
        namespace if isinstance(namespace, str) and namespace else None,
        default_deny,
        dns_port,
        dns_proxy,
        tuple(dns_issues),
    )


def _grants(spec: dict[str, Any]) -> bool:
    # A rule item with nothing in it ({}) selects no peer: it only turns default deny on.
    return any(item for key in ("ingress", "egress") for _, item in items(spec.get(key)))


def _world_ingress(base: Path, spec: dict[str, Any]) -> Iterator[Issue]:
    for index, item in items(spec.get("ingress")):
        here = (*base, "ingress", index)
        for position, entity in enumerate(item.get("fromEntities") or []):
            if entity in _WORLD_ENTITIES:
                yield Issue(
                    INGRESS_FROM_WORLD,
                    (*here, "fromEntities", position),
                    f"ingress from entity {entity!r} admits any address",
                )
        for position, cidr in enumerate(item.get("fromCIDR") or []):
            if cidr in _WORLD_CIDRS:
                yield Issue(
                    INGRESS_FROM_WORLD,
                    (*here, "fromCIDR", position),
                    f"ingress from {cidr} admits any address",
                )
        for position, entry in items(item.get("fromCIDRSet")):
            if entry.get("cidr") in _WORLD_CIDRS:
                yield Issue(
                    INGRESS_FROM_WORLD,
                    (*here, "fromCIDRSet", position, "cidr"),
                    f"ingress from {entry['cidr']} admits any address",
                )


def _port_rules(spec: dict[str, Any]) -> Iterator[tuple[Path, dict[str, Any]]]:
    for direction in ("ingress", "egress", "ingressDeny", "egressDeny"):
        for index, item in items(spec.get(direction)):
            for position, port_rule in items(item.get("toPorts")):
                yield (direction, index, "toPorts", position), port_rule


def _ports_and_http(base: Path, spec: dict[str, Any]) -> Iterator[Issue]:
    for where, port_rule in _port_rules(spec):
        here = (*base, *where)
        for index, port in items(port_rule.get("ports")):
            if "protocol" not in port and "port" in port:
                yield Issue(
                    PORT_WITHOUT_PROTOCOL,
                    (*here, "ports", index),
                    f"port {port['port']} has no protocol, so it means ANY",
                )
        rules = port_rule.get("rules")
        http = rules.get("http") if isinstance(rules, dict) else None
        for index, entry in items(http):
            if not entry.get("method") and not entry.get("path"):
                yield Issue(
                    HTTP_WITHOUT_MATCH,
                    (*here, "rules", "http", index),
                    "HTTP rule has neither method nor path: it allows every request",
                )


def _egress_port_rules(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for _, item in items(spec.get("egress")):
        for _, port_rule in items(item.get("toPorts")):
            yield port_rule


def _allows_dns(spec: dict[str, Any]) -> bool:
    return any(
        port.get("port") in _DNS_PORTS and port.get("protocol", "ANY") in {"UDP", "ANY"}
        for port_rule in _egress_port_rules(spec)
        for _, port in items(port_rule.get("ports"))
    )


def _only_dns(spec: dict[str, Any]) -> bool:
    """Grants nothing but egress on DNS ports."""
    if any(item for _, item in items(spec.get("ingress"))):
        return False
    ports = [
        port
        for _, item in items(spec.get("egress"))
        for port_rule in _each(item.get("toPorts"))
        for port in _each(port_rule.get("ports"))
    ]
    egress = [item for _, item in items(spec.get("egress"))]
    return (
        bool(ports)
        and all(item.get("toPorts") for item in egress)
        and all(port.get("port") in _DNS_PORTS for port in ports)
    )


def _each(value: object) -> Iterator[dict[str, Any]]:
    return (item for _, item in items(value))


def _proxies_dns(spec: dict[str, Any]) -> bool:
    return any(
        isinstance(port_rule.get("rules"), dict) and "dns" in port_rule["rules"]
        for port_rule in _egress_port_rules(spec)
    )


def _dns(base: Path, spec: dict[str, Any]) -> Iterator[Issue]:
    egress = spec.get("egress")
    if isinstance(egress, list) and any(item for _, item in items(egress)):
        if not _allows_dns(spec):
            yield Issue(
                EGRESS_WITHOUT_DNS,
                (*base, "egress"),
                "egress is restricted and no rule allows DNS (port 53)",
            )
        if not _proxies_dns(spec):
            for index, item in items(egress):
                if item.get("toFQDNs"):
                    yield Issue(
                        FQDN_WITHOUT_DNS_PROXY,
                        (*base, "egress", index, "toFQDNs"),
                        "toFQDNs without a DNS rule: the proxy never sees the lookups",
                    )


@dataclass(slots=True)
class Namespaces:
    """What the facts of many policies say about their namespaces, gathered as files are read.

    Small and mergeable: each worker process sends back one, however many policies it read.
    """

    dns: set[str] = field(default_factory=set)  # a policy allows DNS for every pod in it
    proxied: set[str] = field(default_factory=set)  # a policy proxies every pod's DNS
    denied: set[str] = field(default_factory=set)  # a policy denies by default

    def add(self, facts: Facts) -> None:
        """One policy's facts."""
        namespace = facts.namespace
        if namespace is None:
            return
        if facts.dns_port:
            self.dns.add(namespace)
        if facts.dns_proxy:
            self.proxied.add(namespace)
        if facts.default_deny:
            self.denied.add(namespace)

    def update(self, other: Namespaces) -> None:
        """Another share of the files."""
        self.dns |= other.dns
        self.proxied |= other.proxied
        self.denied |= other.denied

    def void(self, rule_id: str, namespace: str | None) -> bool:
        """True when a namespace-wide policy makes this DNS warning (CG301, CG302) moot.

        That is the common layout: one policy allows (or proxies) DNS for every pod of a
        namespace, and the other policies there restrict egress without repeating it.
        """
        if namespace is None:
            return False
        if rule_id == EGRESS_WITHOUT_DNS:
            return namespace in self.dns
        return namespace in self.proxied

    def without_default_deny(self, namespaces: Iterable[str]) -> list[str]:
        """The given namespaces that no policy denies by default, sorted."""
        return sorted(set(namespaces) - self.denied)

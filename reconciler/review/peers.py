"""Names for what a rule points at: selectors, peers, ports and L7 conditions, as text.

The lowest layer of ``review`` (peers -> flows -> diff/explain -> formats): ``flows`` walks the
structure of a policy and asks this module how to name each thing it finds. Every name has two
forms. ``text`` is compact and canonical (sorted terms, resolved namespace): it is part of a
flow's identity, so two spellings of the same peer compare equal. ``phrase`` is for sentences
(``explain``) and may say "the same namespace" where ``text`` names it.

Input is the plain data of a policy as YAML loads it. Nothing here raises on a node of the wrong
type: ``validate`` reports those; a review shows what it can.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from reconciler.validate.documents import items

PeerKind = Literal["endpoints", "entity", "cidr", "fqdn", "service", "nodes", "group", "any"]

# The label Cilium gives every pod for its namespace. A selector that names it reaches another
# namespace (or every namespace); one that does not is limited to the policy's own namespace,
# unless it names one of the keys of _UNBOUND_PREFIXES.
NAMESPACE_KEYS = frozenset(
    {
        "io.kubernetes.pod.namespace",
        "k8s:io.kubernetes.pod.namespace",
        "any:io.kubernetes.pod.namespace",
    }
)

# Keys that stop Cilium from adding the policy's namespace to a peer selector (with or without
# a ``k8s:``/``any:`` source): a namespace's own labels select pods of every namespace that
# carries them, and reserved labels (``reserved:host``, or the older ``reserved.world``) select
# identities that belong to no namespace.
_UNBOUND_PREFIXES = ("io.cilium.k8s.namespace.labels.", "reserved:", "reserved.")

EVERY_NAMESPACE = "*"  # a flow's namespace when the subject is not bound to one (clusterwide)
UNSET_NAMESPACE = ""  # a CiliumNetworkPolicy without metadata.namespace: wherever it is applied

ENTITIES = {
    "all": "everything, inside and outside the cluster",
    "world": "any address outside the cluster",
    "world-ipv4": "any IPv4 address outside the cluster",
    "world-ipv6": "any IPv6 address outside the cluster",
    "cluster": "every endpoint in the cluster",
    "host": "the local node",
    "remote-node": "the other nodes of the cluster",
    "kube-apiserver": "the Kubernetes API server",
    "health": "Cilium's health endpoints",
    "init": "endpoints whose identity is not yet known",
    "ingress": "Cilium's ingress proxy",
    "unmanaged": "pods Cilium does not manage",
    "none": "nothing",
}
# The entities that are one identity with a reserved label of the same name (``reserved:host``);
# ``cluster`` and ``none`` are sets Cilium builds from other selectors, so no label names them.
# ``reserved:all`` is a label no identity carries, but a selector naming it matches every identity
# (Cilium's EndpointSelector.Matches), as entity ``all`` does.
RESERVED_ENTITIES = frozenset(ENTITIES) - {"cluster", "none"}


def listed(value: object) -> list[Any]:
    """A list node's entries; nothing for a node of another type.

    A scalar where a list belongs is ``validate``'s to report; iterating it would read characters.
    """
    return value if isinstance(value, list) else []


def pairs(mapping: Mapping[Any, Any], separator: str) -> str:
    """``k=v`` for each entry, sorted by key (as text: YAML keys need not all be strings)."""
    return separator.join(f"{k}={v}" for k, v in sorted(mapping.items(), key=lambda kv: str(kv[0])))


@dataclass(frozen=True, slots=True)
class Peer:
    """One peer of a rule: what kind, its canonical text, and how a sentence names it."""

    kind: PeerKind
    text: str
    phrase: str = field(compare=False)


ANY_PEER = Peer("any", "any", "any peer")


@dataclass(frozen=True, slots=True)
class Selection:
    """A label selector read as kubectl writes it (``app=web,tier in (a,b),!legacy``)."""

    namespace: str | None  # the one namespace the selector names, if it names exactly one
    scoped: bool  # the selector mentions the namespace label at all
    labels: str  # every other requirement, sorted; "" selects everything
    namespace_term: str  # the namespace requirement as written, "" when there is none

    @property
    def full(self) -> str:
        """Every requirement, the namespace one included."""
        return ",".join(t for t in (self.namespace_term, self.labels) if t)


def _term(expression: Mapping[str, Any]) -> str:
    key = str(expression.get("key", ""))
    operator = expression.get("operator")
    values = ",".join(str(v) for v in listed(expression.get("values")))
    if operator == "Exists":
        return key
    if operator == "DoesNotExist":
        return f"!{key}"
    word = {"In": "in", "NotIn": "notin"}.get(str(operator), str(operator))
    return f"{key} {word} ({values})"


def selection(selector: object) -> Selection:
    """Read a label selector; anything but a mapping reads as one that matches nothing known."""
    if not isinstance(selector, Mapping):
        return Selection(None, scoped=False, labels="(invalid selector)", namespace_term="")
    namespace: str | None = None
    namespace_term = ""
    scoped = False
    terms: list[str] = []
    labels = selector.get("matchLabels")
    for key, value in sorted(
        (labels if isinstance(labels, Mapping) else {}).items(), key=lambda kv: str(kv[0])
    ):
        text = f"{key}={'' if value is None else value}"
        if key in NAMESPACE_KEYS and namespace is None:
            namespace, namespace_term, scoped = str(value), text, True
        else:
            terms.append(text)
    expressions: list[str] = []
    for _, expression in items(selector.get("matchExpressions")):
        text = _term(expression)
        values = listed(expression.get("values"))
        if expression.get("key") in NAMESPACE_KEYS:
            scoped = True
            single = expression.get("operator") == "In" and len(values) == 1
            if single and namespace is None:
                namespace, namespace_term = str(values[0]), text
                continue
        expressions.append(text)
    return Selection(namespace, scoped, ",".join(terms + sorted(expressions)), namespace_term)


def _unbound(selector: object) -> bool:
    """Whether a selector names a key that keeps Cilium from binding it to a namespace."""
    if not isinstance(selector, Mapping):
        return False
    labels = selector.get("matchLabels")
    keys = [*(labels if isinstance(labels, Mapping) else {})]
    keys += [e.get("key") for _, e in items(selector.get("matchExpressions"))]
    return any(
        str(key).removeprefix("k8s:").removeprefix("any:").startswith(_UNBOUND_PREFIXES)
        for key in keys
    )


def namespace_text(namespace: str) -> str:
    """A flow's namespace as a heading or a peer prefix says it."""
    if namespace == EVERY_NAMESPACE:
        return "any namespace"
    if namespace == UNSET_NAMESPACE:
        return "same namespace"
    return namespace


def _in_namespace(namespace: str, *, implicit: bool) -> str:
    if implicit:
        return "the same namespace"
    if namespace == EVERY_NAMESPACE:
        return "any namespace"
    return f"namespace `{namespace}`"


def reserved(selector: object) -> tuple[str, str] | None:
    """``(entity, key)`` when a selector is one reserved label and nothing else, else None.

    ``{matchLabels: {"reserved:world": ""}}`` (or ``matchExpressions`` with ``Exists`` on that
    key) selects the identity Cilium labels ``reserved:world``: the peer ``fromEntities:
    [world]`` names. ``reserved.world`` is the older spelling (Cilium's own guestbook example
    still uses it): its label parser reads a key without ``:`` as reserved when it starts with
    the reserved prefix, which was ``reserved.`` for years; where a newer parser reads it as an
    ordinary label, calling it the entity errs on the side a reviewer wants. Another requirement
    beside it (a pod label, a namespace) leaves an ordinary selector.
    """
    key = _only_key(selector)
    if key is None:
        return None
    # As Cilium's parseSource: the source is what comes before the first ":", if any.
    if ":" in key:
        source, _, name = key.partition(":")
    else:
        source, name = "reserved", key.removeprefix("reserved.")
        if name == key:
            return None
    return (name, key) if source == "reserved" and name in RESERVED_ENTITIES else None


def _only_key(selector: object) -> str | None:
    """The key of a selector that only requires a key to be present with an empty value."""
    if not isinstance(selector, Mapping):
        return None
    labels = selector.get("matchLabels")
    labels = labels if isinstance(labels, Mapping) else {}
    expressions = listed(selector.get("matchExpressions"))
    if len(labels) + len(expressions) != 1:
        return None
    if labels:
        [(key, value)] = labels.items()
        return str(key) if value in ("", None) else None
    [expression] = expressions
    exists = isinstance(expression, Mapping) and expression.get("operator") == "Exists"
    return str(expression.get("key")) if exists else None


def endpoints(selector: object, policy_namespace: str) -> Peer:
    """A ``fromEndpoints``/``toEndpoints`` entry; unless it names a namespace, it stays at home.

    Naming a namespace is what Cilium checks: the namespace label, a namespace's own labels or
    a reserved label. A selector that is only a reserved label is the entity it labels
    (``reserved``), so ``reserved:world`` reads, and is flagged, as entity ``world``.

    In a clusterwide policy "home" is every namespace, so ``{}`` there is every pod in the
    cluster; in a namespaced one ``{}`` is every pod of the policy's namespace.
    """
    found = reserved(selector)
    if found is not None:
        name, key = found
        named = entity(name)
        return Peer("entity", named.text, f"{named.phrase}, selected by its label `{key}`")
    chosen = selection(selector)
    implicit = False
    if chosen.namespace is not None:
        namespace = chosen.namespace
    elif chosen.scoped or _unbound(selector):
        # NotIn, Exists, In with several, namespace or reserved labels: the labels say which.
        namespace = EVERY_NAMESPACE
    else:
        namespace, implicit = policy_namespace, policy_namespace != EVERY_NAMESPACE
    text = f"{namespace_text(namespace)}: {chosen.labels or 'all pods'}"
    if not chosen.labels:
        everywhere = namespace == EVERY_NAMESPACE
        where = "the cluster" if everywhere else _in_namespace(namespace, implicit=implicit)
        return Peer("endpoints", text, f"all pods in {where}")
    where = _in_namespace(namespace, implicit=implicit)
    return Peer("endpoints", text, f"pods in {where} with labels {chosen.labels}")


def entity(name: object) -> Peer:
    """A ``fromEntities``/``toEntities`` entry."""
    text = str(name)
    meaning = ENTITIES.get(text, "an entity this tool does not know")
    return Peer("entity", text, f"entity `{text}` ({meaning})")


def cidr(value: object) -> Peer:
    """A ``fromCIDR``/``toCIDR`` entry."""
    return Peer("cidr", str(value), f"addresses in {value}")


def cidr_set(entry: Mapping[str, Any]) -> Peer:
    """A ``fromCIDRSet``/``toCIDRSet`` entry: a prefix with exceptions, or CIDR groups."""
    if "cidr" in entry:
        text = str(entry["cidr"])
        excepted = [str(e) for e in listed(entry.get("except"))]
        if excepted:
            text += f" except {','.join(sorted(excepted))}"
        return Peer("cidr", text, f"addresses in {text}")
    if "cidrGroupRef" in entry:
        name = str(entry["cidrGroupRef"])
        return Peer("cidr", f"group {name}", f"the addresses of CiliumCIDRGroup `{name}`")
    labels = selection(entry.get("cidrGroupSelector")).full or "all"
    return Peer("cidr", f"groups {labels}", f"the addresses of CiliumCIDRGroups with {labels}")


def fqdn(entry: Mapping[str, Any]) -> Peer:
    """A ``toFQDNs`` entry."""
    if "matchName" in entry:
        name = str(entry["matchName"])
        return Peer("fqdn", name, f"DNS name `{name}`")
    pattern = str(entry.get("matchPattern", ""))
    return Peer("fqdn", pattern, f"DNS names matching `{pattern}`")


def service(entry: Mapping[str, Any], policy_namespace: str) -> Peer:
    """A ``toServices`` entry, by name or by labels; without a namespace, the policy's."""
    by_name = entry.get("k8sService")
    if isinstance(by_name, Mapping):
        namespace = str(by_name.get("namespace") or policy_namespace)
        text = f"{namespace_text(namespace)}/{by_name.get('serviceName', '')}"
        return Peer("service", text, f"service `{text}`")
    by_labels = entry.get("k8sServiceSelector")
    chosen = by_labels if isinstance(by_labels, Mapping) else {}
    namespace = str(chosen.get("namespace") or policy_namespace)
    labels = selection(chosen.get("selector")).full or "any labels"
    where = _in_namespace(namespace, implicit=namespace == UNSET_NAMESPACE)
    return Peer(
        "service", f"{namespace_text(namespace)}: {labels}", f"services with {labels} in {where}"
    )


def nodes(selector: object) -> Peer:
    """A ``fromNodes``/``toNodes`` entry."""
    labels = selection(selector).full
    if not labels:
        return Peer("nodes", "all nodes", "all nodes")
    return Peer("nodes", labels, f"nodes with labels {labels}")


def group(entry: Mapping[str, Any]) -> Peer:
    """A ``fromGroups``/``toGroups`` entry (AWS security groups)."""
    aws = entry.get("aws")
    found = aws if isinstance(aws, Mapping) else {}
    parts = []
    for key, word in (
        ("securityGroupsIds", "ids"),
        ("securityGroupsNames", "names"),
        ("region", "region"),
    ):
        value = found.get(key)
        if value:
            listed = value if isinstance(value, list) else [value]
            parts.append(f"{word} {','.join(sorted(str(v) for v in listed))}")
    labels = found.get("labels")
    if isinstance(labels, Mapping) and labels:
        parts.append(f"labels {pairs(labels, ',')}")
    text = "aws " + ("; ".join(parts) or "(any)")
    return Peer("group", text, f"AWS security groups ({text.removeprefix('aws ')})")


# -- ports and L7 ------------------------------------------------------------------------------


def port_range(entry: Mapping[str, Any]) -> tuple[str, str]:
    """``(protocol, port)`` of a ``ports`` entry: ANY when no protocol, ``*`` for every port."""
    protocol = str(entry.get("protocol") or "ANY")
    port = entry.get("port")
    if port is None or str(port) in {"", "0"}:
        return protocol, "*"
    end = entry.get("endPort")
    if isinstance(end, int) and str(port).isdigit() and end > int(str(port)):
        return protocol, f"{port}-{end}"
    return protocol, str(port)


def port_text(protocol: str, port: str) -> str:
    """``TCP/80``, ``TCP/any``, ``any port`` (ANY protocol, every port)."""
    if port == "*":
        return "any port" if protocol == "ANY" else f"{protocol}/any"
    return f"{protocol}/{port}"


def icmp(entry: Mapping[str, Any]) -> tuple[str, str]:
    """``(protocol, type)`` of an ``icmps[].fields`` entry; IPv4 unless the family says IPv6."""
    protocol = "ICMPv6" if entry.get("family") == "IPv6" else "ICMP"
    return protocol, str(entry.get("type", "*"))


# Prefixes of the condition strings. The first group filters requests (removing it is a risk);
# the second changes how traffic is carried or who may send it. AUTH is the condition an
# ``authentication.mode`` other than ``disabled`` adds to each flow of its rule ("auth required").
FILTERS = ("HTTP ", "DNS ", "Kafka ", "L7 ", "SNI ")
AUTH = "auth "
CARRIERS = (AUTH, "listener ", "TLS ")


def _http(rule: Mapping[str, Any]) -> str:
    text = f"HTTP {rule.get('method') or '*'} {rule.get('path') or '*'}"
    if rule.get("host"):
        text += f" host {rule['host']}"
    text += "".join(f" header '{h}'" for h in listed(rule.get("headers")))
    for _, match in items(rule.get("headerMatches")):
        text += f" header {match.get('name')}={match.get('value', '(secret)')}"
        if match.get("mismatch"):
            text += f" (else {match['mismatch']})"
    return text


def conditions(port_rule: Mapping[str, Any]) -> list[str]:
    """What a ``toPorts`` entry requires past L4: L7 rules, SNI, listener, TLS."""
    found: list[str] = []
    rules = port_rule.get("rules")
    rules = rules if isinstance(rules, Mapping) else {}
    found.extend(_http(rule) for _, rule in items(rules.get("http")))
    for _, rule in items(rules.get("dns")):
        found.append(f"DNS {rule.get('matchName') or rule.get('matchPattern') or '*'}")
    for _, rule in items(rules.get("kafka")):
        found.append(f"Kafka {pairs(rule, ' ') or '*'}")
    if "l7proto" in rules:
        proto = rules["l7proto"]
        entries = [pairs(entry, ",") for _, entry in items(rules.get("l7"))]
        found.extend(f"L7 {proto} {entry}".rstrip() for entry in entries or [""])
    found.extend(f"SNI {name}" for name in listed(port_rule.get("serverNames")))
    listener = port_rule.get("listener")
    if isinstance(listener, Mapping):
        config = listener.get("envoyConfig")
        owner = config.get("name") if isinstance(config, Mapping) else None
        found.append(f"listener {owner}/{listener.get('name')}")
    if port_rule.get("terminatingTLS"):
        found.append("TLS terminated by the proxy")
    if port_rule.get("originatingTLS"):
        found.append("TLS originated by the proxy")
    return found

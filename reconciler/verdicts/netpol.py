"""A Kubernetes NetworkPolicy translated into rules as Cilium translates it.

Beside ``rules`` in the flow (identity -> selectors -> ports/l7 -> rules/netpol -> engine):
``ParseNetworkPolicy`` and ``parseNetworkPolicyPeer`` of ``pkg/k8s/network_policy.go``, with
the field semantics of ``networking/v1/types.go`` in kubernetes/api:

* ``podSelector`` selects pods of the policy's namespace (Cilium adds
  ``k8s:io.kubernetes.pod.namespace``); every key gets the ``k8s`` source;
* each ``from``/``to`` peer becomes its own rule: a ``podSelector`` alone stays in the policy's
  namespace, a ``namespaceSelector`` is matched against the namespace's labels
  (``io.cilium.k8s.namespace.labels.<key>``; an empty one is "some namespace", so only pods),
  both together AND; an ``ipBlock`` is a ``CIDRSet`` with its ``except``;
* a rule without ``from``/``to`` admits every peer (Cilium's wildcard selector: pods, nodes and
  the world alike); without ``ports`` it covers every port;
* ``ports`` default to TCP; a missing ``port`` is every port; ``endPort`` makes a range;
* ``policyTypes``: with no ingress rules, the policy still puts its pods into ingress default
  deny unless ``policyTypes`` names only ``Egress``; with no egress rules, into egress default
  deny only when ``policyTypes`` names ``Egress``. Like Cilium's code, the rules present are
  read whatever ``policyTypes`` says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconciler.verdicts import selectors as sel
from reconciler.verdicts.identity import NAMESPACE, NAMESPACE_LABELS
from reconciler.verdicts.l7 import L7Error
from reconciler.verdicts.ports import PortError, port_match
from reconciler.verdicts.rules import (
    KNP,
    CidrMatch,
    Entry,
    Peers,
    PolicyRef,
    PortRule,
    Rule,
    RuleError,
    cidr_match,
    listed,
    mapping,
)

if TYPE_CHECKING:
    from reconciler.verdicts.rules import Direction

_K8S = "k8s:"


def read_network_policy(data: dict[str, Any], file: str = "") -> list[Rule]:
    """The one rule Cilium makes of a NetworkPolicy document."""
    metadata = mapping(data.get("metadata"))
    namespace = str(metadata.get("namespace") or "default")
    ref = PolicyRef(KNP, namespace, str(metadata.get("name") or ""), file)
    spec = mapping(data.get("spec"))
    try:
        pods = sel.compile_selector(spec.get("podSelector") or {}, _K8S)
        subject = sel.in_namespace(pods, namespace)
    except sel.SelectorError as exc:
        return [Rule(ref, "spec", None, unknown=f"spec.podSelector: {exc}")]
    try:
        ingress = _direction(spec, "ingress", namespace)
        egress = _direction(spec, "egress", namespace)
    except (sel.SelectorError, PortError, L7Error, RuleError) as exc:
        return [Rule(ref, "spec", subject, unknown=str(exc))]
    types = listed(spec.get("policyTypes"))
    if not ingress and ("Ingress" in types or "Egress" not in types):
        ingress = [Entry("spec (no ingress rules)", "ingress", deny=False, peers=Peers())]
    if not egress and "Egress" in types:
        egress = [Entry("spec (no egress rules)", "egress", deny=False, peers=Peers())]
    return [Rule(ref, "spec", subject, entries=(*ingress, *egress))]


def _direction(spec: dict[str, Any], direction: Direction, namespace: str) -> list[Entry]:
    peers_key = "from" if direction == "ingress" else "to"
    found: list[Entry] = []
    items = spec.get(direction)
    for index, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, dict):
            msg = f"spec.{direction}[{index}] must be a mapping"
            raise RuleError(msg)
        path = f"spec.{direction}[{index}]"
        ports = _ports(item.get("ports"), path)
        peers = item.get(peers_key)
        if not isinstance(peers, list) or not peers:
            # "If this field is empty or missing, this rule matches all sources": Cilium
            # uses its wildcard selector, which selects every identity.
            everyone = Peers(endpoints=(sel.WILDCARD,))
            found.append(Entry(path, direction, deny=False, peers=everyone, port_rules=ports))
            continue
        for number, peer in enumerate(peers):
            where = f"{path}.{peers_key}[{number}]"
            found.append(
                Entry(where, direction, deny=False, peers=_peer(peer, namespace), port_rules=ports)
            )
    return found


def _peer(peer: Any, namespace: str) -> Peers:  # noqa: ANN401 - raw YAML
    if not isinstance(peer, dict):
        msg = "a NetworkPolicy peer must be a mapping"
        raise RuleError(msg)
    endpoints: tuple[sel.Selector, ...] = ()
    pods, namespaces = peer.get("podSelector"), peer.get("namespaceSelector")
    if isinstance(namespaces, dict):
        selector = _namespace_selector(namespaces)
        if isinstance(pods, dict):
            extra = sel.compile_selector(pods, _K8S)
            selector = sel.Selector(selector.requirements + extra.requirements)
        endpoints = (selector,)
    elif isinstance(pods, dict):
        endpoints = (sel.in_namespace(sel.compile_selector(pods, _K8S), namespace),)
    cidrs: tuple[CidrMatch, ...] = ()
    block = peer.get("ipBlock")
    if isinstance(block, dict):
        outer = cidr_match(str(block.get("cidr")))
        excepts = listed(block.get("except"))
        cidrs = (CidrMatch(outer.network, tuple(cidr_match(str(e)).network for e in excepts)),)
    return Peers(endpoints=endpoints, cidrs=cidrs)


def _namespace_selector(raw: dict[str, Any]) -> sel.Selector:
    # Keys get Cilium's namespace-label prefix, then the k8s source.
    labels = mapping(raw.get("matchLabels"))
    prefixed = {
        "matchLabels": {NAMESPACE_LABELS + str(k): v for k, v in labels.items()},
        "matchExpressions": [
            {**e, "key": NAMESPACE_LABELS + str(e.get("key"))} if isinstance(e, dict) else e
            for e in listed(raw.get("matchExpressions"))
        ],
    }
    selector = sel.compile_selector(prefixed, _K8S)
    if not selector.requirements:
        # Cilium: an empty namespace selector selects all namespaces, i.e. a namespace label exists.
        return sel.Selector((sel.Requirement(f"k8s.{NAMESPACE}", "Exists"),))
    return selector


def _ports(raw: object, path: str) -> tuple[PortRule, ...]:
    if not isinstance(raw, list) or not raw:
        return ()
    return tuple(
        PortRule((port_match(item, default_protocol="TCP"),), None, f"{path}.ports[{i}]")
        for i, item in enumerate(raw)
    )

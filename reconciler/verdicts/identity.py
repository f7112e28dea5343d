"""Endpoints, and the security identity each side of a flow sees of the other.

First step of ``verdicts`` (identity -> selectors -> rules -> engine). Cilium never matches a
policy against a pod, only against the *labels of its security identity*; this module builds
those labels the way the agent does:

* a pod: its own labels with source ``k8s``, plus the ones Cilium adds
  (``pkg/k8s/apis/cilium.io/const.go``): ``io.kubernetes.pod.namespace``,
  ``io.cilium.k8s.policy.serviceaccount``, ``io.cilium.k8s.policy.cluster`` and one
  ``io.cilium.k8s.namespace.labels.<key>`` per label of its namespace (Kubernetes sets
  ``kubernetes.io/metadata.name`` on every namespace, so that one is always there);
* everything else: reserved labels (``pkg/labels/labels.go``): ``reserved:world`` (and
  ``reserved:world-ipv4``/``-ipv6`` by address family) for addresses outside the cluster,
  ``reserved:host`` for the node an endpoint runs on and ``reserved:remote-node`` for every
  other node (so the same node is ``host`` to its own pods and ``remote-node`` to the others),
  ``reserved:kube-apiserver``, ``reserved:health``, ``reserved:ingress``, ``reserved:init``
  and ``reserved:unmanaged``.

Selectors look labels up by *extended key*, ``source.key`` (``labels.GetExtendedKeyFrom``):
``k8s.app`` finds only a ``k8s`` label, ``any.app`` a label of any source.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Label = tuple[str, str, str]  # (source, key, value)
Kind = Literal["pod", "world", "host", "remote-node", "entity", "labels"]

NAMESPACE = "io.kubernetes.pod.namespace"
SERVICE_ACCOUNT = "io.cilium.k8s.policy.serviceaccount"
CLUSTER = "io.cilium.k8s.policy.cluster"
NAMESPACE_LABELS = "io.cilium.k8s.namespace.labels."
METADATA_NAME = "kubernetes.io/metadata.name"
DEFAULT_CLUSTER = "default"
# The entities a PolicyTest endpoint (or a Hubble flow) may be; "world" needs no IP.
ENTITIES = frozenset(
    {"world", "host", "remote-node", "kube-apiserver", "health", "ingress", "init", "unmanaged"}
)
# Endpoints whose own policy Cilium enforces: pods, and the agent's own endpoints. A host (or a
# remote node, which is some other node's host) is enforced only by host policies.
_MANAGED = frozenset({"health", "ingress", "init"})


@dataclass(frozen=True, slots=True)
class Identity:
    """The labels of a security identity, with the address and DNS names a flow gave it."""

    labels: frozenset[Label]
    ip: Address | None = None
    names: frozenset[str] = frozenset()  # lower-case, no trailing dot
    _lookup: dict[str, str] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        """Index the labels by extended key; ``any.key`` finds the first of any source."""
        lookup: dict[str, str] = {}
        for source, key, value in sorted(self.labels):
            lookup[f"{source}.{key}"] = value
            lookup.setdefault(f"any.{key}", value)
        object.__setattr__(self, "_lookup", lookup)

    def get(self, extended_key: str) -> str | None:
        """The value of the label with this extended key (``k8s.app``), or None."""
        return self._lookup.get(extended_key)

    def pairs(self) -> list[tuple[str, str]]:
        """Every (extended key, value) the identity answers to, ``any.`` keys included."""
        return list(self._lookup.items())

    def has_reserved(self, name: str) -> bool:
        """Whether the identity carries ``reserved:<name>``."""
        return ("reserved", name, "") in self.labels

    @property
    def is_world(self) -> bool:
        """Outside the cluster: the only identities CIDR and FQDN selectors can select."""
        return any(self.has_reserved(n) for n in ("world", "world-ipv4", "world-ipv6"))

    @property
    def namespace(self) -> str | None:
        """The pod's namespace, from its identity."""
        return self.get(f"k8s.{NAMESPACE}")

    def text(self) -> str:
        """The labels as Hubble prints them, sorted: ``k8s:app=api``, ``reserved:world``."""
        return ", ".join(f"{s}:{k}={v}" if v else f"{s}:{k}" for s, k, v in sorted(self.labels))


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One end of a flow: a pod, a node, an address outside the cluster, or another entity.

    ``labels`` are the identity's labels as the endpoint itself has them (for a node: its
    node labels); ``node`` is where it runs, when known; ``ports`` are its named container
    ports (name -> (number, protocol)), which rules on the destination's ports may name.
    """

    name: str
    kind: Kind
    labels: frozenset[Label] = frozenset()
    entity: str | None = None
    ip: Address | None = None
    names: frozenset[str] = frozenset()
    node: str | None = None
    ports: tuple[tuple[str, int, str], ...] = ()

    @property
    def namespace(self) -> str | None:
        """The namespace of a pod; None for everything else."""
        for source, key, value in self.labels:
            if source == "k8s" and key == NAMESPACE:
                return value
        return None

    @property
    def managed(self) -> bool:
        """Whether Cilium enforces this endpoint's own policy (a host only by host policies)."""
        if self.kind in ("pod", "host", "remote-node"):
            return True
        if self.kind == "labels":
            return self.namespace is not None or any(
                ("reserved", name, "") in self.labels for name in _MANAGED | {"host"}
            )
        return self.entity in _MANAGED

    @property
    def is_node(self) -> bool:
        """A node's host (the local one or a remote one): host policies are its policy."""
        return self.kind in ("host", "remote-node") or (
            self.kind == "labels" and ("reserved", "host", "") in self.labels
        )

    def named_port(self, name: str) -> tuple[int, str] | None:
        """The number and protocol of a named container port, or None."""
        for port_name, number, protocol in self.ports:
            if port_name == name:
                return number, protocol
        return None

    def own_identity(self) -> Identity:
        """The identity policies select this endpoint by (their ``endpointSelector``)."""
        if self.is_node:
            return Identity(frozenset({("reserved", "host", ""), *self.labels}))
        return self.seen_by(self)

    def seen_by(self, observer: Endpoint) -> Identity:
        """The identity ``observer`` sees this endpoint as (a node is host or remote-node)."""
        if self.kind == "labels":
            return Identity(self.labels, self.ip, self.names)
        if self.kind == "pod":
            return Identity(self.labels, self.ip, self.names)
        if self.is_node:
            local = self.node is None or observer.node is None or self.node == observer.node
            if self.kind == "remote-node" and self.node is None:
                local = False
            name = "host" if local else "remote-node"
            return Identity(frozenset({("reserved", name, ""), *self.labels}), self.ip)
        names = {self.entity or "world"}
        if self.kind == "world" or (self.entity == "kube-apiserver" and self.ip is not None):
            # An address outside the cluster; the kube-apiserver is one too when it has one.
            names |= {"world", _family_world(self.ip)} if self.ip is not None else {"world"}
        labels = frozenset(("reserved", n, "") for n in names if n)
        return Identity(labels, self.ip, self.names)


def _family_world(ip: Address) -> str:
    return "world-ipv4" if ip.version == 4 else "world-ipv6"  # noqa: PLR2004 - IP version


def pod(  # noqa: PLR0913 - every field a PolicyTest endpoint may give, keyword-only
    name: str,
    *,
    namespace: str,
    labels: Mapping[str, str],
    service_account: str = "default",
    namespace_labels: Mapping[str, str] | None = None,
    cluster: str = DEFAULT_CLUSTER,
    node: str | None = None,
    ports: Iterable[tuple[str, int, str]] = (),
    ip: Address | None = None,
) -> Endpoint:
    """A pod, with the labels Cilium derives for its identity."""
    found: set[Label] = {("k8s", key, value) for key, value in labels.items()}
    found |= {
        ("k8s", NAMESPACE, namespace),
        ("k8s", SERVICE_ACCOUNT, service_account),
        ("k8s", CLUSTER, cluster),
    }
    namespace_labels = {METADATA_NAME: namespace, **(namespace_labels or {})}
    found |= {("k8s", NAMESPACE_LABELS + k, v) for k, v in namespace_labels.items()}
    return Endpoint(name, "pod", frozenset(found), ip=ip, node=node, ports=tuple(ports))


def address(name: str, ip: Address, names: Iterable[str] = ()) -> Endpoint:
    """An address outside the cluster: the world, with the DNS names it was resolved from."""
    return Endpoint(name, "world", ip=ip, names=frozenset(normal_name(n) for n in names))


def entity(  # noqa: PLR0913 - the fields an entity endpoint may give, keyword-only
    name: str,
    which: str,
    *,
    node: str | None = None,
    node_labels: Mapping[str, str] | None = None,
    ip: Address | None = None,
    names: Iterable[str] = (),
) -> Endpoint:
    """An entity endpoint: ``host`` and ``remote-node`` carry their node's labels."""
    if which in ("host", "remote-node"):
        labels = frozenset(("k8s", k, v) for k, v in (node_labels or {}).items())
        node_kind: Kind = "host" if which == "host" else "remote-node"
        return Endpoint(name, node_kind, labels, entity=which, node=node, ip=ip)
    kind: Kind = "world" if which == "world" else "entity"
    normal = frozenset(normal_name(n) for n in names)
    return Endpoint(name, kind, entity=which, ip=ip, names=normal, node=node)


def from_labels(
    name: str,
    labels: Iterable[str],
    *,
    ip: Address | None = None,
    names: Iterable[str] = (),
    node: str | None = None,
) -> Endpoint:
    """An endpoint known only by its identity's labels (``k8s:app=api``), as Hubble reports."""
    return Endpoint(
        name,
        "labels",
        frozenset(parse_label(text) for text in labels),
        ip=ip,
        names=frozenset(normal_name(n) for n in names),
        node=node,
    )


def parse_label(text: str) -> Label:
    """``k8s:app=api`` -> (``k8s``, ``app``, ``api``); no source means ``unspec``."""
    source, separator, rest = text.partition(":")
    if not separator:
        source, rest = "unspec", text
    key, _, value = rest.partition("=")
    return source, key, value


def normal_name(name: str) -> str:
    """A DNS name as Cilium compares them: lower case, without the root's trailing dot."""
    return name.strip().lower().rstrip(".")

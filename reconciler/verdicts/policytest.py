"""PolicyTest files: endpoints, flows and the verdict each flow should get; and their run.

Beside ``engine`` (what ``cilium-gitops test`` runs): a ``PolicyTest`` document names
endpoints by keys of its own choosing, then asks about flows between them::

    apiVersion: cilium-gitops/v1alpha1
    kind: PolicyTest
    metadata: {name: storefront}
    spec:
      cluster: default          # io.cilium.k8s.policy.cluster of every pod (each may override)
      endpoints:
        frontend: {namespace: shop, labels: {app: frontend}, serviceAccount: web,
                   ports: {http: 8080}, node: node-a}
        api:      {namespace: shop, labels: {app: api}, namespaceLabels: {team: shop}}
        one:      {ip: 1.1.1.1, names: [one.one.one.one]}
        apiserver: {entity: kube-apiserver}
        node:     {entity: host, node: node-a}
      nodes: {node-a: {kubernetes.io/hostname: node-a}}
      flows:
        - {from: frontend, to: api, port: 8080, expect: allow}
        - {from: frontend, to: api, port: 8080, http: {method: POST, path: /}, expect: deny}
        - {from: frontend, to: api, protocol: ICMP, icmp: {type: 8}, expect: deny}
        - {from: frontend, to: one, port: 53, protocol: UDP, dns: {query: one.one.one.one},
           expect: allow}

A pod's identity gets the labels Cilium derives (``identity.pod``); ``port`` may name one of the
destination's ``ports``. Reading is pure: the command hands over parsed documents. Every
mistake (an unknown endpoint, a bad port, a key the format does not have) is a
``PolicyTestError`` naming the file, the test and the flow.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reconciler.errors import InvalidInputError
from reconciler.verdicts import identity as ident
from reconciler.verdicts.l7 import HttpRequest
from reconciler.verdicts.ports import (
    ICMP_PROTOCOLS,
    MAX_PORT,
    PROTOCOLS,
    PortError,
    Probe,
    icmp_type,
)
from reconciler.verdicts.verdict import Flow

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from reconciler.verdicts.engine import Engine
    from reconciler.verdicts.identity import Endpoint
    from reconciler.verdicts.verdict import Decision, Verdict

API_VERSION = "cilium-gitops/v1alpha1"
KIND = "PolicyTest"
EXPECTATIONS = ("allow", "deny")
_ENDPOINT_KEYS = frozenset(
    {"namespace", "labels", "serviceAccount", "namespaceLabels", "cluster", "node", "ports"}
    | {"ip", "names", "entity"}
)
_SPEC_KEYS = frozenset({"cluster", "endpoints", "nodes", "flows"})
_FLOW_KEYS = frozenset(
    {"from", "to", "port", "protocol", "http", "dns", "icmp", "expect", "description"}
)


class PolicyTestError(InvalidInputError):
    """A PolicyTest file is not one: the message names the file, the test and the field."""


@dataclass(frozen=True, slots=True)
class Case:
    """One flow of a test and the verdict it should get."""

    index: int
    flow: Flow
    expect: Decision
    description: str = ""
    port_name: str | None = None  # the named port the flow gave, for reports


@dataclass(frozen=True, slots=True)
class PolicyTest:
    """One PolicyTest document."""

    name: str
    file: str
    cases: tuple[Case, ...]


@dataclass(frozen=True, slots=True)
class Outcome:
    """A case and the verdict the engine gave it."""

    test: PolicyTest
    case: Case
    verdict: Verdict

    @property
    def passed(self) -> bool:
        """The verdict is the expected one (a flow the model cannot decide never passes)."""
        return self.verdict.decision == self.case.expect


def is_test(document: Mapping[str, Any]) -> bool:
    """A PolicyTest document (of any apiVersion: a wrong one is reported, not skipped)."""
    return document.get("kind") == KIND


def read_test(document: Mapping[str, Any], file: str) -> PolicyTest:
    """One PolicyTest document checked and read; raises ``PolicyTestError``."""
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    where = f"{file}: PolicyTest {name or '(no metadata.name)'}"
    if document.get("apiVersion") != API_VERSION:
        msg = f"{where}: apiVersion must be {API_VERSION}, not {document.get('apiVersion')!r}"
        raise PolicyTestError(msg)
    if not isinstance(name, str) or not name:
        raise PolicyTestError(f"{where}: metadata.name is required")
    spec = _mapping(document.get("spec"), f"{where}: spec")
    unknown = sorted(set(spec) - _SPEC_KEYS)
    if unknown:
        msg = f"{where}: unknown field spec.{unknown[0]} (known: {', '.join(sorted(_SPEC_KEYS))})"
        raise PolicyTestError(msg)
    # The cluster every pod is in (io.cilium.k8s.policy.cluster), unless one says otherwise.
    cluster = str(spec.get("cluster") or ident.DEFAULT_CLUSTER)
    nodes = {
        str(k): {str(a): str(b) for a, b in _mapping(v, f"{where}: nodes.{k}").items()}
        for k, v in _mapping(spec.get("nodes") or {}, f"{where}: nodes").items()
    }
    raw_endpoints = _mapping(spec.get("endpoints"), f"{where}: spec.endpoints")
    endpoints = {
        str(key): _endpoint(str(key), value, nodes, f"{where}: endpoints.{key}", cluster)
        for key, value in raw_endpoints.items()
    }
    flows = spec.get("flows")
    if not isinstance(flows, list) or not flows:
        raise PolicyTestError(f"{where}: spec.flows must list at least one flow")
    cases = tuple(
        _case(index, item, endpoints, f"{where}: flows[{index}]")
        for index, item in enumerate(flows)
    )
    return PolicyTest(name, file, cases)


def run(tests: Iterable[PolicyTest], engine: Engine) -> list[Outcome]:
    """Every case of every test, evaluated."""
    return [Outcome(t, c, engine.evaluate(c.flow)) for t in tests for c in t.cases]


def _mapping(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        msg = f"{where} must be a mapping"
        raise PolicyTestError(msg)
    return value


def _strings(value: object, where: str) -> dict[str, str]:
    mapping = _mapping(value or {}, where)
    return {str(k): "" if v is None else str(v) for k, v in mapping.items()}


def _endpoint(
    key: str, raw: object, nodes: Mapping[str, dict[str, str]], where: str, cluster: str
) -> Endpoint:
    spec = _mapping(raw, where)
    unknown = sorted(set(spec) - _ENDPOINT_KEYS)
    if unknown:
        msg = f"{where}: unknown field {unknown[0]!r} (known: {', '.join(sorted(_ENDPOINT_KEYS))})"
        raise PolicyTestError(msg)
    node = spec.get("node")
    if node is not None and str(node) not in nodes:
        raise PolicyTestError(f"{where}: node {node!r} is not in spec.nodes")
    ip = _ip(spec.get("ip"), where) if spec.get("ip") is not None else None
    names = [str(n) for n in spec.get("names") or []]
    if "entity" in spec:
        which = str(spec["entity"])
        if which not in ident.ENTITIES:
            msg = f"{where}: unknown entity {which!r} (known: {', '.join(sorted(ident.ENTITIES))})"
            raise PolicyTestError(msg)
        labels = nodes.get(str(node), {}) if node is not None else {}
        return ident.entity(
            key, which, node=node and str(node), node_labels=labels, ip=ip, names=names
        )
    if "namespace" not in spec:
        if ip is None:
            raise PolicyTestError(f"{where}: give a namespace (a pod), an ip or an entity")
        return ident.address(key, ip, names)
    return ident.pod(
        key,
        namespace=str(spec["namespace"]),
        labels=_strings(spec.get("labels"), f"{where}.labels"),
        service_account=str(spec.get("serviceAccount") or "default"),
        namespace_labels=_strings(spec.get("namespaceLabels"), f"{where}.namespaceLabels"),
        cluster=str(spec.get("cluster") or cluster),
        node=None if node is None else str(node),
        ports=_ports(spec.get("ports"), where),
        ip=ip,
    )


def _ip(value: object, where: str) -> ident.Address:
    try:
        return ipaddress.ip_address(str(value))
    except ValueError:
        raise PolicyTestError(f"{where}: {value!r} is not an IP address") from None


def _ports(raw: object, where: str) -> list[tuple[str, int, str]]:
    found: list[tuple[str, int, str]] = []
    for name, value in _mapping(raw or {}, f"{where}.ports").items():
        number, _, protocol = str(value).partition("/")
        protocol = (protocol or "TCP").upper()
        if not number.isdigit() or not 1 <= int(number) <= MAX_PORT or protocol not in PROTOCOLS:
            msg = f"{where}.ports.{name}: {value!r} is not a port (8080, or 53/UDP)"
            raise PolicyTestError(msg)
        found.append((str(name).lower(), int(number), protocol))
    return found


def _case(index: int, raw: object, endpoints: Mapping[str, Endpoint], where: str) -> Case:
    spec = _mapping(raw, where)
    unknown = sorted(set(spec) - _FLOW_KEYS)
    if unknown:
        msg = f"{where}: unknown field {unknown[0]!r} (known: {', '.join(sorted(_FLOW_KEYS))})"
        raise PolicyTestError(msg)
    source = _named(spec.get("from"), endpoints, f"{where}.from")
    destination = _named(spec.get("to"), endpoints, f"{where}.to")
    expect = spec.get("expect")
    if expect not in EXPECTATIONS:
        raise PolicyTestError(f"{where}: expect must be allow or deny, not {expect!r}")
    probe, port_name = _probe(spec, destination, where)
    http = _http(spec["http"], where) if spec.get("http") is not None else None
    dns = None
    if spec.get("dns") is not None:
        query = _mapping(spec["dns"], f"{where}.dns").get("query")
        if not isinstance(query, str) or not query:
            raise PolicyTestError(f"{where}.dns: query is required")
        dns = query
    if http is not None and dns is not None:
        raise PolicyTestError(f"{where}: a flow asks about an HTTP request or a DNS query")
    flow = Flow(source, destination, probe, http, dns)
    return Case(index, flow, expect, str(spec.get("description") or ""), port_name)


def _named(value: object, endpoints: Mapping[str, Endpoint], where: str) -> Endpoint:
    if not isinstance(value, str) or value not in endpoints:
        known = ", ".join(sorted(endpoints))
        raise PolicyTestError(f"{where}: unknown endpoint {value!r} (known: {known})")
    return endpoints[value]


def _probe(spec: dict[str, Any], destination: Endpoint, where: str) -> tuple[Probe, str | None]:
    protocol = str(spec.get("protocol") or "TCP").upper()
    if protocol not in PROTOCOLS:
        raise PolicyTestError(f"{where}: unknown protocol {spec.get('protocol')!r}")
    if protocol in ICMP_PROTOCOLS:
        icmp = _mapping(spec.get("icmp"), f"{where}.icmp")
        family = "IPv6" if protocol == "ICMPV6" else "IPv4"
        try:
            return Probe(protocol, icmp_type(icmp.get("type"), family)), None
        except PortError as exc:
            raise PolicyTestError(f"{where}.icmp: {exc}") from None
    if protocol not in ("TCP", "UDP", "SCTP"):
        return Probe(protocol), None
    port = spec.get("port")
    if isinstance(port, int) and not isinstance(port, bool) and 1 <= port <= MAX_PORT:
        return Probe(protocol, port), None
    if isinstance(port, str) and port.isdigit() and 1 <= int(port) <= MAX_PORT:
        return Probe(protocol, int(port)), None
    if isinstance(port, str) and port:
        found = destination.named_port(port.lower())
        if found is None:
            msg = f"{where}: {destination.name} has no port named {port!r}"
            raise PolicyTestError(msg)
        number, named_protocol = found
        if "protocol" in spec and named_protocol != protocol:
            msg = (
                f"{where}: port {port!r} of {destination.name} is {named_protocol}, not {protocol}"
            )
            raise PolicyTestError(msg)
        return Probe(named_protocol, number), port
    raise PolicyTestError(f"{where}: port {port!r} is not a port number (1-65535) or a port name")


def _http(raw: object, where: str) -> HttpRequest:
    spec = _mapping(raw, f"{where}.http")
    headers = _strings(spec.get("headers"), f"{where}.http.headers")
    return HttpRequest(
        method=str(spec.get("method") or "GET"),
        path=str(spec.get("path") or "/"),
        host=None if spec.get("host") is None else str(spec["host"]),
        headers=tuple((k.lower(), v) for k, v in headers.items()),
    )

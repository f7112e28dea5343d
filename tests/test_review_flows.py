"""Flows read from policies: every Cilium example, exact flows of well-known ones, edge cases."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from conftest import EXAMPLES
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.review import compare, explain, render
from reconciler.review.flows import flows_of, policy_rules
from reconciler.review.output import FORMATS

if TYPE_CHECKING:
    from pathlib import Path

    from reconciler.review.flows import Flow

KINDS = {"CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy"}
FILES = sorted(EXAMPLES.rglob("*.yaml"))


def example_policies(path: Path) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    return [d for d in docs if d.get("kind") in KINDS]


def example(relative: str) -> dict[str, Any]:
    path = EXAMPLES / relative
    [policy] = example_policies(path)
    return policy


def rows(flows: list[Flow]) -> list[tuple[object, ...]]:
    return [(*f.key, f.l7, f.rule) for f in flows]


def policy(spec: dict[str, Any], *, kind: str = "CiliumNetworkPolicy") -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "p"}
    if kind == "CiliumNetworkPolicy":
        metadata["namespace"] = "shop"
    return {"apiVersion": "cilium.io/v2", "kind": kind, "metadata": metadata, "spec": spec}


def test_every_example_reads_into_flows() -> None:
    """All 104 example policies read without raising; only pure default-deny ones grant nothing."""
    policies = [p for path in FILES for p in example_policies(path)]
    assert len(policies) == 104
    assert all(policy_rules(p) for p in policies)
    without_flows = sorted(p["metadata"]["name"] for p in policies if not flows_of(p))
    # Two are `ingress: [{}]`/`egress: [{}]` default denies, one grants only fromRequires.
    assert without_flows == ["deny-all-egress", "empire-default-deny", "requires-rule"]


def test_l7_http_example_any_peer_with_two_http_rules() -> None:
    """policies/l7/http/http.yaml: ports without peers admit any peer, both HTTP rules kept."""
    assert rows(flows_of(example("policies/l7/http/http.yaml"))) == [
        (
            "",
            "app=myService",
            "ingress",
            "allow",
            "any",
            "any",
            "TCP",
            "80",
            ("HTTP GET /path1$", "HTTP PUT /path2$ header 'X-My-Header: true'"),
            "spec.ingress[0]",
        )
    ]


def test_simple_l7_example_same_namespace_peer() -> None:
    """policies/l7/http/simple/l7.yaml: a peer without namespace label stays in the namespace."""
    assert rows(flows_of(example("policies/l7/http/simple/l7.yaml"))) == [
        (
            "",
            "app=service",
            "ingress",
            "allow",
            "endpoints",
            "same namespace: env=prod",
            "TCP",
            "80",
            ("HTTP GET /public",),
            "spec.ingress[0]",
        )
    ]


def test_dns_example_dns_rules_and_fqdns() -> None:
    """policies/l7/dns/dns.yaml: DNS patterns on port 53 to kube-dns, four FQDN peers on TCP/80."""
    flows = rows(flows_of(example("policies/l7/dns/dns.yaml")))
    dns_flow = (
        "",
        "any:org=alliance",
        "egress",
        "allow",
        "endpoints",
        "kube-system: k8s:k8s-app=kube-dns",
        "ANY",
        "53",
        ("DNS *.api.cilium.io", "DNS *.cilium.io", "DNS cilium.io"),
        "spec.egress[0]",
    )
    assert flows[0] == dns_flow
    assert [(f[4], f[5], f[6], f[7]) for f in flows[1:]] == [
        ("fqdn", name, "TCP", "80")
        for name in (
            "cilium.io",
            "service1.api.cilium.io",
            "special*service.api.cilium.io",
            "sub.cilium.io",
        )
    ]


def test_cidr_example_with_except() -> None:
    """policies/l3/cidr/cidr.yaml: toCIDR and toCIDRSet (with except) on any port."""
    assert [
        (f[4], f[5], f[6], f[7], f[9])
        for f in rows(flows_of(example("policies/l3/cidr/cidr.yaml")))
    ] == [
        ("cidr", "10.0.0.0/8 except 10.96.0.0/12", "ANY", "*", "spec.egress[1]"),
        ("cidr", "20.1.1.1/32", "ANY", "*", "spec.egress[0]"),
    ]


def test_world_deny_example_allow_and_deny() -> None:
    """policies/l3/entities/from_world_deny.yaml: a CCNP over all pods, allow all, deny world."""
    assert rows(flows_of(example("policies/l3/entities/from_world_deny.yaml"))) == [
        ("*", "all pods", "ingress", "allow", "entity", "all", "ANY", "*", (), "spec.ingress[0]"),
        (
            "*",
            "all pods",
            "ingress",
            "deny",
            "entity",
            "world",
            "ANY",
            "*",
            (),
            "spec.ingressDeny[0]",
        ),
    ]


def test_clusterwide_example_pins_namespace_and_wildcard_peer() -> None:
    """A CCNP selecting by namespace label is grouped under it; its ``{}`` peer is every pod."""
    flows = flows_of(example("policies/kubernetes/clusterwide/wildcard-from-endpoints.yaml"))
    assert [(f.namespace, f.subject, f.peer, f.protocol, f.port) for f in flows] == [
        ("kube-system", "k8s-app=kube-dns", "any namespace: all pods", "UDP", "53")
    ]


def test_cross_namespace_example() -> None:
    """A peer with the namespace label names the other namespace."""
    flows = flows_of(example("policies/kubernetes/namespace/namespace-policy.yaml"))
    assert [(f.namespace, f.subject, f.peer) for f in flows] == [
        ("ns1", "name=leia", "ns2: name=luke")
    ]


def test_service_icmp_and_range_examples() -> None:
    """toServices by name and labels, ICMP types per family, a port range."""
    services = flows_of(example("policies/l3/service/service.yaml"))
    assert [(f.peer_kind, f.peer) for f in services] == [
        ("service", "another-namespace: env=staging"),
        ("service", "default/myservice"),
    ]
    icmps = flows_of(example("policies/l4/icmp.yaml"))
    assert [(f.protocol, f.port) for f in icmps] == [("ICMP", "8"), ("ICMPv6", "EchoRequest")]
    ranged = flows_of(example("policies/l4/l4_port_range.yaml"))
    assert [(f.protocol, f.port) for f in ranged] == [("TCP", "80-444")]


def test_host_policy_selects_nodes() -> None:
    """A nodeSelector rule is about nodes; items without peers admit any peer."""
    flows = flows_of(example("policies/host/demo-host-policy.yaml"))
    assert {f.subject for f in flows} == {"nodes: node-access=ssh"}
    assert [(f.peer_kind, f.protocol, f.port) for f in flows] == [
        ("any", "ICMP", "EchoRequest"),
        ("any", "TCP", "22"),
        ("entity", "ANY", "*"),
    ]


def test_requires_is_not_a_flow() -> None:
    """fromRequires admits nobody by itself: no flow, but the rule records it."""
    doc = example("policies/l3/requires/requires.yaml")
    assert flows_of(doc) == []
    [rule] = policy_rules(doc)
    assert [(r.rule, r.direction, r.labels) for r in rule.requires] == [
        ("specs[0].ingress[0]", "ingress", "env=prod")
    ]


def test_empty_peer_list_admits_nobody_but_absent_admits_anyone() -> None:
    """Cilium: an empty fromEndpoints selects nothing; no peer field with toPorts is a wildcard."""
    ports = [{"ports": [{"port": "80", "protocol": "TCP"}]}]
    empty = policy({"endpointSelector": {}, "ingress": [{"fromEndpoints": [], "toPorts": ports}]})
    absent = policy({"endpointSelector": {}, "ingress": [{"toPorts": ports}]})
    assert flows_of(empty) == []
    assert [(f.peer_kind, f.port) for f in flows_of(absent)] == [("any", "80")]


def test_every_peer_kind() -> None:
    """Nodes, groups, CIDR groups, services without namespace, entities, FQDN patterns."""
    doc = policy(
        {
            "endpointSelector": {"matchLabels": {"app": "web"}},
            "egress": [
                {
                    "toNodes": [{"matchLabels": {"role": "db"}}],
                    "toGroups": [{"aws": {"securityGroupsIds": ["sg-2", "sg-1"]}}],
                    "toCIDRSet": [{"cidrGroupRef": "office"}],
                    "toServices": [{"k8sService": {"serviceName": "db"}}],
                    "toEntities": ["kube-apiserver"],
                    "toFQDNs": [{"matchPattern": "*.example.com"}],
                }
            ],
        }
    )
    assert [(f.peer_kind, f.peer) for f in flows_of(doc)] == [
        ("cidr", "group office"),
        ("entity", "kube-apiserver"),
        ("fqdn", "*.example.com"),
        ("group", "aws ids sg-1,sg-2"),
        ("nodes", "role=db"),
        ("service", "shop/db"),
    ]


def test_deny_ports_and_protocol_defaults() -> None:
    """Deny rules give deny flows; a port without protocol is ANY; port 0 is every port."""
    doc = policy(
        {
            "endpointSelector": {"matchLabels": {"app": "web"}},
            "egressDeny": [
                {
                    "toEntities": ["world"],
                    "toPorts": [{"ports": [{"port": "25"}, {"port": "0", "protocol": "UDP"}]}],
                }
            ],
        }
    )
    assert [(f.verdict, f.protocol, f.port, f.rule) for f in flows_of(doc)] == [
        ("deny", "ANY", "25", "spec.egressDeny[0]"),
        ("deny", "UDP", "*", "spec.egressDeny[0]"),
    ]


def test_l7_kinds_and_carriers() -> None:
    """Kafka, generic L7, SNI, listener, TLS and mutual auth all show as conditions."""
    doc = policy(
        {
            "endpointSelector": {},
            "ingress": [
                {
                    "authentication": {"mode": "required"},
                    "toPorts": [
                        {
                            "ports": [{"port": "9092", "protocol": "TCP"}],
                            "rules": {"kafka": [{"topic": "orders", "role": "produce"}]},
                        },
                        {
                            "ports": [{"port": "7000", "protocol": "TCP"}],
                            "rules": {"l7proto": "envoy.x", "l7": [{"b": "2", "a": "1"}]},
                        },
                        {
                            "ports": [{"port": "443", "protocol": "TCP"}],
                            "serverNames": ["a.example.com"],
                            "terminatingTLS": {"secret": {"name": "tls"}},
                            "listener": {"envoyConfig": {"name": "cec"}, "name": "l"},
                        },
                    ],
                }
            ],
        }
    )
    assert {f.port: f.l7 for f in flows_of(doc)} == {
        "443": (
            "SNI a.example.com",
            "TLS terminated by the proxy",
            "auth required",
            "listener cec/l",
        ),
        "7000": ("L7 envoy.x a=1,b=2", "auth required"),
        "9092": ("Kafka role=produce topic=orders", "auth required"),
    }


def test_default_deny_follows_enable_default_deny() -> None:
    """Sections turn default deny on unless enableDefaultDeny says false; true turns it on alone."""
    [rule] = policy_rules(
        policy(
            {
                "endpointSelector": {},
                "ingress": [{}],
                "egress": [{}],
                "enableDefaultDeny": {"egress": False},
            }
        )
    )
    assert (rule.default_deny, rule.default_deny_off) == (("ingress",), ("egress",))
    [rule] = policy_rules(
        policy(
            {
                "endpointSelector": {},
                "egressDeny": [{"toEntities": ["world"]}],
                "enableDefaultDeny": {"ingress": True},
            }
        )
    )
    assert rule.default_deny == ("ingress", "egress")
    assert rule.subject.every_pod


def test_malformed_nodes_do_not_raise() -> None:
    """Wrong types (validate's to report) never crash the reader."""
    doc = policy(
        {
            "endpointSelector": "app=web",
            "ingress": [
                {"fromEndpoints": "app=lb", "fromEntities": "world", "toPorts": {"ports": 80}},
                7,
            ],
            "egress": {"toEntities": ["world"]},
        }
    )
    assert [(f.subject, f.peer_kind) for f in flows_of(doc)] == []
    assert flows_of({"kind": "CiliumNetworkPolicy", "specs": "nope"}) == []


POLICY_KEYS = [
    *("endpointSelector", "nodeSelector", "matchLabels", "matchExpressions", "key", "operator"),
    *("values", "ingress", "egress", "ingressDeny", "egressDeny", "fromEndpoints", "toEndpoints"),
    *("fromEntities", "toEntities", "fromCIDR", "fromCIDRSet", "cidr", "except", "cidrGroupRef"),
    *("toFQDNs", "matchName", "matchPattern", "toServices", "k8sService", "k8sServiceSelector"),
    *("selector", "namespace", "serviceName", "fromNodes", "toGroups", "aws", "fromRequires"),
    *("toPorts", "ports", "port", "endPort", "protocol", "rules", "http", "dns", "kafka"),
    *("l7proto", "l7", "headers", "headerMatches", "serverNames", "listener", "envoyConfig"),
    *("name", "icmps", "fields", "type", "family", "authentication", "mode", "enableDefaultDeny"),
]
json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from(["", "80", "In", "world", "x"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(POLICY_KEYS), inner, max_size=4)
    ),
    max_leaves=25,
)


rule_like = st.dictionaries(st.sampled_from(POLICY_KEYS), json_like, max_size=6)


@settings(max_examples=300, deadline=None)
@given(rule_like, json_like | st.lists(rule_like, max_size=2), st.sampled_from(sorted(KINDS)))
def test_any_shape_reads_without_raising(spec: object, specs: object, kind: str) -> None:
    """Whatever the YAML holds under spec and specs, flows_of, explain and every format complete."""
    doc = policy({}, kind=kind) | {"spec": spec, "specs": specs}
    flows_of(doc)
    explain(doc)
    content = json.dumps(doc).encode()
    for review in (compare({}, {"p.json": content}), compare({"p.json": content}, {})):
        for fmt in FORMATS:
            render(review, fmt)


@pytest.mark.parametrize(
    ("selector", "peer"),
    [
        ({"matchLabels": {"reserved:world": ""}}, ("entity", "world")),
        ({"matchLabels": {"reserved.world": None}}, ("entity", "world")),
        ({"matchLabels": {"reserved:remote-node": ""}}, ("entity", "remote-node")),
        (
            {"matchExpressions": [{"key": "reserved:health", "operator": "Exists"}]},
            ("entity", "health"),
        ),
        ({"matchLabels": {"reserved:all": ""}}, ("entity", "all")),
        # Not one reserved identity: a value no reserved label has, another source, a name that
        # is no identity's label, an operator that selects other identities.
        (
            {"matchLabels": {"reserved:world": "yes"}},
            ("endpoints", "any namespace: reserved:world=yes"),
        ),
        (
            {"matchLabels": {"any:reserved.world": ""}},
            ("endpoints", "any namespace: any:reserved.world="),
        ),
        (
            {"matchLabels": {"reserved:cluster": ""}},
            ("endpoints", "any namespace: reserved:cluster="),
        ),
        (
            {"matchExpressions": [{"key": "reserved:host", "operator": "DoesNotExist"}]},
            ("endpoints", "any namespace: !reserved:host"),
        ),
    ],
)
def test_reserved_label_selector_is_its_entity(
    selector: dict[str, Any], peer: tuple[str, str]
) -> None:
    """A peer selector that is only a reserved identity's label reads as that entity."""
    doc = policy({"endpointSelector": {}, "egress": [{"toEndpoints": [selector]}]})
    assert [(f.peer_kind, f.peer) for f in flows_of(doc)] == [peer]

"""`explain`: one policy in sentences a reviewer can hold against the intent."""

from __future__ import annotations

from typing import Any

import yaml
from conftest import EXAMPLES

from reconciler.review import explain, load


def example(relative: str) -> dict[str, Any]:
    path = EXAMPLES / relative
    [doc] = [d for d in yaml.safe_load_all(path.read_text()) if d]
    return doc


def cnp(spec: dict[str, Any], **extra: Any) -> dict[str, Any]:
    metadata = {"name": "frontend", "namespace": "shop"}
    kind = {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy"}
    return kind | {"metadata": metadata, "spec": spec} | extra


def test_issue_example_sentence() -> None:
    """The sentence of the issue: subject, ports, same-namespace peer, HTTP filter, rule path."""
    doc = cnp(
        {
            "endpointSelector": {"matchLabels": {"app": "frontend"}},
            "ingress": [
                {
                    "fromEndpoints": [{"matchLabels": {"app": "lb"}}],
                    "toPorts": [
                        {
                            "ports": [{"port": "80", "protocol": "TCP"}],
                            "rules": {"http": [{"method": "GET", "path": "/api/.*"}]},
                        }
                    ],
                }
            ],
        }
    )
    assert explain(doc) == [
        "CNP shop/frontend (CiliumNetworkPolicy).",
        (
            "Pods in namespace `shop` with labels app=frontend may receive TCP port 80 "
            "from pods in the same namespace with labels app=lb, only HTTP GET /api/.* "
            "(spec.ingress[0].toPorts[0])."
        ),
        (
            "Pods in namespace `shop` with labels app=frontend are in default deny for ingress: "
            "ingress traffic that no policy allows is dropped (spec)."
        ),
    ]


def test_world_deny_example() -> None:
    """A clusterwide allow-all with a world deny reads as two sentences and a default deny."""
    assert explain(example("policies/l3/entities/from_world_deny.yaml"))[1:3] == [
        (
            "All pods in the cluster may receive any traffic from entity `all` (everything, inside "
            "and outside the cluster) (spec.ingress[0])."
        ),
        (
            "All pods in the cluster may not receive any traffic from entity `world` (any address "
            "outside the cluster) (spec.ingressDeny[0])."
        ),
    ]


def test_description_dns_and_port_range() -> None:
    """A stated intent is quoted; DNS rules and port ranges read naturally."""
    sentences = explain(example("policies/l7/http/simple/l7.yaml"))
    assert (
        sentences[1]
        == "Its stated intent (spec): Allow HTTP GET /public from env=prod to app=service"
    )
    dns = explain(example("policies/l7/dns/dns.yaml"))
    assert dns[1].startswith(
        "Pods in the policy's namespace with labels any:org=alliance may send port 53 over any "
        "protocol to pods in namespace `kube-system` with labels k8s:k8s-app=kube-dns, only DNS "
    )
    ranged = explain(example("policies/l4/l4_port_range.yaml"))
    assert "may send TCP ports 80-444 to any peer" in ranged[1]


def test_default_deny_empty_items_and_requires() -> None:
    """What no flow shows: an empty item, fromRequires, enableDefaultDeny false."""
    doc = cnp(
        {
            "endpointSelector": {},
            "ingress": [{}, {"fromRequires": [{"matchLabels": {"env": "prod"}}]}],
            "egress": [{"toEntities": ["world"]}],
            "enableDefaultDeny": {"egress": False},
        }
    )
    assert explain(doc)[1:] == [
        (
            "All pods in namespace `shop` may send any traffic to entity `world` "
            "(any address outside the cluster) (spec.egress[0])."
        ),
        (
            "All pods in namespace `shop` are in default deny for ingress: ingress traffic that no "
            "policy allows is dropped (spec)."
        ),
        (
            "This rule does not put all pods in namespace `shop` in default deny for egress "
            "(enableDefaultDeny.egress: false): it only adds to what others allow (spec)."
        ),
        "spec.ingress[0] names no peer, so it allows nothing by itself.",
        "spec.ingress[1] names no peer, so it allows nothing by itself.",
        (
            "Any ingress to all pods in namespace `shop` also needs the peer to match env=prod "
            "(spec.ingress[1])."
        ),
    ]


def test_host_policy_and_carriers() -> None:
    """Nodes as subject; mutual auth reads as a condition the traffic is carried with."""
    doc = {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumClusterwideNetworkPolicy",
        "metadata": {"name": "ssh"},
        "specs": [
            {
                "nodeSelector": {"matchLabels": {"role": "bastion"}},
                "ingress": [
                    {
                        "fromCIDR": ["192.0.2.0/24"],
                        "authentication": {"mode": "required"},
                        "toPorts": [{"ports": [{"port": "22", "protocol": "TCP"}]}],
                    }
                ],
            }
        ],
    }
    assert explain(doc)[:2] == [
        "CCNP ssh (CiliumClusterwideNetworkPolicy).",
        (
            "Nodes with labels role=bastion may receive TCP port 22 from addresses in "
            "192.0.2.0/24, with auth required (specs[0].ingress[0].toPorts[0])."
        ),
    ]


def test_policy_without_rules() -> None:
    """A policy with neither spec nor specs says so instead of saying nothing."""
    doc = {"kind": "CiliumNetworkPolicy", "metadata": {"name": "empty", "namespace": "shop"}}
    assert explain(doc) == [
        "CNP shop/empty (CiliumNetworkPolicy).",
        "It has no rules (neither spec nor specs), so it allows and denies nothing.",
    ]


def test_explain_a_file_by_name() -> None:
    """``load`` finds the policies of a file, as ``explain FILE|NAME`` needs, then explain them."""
    documents = yaml.safe_dump_all(
        [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}},
            cnp({"endpointSelector": {}, "ingress": [{}]}),
        ]
    )
    [(ref, found)] = load({"shop/frontend.yaml": documents.encode()}).items()
    assert (ref.display, found.file) == ("CNP shop/frontend", "shop/frontend.yaml")
    assert explain(found.data)[0] == "CNP shop/frontend (CiliumNetworkPolicy)."

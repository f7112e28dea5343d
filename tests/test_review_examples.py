"""The connectivity diff on the Cilium repository's examples: every file, hand-checked flows, edits.

The examples are real policies (../shared/cilium/examples, ``conftest.EXAMPLES``); every test
here skips when they are absent, as on a clean clone in CI. The expected flows were read off
the YAML by hand, with Cilium's rules in mind (a peer without a namespace stays in the policy's
namespace, an item without peers but with ports admits any peer, one without ports covers every
port), not copied from what the code printed.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from conftest import EXAMPLES

from reconciler.review import Review, ReviewInputError, compare, explain, flows_of, render
from reconciler.review.markdown import MARKER
from reconciler.review.output import FORMATS

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from reconciler.review import Flow

KINDS = {"CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy"}
FILES = sorted(EXAMPLES.rglob("*.yaml")) + sorted(EXAMPLES.rglob("*.yml"))


def relative(path: Path) -> str:
    return path.relative_to(EXAMPLES).as_posix()


def read(name: str) -> bytes:
    path = EXAMPLES / name
    return path.read_bytes()


def policies_in(content: bytes) -> list[dict[str, Any]]:
    """The policies of a file as PyYAML reads them (``kind: List`` included), independently."""
    found: list[dict[str, Any]] = []
    for doc in yaml.safe_load_all(content):
        if isinstance(doc, dict):
            listed = doc.get("items", []) if doc.get("kind") == "List" else [doc]
            found += [d for d in listed if d.get("kind") in KINDS]
    return found


def shop_policy(spec: dict[str, Any]) -> dict[str, Any]:
    """A policy written for a test, where no example has what it needs: CNP shop/p."""
    metadata = {"name": "p", "namespace": "shop"}
    return {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy", "metadata": metadata} | {
        "spec": spec
    }


def dump(doc: dict[str, Any]) -> bytes:
    return yaml.safe_dump(doc, sort_keys=False).encode()


def edited(
    name: str, change: Callable[[dict[str, Any]], object]
) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Both sides of a review: the example as it is, and after ``change`` edited its document."""
    before = read(name)
    [doc] = policies_in(before)
    change(doc)
    return {name: before}, {name: dump(doc)}


def row(flow: Flow) -> str:
    """A flow as a reviewer reads it; namespace ``-`` is "wherever the policy is applied"."""
    l7 = f" [{'; '.join(flow.l7)}]" if flow.l7 else ""
    return (
        f"{flow.namespace or '-'} | {flow.subject} | {flow.verdict} {flow.direction} | "
        f"{flow.peer_kind} {flow.peer} | {flow.protocol}/{flow.port}{l7} | {flow.rule}"
    )


def created(name: str) -> Review:
    """The review of adding the example to an empty tree."""
    return compare({}, {name: read(name)})


def added_rows(review: Review) -> list[str]:
    assert {c.change for c in review.flows} <= {"added"}
    return [row(grant) for change in review.flows for grant in change.after]


def changes(review: Review) -> list[tuple[str, str]]:
    return [(c.change, row(c.flow)) for c in review.flows]


def risks(review: Review) -> list[tuple[str, str, str]]:
    return [(r.code, r.policy.display, r.rule) for r in review.risks]


# -- every example -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", FILES, ids=relative)
def test_example_reviews_as_created_and_unchanged_against_itself(path: Path) -> None:
    """Added to an empty tree, each policy is created and each flow added; x against x is empty."""
    name, content = relative(path), path.read_bytes()
    review = compare({}, {name: content})
    docs = policies_in(content)
    expected = {
        (
            d["kind"],
            d["metadata"].get("namespace") if d["kind"] == "CiliumNetworkPolicy" else None,
            d["metadata"]["name"],
        )
        for d in docs
    }
    assert len(review.policies) == len(expected)
    assert {(p.policy.kind, p.policy.namespace, p.policy.name) for p in review.policies} == expected
    assert {(p.change, p.file_before, p.file_after) for p in review.policies} == {
        ("created", None, name)
    }
    assert all(p.fields for p in review.policies)
    assert {c.change for c in review.flows} <= {"added"}
    assert {c.flow.key for c in review.flows} == {f.key for d in docs for f in flows_of(d)}

    same = compare({name: content}, {name: content})
    assert (same.policies, same.flows, same.risks, same.notes) == ((), (), (), ())
    assert same.empty


@pytest.mark.parametrize("path", FILES, ids=relative)
def test_example_renders_in_every_format(path: Path) -> None:
    """Text, JSON and Markdown all render the created example; JSON counts what the review has."""
    review = compare({}, {relative(path): path.read_bytes()})
    out = {fmt: render(review, fmt) for fmt in FORMATS}
    assert out["text"].startswith(f"{len(review.policies)} ")
    summary = json.loads(out["json"])["summary"]
    assert (summary["created"], summary["added"], summary["risks"]) == (
        len(review.policies),
        len(review.flows),
        len(review.risks),
    )
    assert out["markdown"].startswith(MARKER)


def test_every_example_policy_is_created_once() -> None:
    """104 policies in 82 files; connectivity-check-proxy.yaml holds one (echo-c) twice, as is."""
    assert len(FILES) == 82
    assert sum(len(policies_in(p.read_bytes())) for p in FILES) == 104
    assert sum(len(compare({}, {relative(p): p.read_bytes()}).policies) for p in FILES) == 103


# -- hand-checked flows ------------------------------------------------------------------------

# (example, the policy, every flow it adds in the review's order, the risks it raises). A row is
# namespace | subject | verdict direction | peer | protocol/port [L7] | rule granting it.
HAND_CHECKED = [
    # L3 by labels, L4: only org=empire pods of its namespace reach the deathstar, on TCP/80.
    pytest.param(
        "minikube/sw_l3_l4_policy.yaml",
        "CNP rule1",
        [
            (
                "- | class=deathstar,org=empire | allow ingress | endpoints same namespace: "
                "org=empire | TCP/80 | spec.ingress[0]"
            )
        ],
        [],
        id="l3-l4-star-wars",
    ),
    # An item with peers and no ports (any port), one with ports and no peers (anyone): flagged.
    pytest.param(
        "policies/l4/multi_rule.yaml",
        "CNP l4-rules",
        [
            "- | role=backend | allow ingress | any any | TCP/80 | spec.ingress[1]",
            (
                "- | role=backend | allow ingress | endpoints same namespace: role=frontend "
                "| ANY/* | spec.ingress[0]"
            ),
        ],
        [("ingress-from-world", "CNP l4-rules", "spec.ingress[1]")],
        id="l3-only-and-l4-only",
    ),
    # TCP/80 out to any peer; egress, so no ingress risk.
    pytest.param(
        "policies/l4/l4.yaml",
        "CNP l4-rule",
        ["- | app=myService | allow egress | any any | TCP/80 | spec.egress[0]"],
        [],
        id="l4-egress",
    ),
    # The flow of sw_l3_l4_policy, only POST /v1/request-landing.
    pytest.param(
        "minikube/sw_l3_l4_l7_policy.yaml",
        "CNP rule1",
        [
            (
                "- | class=deathstar,org=empire | allow ingress | endpoints same namespace: "
                "org=empire | TCP/80 [HTTP POST /v1/request-landing] | spec.ingress[0]"
            )
        ],
        [],
        id="l7-http",
    ),
    # Namespace default, specs: three peers on 9200, each with its own HTTP rules; then every pod
    # of the namespace may reach the cluster, the host and pods of any namespace.
    pytest.param(
        "kubernetes-es/es-sw-policy.yaml",
        "CNP default/secure-empire-elasticsearch",
        [
            (
                "default | all pods | allow egress | endpoints any namespace: "
                "k8s:io.kubernetes.pod.namespace | ANY/* | specs[1].egress[0]"
            ),
            "default | all pods | allow egress | entity cluster | ANY/* | specs[1].egress[1]",
            "default | all pods | allow egress | entity host | ANY/* | specs[1].egress[1]",
            (
                "default | component=elasticsearch | allow ingress | endpoints default: "
                "app=empire-hq | TCP/9200 [HTTP ^GET$ ^/spaceship_diagnostics/_search/??.*$; "
                "HTTP ^GET$ ^/troop_logs/_search/??.*$] | specs[0].ingress[1]"
            ),
            (
                "default | component=elasticsearch | allow ingress | endpoints default: "
                "app=outpost | TCP/9200 [HTTP ^PUT$ ^/troop_logs/log/.*$] | specs[0].ingress[2]"
            ),
            (
                "default | component=elasticsearch | allow ingress | endpoints default: "
                "app=spaceship | TCP/9200 [HTTP ^PUT$ ^/spaceship_diagnostics/stats/.*$] "
                "| specs[0].ingress[0]"
            ),
        ],
        [],
        id="l7-http-per-peer",
    ),
    # toFQDNs matchPattern on TCP/443 only; DNS on 53 to kube-dns, any name (``*``).
    pytest.param(
        "kubernetes-dns/dns-port.yaml",
        "CNP fqdn",
        [
            (
                "- | class=mediabot,org=empire | allow egress | endpoints kube-system: "
                "k8s:k8s-app=kube-dns | ANY/53 [DNS *] | spec.egress[1]"
            ),
            (
                "- | class=mediabot,org=empire | allow egress | fqdn *.github.com | TCP/443 "
                "| spec.egress[0]"
            ),
        ],
        [],
        id="fqdn-pattern-on-a-port",
    ),
    # Two matchName and one matchPattern without toPorts: every port.
    pytest.param(
        "policies/l7/dns/dns-visibility.yaml",
        "CNP tofqdn-dns-visibility",
        [
            (
                "- | any:org=alliance | allow egress | endpoints kube-system: k8s:k8s-app=kube-dns "
                "| ANY/53 [DNS *] | spec.egress[0]"
            ),
            "- | any:org=alliance | allow egress | fqdn *.sub.cilium.io | ANY/* | spec.egress[1]",
            "- | any:org=alliance | allow egress | fqdn cilium.io | ANY/* | spec.egress[1]",
            "- | any:org=alliance | allow egress | fqdn sub.cilium.io | ANY/* | spec.egress[1]",
        ],
        [],
        id="fqdn-names-and-pattern",
    ),
    # toCIDR /32 and toCIDRSet 10.0.0.0/8 without the service range, every port.
    pytest.param(
        "policies/l3/cidr/cidr.yaml",
        "CNP cidr-rule",
        [
            (
                "- | app=myService | allow egress | cidr 10.0.0.0/8 except 10.96.0.0/12 | ANY/* "
                "| spec.egress[1]"
            ),
            "- | app=myService | allow egress | cidr 20.1.1.1/32 | ANY/* | spec.egress[0]",
        ],
        [],
        id="cidr-set-except",
    ),
    # Entities: host and remote-node in, kube-apiserver out, world in (the one that is a risk).
    pytest.param(
        "policies/l3/entities/nodes.yaml",
        "CNP to-dev-from-nodes-in-cluster",
        [
            "- | env=dev | allow ingress | entity host | ANY/* | spec.ingress[0]",
            "- | env=dev | allow ingress | entity remote-node | ANY/* | spec.ingress[0]",
        ],
        [],
        id="entities-host-remote-node",
    ),
    pytest.param(
        "policies/l3/entities/apiserver.yaml",
        "CNP dev-to-kube-apiserver",
        ["- | env=dev | allow egress | entity kube-apiserver | ANY/* | spec.egress[0]"],
        [],
        id="entity-kube-apiserver",
    ),
    pytest.param(
        "policies/l3/entities/world.yaml",
        "CNP from-world-to-role-public",
        ["- | role=public | allow ingress | entity world | ANY/* | spec.ingress[0]"],
        [("ingress-from-world", "CNP from-world-to-role-public", "spec.ingress[0]")],
        id="entity-world",
    ),
    # egressDeny beside an allow-all: frontend reaches everything but its namespace's backend.
    pytest.param(
        "policies/l3/egress-deny/egress-deny.yaml",
        "CNP deny-egress-example",
        [
            "- | role=frontend | allow egress | entity all | ANY/* | spec.egress[0]",
            (
                "- | role=frontend | deny egress | endpoints same namespace: role=backend | ANY/* "
                "| spec.egressDeny[0]"
            ),
        ],
        [],
        id="egress-deny",
    ),
    # CCNP with nodeSelector: anyone on five ports (one flag for the rule), health and
    # remote-node on all.
    pytest.param(
        "policies/host/lock-down-ingress.yaml",
        "CCNP lock-down-ingress-worker-node",
        [
            *(
                f"* | nodes: type=ingress-worker | allow ingress | any any | {port} "
                "| spec.ingress[1]"
                for port in ("TCP/22", "TCP/2379", "TCP/4240", "TCP/6443", "UDP/8472")
            ),
            (
                "* | nodes: type=ingress-worker | allow ingress | entity health | ANY/* "
                "| spec.ingress[0]"
            ),
            (
                "* | nodes: type=ingress-worker | allow ingress | entity remote-node | ANY/* "
                "| spec.ingress[0]"
            ),
        ],
        [("ingress-from-world", "CCNP lock-down-ingress-worker-node", "spec.ingress[1]")],
        id="ccnp-node-selector",
    ),
    # CCNP over pods outside kube-system: they may only query kube-dns.
    pytest.param(
        "kubernetes/servicemesh/policy/default-deny.yaml",
        "CCNP default-deny",
        [
            (
                "* | io.kubernetes.pod.namespace notin (kube-system) | allow egress | endpoints "
                "kube-system: k8s-app=kube-dns | UDP/53 [DNS *] | spec.egress[0]"
            )
        ],
        [],
        id="ccnp-endpoint-selector",
    ),
    # toServices: default/myservice by name, env=staging services of another-namespace by labels.
    pytest.param(
        "policies/l3/service/service.yaml",
        "CNP service-rule",
        [
            (
                "- | id=app2 | allow egress | service another-namespace: env=staging | ANY/* "
                "| spec.egress[0]"
            ),
            "- | id=app2 | allow egress | service default/myservice | ANY/* | spec.egress[0]",
        ],
        [],
        id="to-services",
    ),
]


@pytest.mark.parametrize(("name", "policy", "rows", "flagged"), HAND_CHECKED)
def test_hand_checked_flows(
    name: str, policy: str, rows: list[str], flagged: list[tuple[str, str, str]]
) -> None:
    """Added to an empty tree, the example grants exactly the flows read off its YAML."""
    review = created(name)
    assert added_rows(review) == rows
    assert {c.flow.policy.display for c in review.flows} == {policy}
    assert risks(review) == flagged


# -- regressions found on the examples ---------------------------------------------------------


def test_namespace_labels_select_pods_of_any_namespace() -> None:
    """namespace-labels-policy: io.cilium.k8s.namespace.labels.* is about other namespaces.

    Cilium adds the policy's namespace to a peer selector only when it names no namespace
    label, no namespace's label and no reserved label; the review said "same namespace".
    """
    peer = "endpoints any namespace: io.cilium.k8s.namespace.labels.faction=alliance"
    assert added_rows(created("policies/kubernetes/namespace/namespace-labels-policy.yaml")) == [
        f"- | name=rebel-base | allow egress | {peer} | ANY/* | spec.egress[0]",
        f"- | name=rebel-base | allow ingress | {peer} | ANY/* | spec.ingress[0]",
    ]


def test_reserved_world_label_is_the_world_entity_and_flagged() -> None:
    """guestbook-policy-web: fromEndpoints reserved.world (the old spelling) is entity world.

    The review read it as pods labelled reserved.world in any namespace, so the web pods
    opening TCP/80 to the whole internet went unflagged.
    """
    review = created("misc/guestbook/network-policy/guestbook-policy-web.yaml")
    assert added_rows(review) == [
        "- | k8s-app.guestbook=web | allow ingress | entity world | TCP/80 | spec.ingress[0]"
    ]
    assert risks(review) == [("ingress-from-world", "CNP guestbook-web", "spec.ingress[0]")]
    assert (
        "  ! ingress-from-world: CNP guestbook-web spec.ingress[0]: new ingress to "
        "k8s-app.guestbook=web from entity world on TCP/80: open to every address, outside "
        "included"
    ) in render(review, "text").splitlines()


def test_peer_naming_namespace_or_reserved_labels_is_not_bound_to_a_namespace() -> None:
    """Without the examples too: only a selector naming none of those stays in the namespace."""
    doc = shop_policy(
        {
            "endpointSelector": {},
            "ingress": [
                {
                    "fromEndpoints": [
                        {"matchLabels": {"k8s:io.cilium.k8s.namespace.labels.team": "a"}},
                        {
                            "matchExpressions": [
                                {"key": "io.cilium.k8s.namespace.labels.env", "operator": "Exists"}
                            ]
                        },
                        {
                            "matchExpressions": [
                                {"key": "reserved:host", "operator": "DoesNotExist"}
                            ]
                        },
                        {"matchLabels": {"app": "lb"}},
                    ]
                }
            ],
        }
    )
    assert [(f.peer_kind, f.peer) for f in flows_of(doc)] == [
        ("endpoints", "any namespace: !reserved:host"),
        ("endpoints", "any namespace: io.cilium.k8s.namespace.labels.env"),
        ("endpoints", "any namespace: k8s:io.cilium.k8s.namespace.labels.team=a"),
        ("endpoints", "shop: app=lb"),
    ]


def test_same_policy_twice_in_one_file_is_read_once() -> None:
    """connectivity-check-proxy.yaml holds CNP echo-c twice, identically: one policy, no error."""
    name = "kubernetes/connectivity-check/connectivity-check-proxy.yaml"
    review = created(name)
    assert [p.policy.name for p in review.policies].count("echo-c") == 1
    assert [r for r in added_rows(review) if r.startswith("- | name=echo-c |")] == [
        "- | name=echo-c | allow ingress | any any | TCP/8080 [HTTP GET /public$] | spec.ingress[0]"
    ]


def test_one_document_twice_is_one_policy_two_different_are_ambiguous() -> None:
    """Without the examples too: a file may repeat a policy, not hold two versions of it."""
    doc = shop_policy({"endpointSelector": {}, "ingress": [{}]})
    review = compare({}, {"p.yaml": dump(doc) + b"---\n" + dump(doc)})
    assert [p.policy.display for p in review.policies] == ["CNP shop/p"]
    other = shop_policy({"endpointSelector": {}, "egress": [{}]})
    with pytest.raises(ReviewInputError, match=r"p\.yaml: CNP shop/p is also defined in p\.yaml"):
        compare({}, {"p.yaml": dump(doc) + b"---\n" + dump(other)})


def test_deleting_a_two_way_default_deny_names_both_directions() -> None:
    """es-sw-policy's specs[1] holds namespace default in default deny both ways: one flag each.

    Merged by rule, the egress message used to end "(and 1 more like it)", hiding ingress.
    """
    name = "kubernetes-es/es-sw-policy.yaml"
    review = compare({name: read(name)}, {})
    assert [p.change for p in review.policies] == ["deleted"]
    assert {c.change for c in review.flows} == {"removed"}
    assert len(review.flows) == 6
    assert risks(review) == [
        ("default-deny-lost", "CNP default/secure-empire-elasticsearch", "specs[1]")
    ]
    assert review.risks[0].message == (
        "default loses its default deny for ingress and egress: pods no other policy selects "
        "now accept all ingress and egress traffic"
    )


def test_default_deny_lost_both_ways_is_one_flag_naming_both() -> None:
    """Without the examples too: one rule, two directions, one message that says both."""
    review = compare(
        {"p.yaml": dump(shop_policy({"endpointSelector": {}, "ingress": [{}], "egress": [{}]}))},
        {},
    )
    assert [(r.code, r.rule, r.message) for r in review.risks] == [
        (
            "default-deny-lost",
            "spec",
            (
                "shop loses its default deny for ingress and egress: pods no other policy selects "
                "now accept all ingress and egress traffic"
            ),
        )
    ]


# -- edits of the examples ---------------------------------------------------------------------


def test_l7_example_replaced_by_l3_l4_example() -> None:
    """sw_l3_l4_l7 -> sw_l3_l4 (the star-wars demo's real step back): HTTP filter gone, flagged."""
    l7, l4 = read("minikube/sw_l3_l4_l7_policy.yaml"), read("minikube/sw_l3_l4_policy.yaml")
    review = compare({"deathstar.yaml": l7}, {"deathstar.yaml": l4})
    [policy] = review.policies
    assert (policy.change, policy.policy.display) == ("updated", "CNP rule1")
    assert [f.path for f in policy.fields] == [
        "spec.description",
        "spec.ingress[0].toPorts[0].rules.http[0].method",
        "spec.ingress[0].toPorts[0].rules.http[0].path",
    ]
    [change] = review.flows
    assert (change.change, change.l7_before, change.l7_after) == (
        "changed",
        ("HTTP POST /v1/request-landing",),
        (),
    )
    assert row(change.flow).endswith("| TCP/80 | spec.ingress[0]")
    assert risks(review) == [("l7-removed", "CNP rule1", "spec.ingress[0]")]
    # And forward again: the filter comes back, which is no risk.
    back = compare({"deathstar.yaml": l4}, {"deathstar.yaml": l7})
    assert [(c.change, c.l7_after) for c in back.flows] == [
        ("changed", ("HTTP POST /v1/request-landing",))
    ]
    assert back.risks == ()


def test_fqdn_port_changed() -> None:
    """dns-port with 443 -> 8443: the FQDN flow moves port, the DNS flow stays."""
    name = "kubernetes-dns/dns-port.yaml"
    before = read(name)
    review = compare({name: before}, {name: before.replace(b'port: "443"', b'port: "8443"')})
    assert changes(review) == [
        (
            "removed",
            (
                "- | class=mediabot,org=empire | allow egress | fqdn *.github.com | TCP/443 "
                "| spec.egress[0]"
            ),
        ),
        (
            "added",
            (
                "- | class=mediabot,org=empire | allow egress | fqdn *.github.com | TCP/8443 "
                "| spec.egress[0]"
            ),
        ),
    ]
    assert review.risks == ()


EDITS = [
    # fromEntities [world] beside the empire ships: the world reaches the deathstar on TCP/80.
    pytest.param(
        "minikube/sw_l3_l4_policy.yaml",
        lambda doc: doc["spec"]["ingress"][0].update(fromEntities=["world"]),
        [
            (
                "added",
                (
                    "- | class=deathstar,org=empire | allow ingress | entity world | TCP/80 "
                    "| spec.ingress[0]"
                ),
            )
        ],
        [("ingress-from-world", "CNP rule1", "spec.ingress[0]")],
        id="world-added",
    ),
    # fromEndpoints [{}]: every pod of the namespace, flagged at the item.
    pytest.param(
        "minikube/sw_l3_l4_policy.yaml",
        lambda doc: doc["spec"]["ingress"][0].update(fromEndpoints=[{}]),
        [
            (
                "added",
                (
                    "- | class=deathstar,org=empire | allow ingress | endpoints same namespace: "
                    "all pods | TCP/80 | spec.ingress[0]"
                ),
            ),
            (
                "removed",
                (
                    "- | class=deathstar,org=empire | allow ingress | endpoints same namespace: "
                    "org=empire | TCP/80 | spec.ingress[0]"
                ),
            ),
        ],
        [("selector-widened", "CNP rule1", "spec.ingress[0]")],
        id="peer-widened",
    ),
    # egressDeny dropped: backend pods are reachable again.
    pytest.param(
        "policies/l3/egress-deny/egress-deny.yaml",
        lambda doc: doc["spec"].pop("egressDeny"),
        [
            (
                "removed",
                (
                    "- | role=frontend | deny egress | endpoints same namespace: role=backend "
                    "| ANY/* | spec.egressDeny[0]"
                ),
            )
        ],
        [("deny-removed", "CNP deny-egress-example", "spec.egressDeny[0]")],
        id="egress-deny-dropped",
    ),
    # Without its except, the 10/8 flow is another flow (egress, so no risk).
    pytest.param(
        "policies/l3/cidr/cidr.yaml",
        lambda doc: doc["spec"]["egress"][1]["toCIDRSet"][0].pop("except"),
        [
            (
                "added",
                "- | app=myService | allow egress | cidr 10.0.0.0/8 | ANY/* | spec.egress[1]",
            ),
            (
                "removed",
                (
                    "- | app=myService | allow egress | cidr 10.0.0.0/8 except 10.96.0.0/12 "
                    "| ANY/* | spec.egress[1]"
                ),
            ),
        ],
        [],
        id="cidr-except-dropped",
    ),
    # CCNP endpointSelector {}: luke reaches every pod, not only leia.
    pytest.param(
        "policies/kubernetes/clusterwide/clusterscope-policy.yaml",
        lambda doc: doc["spec"].update(endpointSelector={}),
        [
            (
                "added",
                (
                    "* | all pods | allow ingress | endpoints any namespace: name=luke | ANY/* "
                    "| spec.ingress[0]"
                ),
            ),
            (
                "removed",
                (
                    "* | name=leia | allow ingress | endpoints any namespace: name=luke | ANY/* "
                    "| spec.ingress[0]"
                ),
            ),
        ],
        [("selector-widened", "CCNP clusterwide-policy-example", "spec")],
        id="ccnp-selector-widened",
    ),
]


@pytest.mark.parametrize(("name", "edit", "flows", "flagged"), EDITS)
def test_edited_example(
    name: str,
    edit: Callable[[dict[str, Any]], object],
    flows: list[tuple[str, str]],
    flagged: list[tuple[str, str, str]],
) -> None:
    """One edit of an example: the flows it adds and removes, and the risks it raises."""
    review = compare(*edited(name, edit))
    assert changes(review) == flows
    assert risks(review) == flagged


def test_fqdn_pattern_dropped() -> None:
    """dns-visibility -> dns-upgrade (two real files): *.sub.cilium.io is no longer reachable."""
    name = "dns.yaml"
    review = compare(
        {name: read("policies/l7/dns/dns-visibility.yaml")},
        {name: read("policies/l7/dns/dns-upgrade.yaml")},
    )
    assert [str(f) for p in review.policies for f in p.fields] == [
        '- spec.egress[1].toFQDNs[2].matchPattern: "*.sub.cilium.io"'
    ]
    assert changes(review) == [
        (
            "removed",
            "- | any:org=alliance | allow egress | fqdn *.sub.cilium.io | ANY/* | spec.egress[1]",
        )
    ]
    assert review.risks == ()


def test_node_selector_widened_to_every_node() -> None:
    """lock-down-ingress with nodeSelector {}: every node opens the five ports to anyone."""
    before, after = edited(
        "policies/host/lock-down-ingress.yaml", lambda doc: doc["spec"].update(nodeSelector={})
    )
    review = compare(before, after)
    assert {(c.change, c.flow.subject) for c in review.flows} == {
        ("added", "all nodes"),
        ("removed", "nodes: type=ingress-worker"),
    }
    assert review.count("added") == review.count("removed") == 7
    assert risks(review) == [
        ("ingress-from-world", "CCNP lock-down-ingress-worker-node", "spec.ingress[1]"),
        ("selector-widened", "CCNP lock-down-ingress-worker-node", "spec"),
    ]
    assert review.risks[1].message == (
        "spec.nodeSelector selected type=ingress-worker, now every node"
    )


def test_namespace_isolation_deleted() -> None:
    """isolate-namespaces deleted: ns1 and ns2 each lose their ingress default deny."""
    name = "policies/kubernetes/namespace/isolate-namespaces.yaml"
    review = compare({name: read(name)}, {})
    assert [(p.change, p.policy.display) for p in review.policies] == [
        ("deleted", "CNP ns1/isolate-ns1"),
        ("deleted", "CNP ns2/isolate-ns1"),
    ]
    assert changes(review) == [
        (
            "removed",
            "ns1 | all pods | allow ingress | endpoints ns1: all pods | ANY/* | spec.ingress[0]",
        ),
        (
            "removed",
            "ns2 | all pods | allow ingress | endpoints ns2: all pods | ANY/* | spec.ingress[0]",
        ),
    ]
    assert [(r.code, r.namespace) for r in review.risks] == [
        ("default-deny-lost", "ns1"),
        ("default-deny-lost", "ns2"),
    ]
    assert review.risks[0].message.startswith("ns1 loses its default deny for ingress:")


def test_mutual_auth_dropped_is_a_changed_flow() -> None:
    """cnp-with-mutual-auth -> cnp-without (renamed too): same flow, auth no longer required."""
    review = compare(
        {"echo.yaml": read("kubernetes/servicemesh/cnp-with-mutual-auth.yaml")},
        {"echo.yaml": read("kubernetes/servicemesh/cnp-without-mutual-auth.yaml")},
    )
    assert [(p.change, p.policy.name) for p in review.policies] == [
        ("deleted", "mutual-auth-echo"),
        ("created", "no-mutual-auth-echo"),
    ]
    [change] = review.flows
    assert (change.change, change.l7_before, change.l7_after) == (
        "changed",
        ("HTTP GET /headers", "auth required"),
        ("HTTP GET /headers",),
    )
    assert [f.policy.name for f in change.after] == ["no-mutual-auth-echo"]
    # Still allowed, no longer authenticated: flagged at the rule that now grants it.
    assert risks(review) == [("auth-removed", "CNP no-mutual-auth-echo", "spec.ingress[0]")]
    assert review.risks[0].message == (
        "ingress to app=echo from endpoints same namespace: app=pod-worker on TCP/3000 no longer "
        "requires mutual authentication (was auth required)"
    )


# -- explain -----------------------------------------------------------------------------------


def example_doc(name: str) -> dict[str, Any]:
    [doc] = policies_in(read(name))
    return doc


def test_explain_http_example() -> None:
    """The reviewer can check subject, port, peer, method and path, and the rule they came from."""
    sentences = explain(example_doc("minikube/sw_l3_l4_l7_policy.yaml"))
    assert sentences[2] == (
        "Pods in the policy's namespace with labels class=deathstar,org=empire may receive TCP "
        "port 80 from pods in the same namespace with labels org=empire, only HTTP POST "
        "/v1/request-landing (spec.ingress[0].toPorts[0])."
    )


def test_explain_fqdn_example() -> None:
    """The FQDN pattern with its port, and the DNS rule that lets the lookups through."""
    sentences = explain(example_doc("kubernetes-dns/dns-port.yaml"))
    assert sentences[1:3] == [
        (
            "Pods in the policy's namespace with labels class=mediabot,org=empire may send TCP "
            "port 443 to DNS names matching `*.github.com` (spec.egress[0].toPorts[0])."
        ),
        (
            "Pods in the policy's namespace with labels class=mediabot,org=empire may send port 53 "
            "over any protocol to pods in namespace `kube-system` with labels "
            "k8s:k8s-app=kube-dns, only DNS * (spec.egress[1].toPorts[0])."
        ),
    ]


def test_explain_host_policy_example() -> None:
    """Nodes as the subject, the ports open to any peer, and the default deny it switches on."""
    sentences = explain(example_doc("policies/host/lock-down-ingress.yaml"))
    assert sentences[3] == (
        "Nodes with labels type=ingress-worker may receive TCP port 22, TCP port 2379, TCP port "
        "4240, TCP port 6443 and UDP port 8472 from any peer (spec.ingress[1].toPorts[0])."
    )
    assert sentences[-1] == (
        "Nodes with labels type=ingress-worker are in default deny for ingress: ingress traffic "
        "that no policy allows is dropped (spec)."
    )


def test_explain_reserved_label_example() -> None:
    """guestbook-policy-web's reserved.world peer is explained as the entity it selects."""
    sentences = explain(example_doc("misc/guestbook/network-policy/guestbook-policy-web.yaml"))
    assert sentences[1] == (
        "Pods in the policy's namespace with labels k8s-app.guestbook=web may receive TCP port 80 "
        "from entity `world` (any address outside the cluster), selected by its label "
        "`reserved.world` (spec.ingress[0].toPorts[0])."
    )


def test_explain_namespace_labels_example() -> None:
    """The peer of namespace-labels-policy is in any namespace, not the policy's own."""
    sentences = explain(example_doc("policies/kubernetes/namespace/namespace-labels-policy.yaml"))
    assert (
        "Pods in the policy's namespace with labels name=rebel-base may receive any traffic from "
        "pods in any namespace with labels io.cilium.k8s.namespace.labels.faction=alliance "
        "(spec.ingress[0])."
    ) in sentences

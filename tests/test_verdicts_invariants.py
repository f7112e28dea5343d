"""Invariants of the enforcement model, on generated policies and flows (hypothesis).

Three properties Cilium's policy language guarantees (``deny.rst``, ``intro.rst``), checked on
random policy sets over a small label alphabet, so that selectors often overlap:

* adding a deny rule never turns a deny into an allow;
* adding an allow rule to a direction that is already in default deny never turns an allow
  into a deny (rules are a whitelist: "traffic matching the union of those rules will be
  allowed", intro.rst "Rule Basics");
* renaming a policy changes no verdict.
"""

from __future__ import annotations

import contextlib
import copy
import ipaddress
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.verdicts import identity
from reconciler.verdicts.engine import Engine
from reconciler.verdicts.l7 import HttpRequest
from reconciler.verdicts.policy_files import rules_of
from reconciler.verdicts.policytest import PolicyTestError, read_test
from reconciler.verdicts.ports import Probe
from reconciler.verdicts.verdict import Flow

NAMESPACES = ("a", "b")
APPS = ("web", "api")
PORTS = (80, 8080)
ENDPOINTS = [
    *(
        identity.pod(f"{ns}/{app}", namespace=ns, labels={"app": app})
        for ns in NAMESPACES
        for app in APPS
    ),
    identity.address("world", ipaddress.ip_address("10.1.2.3")),
    identity.address("far", ipaddress.ip_address("192.0.2.9")),
    identity.entity("host", "host"),
]
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

selectors = st.one_of(
    st.just({}),
    st.builds(lambda app: {"matchLabels": {"app": app}}, st.sampled_from(APPS)),
    st.builds(
        lambda ns, app: {"matchLabels": {"k8s:io.kubernetes.pod.namespace": ns, "app": app}},
        st.sampled_from(NAMESPACES),
        st.sampled_from(APPS),
    ),
    st.builds(
        lambda apps: {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": apps}]},
        st.lists(st.sampled_from(APPS), min_size=1, max_size=2, unique=True),
    ),
)
http_rules = st.lists(
    st.builds(
        lambda m, p: {"method": m, "path": p},
        st.sampled_from(["GET", "POST", "GET|PUT"]),
        st.sampled_from(["/", "/api/.*", "/.*"]),
    ),
    min_size=1,
    max_size=2,
)


@st.composite
def port_rules(draw: st.DrawFn, *, deny: bool) -> list[dict[str, Any]]:
    ports = draw(st.lists(st.sampled_from(PORTS), min_size=1, max_size=2, unique=True))
    item: dict[str, Any] = {"ports": [{"port": str(p), "protocol": "TCP"} for p in ports]}
    if not deny and draw(st.integers(0, 2)):
        item["rules"] = {"http": draw(http_rules)}
    return [item]


@st.composite
def entries(draw: st.DrawFn, direction: str, *, deny: bool) -> dict[str, Any]:
    prefix = "from" if direction == "ingress" else "to"
    entry: dict[str, Any] = {}
    kind = draw(st.sampled_from(["endpoints", "endpoints", "entities", "cidr", "none"]))
    if kind == "endpoints":
        entry[f"{prefix}Endpoints"] = draw(st.lists(selectors, min_size=1, max_size=2))
    elif kind == "entities":
        entry[f"{prefix}Entities"] = draw(
            st.lists(st.sampled_from(["world", "cluster", "host", "all"]), min_size=1, max_size=2)
        )
    elif kind == "cidr":
        entry[f"{prefix}CIDRSet"] = [{"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}]
    if draw(st.booleans()) or kind == "none":
        entry["toPorts"] = draw(port_rules(deny=deny))
    return entry


@st.composite
def policies(draw: st.DrawFn) -> list[dict[str, Any]]:
    found = []
    for index in range(draw(st.integers(1, 4))):
        spec: dict[str, Any] = {"endpointSelector": draw(selectors)}
        for direction in ("ingress", "egress"):
            if draw(st.booleans()):
                spec[direction] = draw(
                    st.lists(entries(direction, deny=False), min_size=1, max_size=2)
                )
        if not spec.keys() - {"endpointSelector"}:
            spec["ingress"] = [{}]
        found.append(
            {
                "apiVersion": "cilium.io/v2",
                "kind": "CiliumNetworkPolicy",
                "metadata": {"name": f"p{index}", "namespace": draw(st.sampled_from(NAMESPACES))},
                "spec": spec,
            }
        )
    return found


flows = st.builds(
    lambda s, d, port, http: Flow(s, d, Probe("TCP", port), http),
    st.sampled_from(ENDPOINTS),
    st.sampled_from(ENDPOINTS),
    st.sampled_from(PORTS),
    st.one_of(
        st.none(),
        st.builds(
            HttpRequest, st.sampled_from(["GET", "POST", "PUT"]), st.sampled_from(["/", "/api/x"])
        ),
    ),
)


def _engine(documents: list[dict[str, Any]]) -> Engine:
    return Engine(rules_of({"all.yaml": yaml.safe_dump_all(documents).encode()}))


@SETTINGS
@given(policies(), st.data(), st.lists(flows, min_size=1, max_size=8))
def test_adding_a_deny_rule_never_turns_a_deny_into_an_allow(
    documents: list[dict[str, Any]], data: st.DataObject, questions: list[Flow]
) -> None:
    """deny.rst: deny rules only ever remove traffic."""
    direction = data.draw(st.sampled_from(["ingress", "egress"]))
    deny = {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "added-deny", "namespace": data.draw(st.sampled_from(NAMESPACES))},
        "spec": {
            "endpointSelector": data.draw(selectors),
            f"{direction}Deny": [data.draw(entries(direction, deny=True))],
        },
    }
    before, after = _engine(documents), _engine([*documents, deny])
    for flow in questions:
        if before.evaluate(flow).decision == "deny":
            assert after.evaluate(flow).decision == "deny"


@SETTINGS
@given(policies(), st.data(), st.lists(flows, min_size=1, max_size=8))
def test_adding_an_allow_rule_in_default_deny_never_turns_an_allow_into_a_deny(
    documents: list[dict[str, Any]], data: st.DataObject, questions: list[Flow]
) -> None:
    """intro.rst "Rule Basics": rules are a whitelist, the union of what they allow."""
    # Only a policy with rules in a direction puts its pods into default deny there.
    places = [
        (index, direction)
        for index, document in enumerate(documents)
        for direction in ("ingress", "egress")
        if document["spec"].get(direction)
    ]
    index, direction = data.draw(st.sampled_from(places))
    widened = copy.deepcopy(documents)
    widened[index]["spec"][direction].append(data.draw(entries(direction, deny=False)))
    before, after = _engine(documents), _engine(widened)
    for flow in questions:
        if before.evaluate(flow).decision == "allow":
            assert after.evaluate(flow).decision == "allow", flow.text()


@SETTINGS
@given(policies(), st.lists(flows, min_size=1, max_size=8))
def test_renaming_a_policy_changes_no_verdict(
    documents: list[dict[str, Any]], questions: list[Flow]
) -> None:
    """A policy's name is metadata: Cilium's verdicts do not depend on it."""
    renamed = copy.deepcopy(documents)
    for number, document in enumerate(renamed):
        document["metadata"]["name"] = f"renamed-{number}"
    before, after = _engine(documents), _engine(renamed)
    for flow in questions:
        assert before.evaluate(flow).decision == after.evaluate(flow).decision


_FIELDS = [
    "endpointSelector",
    "nodeSelector",
    "ingress",
    "egress",
    "ingressDeny",
    "egressDeny",
    "fromEndpoints",
    "toEndpoints",
    "fromEntities",
    "toEntities",
    "toPorts",
    "ports",
    "port",
    "protocol",
    "endPort",
    "rules",
    "http",
    "dns",
    "icmps",
    "fields",
    "type",
    "family",
    "matchLabels",
    "matchExpressions",
    "key",
    "operator",
    "values",
    "toCIDRSet",
    "cidr",
    "except",
    "toFQDNs",
    "matchName",
    "matchPattern",
    "method",
    "path",
    "headers",
    "enableDefaultDeny",
    "toServices",
    "serverNames",
]
junk = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-5, 70000),
        st.sampled_from(["", "*", "TCP", "80", "world", "10.0.0.0/8", "In", "app", "(", "a:b"]),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(_FIELDS), children, max_size=4),
    ),
    max_leaves=20,
)


@SETTINGS
@given(st.dictionaries(st.sampled_from(_FIELDS), junk, max_size=5), st.lists(flows, max_size=4))
def test_malformed_policies_never_crash_the_model(
    spec: dict[str, Any], questions: list[Flow]
) -> None:
    """Whatever a policy file holds, the model answers: allow, deny, or that it cannot decide."""
    document = {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "junk", "namespace": "a"},
        "spec": spec,
    }
    eng = _engine([document])
    for flow in questions:
        assert eng.evaluate(flow).decision in {"allow", "deny", "undecided"}


_TEST_FIELDS = [
    "endpoints",
    "flows",
    "nodes",
    "cluster",
    "from",
    "to",
    "port",
    "protocol",
    "http",
    "dns",
    "icmp",
    "expect",
    "namespace",
    "labels",
    "ip",
    "names",
    "entity",
    "node",
    "ports",
    "query",
    "method",
    "type",
    "serviceAccount",
    "namespaceLabels",
]
test_junk = st.recursive(
    st.one_of(
        st.none(),
        st.integers(-1, 70000),
        st.sampled_from(["a", "b", "allow", "deny", "TCP", "ICMP", "1.1.1.1", "host", "http"]),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from([*_TEST_FIELDS, "a", "b"]), children, max_size=4),
    ),
    max_leaves=25,
)


@SETTINGS
@given(st.dictionaries(st.sampled_from(_TEST_FIELDS), test_junk, max_size=4))
def test_a_malformed_policy_test_is_reported_never_a_crash(spec: dict[str, Any]) -> None:
    """A PolicyTest that is not one raises PolicyTestError (exit 2), nothing else."""
    document = {"apiVersion": "cilium-gitops/v1alpha1", "kind": "PolicyTest", "spec": spec}
    document["metadata"] = {"name": "fuzz"}
    with contextlib.suppress(PolicyTestError):
        read_test(document, "fuzz.yaml")

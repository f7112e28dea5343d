"""The enforcement model against Cilium's documented behaviour, one rule of the language at a time.

Each test names where its expected verdict comes from: a page of Cilium's documentation
(``Documentation/security/policy/*.rst`` in cilium/cilium), a function of its source, or the
Kubernetes API's field documentation. The expectations were read there, not printed by the code.
"""

from __future__ import annotations

import pytest
from verdicts_helpers import ask, decision, engine, pod, world

from reconciler.verdicts import identity
from reconciler.verdicts.engine import Options

BACKEND = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: l3-rule, namespace: default}
spec:
  endpointSelector: {matchLabels: {role: backend}}
  ingress:
  - fromEndpoints:
    - matchLabels: {role: frontend}
"""
FRONTEND = pod("frontend", role="frontend")
BACKEND_POD = pod("backend", role="backend")
OTHER = pod("other", role="other")


# -- default deny (intro.rst, "Endpoint default policy") --------------------------------------


def test_an_endpoint_no_policy_selects_allows_everything() -> None:
    """intro.rst: "By default, all egress and ingress traffic is allowed for all endpoints"."""
    verdict = ask(engine(BACKEND), OTHER, FRONTEND)
    assert verdict.decision == "allow"
    assert verdict.ingress.cause == "no-policy"
    assert verdict.egress.cause == "no-policy"


def test_a_policy_with_an_ingress_section_puts_its_pods_into_ingress_default_deny() -> None:
    """intro.rst: selected by a rule with an ingress section, only allowed traffic passes."""
    eng = engine(BACKEND)
    assert decision(eng, FRONTEND, BACKEND_POD) == "allow"
    verdict = ask(eng, OTHER, BACKEND_POD)
    assert verdict.decision == "deny"
    assert verdict.ingress.cause == "default-deny"
    assert verdict.ingress.policy is not None
    assert verdict.ingress.policy.name == "l3-rule"
    assert "puts default/backend into default deny for ingress" in verdict.reason


def test_default_deny_is_per_direction() -> None:
    """intro.rst: the state is per direction: an ingress policy leaves egress open."""
    verdict = ask(engine(BACKEND), BACKEND_POD, world("8.8.8.8"), 53, "UDP")
    assert verdict.decision == "allow"
    assert verdict.egress.cause == "no-policy"


def test_an_empty_ingress_rule_is_default_deny_with_nothing_allowed() -> None:
    """layer3.rst "Ingress/Egress Default Deny" and sw_deny_policy.yaml: ``ingress: [{}]``."""
    deny_all = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: empire-default-deny}
spec:
  endpointSelector: {matchLabels: {org: empire}}
  ingress:
  - {}
"""
    verdict = ask(engine(deny_all), pod("x"), pod("deathstar", org="empire"))
    assert verdict.decision == "deny"
    assert verdict.ingress.cause == "default-deny"


def test_an_empty_ingress_list_does_not_default_deny() -> None:
    """repository.go computePolicyEnforcementAndRules: only ``len(r.Ingress) > 0`` enforces."""
    empty = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: nothing}
spec:
  endpointSelector: {}
  ingress: []
  egress: [{}]
"""
    verdict = ask(engine(empty), OTHER, BACKEND_POD)
    assert verdict.ingress.cause == "no-policy"
    assert verdict.egress.decision == "deny"


def test_enable_default_deny_false_leaves_other_traffic_allowed() -> None:
    """intro.rst: rules with EnableDefaultDeny disabled are ignored for the default mode."""
    intercept = """
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: intercept-all-dns}
spec:
  endpointSelector: {}
  enableDefaultDeny: {egress: false, ingress: false}
  egress:
  - toEndpoints:
    - matchLabels: {io.kubernetes.pod.namespace: kube-system, k8s-app: kube-dns}
    toPorts:
    - ports: [{port: "53", protocol: UDP}]
      rules:
        dns: [{matchPattern: "*"}]
"""
    eng = engine(intercept)
    verdict = ask(eng, OTHER, world("8.8.8.8"), 443)
    assert verdict.decision == "allow"
    assert verdict.egress.cause == "default-allow"
    dns = pod("coredns", "kube-system", k8s_app="kube-dns")
    assert decision(eng, OTHER, dns, 53, protocol="UDP", dns="example.com") == "allow"


def test_an_l7_rule_still_drops_requests_when_default_deny_is_off() -> None:
    """intro.rst warning: EnableDefaultDeny does not apply to L7; a non-matching request drops."""
    policy = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: get-only}
spec:
  endpointSelector: {matchLabels: {role: backend}}
  enableDefaultDeny: {ingress: false}
  ingress:
  - fromEndpoints: [{matchLabels: {role: frontend}}]
    toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules: {http: [{method: GET}]}
"""
    eng = engine(policy)
    assert decision(eng, FRONTEND, BACKEND_POD, http=("GET", "/")) == "allow"
    assert ask(eng, FRONTEND, BACKEND_POD, http=("POST", "/")).ingress.cause == "l7-denied"
    # Another peer is not redirected to the proxy: the default-allow rule lets it through.
    assert decision(eng, OTHER, BACKEND_POD, http=("POST", "/")) == "allow"


def test_policy_enforcement_always_denies_unselected_endpoints() -> None:
    """intro.rst "always": enforcement on all endpoints even if no rules select them."""
    eng = engine(BACKEND, options=Options(enforcement="always"))
    assert decision(eng, OTHER, FRONTEND) == "deny"
    never = engine(BACKEND, options=Options(enforcement="never"))
    assert decision(never, OTHER, BACKEND_POD) == "allow"


# -- both sides are enforced (layer3.rst) ------------------------------------------------------


def test_egress_of_the_source_and_ingress_of_the_destination_both_apply() -> None:
    """layer3.rst: "policy must be configured on both sides (sender and receiver)"."""
    egress_only = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: deny-all-egress}
spec:
  endpointSelector: {matchLabels: {role: frontend}}
  egress:
  - {}
"""
    verdict = ask(engine(BACKEND, egress_only), FRONTEND, BACKEND_POD)
    assert verdict.decision == "deny"
    assert verdict.egress.decision == "deny"
    assert verdict.ingress.decision == "allow"
    assert verdict.reason.startswith("egress: default deny: default/deny-all-egress")


# -- deny rules win (deny.rst) -----------------------------------------------------------------

_ALLOWS = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: allows}
spec:
  endpointSelector: {matchLabels: {app: server}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: client}}]
    toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules: {http: [{method: GET, path: /public}]}
  - fromEndpoints: [{matchLabels: {app: client}}]
    toPorts: [{ports: [{port: "80", protocol: TCP}]}]
  - fromEndpoints: [{matchLabels: {app: client}}]
    toPorts: [{ports: [{port: "81", protocol: TCP}]}]
  - fromEndpoints: [{matchLabels: {app: client}}]
"""
_DENY_80 = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: deny-80}
spec:
  endpointSelector: {matchLabels: {app: server}}
  ingressDeny:
  - fromEndpoints: [{matchLabels: {app: client}}]
    toPorts: [{ports: [{port: "80", protocol: TCP}]}]
"""
_DENY_L3 = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: deny-client}
spec:
  endpointSelector: {matchLabels: {app: server}}
  ingressDeny:
  - fromEndpoints: [{matchLabels: {app: client}}]
"""


@pytest.mark.parametrize(
    ("policies", "curl_81", "curl_80", "ping"),
    [
        ((_ALLOWS,), "allow", "allow", "allow"),
        ((_ALLOWS, _DENY_80), "allow", "deny", "allow"),
        ((_ALLOWS, _DENY_L3), "deny", "deny", "deny"),
        ((_ALLOWS, _DENY_80, _DENY_L3), "deny", "deny", "deny"),
        ((_DENY_80,), "deny", "deny", "deny"),
    ],
)
def test_the_deny_policy_table_of_deny_rst(
    policies: tuple[str, ...], curl_81: str, curl_80: str, ping: str
) -> None:
    """deny.rst: the five columns of allow and deny policy sets and their results, cell by cell."""
    eng = engine(*policies)
    client, server = pod("client", app="client"), pod("server", app="server")
    assert decision(eng, client, server, 81) == curl_81
    assert decision(eng, client, server, 80, http=("GET", "/")) == curl_80
    assert decision(eng, client, server, 8, protocol="ICMP") == ping


def test_a_deny_rule_names_itself_as_the_reason() -> None:
    """deny.rst: deny policies take precedence over allow policies."""
    verdict = ask(engine(_ALLOWS, _DENY_80), pod("c", app="client"), pod("s", app="server"))
    assert verdict.ingress.cause == "deny-rule"
    assert verdict.ingress.rule == "spec.ingressDeny[0]"
    assert "denied by default/deny-80 spec.ingressDeny[0]" in verdict.reason


def test_a_deny_rule_in_a_clusterwide_policy_overrides_a_namespaced_allow() -> None:
    """deny.rst: precedence regardless of policy kind (from_world_deny.yaml)."""
    lockdown = """
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: external-lockdown}
spec:
  endpointSelector: {}
  ingressDeny:
  - fromEntities: [world]
  ingress:
  - fromEntities: [all]
"""
    allow_world = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: public, namespace: web}
spec:
  endpointSelector: {}
  ingress:
  - fromEntities: [world]
"""
    eng = engine(lockdown, allow_world)
    site = pod("site", "web", app="site")
    assert decision(eng, world("203.0.113.7"), site, 443) == "deny"
    # "Existing inter-cluster policies will still be allowed"
    assert decision(eng, pod("peer", "other"), site, 443) == "allow"


# -- selectors and namespaces (utils.go getEndpointSelector, kubernetes.rst) ------------------


def test_cnp_peer_selectors_stay_in_the_policy_namespace() -> None:
    """utils.go getEndpointSelector: a fromEndpoints selector gets the policy's namespace added."""
    policy = BACKEND.replace("namespace: default", "namespace: prod")
    eng = engine(policy)
    backend = pod("backend", "prod", role="backend")
    assert decision(eng, pod("f", "prod", role="frontend"), backend) == "allow"
    assert decision(eng, pod("f", "dev", role="frontend"), backend) == "deny"


def test_a_namespace_in_the_selector_reaches_across_namespaces() -> None:
    """kubernetes.rst namespace-policy.yaml: ns2/luke may reach ns1/leia, ns1/luke may not."""
    policy = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: k8s-expose-across-namespace, namespace: ns1}
spec:
  endpointSelector: {matchLabels: {name: leia}}
  ingress:
  - fromEndpoints:
    - matchLabels: {"k8s:io.kubernetes.pod.namespace": ns2, name: luke}
"""
    eng = engine(policy)
    leia = pod("leia", "ns1", name="leia")
    assert decision(eng, pod("luke", "ns2", name="luke"), leia) == "allow"
    assert decision(eng, pod("luke", "ns1", name="luke"), leia) == "deny"


def test_namespace_labels_select_across_namespaces() -> None:
    """namespace-labels-policy.yaml: pods of any namespace labelled faction=alliance."""
    policy = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: alliance-only, namespace: hoth}
spec:
  endpointSelector: {matchLabels: {name: rebel-base}}
  ingress:
  - fromEndpoints:
    - matchLabels: {io.cilium.k8s.namespace.labels.faction: alliance}
"""
    eng = engine(policy)
    base = pod("base", "hoth", name="rebel-base")
    xwing = identity.pod(
        "endor/xwing", namespace="endor", labels={}, namespace_labels={"faction": "alliance"}
    )
    tie = identity.pod(
        "death/tie", namespace="death", labels={}, namespace_labels={"faction": "empire"}
    )
    assert decision(eng, xwing, base) == "allow"
    assert decision(eng, tie, base) == "deny"


def test_the_endpoint_selector_of_a_cnp_never_leaves_its_namespace() -> None:
    """utils.go ParseToCiliumRule: the endpointSelector always applies in the policy's namespace."""
    eng = engine(BACKEND)
    elsewhere = pod("backend", "other", role="backend")
    assert ask(eng, OTHER, elsewhere).ingress.cause == "no-policy"


def test_a_clusterwide_wildcard_peer_selects_pods_only() -> None:
    """utils.go: a CCNP peer selector without a namespace needs one (wildcard-from-endpoints)."""
    policy = """
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: wildcard-from-endpoints}
spec:
  endpointSelector:
    matchLabels: {"k8s:io.kubernetes.pod.namespace": kube-system, k8s-app: kube-dns}
  ingress:
  - fromEndpoints: [{}]
    toPorts: [{ports: [{port: "53", protocol: UDP}]}]
"""
    eng = engine(policy)
    dns = pod("coredns", "kube-system", k8s_app="kube-dns")
    assert decision(eng, pod("any", "shop"), dns, 53, protocol="UDP") == "allow"
    assert decision(eng, world("1.2.3.4"), dns, 53, protocol="UDP") == "deny"


def test_match_expressions_and_versus_or() -> None:
    """and-statement.yaml and or-statement.yaml: terms of one selector AND, selectors OR."""
    and_policy = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: and-statement-policy}
spec:
  endpointSelector: {}
  ingress:
  - fromEndpoints:
    - matchExpressions:
      - {key: "k8s:io.kubernetes.pod.namespace", operator: In, values: [production]}
      - {key: "k8s:cilium.example.com/policy", operator: In, values: [strict]}
"""
    or_policy = and_policy.replace(
        '      - {key: "k8s:cilium.example.com/policy"',
        '    - matchExpressions:\n      - {key: "k8s:cilium.example.com/policy"',
    )
    target = pod("t")
    strict_prod = identity.pod(
        "production/a", namespace="production", labels={"cilium.example.com/policy": "strict"}
    )
    only_prod = pod("b", "production")
    assert decision(engine(and_policy), strict_prod, target) == "allow"
    assert decision(engine(and_policy), only_prod, target) == "deny"
    assert decision(engine(or_policy), only_prod, target) == "allow"


@pytest.mark.parametrize(
    ("operator", "values", "labels", "expected"),
    [
        ("In", ["a", "b"], {"tier": "b"}, "allow"),
        ("In", ["a"], {"tier": "b"}, "deny"),
        ("NotIn", ["a"], {"tier": "b"}, "allow"),
        ("NotIn", ["a"], {}, "allow"),
        ("NotIn", ["a"], {"tier": "a"}, "deny"),
        ("Exists", [], {"tier": "x"}, "allow"),
        ("Exists", [], {}, "deny"),
        ("DoesNotExist", [], {}, "allow"),
        ("DoesNotExist", [], {"tier": "x"}, "deny"),
    ],
)
def test_match_expression_operators(
    operator: str, values: list[str], labels: dict[str, str], expected: str
) -> None:
    """Kubernetes LabelSelectorRequirement: In, NotIn (absent matches), Exists, DoesNotExist."""
    values_text = f", values: [{', '.join(values)}]" if values else ""
    policy = f"""
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {{name: ops}}
spec:
  endpointSelector: {{matchLabels: {{role: backend}}}}
  ingress:
  - fromEndpoints:
    - matchExpressions: [{{key: tier, operator: {operator}{values_text}}}]
"""
    source = identity.pod("default/s", namespace="default", labels=labels)
    assert decision(engine(policy), source, BACKEND_POD) == expected


def test_label_sources_k8s_and_any() -> None:
    """labels.GetExtendedKeyFrom: ``k8s:app`` matches a pod's label, ``reserved:app`` does not."""
    template = BACKEND.replace("{role: frontend}", '{"KEY": frontend}')
    assert decision(engine(template.replace("KEY", "k8s:role")), FRONTEND, BACKEND_POD) == "allow"
    assert decision(engine(template.replace("KEY", "any:role")), FRONTEND, BACKEND_POD) == "allow"
    assert (
        decision(engine(template.replace("KEY", "reserved:role")), FRONTEND, BACKEND_POD) == "deny"
    )


def test_service_accounts_select_pods() -> None:
    """serviceaccount-policy.yaml: io.cilium.k8s.policy.serviceaccount selects the account."""
    policy = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: k8s-svc-account}
spec:
  endpointSelector:
    matchLabels: {io.cilium.k8s.policy.serviceaccount: leia}
  ingress:
  - fromEndpoints:
    - matchLabels: {io.cilium.k8s.policy.serviceaccount: luke}
    toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules: {http: [{method: GET, path: "/public$"}]}
"""
    eng = engine(policy)
    leia = identity.pod("default/leia", namespace="default", labels={}, service_account="leia")
    luke = identity.pod("default/luke", namespace="default", labels={}, service_account="luke")
    vader = identity.pod("default/vader", namespace="default", labels={}, service_account="vader")
    assert decision(eng, luke, leia, http=("GET", "/public")) == "allow"
    assert decision(eng, luke, leia, http=("GET", "/private")) == "deny"
    assert decision(eng, vader, leia) == "deny"

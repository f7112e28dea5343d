"""Kubernetes NetworkPolicy in the enforcement model: the API's semantics, as Cilium reads them.

Expected verdicts come from the field documentation of ``networking/v1/types.go`` in
kubernetes/api and from ``ParseNetworkPolicy`` in ``pkg/k8s/network_policy.go`` (cilium/cilium),
which decides the points the API leaves open (how policyTypes defaults, what a peer-less rule
admits). Each test quotes the sentence it checks.
"""

from __future__ import annotations

from verdicts_helpers import ask, decision, engine, pod, world

from reconciler.verdicts import identity

WEB = pod("web", "shop", app="web")


def _np(spec: str, name: str = "np", namespace: str = "shop") -> str:
    return f"""
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: {name}, namespace: {namespace}}}
spec:
{spec}
"""


def test_pod_selector_selects_pods_of_the_policy_namespace_only() -> None:
    """types.go podSelector: "An empty selector matches all pods in the policy's namespace"."""
    eng = engine(_np("  podSelector: {}\n  policyTypes: [Ingress]"))
    assert decision(eng, pod("x", "shop"), WEB) == "deny"
    assert ask(eng, pod("x", "shop"), pod("web", "other")).ingress.cause == "no-policy"


def test_policy_types_default_to_ingress_and_egress_needs_naming() -> None:
    """types.go policyTypes: without it, every policy affects ingress; egress only with an
    egress section, and an egress-only default deny must name Egress (network_policy.go)."""
    ingress_only = engine(_np("  podSelector: {}"))
    assert decision(ingress_only, pod("x", "shop"), WEB) == "deny"
    assert decision(ingress_only, WEB, world("1.1.1.1"), 443) == "allow"
    egress_only = engine(_np("  podSelector: {}\n  policyTypes: [Egress]"))
    assert decision(egress_only, WEB, world("1.1.1.1"), 443) == "deny"
    assert decision(egress_only, pod("x", "other"), WEB) == "allow"


def test_a_rule_without_from_admits_every_source() -> None:
    """types.go from: "If this field is empty or missing, this rule matches all sources"."""
    eng = engine(
        _np("  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - ports: [{port: 443}]")
    )
    assert decision(eng, world("203.0.113.1"), WEB, 443) == "allow"
    assert decision(eng, pod("x", "other"), WEB, 443) == "allow"
    assert decision(eng, pod("x", "other"), WEB, 80) == "deny"


def test_peers_pod_selector_namespace_selector_and_both() -> None:
    """types.go NetworkPolicyPeer: podSelector alone is the policy's namespace; namespaceSelector
    selects namespaces by label; both together select those pods in those namespaces."""
    spec = """\
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - podSelector: {matchLabels: {role: lb}}
    - namespaceSelector: {matchLabels: {team: ops}}
    - namespaceSelector: {matchLabels: {team: mon}}
      podSelector: {matchLabels: {app: prom}}"""
    eng = engine(_np(spec))
    ops = identity.pod("ops/any", namespace="ops", labels={}, namespace_labels={"team": "ops"})
    prom = identity.pod(
        "mon/prom", namespace="mon", labels={"app": "prom"}, namespace_labels={"team": "mon"}
    )
    grafana = identity.pod(
        "mon/graf", namespace="mon", labels={"app": "graf"}, namespace_labels={"team": "mon"}
    )
    assert decision(eng, pod("lb", "shop", role="lb"), WEB) == "allow"
    assert decision(eng, pod("lb", "other", role="lb"), WEB) == "deny"
    assert decision(eng, ops, WEB) == "allow"
    assert decision(eng, prom, WEB) == "allow"
    assert decision(eng, grafana, WEB) == "deny"


def test_an_empty_namespace_selector_selects_every_namespace_but_not_the_world() -> None:
    """types.go: "if present but empty, it selects all namespaces"; network_policy.go makes
    that a namespace label that exists, so addresses outside the cluster are not selected."""
    spec = "  podSelector: {}\n  ingress:\n  - from:\n    - namespaceSelector: {}"
    eng = engine(_np(spec))
    assert decision(eng, pod("x", "anywhere"), WEB) == "allow"
    assert decision(eng, world("8.8.8.8"), WEB) == "deny"


def test_namespace_selector_on_the_metadata_name_label() -> None:
    """Kubernetes sets kubernetes.io/metadata.name on every namespace; peers select by it."""
    spec = """\
  podSelector: {}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}"""
    eng = engine(_np(spec))
    assert decision(eng, pod("p", "monitoring"), WEB) == "allow"
    assert decision(eng, pod("p", "other"), WEB) == "deny"


def test_ip_block_with_except() -> None:
    """types.go IPBlock: "The except entry describes CIDRs that should not be included"."""
    spec = """\
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}"""
    eng = engine(_np(spec))
    assert decision(eng, WEB, world("10.2.0.1"), 443) == "allow"
    assert decision(eng, WEB, world("10.1.0.1"), 443) == "deny"


def test_ports_default_to_tcp_and_end_port_makes_a_range() -> None:
    """types.go NetworkPolicyPort: protocol "defaults to TCP"; endPort makes a range; a rule
    without ports "matches all ports"."""
    spec = """\
  podSelector: {}
  ingress:
  - ports:
    - {port: 32000, endPort: 32768}
    - {port: 53, protocol: UDP}"""
    eng = engine(_np(spec))
    source = pod("x", "shop")
    assert decision(eng, source, WEB, 32500) == "allow"
    assert decision(eng, source, WEB, 32500, protocol="UDP") == "deny"
    assert decision(eng, source, WEB, 53, protocol="UDP") == "allow"
    assert decision(eng, source, WEB, 32769) == "deny"


def test_named_ports_in_a_network_policy() -> None:
    """types.go port: "This can either be a numerical or named port on a pod"."""
    spec = "  podSelector: {}\n  ingress:\n  - ports: [{port: https}]"
    eng = engine(_np(spec))
    web = identity.pod("shop/web", namespace="shop", labels={}, ports=[("https", 8443, "TCP")])
    assert decision(eng, pod("x", "shop"), web, 8443) == "allow"
    assert decision(eng, pod("x", "shop"), web, 443) == "deny"


def test_cilium_and_kubernetes_policies_are_enforced_together() -> None:
    """deny.rst: deny rules win "regardless of whether they are a Cilium Network Policy, a
    Clusterwide Cilium Network Policy or even a Kubernetes Network Policy"."""
    allow_all = _np("  podSelector: {}\n  ingress:\n  - {}")
    deny = """
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: no-world}
spec:
  endpointSelector: {}
  ingressDeny:
  - fromEntities: [world]
"""
    eng = engine(allow_all, deny)
    verdict = ask(eng, world("1.2.3.4"), WEB)
    assert verdict.decision == "deny"
    assert verdict.ingress.policy is not None
    assert verdict.ingress.policy.name == "no-world"
    assert decision(eng, pod("x", "other"), WEB) == "allow"

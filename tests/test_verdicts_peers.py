"""Entities, CIDRs, FQDNs, ports, ICMP and L7 in the enforcement model, each against Cilium's docs.

The expected verdicts come from ``Documentation/security/policy/layer3.rst`` (entities, CIDR,
DNS based), ``layer4.rst`` (ports, ranges, ICMP), ``layer7.rst`` (HTTP and DNS rules),
``host.rst`` and ``lifecycle.rst`` (host policies, init), and the functions of cilium/cilium
they name; each test says which.
"""

from __future__ import annotations

import ipaddress

import pytest
from verdicts_helpers import ask, decision, engine, pod, world

from reconciler.verdicts import identity
from reconciler.verdicts.engine import Options
from reconciler.verdicts.l7 import HttpRequest
from reconciler.verdicts.ports import Probe
from reconciler.verdicts.verdict import Flow

DEV = pod("dev", env="dev")


def _egress(rule: str, name: str = "egress") -> str:
    return f"""
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {{name: {name}}}
spec:
  endpointSelector: {{matchLabels: {{env: dev}}}}
  egress:
{rule}
"""


def _ingress(rule: str, name: str = "ingress") -> str:
    return _egress(rule, name).replace("egress:", "ingress:")


# -- entities (layer3.rst "Entities based", pkg/policy/api/entity.go) ----------------------


def test_world_is_everything_outside_the_cluster() -> None:
    """layer3.rst: "The world entity corresponds to all endpoints outside of the cluster"."""
    eng = engine(_egress("  - toEntities: [world]"))
    assert decision(eng, DEV, world("1.1.1.1"), 443) == "allow"
    assert decision(eng, DEV, world("2001:db8::1"), 443) == "allow"
    assert decision(eng, DEV, pod("other"), 443) == "deny"
    assert decision(eng, DEV, identity.entity("n", "host"), 443) == "deny"


def test_host_is_the_local_node_and_remote_node_every_other() -> None:
    """layer3.rst: host is the local host, remote-node any other node (examples nodes.yaml)."""
    eng = engine(
        _ingress("  - fromEntities: [remote-node]"), options=Options(allow_localhost=False)
    )
    here = identity.pod("default/dev", namespace="default", labels={"env": "dev"}, node="a")
    local = identity.entity("node-a", "host", node="a")
    remote = identity.entity("node-b", "host", node="b")
    assert decision(eng, remote, here) == "allow"
    assert decision(eng, local, here) == "deny"


def test_the_local_host_may_always_reach_its_pods() -> None:
    """layer3.rst "Access to/from local host": Kubernetes automatically allows the local host."""
    eng = engine(_ingress("  - {}"))
    verdict = ask(eng, identity.entity("node", "host"), DEV)
    assert verdict.decision == "allow"
    assert verdict.ingress.cause == "localhost"
    assert (
        decision(
            engine(_ingress("  - {}"), options=Options(allow_localhost=False)),
            identity.entity("n", "host"),
            DEV,
        )
        == "deny"
    )


def test_kube_apiserver_and_cluster_entities() -> None:
    """entity.go InitEntities: cluster = host, remote-node, init, ingress, health, unmanaged,
    kube-apiserver and the pods of the local cluster; apiserver.yaml allows the apiserver."""
    apiserver = identity.entity("apiserver", "kube-apiserver")
    eng = engine(_egress("  - toEntities: [kube-apiserver]"))
    assert decision(eng, DEV, apiserver, 6443) == "allow"
    assert decision(eng, DEV, world("1.1.1.1"), 6443) == "deny"
    cluster = engine(_egress("  - toEntities: [cluster]"))
    assert decision(cluster, DEV, apiserver, 6443) == "allow"
    assert decision(cluster, DEV, pod("x", "other"), 80) == "allow"
    assert decision(cluster, DEV, identity.entity("n", "remote-node"), 80) == "allow"
    remote = identity.pod("x", namespace="default", labels={}, cluster="mesh-2")
    assert decision(cluster, DEV, remote, 80) == "deny"
    assert decision(cluster, DEV, world("1.1.1.1"), 80) == "deny"


def test_all_is_every_peer() -> None:
    """entity.go: ``all`` is the wildcard selector (egress-deny.yaml relies on it)."""
    eng = engine(_egress("  - toEntities: [all]"))
    for peer in (world("9.9.9.9"), pod("p", "x"), identity.entity("n", "remote-node")):
        assert decision(eng, DEV, peer, 1234) == "allow"


def test_health_endpoints_follow_their_clusterwide_policy() -> None:
    """clusterwide/health.yaml: health endpoints accept remote nodes and nothing else."""
    policy = """
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: cilium-health-checks}
spec:
  endpointSelector:
    matchLabels: {'reserved:health': ''}
  ingress:
  - fromEntities: [remote-node]
"""
    eng = engine(policy)
    health = identity.entity("health", "health")
    assert decision(eng, identity.entity("n", "remote-node"), health, 4240) == "allow"
    assert decision(eng, pod("p"), health, 4240) == "deny"


def test_init_endpoints_are_always_in_default_deny() -> None:
    """repository.go: an endpoint with reserved:init always enforces policy (lifecycle.rst)."""
    init_policy = """
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: init}
specs:
  - endpointSelector:
      matchLabels: {"reserved:init": ""}
    egress:
    - toEntities: [all]
      toPorts: [{ports: [{port: "53", protocol: UDP}]}]
"""
    starting = identity.entity("starting", "init")
    assert decision(engine(), starting, world("8.8.8.8"), 53, protocol="UDP") == "deny"
    eng = engine(init_policy)
    assert decision(eng, starting, world("8.8.8.8"), 53, protocol="UDP") == "allow"
    assert decision(eng, starting, world("8.8.8.8"), 443) == "deny"


# -- CIDR (layer3.rst "IP/CIDR based") -------------------------------------------------------


def test_cidr_and_cidr_set_with_except() -> None:
    """cidr.yaml: 20.1.1.1 and 10.0.0.0/8 are allowed, but not 10.96.0.0/12."""
    rules = """\
  - toCIDR: [20.1.1.1/32]
  - toCIDRSet:
    - cidr: 10.0.0.0/8
      except: [10.96.0.0/12]"""
    eng = engine(_egress(rules))
    assert decision(eng, DEV, world("20.1.1.1")) == "allow"
    assert decision(eng, DEV, world("10.1.2.3")) == "allow"
    assert decision(eng, DEV, world("10.96.0.10")) == "deny"
    assert decision(eng, DEV, world("20.1.1.2")) == "deny"


def test_cidr_rules_never_select_pods_or_nodes() -> None:
    """layer3.rst: CIDR rules do not apply where both sides are managed by Cilium or are nodes."""
    eng = engine(_egress("  - toCIDR: [0.0.0.0/0]"))
    inside = identity.pod("x/y", namespace="x", labels={}, ip=ipaddress.ip_address("10.0.0.5"))
    assert decision(eng, DEV, inside) == "deny"
    assert (
        decision(eng, DEV, identity.entity("n", "remote-node", ip=ipaddress.ip_address("10.0.0.9")))
        == "deny"
    )
    assert decision(eng, DEV, world("93.184.216.34")) == "allow"


# -- FQDN (layer3.rst "DNS based") ------------------------------------------------------------

_FQDN = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: to-fqdn}
spec:
  endpointSelector: {matchLabels: {app: test-app}}
  egress:
    - toEndpoints:
      - matchLabels:
          "k8s:io.kubernetes.pod.namespace": kube-system
          "k8s:k8s-app": kube-dns
      toPorts:
        - ports: [{port: "53", protocol: ANY}]
          rules:
            dns:
              - matchPattern: "*"
    - toFQDNs:
        - matchName: "my-remote-service.com"
"""
APP = pod("app", app="test-app")
KUBE_DNS = pod("coredns", "kube-system", k8s_app="kube-dns")


def test_to_fqdns_allows_the_addresses_of_the_name() -> None:
    """fqdn.yaml: DNS through the proxy, then my-remote-service.com's addresses."""
    eng = engine(_FQDN)
    assert decision(eng, APP, KUBE_DNS, 53, protocol="UDP", dns="my-remote-service.com") == "allow"
    verdict = ask(eng, APP, world("198.51.100.4", "my-remote-service.com"), 443)
    assert verdict.decision == "allow"
    assert "toFQDNs matchName my-remote-service.com" in verdict.egress.reason
    assert decision(eng, APP, world("198.51.100.5", "other.example.com"), 443) == "deny"
    assert decision(eng, APP, world("198.51.100.6"), 443) == "deny"


def test_to_fqdns_without_a_dns_rule_never_takes_effect() -> None:
    """layer3.rst: the DNS proxy must see the lookup (an L7 policy allowing DNS requests)."""
    no_proxy = _FQDN.replace(
        '          rules:\n            dns:\n              - matchPattern: "*"\n', ""
    )
    verdict = ask(engine(no_proxy), APP, world("198.51.100.4", "my-remote-service.com"), 443)
    assert verdict.decision == "deny"
    assert "DNS proxy" in verdict.egress.reason
    assert "never learns its addresses" in verdict.egress.reason


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("*.cilium.io", "sub.cilium.io", True),
        ("*.cilium.io", "cilium.io", False),
        ("*.cilium.io", "sub.sub.cilium.io", False),
        ("part*ial.com", "partial.com", True),
        ("part*ial.com", "part-extra-ial.com", True),
        ("**.cilium.io", "app.cilium.io", True),
        ("**.cilium.io", "test.app.cilium.io", True),
        ("**.cilium.io", "cilium.io", False),
        ("*", "anything.example", True),
    ],
)
def test_dns_match_patterns(pattern: str, name: str, matches: bool) -> None:
    """layer3.rst toFQDNs.matchPattern: every example the page gives."""
    rules = f"""\
  - toEndpoints: [{{matchLabels: {{"k8s:io.kubernetes.pod.namespace": kube-system}}}}]
    toPorts:
    - ports: [{{port: "53", protocol: UDP}}]
      rules: {{dns: [{{matchPattern: "{pattern}"}}]}}"""
    eng = engine(_egress(rules))
    expected = "allow" if matches else "deny"
    assert decision(eng, DEV, KUBE_DNS, 53, protocol="UDP", dns=name) == expected
    assert decision(eng, DEV, KUBE_DNS, 53, protocol="UDP", dns=name.upper() + ".") == expected


# -- ports and protocols (layer4.rst, l4.go) ------------------------------------------------


def test_port_ranges_with_end_port() -> None:
    """l4_port_range.yaml: TCP ports 80 to 444."""
    rules = '  - toPorts: [{ports: [{port: "80", endPort: 444, protocol: TCP}]}]'
    eng = engine(_egress(rules))
    assert decision(eng, DEV, world("1.1.1.1"), 443) == "allow"
    assert decision(eng, DEV, world("1.1.1.1"), 444) == "allow"
    assert decision(eng, DEV, world("1.1.1.1"), 445) == "deny"
    assert decision(eng, DEV, world("1.1.1.1"), 443, protocol="UDP") == "deny"


def test_protocol_any_covers_tcp_udp_and_sctp_but_not_icmp() -> None:
    """The CRD: ANY (or omitted) matches the protocols with transport ports."""
    eng = engine(_egress('  - toPorts: [{ports: [{port: "53"}]}]'))
    for protocol in ("TCP", "UDP", "SCTP"):
        assert decision(eng, DEV, world("1.1.1.1"), 53, protocol=protocol) == "allow"
    assert decision(eng, DEV, world("1.1.1.1"), 53, protocol="ICMP") == "deny"


def test_ports_without_peers_admit_every_peer() -> None:
    """l4.yaml (layer4.rst): a rule with toPorts and no peer field allows every peer on the port."""
    eng = engine(_egress('  - toPorts: [{ports: [{port: "80", protocol: TCP}]}]'))
    assert decision(eng, DEV, world("1.1.1.1"), 80) == "allow"
    assert decision(eng, DEV, pod("x", "y"), 80) == "allow"
    assert decision(eng, DEV, pod("x", "y"), 81) == "deny"


def test_icmp_types_by_number_and_name() -> None:
    """icmp.yaml (layer4.rst "ICMP/ICMPv6"): echo requests of both families, nothing else."""
    rules = """\
  - icmps:
    - fields:
      - {type: 8, family: IPv4}
      - {type: EchoRequest, family: IPv6}"""
    eng = engine(_egress(rules))
    assert decision(eng, DEV, world("1.1.1.1"), 8, protocol="ICMP") == "allow"
    assert decision(eng, DEV, world("2001:db8::1"), 128, protocol="ICMPV6") == "allow"
    assert decision(eng, DEV, world("1.1.1.1"), 0, protocol="ICMP") == "deny"
    assert decision(eng, DEV, world("1.1.1.1"), 8) == "deny"


def test_named_ports_match_the_destination_container_port() -> None:
    """layer4.rst: a port name matches the destination's container port of that name."""
    rules = """\
  - toEndpoints: [{matchLabels: {app: api}}]
    toPorts: [{ports: [{port: http-api, protocol: TCP}]}]"""
    eng = engine(_egress(rules))
    api = identity.pod(
        "default/api", namespace="default", labels={"app": "api"}, ports=[("http-api", 8080, "TCP")]
    )
    assert decision(eng, DEV, api, 8080) == "allow"
    assert decision(eng, DEV, api, 9090) == "deny"
    assert decision(eng, DEV, api, 8080, protocol="UDP") == "deny"


# -- L7 (layer7.rst, xds_server.go getHTTPRule) ----------------------------------------------

_L7 = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: rule1}
spec:
  endpointSelector: {matchLabels: {app: service}}
  ingress:
  - toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules:
        http:
        - method: GET
          path: "/path1$"
        - method: PUT
          path: "/path2$"
          headers: ["X-My-Header: true"]
"""
SERVICE = pod("svc", app="service")


@pytest.mark.parametrize(
    ("method", "path", "headers", "expected"),
    [
        ("GET", "/path1", {}, "allow"),
        ("GET", "/path1/x", {}, "deny"),
        ("GET", "/path1?q=1", {}, "deny"),
        ("PUT", "/path2", {"x-my-header": "true"}, "allow"),
        ("PUT", "/path2", {}, "deny"),
        ("PUT", "/path2", {"x-my-header": "false"}, "deny"),
        ("POST", "/path1", {}, "deny"),
    ],
)
def test_http_rules_match_the_whole_method_path_and_headers(
    method: str, path: str, headers: dict[str, str], expected: str
) -> None:
    """layer7.rst HTTP example (http.yaml): GET /path1 and PUT /path2 with X-My-Header: true;
    the regexes match the whole ``:path`` (Envoy safe_regex, query string included)."""
    request = HttpRequest(method, path, None, tuple(headers.items()))
    verdict = engine(_L7).evaluate(Flow(pod("c"), SERVICE, Probe("TCP", 80), request))
    assert verdict.decision == expected


def test_an_l4_rule_on_the_same_port_lifts_the_l7_rules() -> None:
    """layer7.rst: beside a similar L4 rule, "the layer 7 portions ... will have no effect"."""
    l4 = _L7.replace("metadata: {name: rule1}", "metadata: {name: rule2}").split("      rules:")[0]
    eng = engine(_L7, l4)
    verdict = ask(eng, pod("c"), SERVICE, http=("DELETE", "/anything"))
    assert verdict.decision == "allow"
    assert "no L7 rules" in verdict.ingress.reason


def test_a_connection_question_is_answered_at_l4() -> None:
    """A flow without a request asks about the connection: allowed, with its requests checked."""
    verdict = ask(engine(_L7), pod("c"), SERVICE)
    assert verdict.decision == "allow"
    assert "requests are then checked against HTTP" in verdict.reason


def test_kafka_rules_are_not_guessed() -> None:
    """The model does not evaluate Kafka: a request on a Kafka-filtered port is undecided."""
    kafka = _L7.replace(
        '        http:\n        - method: GET\n          path: "/path1$"\n        - method: PUT\n'
        '          path: "/path2$"\n          headers: ["X-My-Header: true"]\n',
        "        kafka:\n        - {role: consume, topic: deathstar-plans}\n",
    )
    eng = engine(kafka)
    assert decision(eng, pod("c"), SERVICE) == "allow"
    verdict = ask(eng, pod("c"), SERVICE, http=("GET", "/"))
    assert verdict.decision == "undecided"
    assert "cannot decide" in verdict.reason


def test_fields_the_model_cannot_read_make_it_say_so() -> None:
    """toServices needs Services the tree does not hold: "cannot decide", not a guess."""
    rules = """\
  - toServices:
    - k8sService: {serviceName: myservice, namespace: default}"""
    verdict = ask(engine(_egress(rules)), DEV, pod("backend"))
    assert verdict.decision == "undecided"
    assert "toServices" in verdict.reason


# -- host policies (host.rst) ----------------------------------------------------------------

_HOST = """
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: demo-host-policy}
spec:
  description: ""
  nodeSelector:
    matchLabels: {node-access: ssh}
  ingress:
  - fromEntities: [cluster]
  - toPorts:
    - ports: [{port: "22", protocol: TCP}]
"""


def test_host_policies_apply_to_the_nodes_they_select() -> None:
    """demo-host-policy.yaml (host.rst): SSH from anywhere, everything from the cluster."""
    eng = engine(_HOST)
    node = identity.entity("node-a", "host", node="a", node_labels={"node-access": "ssh"})
    bare = identity.entity("node-b", "host", node="b", node_labels={})
    outside = world("203.0.113.9")
    assert decision(eng, outside, node, 22) == "allow"
    assert decision(eng, outside, node, 6443) == "deny"
    assert decision(eng, pod("p"), node, 6443) == "allow"
    assert decision(eng, outside, bare, 6443) == "allow"


def test_nodes_are_not_enforced_without_host_policies() -> None:
    """repository.go: a host identity enforces nothing without the host firewall."""
    verdict = ask(engine(), world("1.1.1.1"), identity.entity("n", "host"), 22)
    assert verdict.ingress.cause == "not-enforced"


def test_a_rule_cilium_would_reject_is_undecided_only_where_it_applies() -> None:
    """A policy with a port Cilium rejects is not enforced as written: the model says it cannot
    decide for the pods the policy selects, and stays sure about every other pod."""
    broken = _ingress('  - toPorts: [{ports: [{port: "99999", protocol: TCP}]}]')
    eng = engine(broken)
    verdict = ask(eng, pod("x"), DEV)
    assert verdict.decision == "undecided"
    assert "port 99999 is outside 0-65535" in verdict.reason
    assert decision(eng, pod("x"), pod("y", env="prod")) == "allow"


def test_what_a_flow_does_not_say_is_not_guessed() -> None:
    """l4_sni.yaml (layer4.rst "Limit TLS Server Name Indication"): server names decide, which a
    flow of a PolicyTest or of Hubble's L3/L4 events does not carry: the model says so."""
    rules = """\
  - toPorts:
    - ports: [{port: "443", protocol: TCP}]
      serverNames: [one.one.one.one]"""
    verdict = ask(engine(_egress(rules)), DEV, world("1.1.1.1"), 443)
    assert verdict.decision == "undecided"
    assert "serverNames one.one.one.one (TLS SNI)" in verdict.reason


def test_a_deny_rule_the_model_cannot_read_outweighs_any_allow() -> None:
    """deny.rst: a deny rule wins; when the model cannot tell whether one matches (egressDeny
    toServices), no allow rule can settle the verdict."""
    rules = """\
  - toEntities: [all]
  egressDeny:
  - toServices:
    - k8sService: {serviceName: db, namespace: default}"""
    verdict = ask(engine(_egress(rules)), DEV, pod("db"), 5432)
    assert verdict.decision == "undecided"
    assert "egressDeny[0] uses toServices" in verdict.reason


def test_an_unreadable_rule_matters_only_where_it_could_change_the_answer() -> None:
    """Default deny stays deny whether or not an unreadable deny rule matches; without default
    deny, an unreadable allow rule changes nothing."""
    deny_only = """\
  - {}
  egressDeny:
  - toServices:
    - k8sService: {serviceName: db, namespace: default}"""
    assert decision(engine(_egress(deny_only)), DEV, pod("db"), 5432) == "deny"
    allow = "  - toServices:\n    - k8sService: {serviceName: db, namespace: default}"
    relaxed = _egress(allow).replace("spec:\n", "spec:\n  enableDefaultDeny: {egress: false}\n")
    assert decision(engine(relaxed), DEV, pod("db"), 5432) == "allow"
    assert decision(engine(_egress(allow)), DEV, pod("db"), 5432) == "undecided"

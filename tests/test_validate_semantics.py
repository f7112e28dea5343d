"""`validate` semantics layer: the rules Cilium's Go validation enforces after apply."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
from conftest import EXAMPLES
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from reconciler.validate.findings import RULES, Issue, Severity, format_path
from reconciler.validate.semantics import FLAG_NAMES, VERSIONS, AgentFlags, check_semantics
from reconciler.validate.semantics_regex import re2_problem
from reconciler.validate.semantics_values import (
    go_parse_uint16,
    is_service_name,
    label_key_problem,
)

OFF = AgentFlags()
ALL_ON = AgentFlags(node_selector_labels=True, extended_ip_protocols=True, mutual_auth=True)
SELECT = {"matchLabels": {"app": "api"}}
TCP_80 = {"ports": [{"port": "80", "protocol": "TCP"}]}
HTTP_GET = {"http": [{"method": "GET", "path": "/public"}]}
DNS_53 = {"ports": [{"port": "53", "protocol": "ANY"}], "rules": {"dns": [{"matchPattern": "*"}]}}


def cnp(spec: dict[str, Any], kind: str = "CiliumNetworkPolicy") -> dict[str, Any]:
    return {
        "apiVersion": "cilium.io/v2",
        "kind": kind,
        "metadata": {"name": "api", "namespace": "shop"},
        "spec": spec,
    }


def ccnp(spec: dict[str, Any]) -> dict[str, Any]:
    return cnp(spec, kind="CiliumClusterwideNetworkPolicy")


def issues(
    document: dict[str, Any], version: str = "1.20", flags: AgentFlags = OFF
) -> list[tuple[str, str]]:
    return [
        (issue.rule, format_path(issue.path))
        for issue in check_semantics(document, version=version, flags=flags)
    ]


def ingress(*items: dict[str, Any]) -> dict[str, Any]:
    return {"endpointSelector": SELECT, "ingress": list(items)}


def egress(*items: dict[str, Any]) -> dict[str, Any]:
    return {"endpointSelector": SELECT, "egress": list(items)}


# -- the public surface ------------------------------------------------------------------


def test_rules_are_registered_with_names_rationales_and_hints() -> None:
    ids = [f"CG2{n:02d}" for n in range(1, 20)]
    assert all(rule_id in RULES for rule_id in ids)
    for rule_id in ids:
        rule = RULES[rule_id]
        assert rule.name
        assert rule.rationale.endswith(".")
        assert rule.hint.endswith(".")
        expected = Severity.WARNING if rule_id == "CG219" else Severity.ERROR
        assert rule.severity == expected


def test_flag_names_cover_every_agent_flag() -> None:
    assert set(FLAG_NAMES) == {f.name for f in dataclasses.fields(AgentFlags)}
    assert FLAG_NAMES["node_selector_labels"] == "--enable-node-selector-labels"
    assert FLAG_NAMES["extended_ip_protocols"] == "--enable-extended-ip-protocols"
    assert FLAG_NAMES["mutual_auth"] == "--mesh-auth-mutual-enabled"


def test_other_kinds_have_no_issues_and_unknown_versions_are_errors() -> None:
    assert issues({"kind": "NetworkPolicy", "spec": {}}) == []
    assert issues({"kind": "CiliumNetworkPolicy"}) == []  # no spec: the structure layer's case
    with pytest.raises(ValueError, match=r"1\.18"):
        check_semantics(cnp(ingress({})), version="1.18", flags=OFF)


def test_every_rule_of_specs_is_checked_with_its_index_in_the_path() -> None:
    document = cnp(ingress({}))
    del document["spec"]
    document["specs"] = [ingress({}), {"endpointSelector": SELECT}]
    assert issues(document) == [("CG202", "specs[1]")]


def test_an_issue_carries_a_message_naming_the_value() -> None:
    (issue,) = check_semantics(
        cnp(egress({"toPorts": [{"ports": [{"port": "70000"}]}]})), version="1.20", flags=OFF
    )
    assert isinstance(issue, Issue)
    assert issue.path == ("spec", "egress", 0, "toPorts", 0, "ports", 0, "port")
    assert "'70000'" in issue.message


# -- CG201 selector-kind, CG202 no-direction, CG217 cnp-node-selector ----------------------


def test_selector_kind() -> None:
    assert issues(cnp({"ingress": [{}]})) == [("CG201", "spec")]
    both = ccnp({"endpointSelector": SELECT, "nodeSelector": SELECT, "ingress": [{}]})
    assert issues(both) == [("CG201", "spec.nodeSelector")]
    assert issues(ccnp({"nodeSelector": SELECT, "ingress": [{}]})) == []
    assert issues(cnp({"endpointSelector": {}, "ingress": [{}]})) == []


def test_no_direction() -> None:
    for spec in (
        {"endpointSelector": SELECT},
        {"endpointSelector": SELECT, "ingress": []},  # the CRD's anyOf passes this one
        {"endpointSelector": SELECT, "enableDefaultDeny": {"ingress": True}},
    ):
        assert issues(cnp(spec)) == [("CG202", "spec")]
    (issue,) = check_semantics(
        cnp({"endpointSelector": SELECT, "egress": []}), version="1.19", flags=OFF
    )
    assert "egress is empty" in issue.message
    assert issues(cnp({"endpointSelector": SELECT, "egressDeny": [{}]})) == []


def test_namespaced_policies_cannot_select_nodes() -> None:
    spec = {"nodeSelector": SELECT, "ingress": [{}]}
    assert issues(cnp(spec)) == [("CG217", "spec.nodeSelector")]
    assert issues(ccnp(spec)) == []


# -- CG203 peer-kinds ----------------------------------------------------------------------


def test_one_peer_kind_per_item() -> None:
    mixed = ingress({"fromEndpoints": [SELECT], "fromCIDR": ["10.0.0.0/8"]})
    assert issues(cnp(mixed)) == [("CG203", "spec.ingress[0].fromCIDR")]
    fqdn = egress({"toEndpoints": [SELECT], "toFQDNs": [{"matchName": "cilium.io"}]})
    assert issues(cnp(fqdn)) == [("CG203", "spec.egress[0].toFQDNs")]
    cidrs = {"fromCIDR": ["10.0.0.0/8"], "fromCIDRSet": [{"cidr": "10.1.0.0/16"}]}
    deny = {"endpointSelector": SELECT, "ingressDeny": [cidrs]}
    assert issues(cnp(deny)) == [("CG203", "spec.ingressDeny[0].fromCIDRSet")]


def test_peers_combine_with_ports_and_empty_lists_do_not_count() -> None:
    item = {"fromEndpoints": [SELECT], "fromCIDR": [], "toPorts": [TCP_80]}
    assert issues(cnp(ingress(item))) == []
    services = {"toServices": [{"k8sService": {"serviceName": "db"}}], "toPorts": [TCP_80]}
    assert issues(cnp(egress(services))) == []


# -- CG204 label-selector ------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "app",
        "k8s:io.kubernetes.pod.namespace",
        "app.kubernetes.io/name",
        "k8s:app.kubernetes.io/name",
        "reserved:host",
        "any:org",
        "io.cilium.k8s.policy.cluster",
    ],
)
def test_valid_label_keys(key: str) -> None:
    assert label_key_problem(key) is None
    assert issues(cnp(ingress({"fromEndpoints": [{"matchLabels": {key: "x"}}]}))) == []


@pytest.mark.parametrize(
    "key",
    ["k8s:a:b", "k-8s:app", "Example.com/app", "a/b/c", "-app", "x" * 64, "", "app/", "$host"],
)
def test_invalid_label_keys(key: str) -> None:
    assert label_key_problem(key) is not None
    document = cnp(ingress({"fromEndpoints": [{"matchLabels": {key: "x"}}]}))
    assert issues(document) == [("CG204", f"spec.ingress[0].fromEndpoints[0].matchLabels.{key}")]


def test_label_values_and_match_expressions() -> None:
    bad_value = cnp({"endpointSelector": {"matchLabels": {"app": "-api"}}, "ingress": [{}]})
    assert issues(bad_value) == [("CG204", "spec.endpointSelector.matchLabels.app")]
    expressions = [
        {"key": "app", "operator": "In"},
        {"key": "app", "operator": "Exists", "values": ["x"]},
        {"key": "app", "operator": "NotIn", "values": ["ok", "not ok"]},
        {"key": "k8s:tier", "operator": "DoesNotExist"},
        {"key": "tier", "operator": "In", "values": ["web", ""]},
    ]
    document = cnp({"endpointSelector": {"matchExpressions": expressions}, "ingress": [{}]})
    where = "spec.endpointSelector.matchExpressions"
    assert issues(document) == [
        ("CG204", f"{where}[0]"),
        ("CG204", f"{where}[1].values"),
        ("CG204", f"{where}[2].values[1]"),
    ]


def test_cidr_group_selectors_take_no_source_prefix() -> None:
    group = {"cidrGroupSelector": {"matchLabels": {"k8s:team": "a"}}}
    assert issues(cnp(ingress({"fromCIDRSet": [group]}))) == [
        ("CG204", "spec.ingress[0].fromCIDRSet[0].cidrGroupSelector.matchLabels.k8s:team")
    ]
    plain = {"cidrGroupSelector": {"matchLabels": {"team": "a"}}}
    assert issues(cnp(ingress({"fromCIDRSet": [plain]}))) == []


# -- CG205 cidr ----------------------------------------------------------------------------


def test_cidr_strings() -> None:
    values = ["10.0.0.0/8", "10.0.0.1", "2001:db8::/32", "10.0.0.1/8", "10.0.0.0/08", "", "x"]
    document = cnp(ingress({"fromCIDR": values}))
    assert issues(document) == [
        ("CG205", "spec.ingress[0].fromCIDR[4]"),  # Go's netip takes no leading zero in bits
        ("CG205", "spec.ingress[0].fromCIDR[5]"),
        ("CG205", "spec.ingress[0].fromCIDR[6]"),
    ]


def test_cidr_sets_and_their_excepts() -> None:
    good = {"cidr": "10.0.0.0/8", "except": ["10.96.0.0/12", "10.1.2.3/32"]}
    assert issues(cnp(egress({"toCIDRSet": [good]}))) == []
    bad = {"cidr": "10.0.0.0/8", "except": ["192.168.0.0/16", "::/0", "10.0.0.0/7", "nope"]}
    where = "spec.egress[0].toCIDRSet[0].except"
    assert issues(cnp(egress({"toCIDRSet": [bad]}))) == [
        ("CG205", f"{where}[{n}]") for n in range(4)
    ]
    two = {"cidr": "10.0.0.0/8", "cidrGroupRef": "office"}
    assert issues(cnp(egress({"toCIDRSet": [two]}))) == [("CG205", "spec.egress[0].toCIDRSet[0]")]
    assert issues(cnp(egress({"toCIDRSet": [{"cidrGroupRef": "office"}]}))) == []
    unparsable = {"cidr": "10.0.0.0"}  # a CIDRRule needs address/bits, unlike fromCIDR
    assert issues(cnp(egress({"toCIDRSet": [unparsable]}))) == [
        ("CG205", "spec.egress[0].toCIDRSet[0].cidr")
    ]


# -- CG206 port, CG219 ignored-end-port ----------------------------------------------------


def ports_issues(*ports: dict[str, Any], flags: AgentFlags = OFF) -> list[tuple[str, str]]:
    return issues(cnp(egress({"toPorts": [{"ports": list(ports)}]})), flags=flags)


def test_port_values_follow_go() -> None:
    good = ["80", "0", "65535", "http", "HTTP-alt", "0x10", "010", "1_000", "0o17"]
    assert ports_issues(*({"port": port, "protocol": "TCP"} for port in good)) == []
    bad = ["65536", "08", "-1", "+80", "http_1", "a--b", "1__0", "sixteen-chars-xx"]
    where = "spec.egress[0].toPorts[0].ports"
    expected = [("CG206", f"{where}[{n}].port") for n in range(len(bad))]
    assert ports_issues(*({"port": port} for port in bad)) == expected


def test_missing_port_needs_the_extended_protocols_flag() -> None:
    assert ports_issues({"protocol": "TCP"}) == [("CG206", "spec.egress[0].toPorts[0].ports[0]")]
    assert ports_issues({"protocol": "TCP"}, flags=ALL_ON) == []


def test_at_most_forty_ports() -> None:
    forty = [{"port": str(n)} for n in range(1000, 1040)]
    assert ports_issues(*forty) == []
    assert ports_issues(*forty, {"port": "2000"}) == [("CG206", "spec.egress[0].toPorts[0].ports")]


def test_extended_protocols_carry_no_port() -> None:
    where = "spec.egress[0].toPorts[0].ports"
    vrrp = [
        {"protocol": "VRRP"},
        {"port": "0", "protocol": "VRRP"},
        {"port": "80", "protocol": "VRRP"},
    ]
    assert ports_issues(*vrrp, flags=ALL_ON) == [("CG206", f"{where}[2].port")]


def test_end_ports_cilium_ignores_are_warnings() -> None:
    where = "spec.egress[0].toPorts[0].ports"
    assert ports_issues({"port": "80", "endPort": 444}) == []
    assert ports_issues({"port": "443", "endPort": 80}, {"port": "http", "endPort": 90}) == [
        ("CG219", f"{where}[0].endPort"),
        ("CG219", f"{where}[1].endPort"),
    ]


@given(st.integers(min_value=0, max_value=65535))
def test_every_port_number_is_accepted(number: int) -> None:
    assert go_parse_uint16(str(number)) == number
    assert ports_issues({"port": str(number), "protocol": "UDP"}) == []


@given(st.integers(min_value=65536, max_value=10**12))
def test_numbers_beyond_65535_are_rejected(number: int) -> None:
    assert go_parse_uint16(str(number)) is None
    assert ports_issues({"port": str(number)}) == [
        ("CG206", "spec.egress[0].toPorts[0].ports[0].port")
    ]


@given(st.from_regex(r"[a-z]([a-z0-9]|-(?=[a-z0-9])){0,13}[a-z0-9]?", fullmatch=True))
def test_service_names_are_accepted(name: str) -> None:
    assert is_service_name(name)
    assert ports_issues({"port": name, "protocol": "TCP"}) == []


# -- CG207 icmp ----------------------------------------------------------------------------


def icmp_issues(*fields: dict[str, Any]) -> list[tuple[str, str]]:
    return issues(cnp(ingress({"icmps": [{"fields": list(fields)}]})))


def test_icmp_types_per_family() -> None:
    good = [
        {"type": 8},
        {"type": "8"},
        {"type": "EchoRequest"},
        {"family": "IPv6", "type": "PacketTooBig"},
        {"family": "IPv6", "type": 128},
        {"type": 0},
        {"type": "0"},
    ]
    assert icmp_issues(*good) == []
    bad = [
        {"type": "PacketTooBig"},  # an ICMPv6 name with the default family, IPv4
        {"family": "IPv6", "type": "Redirect"},
        {"type": 300},
        {"type": "ExtendedEcho Reply"},  # the CRD's pattern has this typo; Go's table does not
        {"type": "00"},
        {"family": "IPv5", "type": 8},
    ]
    where = "spec.ingress[0].icmps[0].fields"
    assert icmp_issues(*bad) == [
        ("CG207", f"{where}[0].type"),
        ("CG207", f"{where}[1].type"),
        ("CG207", f"{where}[2].type"),
        ("CG207", f"{where}[3].type"),
        ("CG207", f"{where}[4].type"),
        ("CG207", f"{where}[5].family"),
    ]


def test_icmps_apart_from_ports_and_at_most_forty_fields() -> None:
    both = ingress({"icmps": [{"fields": [{"type": 8}]}], "toPorts": [TCP_80]})
    assert issues(cnp(both)) == [("CG207", "spec.ingress[0].icmps")]
    many = [{"type": n} for n in range(41)]
    assert icmp_issues(*many) == [("CG207", "spec.ingress[0].icmps[0].fields")]


# -- CG208 l7-protocol, CG210 l7-kind, CG211 http-regex -------------------------------------


def test_l7_rules_need_tcp_and_a_port() -> None:
    where = "spec.ingress[0].toPorts[0]"
    for port, culprit in (
        ({"port": "80", "protocol": "UDP"}, f"{where}.ports[0].protocol"),
        ({"port": "80"}, f"{where}.ports[0].protocol"),  # omitted means ANY
        ({"port": "0", "protocol": "TCP"}, f"{where}.ports"),
    ):
        document = cnp(ingress({"toPorts": [{"ports": [port], "rules": HTTP_GET}]}))
        assert issues(document) == [("CG208", culprit)]
    assert issues(cnp(ingress({"toPorts": [{**TCP_80, "rules": HTTP_GET}]}))) == []


def test_one_l7_kind_per_port_rule() -> None:
    mixed = {**TCP_80, "rules": {**HTTP_GET, "dns": [{"matchName": "x.io"}]}}
    assert issues(cnp(egress({"toPorts": [mixed]}))) == [
        ("CG210", "spec.egress[0].toPorts[0].rules.dns")
    ]
    l7 = {**TCP_80, "rules": {"l7": [{"action": "get"}]}}
    assert issues(cnp(ingress({"toPorts": [l7]})), version="1.19") == [
        ("CG210", "spec.ingress[0].toPorts[0].rules.l7")
    ]
    parser = {**TCP_80, "rules": {"l7proto": "envoy.mysql", "l7": [{"action": "get"}]}}
    assert issues(cnp(ingress({"toPorts": [parser]})), version="1.19") == []


@pytest.mark.parametrize(
    ("pattern", "valid"),
    [
        ("/public$", True),
        ("^/troop_logs/_search/??.*$", True),
        (r"^/api/v\d+/\pL+\z", True),
        ("[[:alpha:]]+(?i)x", True),
        ("(?=admin)", False),
        ("(a)\\1", False),
        ("a*+", False),
        ("[", False),
        ("a{1001}", False),
        ("\\Z", False),
    ],
)
def test_http_paths_are_go_regexes(pattern: str, valid: bool) -> None:
    assert (re2_problem(pattern) is None) == valid
    rule = {**TCP_80, "rules": {"http": [{"method": "GET|POST", "path": pattern}]}}
    expected = [] if valid else [("CG211", "spec.ingress[0].toPorts[0].rules.http[0].path")]
    assert issues(cnp(ingress({"toPorts": [rule]}))) == expected


# -- CG209 dns-rule ------------------------------------------------------------------------


def test_dns_rules() -> None:
    assert issues(cnp(egress({"toPorts": [DNS_53]}))) == []
    assert issues(cnp(ingress({"toPorts": [DNS_53]}))) == [
        ("CG209", "spec.ingress[0].toPorts[0].rules.dns")
    ]
    no_ports = {"rules": DNS_53["rules"]}
    assert issues(cnp(egress({"toPorts": [no_ports]}))) == [
        ("CG209", "spec.egress[0].toPorts[0].rules.dns")
    ]
    ranged = {**DNS_53, "ports": [{"port": "53", "endPort": 54}]}
    assert issues(cnp(egress({"toPorts": [ranged]}))) == [
        ("CG209", "spec.egress[0].toPorts[0].ports[0].endPort")
    ]


# -- CG212 server-names, CG213 listener ----------------------------------------------------


def test_server_names_with_l7_need_tls_termination() -> None:
    sni = {**TCP_80, "serverNames": ["api.example.com"], "rules": HTTP_GET}
    assert issues(cnp(egress({"toPorts": [sni]}))) == [
        ("CG212", "spec.egress[0].toPorts[0].serverNames")
    ]
    terminated = {**sni, "terminatingTLS": {"secret": {"name": "tls"}}}
    assert issues(cnp(egress({"toPorts": [terminated]}))) == []
    plain = {**TCP_80, "serverNames": ["api.example.com", ""]}
    assert issues(cnp(egress({"toPorts": [plain]}))) == [
        ("CG212", "spec.egress[0].toPorts[0].serverNames[1]")
    ]


def test_listeners_on_egress_without_l7_rules() -> None:
    listener = {"name": "envoy-lb", "envoyConfig": {"name": "lb"}}
    entry = {**TCP_80, "listener": listener}
    assert issues(cnp(egress({"toPorts": [entry]}))) == []
    assert issues(cnp(ingress({"toPorts": [entry]}))) == [
        ("CG213", "spec.ingress[0].toPorts[0].listener")
    ]
    assert issues(cnp(egress({"toPorts": [{**entry, "rules": HTTP_GET}]}))) == [
        ("CG213", "spec.egress[0].toPorts[0].listener")
    ]


# -- CG214 host-policy-l7 ------------------------------------------------------------------


def test_host_policies_take_no_l7_but_dns_on_egress() -> None:
    http = {**TCP_80, "rules": HTTP_GET}
    host_in = ccnp({"nodeSelector": SELECT, "ingress": [{"toPorts": [http]}]})
    assert issues(host_in) == [("CG214", "spec.ingress[0].toPorts[0].rules")]
    host_out = ccnp({"nodeSelector": SELECT, "egress": [{"toPorts": [http]}]})
    assert issues(host_out) == [("CG214", "spec.egress[0].toPorts[0].rules.http")]
    host_dns = ccnp({"nodeSelector": SELECT, "egress": [{"toPorts": [DNS_53]}]})
    assert issues(host_dns) == []


# -- CG215 needs-agent-flag ----------------------------------------------------------------


def test_features_behind_agent_flags() -> None:
    nodes = cnp(ingress({"fromNodes": [SELECT]}))
    vrrp = ccnp(
        {"nodeSelector": SELECT, "egress": [{"toPorts": [{"ports": [{"protocol": "VRRP"}]}]}]}
    )
    auth = cnp(ingress({"fromEndpoints": [SELECT], "authentication": {"mode": "required"}}))
    assert issues(nodes) == [("CG215", "spec.ingress[0].fromNodes")]
    assert issues(vrrp) == [("CG215", "spec.egress[0].toPorts[0].ports[0].protocol")]
    assert issues(auth) == [("CG215", "spec.ingress[0].authentication.mode")]
    for document, flag in ((nodes, "node_selector_labels"), (vrrp, "extended_ip_protocols"),
                           (auth, "mutual_auth")):  # fmt: skip
        (issue,) = check_semantics(document, version="1.20", flags=OFF)
        assert FLAG_NAMES[flag] in issue.message
        assert issues(document, flags=AgentFlags(**{flag: True})) == []
    disabled = cnp(ingress({"fromEndpoints": [SELECT], "authentication": {"mode": "disabled"}}))
    assert issues(disabled) == []


def test_extended_protocols_follow_the_release() -> None:
    gre = ccnp(
        {"nodeSelector": SELECT, "egress": [{"toPorts": [{"ports": [{"protocol": "GRE"}]}]}]}
    )
    assert issues(gre) == [("CG215", "spec.egress[0].toPorts[0].ports[0].protocol")]
    # 1.19 has no GRE (the CRD's enum rejects it); only the missing port is Go's business.
    assert issues(gre, version="1.19") == [("CG206", "spec.egress[0].toPorts[0].ports[0]")]


# -- CG216 removed-field, CG218 l7-rule-content --------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_requires_fields_were_removed_in_both_releases(version: str) -> None:
    requires = cnp(ingress({"fromRequires": [{"matchLabels": {"env": "prod"}}]}))
    (issue,) = check_semantics(requires, version=version, flags=ALL_ON)
    assert (issue.rule, format_path(issue.path)) == ("CG216", "spec.ingress[0].fromRequires")
    assert "removed in Cilium 1.19" in issue.message
    to_requires = cnp(egress({"toRequires": [SELECT]}))
    assert issues(to_requires, version) == [("CG216", "spec.egress[0].toRequires")]
    assert issues(cnp(ingress({"fromRequires": []})), version) == []


def test_kafka_and_generic_l7_are_gone_in_1_20() -> None:
    kafka = {**TCP_80, "rules": {"kafka": [{"role": "produce", "topic": "deathstar-plans"}]}}
    assert issues(cnp(ingress({"toPorts": [kafka]})), "1.19") == []
    assert issues(cnp(ingress({"toPorts": [kafka]})), "1.20") == [
        ("CG216", "spec.ingress[0].toPorts[0].rules.kafka")
    ]


def test_kafka_rules_in_1_19() -> None:
    bad = [
        {"role": "produce", "apiKey": "fetch"},
        {"apiKey": "teleport"},
        {"role": "delete"},
        {"apiVersion": "x"},
        {"topic": "has space"},
        {"topic": "t" * 256},
    ]
    good = [{"apiKey": "Fetch", "apiVersion": "3", "topic": "a.b_c-d"}, {"role": "CONSUME"}]
    rule = {**TCP_80, "rules": {"kafka": bad + good}}
    where = "spec.ingress[0].toPorts[0].rules.kafka"
    expected = [("CG218", f"{where}[{n}]") for n in range(len(bad))]
    assert issues(cnp(ingress({"toPorts": [rule]})), "1.19") == expected
    empty_key = {**TCP_80, "rules": {"l7proto": "x", "l7": [{"": "v"}]}}
    assert issues(cnp(ingress({"toPorts": [empty_key]})), "1.19") == [
        ("CG218", "spec.ingress[0].toPorts[0].rules.l7[0]")
    ]


# -- robustness: the document may be anything ---------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
KEYS = st.sampled_from(
    [
        "spec", "specs", "endpointSelector", "nodeSelector", "ingress", "egress", "ingressDeny",
        "egressDeny", "fromEndpoints", "toEndpoints", "fromCIDR", "toCIDRSet", "except", "cidr",
        "toPorts", "ports", "port", "endPort", "protocol", "rules", "http", "dns", "kafka", "l7",
        "l7proto", "icmps", "fields", "type", "family", "matchLabels", "matchExpressions", "key",
        "operator", "values", "listener", "serverNames", "authentication", "mode", "fromNodes",
        "fromRequires", "path", "method", "cidrGroupSelector", "terminatingTLS",
    ]
)  # fmt: skip
FIELD_SHAPED = st.recursive(
    JSON,
    lambda children: st.dictionaries(KEYS, children, max_size=4) | st.lists(children, max_size=3),
)


@settings(max_examples=300)
@given(spec=FIELD_SHAPED, version=st.sampled_from(VERSIONS))
def test_never_raises_on_any_shape(spec: object, version: str) -> None:
    for document in (cnp({}), ccnp({})):
        document["spec"] = spec
        document["specs"] = [spec, spec]
        for found in check_semantics(document, version=version, flags=OFF):
            assert found.rule in RULES


@pytest.mark.parametrize("odd", [[], {}, ["x"], 3, None, True])
def test_unhashable_and_odd_values_where_strings_belong(odd: object) -> None:
    expression = {"key": odd, "operator": odd, "values": odd}
    port = {"port": odd, "protocol": odd, "endPort": odd}
    spec = {
        "endpointSelector": {"matchLabels": {"app": odd}, "matchExpressions": [expression]},
        "ingress": [{"icmps": [{"fields": [{"family": odd, "type": odd}]}]}],
        "egress": [{"toPorts": [{"ports": [port], "rules": {"http": [{"path": odd}]}}]}],
    }
    for kind in (odd, "CiliumNetworkPolicy"):
        document = {"kind": kind, "spec": spec}
        for version in VERSIONS:
            check_semantics(document, version=version, flags=OFF)


def _paths(node: object, here: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    children: list[tuple[str | int, object]] = []
    if isinstance(node, dict):
        children = list(node.items())
    elif isinstance(node, list):
        children = list(enumerate(node))
    found = [here]
    for key, child in children:
        found += _paths(child, (*here, key))
    return found


@settings(max_examples=200)
@given(data=st.data(), replacement=JSON)
def test_never_raises_when_a_real_node_is_replaced(
    data: st.DataObject, replacement: object
) -> None:
    document = copy.deepcopy(
        cnp(
            egress(
                {"toEndpoints": [SELECT], "toPorts": [{**TCP_80, "rules": HTTP_GET}]},
                {"toCIDRSet": [{"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}], "icmps": []},
                {"toPorts": [DNS_53]},
            )
        )
    )  # deep: the building blocks are shared with other tests
    path = data.draw(st.sampled_from(_paths(document["spec"])[1:]))
    parent: Any = document["spec"]
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = copy.deepcopy(replacement)
    check_semantics(document, version="1.20", flags=OFF)


# -- the Cilium examples ------------------------------------------------------------------

NEEDS_FLAGS = {
    "policies/host/allow-extended-protocols.yaml",  # VRRP, GRE, ...: extended IP protocols
    "policies/l3/entities/customnodes.yaml",  # fromNodes: node selector labels
    "kubernetes/servicemesh/cnp-with-mutual-auth.yaml",  # authentication.mode: required
}
REMOVED = {"policies/l3/requires/requires.yaml"}  # fromRequires, gone since 1.19


def example_failures(version: str, flags: AgentFlags) -> dict[str, list[str]]:
    yaml = YAML(typ="safe")
    failures: dict[str, list[str]] = {}
    for file in sorted(EXAMPLES.rglob("*.yaml")):
        for document in yaml.load_all(file.read_text(encoding="utf-8")):
            if isinstance(document, dict) and document.get("kind") in {
                "CiliumNetworkPolicy",
                "CiliumClusterwideNetworkPolicy",
            }:
                for issue in check_semantics(document, version=version, flags=flags):
                    name = file.relative_to(EXAMPLES).as_posix()
                    failures.setdefault(name, []).append(issue.rule)
    return failures


@pytest.mark.parametrize("version", VERSIONS)
def test_cilium_examples(version: str) -> None:
    assert len(list(EXAMPLES.rglob("*.yaml"))) == 82
    assert set(example_failures(version, OFF)) == NEEDS_FLAGS | REMOVED
    assert set(example_failures(version, ALL_ON)) == REMOVED
    assert example_failures(version, ALL_ON) == {"policies/l3/requires/requires.yaml": ["CG216"]}

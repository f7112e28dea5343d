"""Semantics, second half: the ``toPorts`` and ``icmps`` of one ingress or egress item.

Part of the ``semantics`` step (documents -> structure -> semantics -> lint -> repository);
``semantics`` walks each rule and calls ``check_item`` for every ingress/egress item. This
module mirrors the port, ICMP and L7 checks of Cilium's Go validation (``PortRule.Validate``,
``PortProtocol.Validate``, ``L7Rules.Validate``, ``ICMPRule.Validate``) and holds what both
halves share: the agent flags and the context issues are collected in.

Rule ids are plain constants here; ``semantics`` registers them (with rationale and hint) in
id order, as ``structure`` does for ``schema_compiler``'s ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reconciler.validate import semantics_regex
from reconciler.validate.documents import items
from reconciler.validate.findings import Issue
from reconciler.validate.semantics_values import (
    go_parse_uint16,
    icmp_type_problem,
    is_service_name,
    kafka_problems,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from reconciler.validate.findings import Path

PORT = "CG206"
ICMP = "CG207"
L7_PROTOCOL = "CG208"
DNS_RULE = "CG209"
L7_KIND = "CG210"
HTTP_REGEX = "CG211"
SERVER_NAMES = "CG212"
LISTENER = "CG213"
HOST_POLICY_L7 = "CG214"
NEEDS_AGENT_FLAG = "CG215"
REMOVED_FIELD = "CG216"
L7_RULE_CONTENT = "CG218"
IGNORED_END_PORT = "CG219"

# The agent flag behind each AgentFlags field, as `cilium-agent --help` spells it (option.go's
# EnableNodeSelectorLabels and EnableExtendedIPProtocols; the SPIRE client's MutualAuthConfig).
FLAG_NAMES: dict[str, str] = {
    "node_selector_labels": "--enable-node-selector-labels",
    "extended_ip_protocols": "--enable-extended-ip-protocols",
    "mutual_auth": "--mesh-auth-mutual-enabled",
}


@dataclass(frozen=True, slots=True)
class AgentFlags:
    """Agent features some policies need; all off, as in a default Cilium install."""

    node_selector_labels: bool = False  # fromNodes / toNodes
    extended_ip_protocols: bool = False  # VRRP, IGMP, GRE, ... and ports left out
    mutual_auth: bool = False  # authentication.mode: required


@dataclass(slots=True)
class Context:
    """The version and flags one document is checked against, and what was found so far."""

    version: str
    flags: AgentFlags
    issues: list[Issue] = field(default_factory=list)

    def add(self, rule_id: str, path: Path, message: str, hint: str | None = None) -> None:
        """Record one issue."""
        self.issues.append(Issue(rule_id, path, message, hint))

    def needs_flag(self, flag: str, path: Path, what: str) -> None:
        """Record that ``what`` only works with the agent flag behind AgentFlags.``flag``."""
        name = FLAG_NAMES[flag]
        self.add(
            NEEDS_AGENT_FLAG,
            path,
            f"{what} needs the agent flag {name}, which is off by default",
            f"Start cilium-agent with {name}=true, or drop this field.",
        )


def count(value: object) -> int:
    """How many entries Go sees in a list field: a missing or mistyped field counts as none."""
    return len(value) if isinstance(value, list) else 0


MAX_PORTS = 40  # maxPorts in rule_validation.go
MAX_ICMP_FIELDS = 40  # maxICMPFields in rule_validation.go
# isExtendedIPProtocol (1.20) and the VRRP/IGMP test in PortProtocol.Validate (1.19): protocols
# without transport ports, which the datapath only matches with the extended-protocols flag.
_EXTENDED = {
    "1.19": frozenset({"VRRP", "IGMP"}),
    "1.20": frozenset({"VRRP", "IGMP", "GRE", "IPIP", "IPV6", "ESP", "AH"}),
}


def check_item(
    ctx: Context, here: Path, item: Mapping[str, Any], direction: str, *, host: bool
) -> None:
    """The ports, L7 rules and ICMP types of one ingress/egress (or deny) item."""
    ingress, deny = direction.startswith("ingress"), direction.endswith("Deny")
    to_ports, icmps = item.get("toPorts"), item.get("icmps")
    if count(to_ports) and count(icmps):
        # errUnsupportedICMPWithToPorts in IngressRule.Validate / EgressRule.Validate
        ctx.add(
            ICMP,
            (*here, "icmps"),
            "icmps and toPorts in the same rule item are rejected",
            "Move the icmps block into an item of its own (with the same peers).",
        )
    for index, icmp in items(icmps):
        _icmp_rule(ctx, (*here, "icmps", index), icmp)
    for index, port_rule in items(to_ports):
        where = (*here, "toPorts", index)
        if deny:  # PortDenyRule.Validate: ports only
            _ports(ctx, where, port_rule, has_dns=False)
        else:
            _port_rule(ctx, where, port_rule, ingress=ingress, host=host)


# -- ports -------------------------------------------------------------------------------


def _ports(ctx: Context, where: Path, port_rule: Mapping[str, Any], *, has_dns: bool) -> bool:
    """Each port entry (PortProtocol.Validate); True when one of them is port 0."""
    ports = port_rule.get("ports")
    if count(ports) > MAX_PORTS:
        ctx.add(PORT, (*where, "ports"), f"{count(ports)} ports in one toPorts entry; at most 40")
    zero = False
    for index, port in items(ports):
        zero = _port(ctx, (*where, "ports", index), port, has_dns=has_dns) or zero
    return zero


def _port(ctx: Context, here: Path, port: Mapping[str, Any], *, has_dns: bool) -> bool:
    value, protocol = port.get("port"), port.get("protocol")
    extended = isinstance(protocol, str) and protocol in _EXTENDED[ctx.version]
    if extended and not ctx.flags.extended_ip_protocols:
        ctx.needs_flag("extended_ip_protocols", (*here, "protocol"), f"protocol {protocol}")
    if value is None or value == "":
        if not ctx.flags.extended_ip_protocols and not extended:
            ctx.add(
                PORT,
                here,
                "port is missing; Cilium accepts that only with "
                f"{FLAG_NAMES['extended_ip_protocols']}",
                "Give the port (a number 0-65535 or a service name).",
            )
        return False
    if not isinstance(value, str):
        return False  # a number here is the structure layer's wrong-type error
    end = port.get("endPort")
    if is_service_name(value):
        if isinstance(end, int) and end and not isinstance(end, bool):
            # Not a Go error either: "EndPort is ignored if Port is a named port".
            ctx.add(
                IGNORED_END_PORT,
                (*here, "endPort"),
                f"endPort {end} is ignored: port {value!r} is a named port",
            )
        return False
    if extended and value != "0":
        ctx.add(
            PORT, (*here, "port"), f"protocol {protocol} has no ports: port {value!r} must be 0"
        )
        return False
    number = go_parse_uint16(value)
    if number is None:
        ctx.add(
            PORT,
            (*here, "port"),
            f"port {value!r} is neither a number 0-65535 nor a service name",
            "Use a number 0-65535, or a name of up to 15 letters, digits and single hyphens.",
        )
        return False
    _end_port(ctx, here, end, number, has_dns=has_dns)
    return number == 0


def _end_port(ctx: Context, here: Path, end: object, number: int, *, has_dns: bool) -> None:
    if not isinstance(end, int) or isinstance(end, bool):
        return
    if has_dns and end > number:
        ctx.add(DNS_RULE, (*here, "endPort"), f"DNS rules take no port range ({number}-{end})")
    elif 0 < end < number:
        # Not a Go error: Cilium accepts the entry and opens no range (a warning, CG219).
        ctx.add(
            IGNORED_END_PORT,
            (*here, "endPort"),
            f"endPort {end} is below port {number}; Cilium accepts it but opens no range",
        )


def _port_rule(
    ctx: Context, where: Path, port_rule: Mapping[str, Any], *, ingress: bool, host: bool
) -> None:
    """PortRule.Validate, plus the host-policy and per-direction L7 limits of its callers."""
    raw = port_rule.get("rules")
    rules: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    _removed_l7(ctx, (*where, "rules"), rules)
    has_l7, has_dns = l7_present(rules, ctx.version), count(rules.get("dns")) > 0
    if ingress and has_dns:
        ctx.add(DNS_RULE, (*where, "rules", "dns"), "DNS rules are only allowed on egress")
    _server_names(ctx, where, port_rule, has_l7=has_l7)
    zero = _ports(ctx, where, port_rule, has_dns=has_dns)
    if has_l7 and not has_dns:
        _tcp_only(ctx, where, port_rule)
    _listener(ctx, where, port_rule, ingress=ingress, has_l7=has_l7)
    if host:
        _host_l7(ctx, (*where, "rules"), rules, ingress=ingress, has_l7=has_l7)
    if has_l7:
        if zero:
            ctx.add(L7_PROTOCOL, (*where, "ports"), "L7 rules cannot be used when a port is 0")
        _l7_rules(ctx, (*where, "rules"), rules, ports=port_rule.get("ports"))


def l7_present(rules: Mapping[str, Any], version: str) -> bool:
    """``not L7Rules.IsEmpty()``: some L7 rule is given, so the port goes through the proxy."""
    if count(rules.get("http")) or count(rules.get("dns")):
        return True
    return version == "1.19" and bool(
        count(rules.get("kafka")) or count(rules.get("l7")) or rules.get("l7proto")
    )


def _removed_l7(ctx: Context, here: Path, rules: Mapping[str, Any]) -> None:
    if ctx.version == "1.19":
        return
    for key in ("kafka", "l7proto", "l7"):  # cilium#43557 (Kafka) and #44610 (generic L7)
        if rules.get(key) is not None:
            ctx.add(
                REMOVED_FIELD,
                (*here, key),
                f"rules.{key} was removed in Cilium 1.20 (Kafka and generic L7 policies are gone)",
                "Drop the rule, or keep enforcing it with a CiliumEnvoyConfig listener.",
            )


def _server_names(ctx: Context, where: Path, port_rule: Mapping[str, Any], *, has_l7: bool) -> None:
    names = port_rule.get("serverNames")
    if count(names) and has_l7 and port_rule.get("terminatingTLS") is None:
        ctx.add(
            SERVER_NAMES,
            (*where, "serverNames"),
            "serverNames with L7 rules need terminatingTLS: the proxy cannot see into TLS",
            "Add terminatingTLS (and originatingTLS) with the secrets, or drop the L7 rules.",
        )
    if isinstance(names, list):
        for index, name in enumerate(names):
            if name == "":
                ctx.add(SERVER_NAMES, (*where, "serverNames", index), "server name is empty")


def _tcp_only(ctx: Context, where: Path, port_rule: Mapping[str, Any]) -> None:
    # PortRule.Validate compares before Sanitize, so an omitted protocol (ANY) fails too.
    for index, port in items(port_rule.get("ports")):
        protocol = port.get("protocol")
        if protocol != "TCP":
            shown = protocol if isinstance(protocol, str) else "ANY (omitted)"
            ctx.add(
                L7_PROTOCOL,
                (*where, "ports", index, "protocol"),
                f"L7 rules apply to TCP only, not {shown} (DNS rules excepted)",
                "Set protocol: TCP on every port of a toPorts entry with HTTP rules.",
            )


def _listener(
    ctx: Context, where: Path, port_rule: Mapping[str, Any], *, ingress: bool, has_l7: bool
) -> None:
    listener = port_rule.get("listener")
    if not isinstance(listener, dict):
        return
    name = listener.get("name")
    if ingress:
        ctx.add(LISTENER, (*where, "listener"), f"listener {name!r} is only allowed on egress")
    if has_l7:
        ctx.add(
            LISTENER,
            (*where, "listener"),
            f"listener {name!r} cannot be combined with L7 rules in the same toPorts entry",
        )


def _host_l7(
    ctx: Context, here: Path, rules: Mapping[str, Any], *, ingress: bool, has_l7: bool
) -> None:
    # IngressRule.Validate / EgressRule.Validate with hostPolicy: no L7 on host ingress, and
    # only DNS on host egress.
    if ingress and has_l7:
        ctx.add(HOST_POLICY_L7, here, "host policies (nodeSelector) allow no L7 rules on ingress")
        return
    kinds = ("http", "kafka") if ctx.version == "1.19" else ("http",)
    for kind in kinds:
        if not ingress and count(rules.get(kind)):
            ctx.add(
                HOST_POLICY_L7,
                (*here, kind),
                f"host policies (nodeSelector) allow no {kind} rules on egress, only DNS",
            )


# -- L7 rules ----------------------------------------------------------------------------


def _l7_rules(ctx: Context, here: Path, rules: Mapping[str, Any], *, ports: object) -> None:
    """L7Rules.Validate: one kind per port rule, DNS with explicit ports, valid HTTP regexes."""
    old = ctx.version == "1.19"  # 1.20 removed kafka, l7proto and l7 (see _removed_l7)
    # Go counts a kind when its list is there at all (non-nil), even if it is empty.
    kinds = [k for k in ("http", "kafka", "dns") if isinstance(rules.get(k), list)]
    if not old:
        kinds = [k for k in kinds if k != "kafka"]
    if old and rules.get("l7proto"):
        kinds.append("l7proto")
    elif old and isinstance(rules.get("l7"), list):
        ctx.add(L7_KIND, (*here, "l7"), "'l7' rules need an 'l7proto' naming the parser")
    if len(kinds) > 1:
        ctx.add(
            L7_KIND,
            (*here, kinds[1]),
            f"one toPorts entry mixes L7 rule kinds: {', '.join(kinds)}",
            "Put each kind of L7 rule in its own toPorts entry.",
        )
    if isinstance(rules.get("dns"), list) and not count(ports):
        ctx.add(
            DNS_RULE,
            (*here, "dns"),
            "DNS rules need explicit ports (53) in the same toPorts entry",
            "Add ports: [{port: '53', protocol: ANY}] to this toPorts entry.",
        )
    for index, http in items(rules.get("http")):
        _http(ctx, (*here, "http", index), http)
    if old:
        _old_l7(ctx, here, rules)


def _http(ctx: Context, here: Path, http: Mapping[str, Any]) -> None:
    # PortRuleHTTP.Validate compiles path and method with Go's regexp (RE2).
    for key in ("path", "method"):
        value = http.get(key)
        if isinstance(value, str) and value:
            problem = semantics_regex.re2_problem(value)
            if problem:
                ctx.add(
                    HTTP_REGEX, (*here, key), f"{key} {value!r} is not a valid regex: {problem}"
                )


def _old_l7(ctx: Context, here: Path, rules: Mapping[str, Any]) -> None:
    """Cilium 1.19's Kafka (kafka.PortRule.Sanitize) and generic L7 (PortRuleL7) rules."""
    for index, kafka in items(rules.get("kafka")):
        for problem in kafka_problems(kafka):
            ctx.add(L7_RULE_CONTENT, (*here, "kafka", index), problem)
    for index, entry in items(rules.get("l7")):
        if "" in entry:
            ctx.add(L7_RULE_CONTENT, (*here, "l7", index), "generic L7 rule has an empty key")


# -- ICMP --------------------------------------------------------------------------------


def _icmp_rule(ctx: Context, here: Path, icmp: Mapping[str, Any]) -> None:
    """ICMPRule.Validate and ICMPField.UnmarshalJSON."""
    fields = icmp.get("fields")
    if count(fields) > MAX_ICMP_FIELDS:
        ctx.add(ICMP, (*here, "fields"), f"{count(fields)} ICMP fields in one rule; at most 40")
    for index, entry in items(fields):
        family = entry.get("family")
        if isinstance(family, str) and family not in {"", "IPv4", "IPv6"}:
            ctx.add(ICMP, (*here, "fields", index, "family"), f"family {family!r} is not IPv4/IPv6")
            continue
        family = "IPv6" if family == "IPv6" else "IPv4"  # the CRD's default, as the API sets it
        problem = icmp_type_problem(entry.get("type"), family)
        if problem:
            ctx.add(ICMP, (*here, "fields", index, "type"), problem, _icmp_hint(family))


def _icmp_hint(family: str) -> str:
    if family == "IPv6":
        return "Use a number 0-255 or an ICMPv6 name such as EchoRequest or PacketTooBig."
    return "Use a number 0-255 or an ICMPv4 name such as EchoRequest; IPv6 names need family: IPv6."

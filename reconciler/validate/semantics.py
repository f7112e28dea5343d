"""Semantics: the rules Cilium's Go code enforces after the API server has accepted a policy.

Third step of ``validate`` (documents -> structure -> semantics -> lint -> repository). The
API server checks a CiliumNetworkPolicy against the CRD schema only; the agent then runs the
Go validation (``CiliumNetworkPolicy.Validate`` -> ``api.Rule.Validate`` and the ``Validate``
methods of ingress/egress rules, ports, selectors and CIDRs, called ``Sanitize`` in older
releases) and reports a failure only in the policy's status, where a CI run never looks.
This layer mirrors those checks, offline, for Cilium 1.19 and 1.20, and names the agent flags
some fields need.

It runs on the same raw document as ``structure`` and never raises on unexpected types: a
node of the wrong type is skipped, because ``structure`` reports it. Each Go function mirrored
is named where its check lives. This module walks the rules, their selectors, peers and CIDRs;
``semantics_ports`` checks ports, L7 rules and ICMP; ``semantics_values`` answers whether Go
parses one value (port, label, prefix, ICMP type) and ``semantics_regex`` one RE2 pattern.

Where the CRD schema already says the same (the one-of selectors, 40 ports), the check is
kept anyway: Go's rule is the one that holds after apply, and its message names the cause.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from reconciler.validate import semantics_ports as ports
from reconciler.validate.documents import KINDS, items, rules_of
from reconciler.validate.findings import Severity, rule
from reconciler.validate.semantics_ports import FLAG_NAMES, AgentFlags, Context, count
from reconciler.validate.semantics_values import (
    Network,
    is_address,
    label_key_problem,
    label_value_problem,
    parse_prefix,
)
from reconciler.validate.structure import VERSIONS

if TYPE_CHECKING:
    from collections.abc import Callable

    from reconciler.validate.findings import Issue, Path

__all__ = ["FLAG_NAMES", "VERSIONS", "AgentFlags", "check_semantics"]


SELECTOR_KIND = rule(
    "CG201",
    "selector-kind",
    Severity.ERROR,
    "Each rule selects either pods (endpointSelector) or nodes (nodeSelector); Cilium drops both.",
    "Keep exactly one of endpointSelector and nodeSelector in the rule.",
)
NO_DIRECTION = rule(
    "CG202",
    "no-direction",
    Severity.ERROR,
    "Cilium rejects a rule without ingress, ingressDeny, egress or egressDeny entries.",
    "Add an ingress or egress list (ingress: [{}] denies all ingress), or remove the rule.",
)
PEER_KINDS = rule(
    "CG203",
    "peer-kinds",
    Severity.ERROR,
    "Cilium rejects a rule item naming peers of two kinds (e.g. fromEndpoints and fromCIDR).",
    "Split the item: one ingress/egress entry per peer kind, each with its own toPorts.",
)
LABEL_SELECTOR = rule(
    "CG204",
    "label-selector",
    Severity.ERROR,
    "Cilium rejects a selector whose keys, values or match expressions are not valid labels.",
    "Use source:key labels (k8s:app, app.kubernetes.io/name) and In/NotIn with values only.",
)
CIDR = rule(
    "CG205",
    "cidr",
    Severity.ERROR,
    "Cilium rejects an unparsable CIDR, and an except block outside its cidr.",
    "Write address/bits, and keep every except prefix inside (and the family of) its cidr.",
)
PORT = rule(
    ports.PORT,
    "port",
    Severity.ERROR,
    "Cilium rejects a port that is neither 0-65535 nor a service name, or more than 40 ports.",
    "Use a number 0-65535 or an IANA service name; at most 40 ports per toPorts entry.",
)
ICMP = rule(
    ports.ICMP,
    "icmp",
    Severity.ERROR,
    "Cilium rejects unknown ICMP types for the family, and icmps next to toPorts in one item.",
    "Use type numbers 0-255 or the family's names, in an item of their own.",
)
L7_PROTOCOL = rule(
    ports.L7_PROTOCOL,
    "l7-protocol",
    Severity.ERROR,
    "HTTP (any non-DNS L7) rules only work on TCP ports, and never on port 0.",
    "Give every port of the toPorts entry protocol: TCP and a non-zero port.",
)
DNS_RULE = rule(
    ports.DNS_RULE,
    "dns-rule",
    Severity.ERROR,
    "DNS rules exist on egress only, need explicit ports and take no port range.",
    "Put DNS rules on egress, with ports: [{port: '53', protocol: ANY}].",
)
L7_KIND = rule(
    ports.L7_KIND,
    "l7-kind",
    Severity.ERROR,
    "A toPorts entry takes one kind of L7 rule; Cilium rejects a mix (http with dns).",
    "Use one toPorts entry per L7 rule kind.",
)
HTTP_REGEX = rule(
    ports.HTTP_REGEX,
    "http-regex",
    Severity.ERROR,
    "HTTP path and method are Go (RE2) regular expressions; Cilium rejects one Go cannot compile.",
    "Fix the regex; Go has no lookaround, backreferences or possessive quantifiers.",
)
SERVER_NAMES = rule(
    ports.SERVER_NAMES,
    "server-names",
    Severity.ERROR,
    "serverNames with L7 rules need terminatingTLS: the proxy cannot read encrypted requests.",
    "Add terminatingTLS (with its secret), or drop the L7 rules from the entry.",
)
LISTENER = rule(
    ports.LISTENER,
    "listener",
    Severity.ERROR,
    "A custom Envoy listener is allowed on egress only, and not together with L7 rules.",
    "Move the listener to an egress toPorts entry without rules.",
)
HOST_POLICY_L7 = rule(
    ports.HOST_POLICY_L7,
    "host-policy-l7",
    Severity.ERROR,
    "Host policies (nodeSelector) take no L7 rules on ingress, and only DNS on egress.",
    "Enforce L7 in a policy for the pods (endpointSelector) instead.",
)
NEEDS_AGENT_FLAG = rule(
    ports.NEEDS_AGENT_FLAG,
    "needs-agent-flag",
    Severity.ERROR,
    "Some fields only work when the agent runs with a flag that is off by default.",
    "Enable the named agent flag (and pass it to validate), or drop the field.",
)
REMOVED_FIELD = rule(
    ports.REMOVED_FIELD,
    "removed-field",
    Severity.ERROR,
    "The field was removed from Cilium: the API server rejects it, the agent ignores it.",
    "Express the rule with the fields the release still has (see the message).",
)
CNP_NODE_SELECTOR = rule(
    "CG217",
    "cnp-node-selector",
    Severity.ERROR,
    "A namespaced CiliumNetworkPolicy cannot select nodes; Cilium rejects it.",
    "Use a CiliumClusterwideNetworkPolicy for host policies (nodeSelector).",
)
L7_RULE_CONTENT = rule(
    ports.L7_RULE_CONTENT,
    "l7-rule-content",
    Severity.ERROR,
    "Cilium 1.19 rejects Kafka rules with unknown keys or roles and generic L7 rules' empty keys.",
    "Use a known Kafka apiKey or role (not both), a numeric apiVersion and a valid topic.",
)
IGNORED_END_PORT = rule(
    ports.IGNORED_END_PORT,
    "ignored-end-port",
    Severity.WARNING,  # Go accepts these; the range simply is not what was written
    "Cilium ignores endPort on a named port, and opens no range when endPort is below port.",
    "Use a numeric port with endPort at or above it, or drop endPort.",
)
_INGRESS_PEERS = (
    "fromEndpoints",
    "fromCIDR",
    "fromCIDRSet",
    "fromEntities",
    "fromNodes",
    "fromGroups",
)
_EGRESS_PEERS = (
    "toCIDR",
    "toCIDRSet",
    "toEndpoints",
    "toEntities",
    "toServices",
    "toGroups",
    "toNodes",
)
_DIRECTIONS = ("ingress", "ingressDeny", "egress", "egressDeny")
# IngressCommonRule.Validate / EgressCommonRule.l3Members: the peer kinds counted, per direction.
_PEERS = {
    "ingress": frozenset(_INGRESS_PEERS),
    "ingressDeny": frozenset(_INGRESS_PEERS),
    "egress": frozenset({*_EGRESS_PEERS, "toFQDNs"}),
    "egressDeny": frozenset(_EGRESS_PEERS),
}


def check_semantics(document: Mapping[str, Any], *, version: str, flags: AgentFlags) -> list[Issue]:
    """Every Go-validation problem of one CNP or CCNP; other kinds have none here."""
    if version not in VERSIONS:
        msg = f"unknown Cilium version {version!r}; expected one of {', '.join(VERSIONS)}"
        raise ValueError(msg)
    kind = document.get("kind") if isinstance(document, Mapping) else None
    if not isinstance(kind, str) or kind not in KINDS:
        return []
    ctx = Context(version, flags)
    namespaced = kind == "CiliumNetworkPolicy"
    for base, spec in rules_of(document):
        _rule(ctx, base, spec, namespaced=namespaced)
    return ctx.issues


def _rule(ctx: Context, base: Path, spec: Mapping[str, Any], *, namespaced: bool) -> None:
    """Rule.Validate, and CiliumNetworkPolicy.Validate's ban on nodeSelector."""
    endpoints, nodes = spec.get("endpointSelector"), spec.get("nodeSelector")
    has_endpoints, host = isinstance(endpoints, dict), isinstance(nodes, dict)
    if not has_endpoints and not host and endpoints is None and nodes is None:
        ctx.add(SELECTOR_KIND, base, "rule has neither endpointSelector nor nodeSelector")
    elif has_endpoints and host:
        ctx.add(
            SELECTOR_KIND,
            (*base, "nodeSelector"),
            "rule has both endpointSelector and nodeSelector",
        )
    if host and namespaced:
        ctx.add(
            CNP_NODE_SELECTOR,
            (*base, "nodeSelector"),
            "a CiliumNetworkPolicy cannot have nodeSelector (host policies are clusterwide)",
        )
    if not any(count(spec.get(direction)) for direction in _DIRECTIONS):
        _no_direction(ctx, base, spec)
    if isinstance(endpoints, dict):
        _selector(ctx, (*base, "endpointSelector"), endpoints)
    if isinstance(nodes, dict):
        _selector(ctx, (*base, "nodeSelector"), nodes)
    for direction in _DIRECTIONS:
        for index, item in items(spec.get(direction)):
            _item(ctx, (*base, direction, index), item, direction, host=host)


def _no_direction(ctx: Context, base: Path, spec: Mapping[str, Any]) -> None:
    empty = [direction for direction in _DIRECTIONS if isinstance(spec.get(direction), list)]
    if empty:
        detail = f"{', '.join(empty)} {'is' if len(empty) == 1 else 'are'} empty"
    elif "enableDefaultDeny" in spec:
        detail = "enableDefaultDeny alone is not enough"
    else:
        detail = "none is given"
    ctx.add(
        NO_DIRECTION,
        base,
        f"rule has no ingress, ingressDeny, egress or egressDeny entry ({detail})",
    )


def _item(ctx: Context, here: Path, item: Mapping[str, Any], direction: str, *, host: bool) -> None:
    """IngressRule/EgressRule (and their Deny forms) Validate: peers, then ports."""
    peers = _PEERS[direction]
    present = [key for key, value in item.items() if key in peers and count(value)]
    if len(present) > 1:
        ctx.add(
            PEER_KINDS,
            (*here, present[1]),
            f"{direction} item combines {' and '.join(present)}; one peer kind per item",
        )
    # An item has a few of the many fields: dispatch on those present rather than look up all.
    for key, value in item.items():
        check = _FIELDS.get(key)
        if check is not None:
            check(ctx, (*here, key), value)
    ports.check_item(ctx, here, item, direction, host=host)


def _endpoints(ctx: Context, here: Path, value: object) -> None:
    for index, selector in items(value):
        _selector(ctx, (*here, index), selector)


def _nodes(ctx: Context, here: Path, value: object) -> None:
    _endpoints(ctx, here, value)
    if count(value) and not ctx.flags.node_selector_labels:
        ctx.needs_flag("node_selector_labels", here, str(here[-1]))


def _cidrs(ctx: Context, here: Path, value: object) -> None:
    for index, text in enumerate(value if isinstance(value, list) else ()):
        if isinstance(text, str):
            _cidr(ctx, (*here, index), text)


def _cidr_rules(ctx: Context, here: Path, value: object) -> None:
    for index, entry in items(value):
        _cidr_rule(ctx, (*here, index), entry)


def _requires(ctx: Context, here: Path, value: object) -> None:
    # Removed by cilium#42615 for 1.19 and kept in both CRDs only as a deprecated list with
    # maxItems 0 (cilium#43167), so a non-empty list fails on 1.19 and 1.20 alike.
    if count(value):
        ctx.add(
            REMOVED_FIELD,
            here,
            f"{here[-1]} was removed in Cilium 1.19 (deprecated since 1.17); "
            "the API server rejects it and the agent ignores it",
            "Add the required labels to each peer selector (matchLabels/matchExpressions), "
            "or use a deny rule for the peers to exclude.",
        )


def _authentication(ctx: Context, here: Path, value: object) -> None:
    if isinstance(value, dict) and value.get("mode") == "required" and not ctx.flags.mutual_auth:
        ctx.needs_flag("mutual_auth", (*here, "mode"), "authentication mode required")


_FIELDS: dict[str, Callable[[Context, Path, object], None]] = {
    "fromEndpoints": _endpoints,
    "toEndpoints": _endpoints,
    "fromNodes": _nodes,
    "toNodes": _nodes,
    "fromCIDR": _cidrs,
    "toCIDR": _cidrs,
    "fromCIDRSet": _cidr_rules,
    "toCIDRSet": _cidr_rules,
    "fromRequires": _requires,
    "toRequires": _requires,
    "authentication": _authentication,
}


# -- label selectors ---------------------------------------------------------------------


def _selector(
    ctx: Context, here: Path, selector: Mapping[str, Any], *, source: bool = True
) -> None:
    """EndpointSelector.Validate -> labels.ValidateLabelSelector."""
    labels = selector.get("matchLabels")
    if isinstance(labels, dict):
        for key, value in labels.items():
            where = (*here, "matchLabels", key) if isinstance(key, str) else here
            _label(ctx, where, key, value, source=source)
    for index, expression in items(selector.get("matchExpressions")):
        _expression(ctx, (*here, "matchExpressions", index), expression, source=source)


def _label(ctx: Context, here: Path, key: object, value: object, *, source: bool) -> None:
    problem = label_key_problem(key, source=source) if isinstance(key, str) else None
    if problem:
        ctx.add(LABEL_SELECTOR, here, f"label key {key!r} is invalid: {problem}")
    problem = label_value_problem(value) if isinstance(value, str) else None
    if problem:
        ctx.add(LABEL_SELECTOR, here, f"label value {value!r} of {key!r} is invalid: {problem}")


def _expression(ctx: Context, here: Path, expression: Mapping[str, Any], *, source: bool) -> None:
    key, operator, values = (expression.get(k) for k in ("key", "operator", "values"))
    operator = operator if isinstance(operator, str) else None  # else: structure's finding
    problem = label_key_problem(key, source=source) if isinstance(key, str) else None
    if problem:
        ctx.add(LABEL_SELECTOR, (*here, "key"), f"label key {key!r} is invalid: {problem}")
    if operator in {"In", "NotIn"} and not count(values):
        ctx.add(LABEL_SELECTOR, here, f"operator {operator} needs values (key {key!r})")
    elif operator in {"Exists", "DoesNotExist"} and count(values):
        ctx.add(
            LABEL_SELECTOR, (*here, "values"), f"operator {operator} takes no values (key {key!r})"
        )
    for index, value in enumerate(values if isinstance(values, list) else ()):
        problem = label_value_problem(value) if isinstance(value, str) else None
        if problem:
            ctx.add(LABEL_SELECTOR, (*here, "values", index), f"value {value!r}: {problem}")


# -- CIDRs -------------------------------------------------------------------------------


def _cidr(ctx: Context, here: Path, value: str) -> None:
    """CIDR.Validate (fromCIDR/toCIDR): a prefix, or a single address."""
    if value == "":
        ctx.add(CIDR, here, "CIDR is empty")
        return
    if parse_prefix(value) is None and not is_address(value):
        ctx.add(CIDR, here, f"CIDR {value!r} is neither address/bits nor an address")


def _cidr_rule(ctx: Context, here: Path, entry: Mapping[str, Any]) -> None:
    """CIDRRule.Validate: one of cidr/cidrGroupRef/cidrGroupSelector; except inside cidr."""
    cidr, ref, group = entry.get("cidr"), entry.get("cidrGroupRef"), entry.get("cidrGroupSelector")
    chosen = [k for k, v in (("cidr", cidr), ("cidrGroupRef", ref)) if isinstance(v, str) and v]
    chosen += ["cidrGroupSelector"] if isinstance(group, dict) else []
    if len(chosen) != 1:
        ctx.add(
            CIDR,
            here,
            f"give exactly one of cidr, cidrGroupRef, cidrGroupSelector (found {len(chosen)})",
        )
    if isinstance(group, dict):
        _selector(ctx, (*here, "cidrGroupSelector"), group, source=False)
    if chosen != ["cidr"] or not isinstance(cidr, str):
        return
    parsed = parse_prefix(cidr)
    if parsed is None:
        ctx.add(CIDR, (*here, "cidr"), f"cidr {cidr!r} is not address/bits")
        return
    network = parsed[0]
    excepts = entry.get("except")
    for index, text in enumerate(excepts if isinstance(excepts, list) else ()):
        if isinstance(text, str):
            _except(ctx, (*here, "except", index), text, network, cidr)


def _except(ctx: Context, here: Path, text: str, network: Network, cidr: str) -> None:
    parsed = parse_prefix(text)
    if parsed is None:
        ctx.add(CIDR, here, f"except {text!r} is not address/bits")
        return
    inner, written = parsed
    if inner.version != network.version:
        ctx.add(CIDR, here, f"except {text!r} is IPv{inner.version}, cidr {cidr!r} is not")
    elif inner.prefixlen < network.prefixlen or written not in network:
        ctx.add(CIDR, here, f"except {text!r} is not inside cidr {cidr!r}")

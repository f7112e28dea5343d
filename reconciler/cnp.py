"""Typed model of a CiliumNetworkPolicy rule (``spec`` / ``specs[]``): the body of a desired policy.

Sits inside ``models``: ``DesiredPolicy.spec`` is a ``Rule``. It covers the union of the
``cilium.io/v2`` CRD schemas of Cilium 1.19 and main (1.20-dev), so a policy that either release
accepts validates here, and anything else is rejected with the JSON path of the offending field
(``error_path``). Rejecting unknown keys is the point: a typo such as ``toPort`` would otherwise
vanish from the rendered file and silently widen or narrow the policy.

Field order in every class is the order of the Go structs in ``cilium/pkg/policy/api`` (and of
the Cilium docs), with ``by_alias`` dumps giving the camelCase names, so rendering a model gives
the key order reviewers know. Maps with free keys (labels) are sorted on input so their order in
the output does not depend on how the control plane happened to send them.

Checks go as far as the CRD's OpenAPI schema does (enums, patterns, one-of groups, ranges), plus
the label-selector rules Kubernetes applies; deeper semantic checks are Cilium's job at admission.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

# -- scalars -----------------------------------------------------------------------------------

_PORT_NUMBER = re.compile(
    r"6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}"
)
_PORT_NAME = re.compile(r"([a-zA-Z0-9]-?)*[a-zA-Z](-?[a-zA-Z0-9])*")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_FQDN_NAME = re.compile(r"([-a-zA-Z0-9_]+[.]?)+")
_FQDN_PATTERN = re.compile(r"([-a-zA-Z0-9_*]+[.]?)+")
_SERVER_NAME = re.compile(r"(\*?\*\.)?([-a-zA-Z0-9_*]+\.?)+")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_ICMP_NAMES = frozenset(
    {
        "EchoReply", "DestinationUnreachable", "Redirect", "Echo", "EchoRequest",
        "RouterAdvertisement", "RouterSelection", "TimeExceeded", "ParameterProblem", "Timestamp",
        "TimestampReply", "Photuris", "ExtendedEchoRequest", "ExtendedEcho Reply",
        "ExtendedEchoReply", "PacketTooBig", "MulticastListenerQuery", "MulticastListenerReport",
        "MulticastListenerDone", "RouterSolicitation", "NeighborSolicitation",
        "NeighborAdvertisement", "RedirectMessage", "RouterRenumbering",
        "ICMPNodeInformationQuery", "ICMPNodeInformationResponse",
        "InverseNeighborDiscoverySolicitation", "InverseNeighborDiscoveryAdvertisement",
        "HomeAgentAddressDiscoveryRequest", "HomeAgentAddressDiscoveryReply",
        "MobilePrefixSolicitation", "MobilePrefixAdvertisement",
        "DuplicateAddressRequestCodeSuffix", "DuplicateAddressConfirmationCodeSuffix",
    },
)  # fmt: skip
_MAX_ICMP_TYPE = 255
_MAX_LABEL_VALUE = 63
_MAX_FQDN = 255


def _matches(pattern: re.Pattern[str], what: str, max_length: int | None = None) -> AfterValidator:
    def check(value: str) -> str:
        if max_length is not None and len(value) > max_length:
            raise ValueError(f"{value!r} is longer than {max_length} characters")
        if not pattern.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


def _port(value: object) -> object:
    # Ports are strings in the CRD (a number or a named port) but people write 8080 unquoted;
    # accept the int and write it back as the string the API server stores.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _check_port(value: str) -> str:
    if _PORT_NUMBER.fullmatch(value) or _PORT_NAME.fullmatch(value):
        return value
    raise ValueError(f"{value!r} is not a port number (0-65535) or a port name")


def _icmp_type(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("must be an ICMP type number or name, not a boolean")  # noqa: TRY004 - pydantic wants ValueError
    if isinstance(value, int):
        if not 0 <= value <= _MAX_ICMP_TYPE:
            raise ValueError(f"{value} is not an ICMP type (0-255)")
        return value
    if isinstance(value, str) and (
        value in _ICMP_NAMES or (value.isdigit() and int(value) <= _MAX_ICMP_TYPE)
    ):
        return value
    raise ValueError(f"{value!r} is not an ICMP type number (0-255) or a known ICMP type name")


def _cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not a CIDR (for example 10.0.0.0/8) or an IP") from None
    return value


def _sorted(value: dict[str, str]) -> dict[str, str]:
    return dict(sorted(value.items()))


Port = Annotated[str, BeforeValidator(_port), AfterValidator(_check_port)]
IcmpType = Annotated[int | str, BeforeValidator(_icmp_type)]
Cidr = Annotated[str, AfterValidator(_cidr)]
LabelValue = Annotated[str, _matches(_LABEL_VALUE, "a valid label value", _MAX_LABEL_VALUE)]
MatchLabels = Annotated[dict[str, LabelValue], AfterValidator(_sorted)]
StringMap = Annotated[dict[str, str], AfterValidator(_sorted)]
FqdnName = Annotated[str, _matches(_FQDN_NAME, "a DNS name", _MAX_FQDN)]
FqdnPattern = Annotated[str, _matches(_FQDN_PATTERN, "a DNS name pattern", _MAX_FQDN)]
ServerName = Annotated[str, _matches(_SERVER_NAME, "a TLS server name", _MAX_FQDN)]
CidrGroupRef = Annotated[str, _matches(_DNS1123_SUBDOMAIN, "a CiliumCIDRGroup name", 253)]
Entity = Literal[
    "all", "world", "cluster", "host", "init", "ingress", "unmanaged", "remote-node", "health",
    "none", "kube-apiserver",
]  # fmt: skip
# GRE..AH are new in Cilium main; a 1.19 API server rejects them at apply time.
Protocol = Literal["TCP", "UDP", "SCTP", "VRRP", "IGMP", "GRE", "IPIP", "IPV6", "ESP", "AH", "ANY"]


class CiliumModel(BaseModel):
    """Base: camelCase keys, unknown keys rejected, immutable."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, frozen=True)


def _exactly_one(**given: object) -> None:
    """Check a one-of group; keyword names are the document's keys, values the fields."""
    present = [key for key, value in given.items() if value is not None]
    if len(present) != 1:
        found = f"got {' and '.join(present)}" if present else "got none"
        raise ValueError(f"exactly one of {', '.join(given)} is required ({found})")


# -- selectors ---------------------------------------------------------------------------------


class LabelSelectorRequirement(CiliumModel):
    """One ``matchExpressions`` entry."""

    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _values_match_operator(self) -> LabelSelectorRequirement:
        # Kubernetes' own label-selector rule; the CRD schema does not carry it.
        if self.operator in {"In", "NotIn"} and not self.values:
            raise ValueError(f"operator {self.operator} needs a non-empty values list")
        if self.operator in {"Exists", "DoesNotExist"} and self.values:
            raise ValueError(f"operator {self.operator} takes no values")
        return self


class EndpointSelector(CiliumModel):
    """A Kubernetes label selector; ``{}`` selects everything."""

    match_labels: MatchLabels | None = None
    match_expressions: tuple[LabelSelectorRequirement, ...] | None = None


# -- peers -------------------------------------------------------------------------------------


class CIDRRule(CiliumModel):
    """A CIDR peer, by prefix or by CiliumCIDRGroup."""

    cidr: Cidr | None = None
    cidr_group_ref: CidrGroupRef | None = Field(default=None, alias="cidrGroupRef")
    cidr_group_selector: EndpointSelector | None = None
    except_: tuple[Cidr, ...] | None = Field(default=None, alias="except")

    @model_validator(mode="after")
    def _one_source(self) -> CIDRRule:
        _exactly_one(
            cidr=self.cidr,
            cidrGroupRef=self.cidr_group_ref,
            cidrGroupSelector=self.cidr_group_selector,
        )
        return self


class FQDNSelector(CiliumModel):
    """A DNS name or pattern (``toFQDNs`` and ``rules.dns``)."""

    match_name: FqdnName | None = None
    match_pattern: FqdnPattern | None = None

    @model_validator(mode="after")
    def _one_matcher(self) -> FQDNSelector:
        _exactly_one(matchName=self.match_name, matchPattern=self.match_pattern)
        return self


class K8sServiceNamespace(CiliumModel):
    """A Service by name."""

    service_name: str | None = None
    namespace: str | None = None


class K8sServiceSelectorNamespace(CiliumModel):
    """Services by label selector."""

    selector: EndpointSelector
    namespace: str | None = None


class Service(CiliumModel):
    """A ``toServices`` peer."""

    k8s_service_selector: K8sServiceSelectorNamespace | None = Field(
        default=None, alias="k8sServiceSelector"
    )
    k8s_service: K8sServiceNamespace | None = Field(default=None, alias="k8sService")


class AWSGroup(CiliumModel):
    """Security groups from the AWS integration."""

    labels: StringMap | None = None
    security_groups_ids: tuple[str, ...] | None = None
    security_groups_names: tuple[str, ...] | None = None
    region: str | None = None


class Groups(CiliumModel):
    """A ``toGroups`` / ``fromGroups`` peer."""

    aws: AWSGroup | None = None


# -- ports and L7 ------------------------------------------------------------------------------


class PortProtocol(CiliumModel):
    """A port (or range) and protocol."""

    port: Port | None = None
    end_port: Annotated[int, Field(ge=0, le=65535, strict=True)] | None = None
    protocol: Protocol | None = None


class Secret(CiliumModel):
    """A Kubernetes Secret reference."""

    namespace: str | None = None
    name: str


class TLSContext(CiliumModel):
    """TLS material for terminating or originating TLS."""

    secret: Secret
    trusted_ca: str | None = Field(default=None, alias="trustedCA")
    certificate: str | None = None
    private_key: str | None = None


class EnvoyConfig(CiliumModel):
    """The CiliumEnvoyConfig a listener lives in."""

    kind: Literal["CiliumEnvoyConfig", "CiliumClusterwideEnvoyConfig"] | None = None
    name: str


class Listener(CiliumModel):
    """Redirect to an Envoy listener."""

    envoy_config: EnvoyConfig
    name: str
    priority: Annotated[int, Field(ge=1, le=100, strict=True)] | None = None


class HeaderMatch(CiliumModel):
    """An HTTP header condition."""

    mismatch: Literal["LOG", "ADD", "DELETE", "REPLACE"] | None = None
    name: str
    secret: Secret | None = None
    value: str | None = None


class PortRuleHTTP(CiliumModel):
    """An HTTP L7 rule."""

    path: str | None = None
    method: str | None = None
    host: str | None = None
    headers: tuple[str, ...] | None = None
    header_matches: tuple[HeaderMatch, ...] | None = None


class PortRuleKafka(CiliumModel):
    """A Kafka L7 rule (Cilium 1.19; removed in main)."""

    role: Literal["produce", "consume"] | None = None
    api_key: str | None = None
    api_version: str | None = None
    client_id: str | None = Field(default=None, alias="clientID")
    topic: Annotated[str, Field(max_length=255)] | None = None


class L7Rules(CiliumModel):
    """The L7 rules of a port rule: one kind per port rule."""

    http: tuple[PortRuleHTTP, ...] | None = None
    kafka: tuple[PortRuleKafka, ...] | None = None
    dns: tuple[FQDNSelector, ...] | None = None
    l7proto: str | None = Field(default=None, alias="l7proto")
    l7: tuple[StringMap, ...] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> L7Rules:
        _exactly_one(http=self.http, kafka=self.kafka, dns=self.dns, l7proto=self.l7proto)
        return self


class PortRule(CiliumModel):
    """``toPorts`` entry of an allow rule."""

    ports: tuple[PortProtocol, ...] | None = None
    terminating_tls: TLSContext | None = Field(default=None, alias="terminatingTLS")
    originating_tls: TLSContext | None = Field(default=None, alias="originatingTLS")
    server_names: tuple[ServerName, ...] | None = None
    listener: Listener | None = None
    rules: L7Rules | None = None


class PortDenyRule(CiliumModel):
    """``toPorts`` entry of a deny rule: ports only, deny rules have no L7."""

    ports: tuple[PortProtocol, ...] | None = None


class ICMPField(CiliumModel):
    """One ICMP type, per address family."""

    family: Literal["IPv4", "IPv6"] | None = None
    type: IcmpType


class ICMPRule(CiliumModel):
    """An ``icmps`` entry."""

    fields: tuple[ICMPField, ...] | None = None


class Authentication(CiliumModel):
    """Mutual authentication requirement."""

    mode: Literal["disabled", "required", "test-always-fail"]


# -- directions --------------------------------------------------------------------------------


class IngressPeers(CiliumModel):
    """Where ingress traffic may come from: shared by allow and deny rules (Go's common rule)."""

    from_endpoints: tuple[EndpointSelector, ...] | None = None
    from_requires: tuple[EndpointSelector, ...] | None = None
    from_cidr: tuple[Cidr, ...] | None = Field(default=None, alias="fromCIDR")
    from_cidr_set: tuple[CIDRRule, ...] | None = Field(default=None, alias="fromCIDRSet")
    from_entities: tuple[Entity, ...] | None = None
    from_groups: tuple[Groups, ...] | None = None
    from_nodes: tuple[EndpointSelector, ...] | None = None


class IngressDenyRule(IngressPeers):
    """An ``ingressDeny`` entry."""

    to_ports: tuple[PortDenyRule, ...] | None = None
    icmps: tuple[ICMPRule, ...] | None = None


class IngressRule(IngressPeers):
    """An ``ingress`` entry; ``{}`` allows nothing but turns on default deny."""

    to_ports: tuple[PortRule, ...] | None = None
    icmps: tuple[ICMPRule, ...] | None = None
    authentication: Authentication | None = None


class EgressPeers(CiliumModel):
    """Where egress traffic may go, up to ``toServices``: shared by allow and deny rules.

    ``toGroups`` and ``toNodes`` are declared in each subclass, because the allow rule's
    ``toFQDNs`` comes before them in the documented key order.
    """

    to_endpoints: tuple[EndpointSelector, ...] | None = None
    to_requires: tuple[EndpointSelector, ...] | None = None
    to_cidr: tuple[Cidr, ...] | None = Field(default=None, alias="toCIDR")
    to_cidr_set: tuple[CIDRRule, ...] | None = Field(default=None, alias="toCIDRSet")
    to_entities: tuple[Entity, ...] | None = None
    to_services: tuple[Service, ...] | None = None


class EgressDenyRule(EgressPeers):
    """An ``egressDeny`` entry."""

    to_groups: tuple[Groups, ...] | None = None
    to_nodes: tuple[EndpointSelector, ...] | None = None
    to_ports: tuple[PortDenyRule, ...] | None = None
    icmps: tuple[ICMPRule, ...] | None = None


class EgressRule(EgressPeers):
    """An ``egress`` entry."""

    to_fqdns: tuple[FQDNSelector, ...] | None = Field(default=None, alias="toFQDNs")
    to_groups: tuple[Groups, ...] | None = None
    to_nodes: tuple[EndpointSelector, ...] | None = None
    to_ports: tuple[PortRule, ...] | None = None
    icmps: tuple[ICMPRule, ...] | None = None
    authentication: Authentication | None = None


# -- the rule ----------------------------------------------------------------------------------


class Label(CiliumModel):
    """A ``spec.labels`` entry: Cilium's own label form."""

    key: str
    value: str | None = None
    source: str | None = None


class DefaultDenyConfig(CiliumModel):
    """``enableDefaultDeny``: whether selecting an endpoint puts it in default deny."""

    ingress: bool | None = None
    egress: bool | None = None


class LogConfig(CiliumModel):
    """``log``: the value attached to policy verdict logs."""

    value: Annotated[str, Field(max_length=32, pattern=r"^\PC*$")] | None = None


class Rule(CiliumModel):
    """One policy rule: what it selects and what traffic it allows or denies."""

    endpoint_selector: EndpointSelector | None = None
    node_selector: EndpointSelector | None = None
    ingress: tuple[IngressRule, ...] | None = None
    ingress_deny: tuple[IngressDenyRule, ...] | None = None
    egress: tuple[EgressRule, ...] | None = None
    egress_deny: tuple[EgressDenyRule, ...] | None = None
    labels: tuple[Label, ...] | None = None
    enable_default_deny: DefaultDenyConfig | None = None
    description: str | None = None
    log: LogConfig | None = None

    @model_validator(mode="after")
    def _selector_and_direction(self) -> Rule:
        _exactly_one(endpointSelector=self.endpoint_selector, nodeSelector=self.node_selector)
        directions = (self.ingress, self.ingress_deny, self.egress, self.egress_deny)
        if all(direction is None for direction in directions):
            raise ValueError("at least one of ingress, ingressDeny, egress, egressDeny is required")
        return self


def error_path(loc: tuple[int | str, ...]) -> str:
    """Turn pydantic's error location into a JSON path.

    ``("spec", "ingress", 0, "toPort")`` becomes ``spec.ingress[0].toPort``.
    """
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not _is_validator_tag(part):
            path += f".{part}" if path else part
    return path


def _is_validator_tag(part: str) -> bool:
    # Unions and wrapped validators add steps such as "int", "str" or "function-after[...]"
    # that are not keys of the document.
    return "[" in part or part in {"int", "str", "bool", "float"}

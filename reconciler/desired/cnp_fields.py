"""The building blocks of the CiliumNetworkPolicy model: scalars, selectors, peers.

Sits under ``cnp``, which assembles them into ports, L7 rules, directions and the ``Rule``. Each
scalar type checks what the CRD's OpenAPI schema checks (patterns, ranges, enums) and says what
is wrong in words a policy author reads; ``CiliumModel`` is the base of every class (camelCase
keys, unknown keys rejected, immutable); ``error_path`` turns pydantic's error locations into
the JSON paths the rejections print.
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
    # Ports are strings in the CRD (a number or a named port), and the API server refuses a
    # number there. Converting silently would hide a real ambiguity: YAML 1.1 (kubectl, Flux)
    # reads an unquoted 0123 as 83 and YAML 1.2 as 123, so the user must say which by quoting.
    if isinstance(value, int) and not isinstance(value, bool):
        msg = (
            'must be a string: quote it ("8080", not 8080); the CRD\'s type is string, and YAML '
            "readers disagree on numbers such as 0123"
        )
        raise ValueError(msg)  # noqa: TRY004 - pydantic turns ValueError into the rejection
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


def exactly_one(**given: object) -> None:
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
        exactly_one(
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
        exactly_one(matchName=self.match_name, matchPattern=self.match_pattern)
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

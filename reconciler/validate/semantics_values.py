"""Go's value parsers, in Python: what Cilium accepts as a port, label, prefix or ICMP type.

Part of the ``semantics`` step (documents -> structure -> semantics -> lint -> repository).
Cilium validates single values with Go's standard library and its own packages, whose rules
differ from Python's at the edges (``strconv.ParseUint`` reads "010" as octal 8, ``netip``
refuses "10.0.0.0/08", label keys take a ``source:`` prefix). These pure functions answer
"would Go accept this?" for the checks in ``semantics`` and ``semantics_ports``; each names
the Go function it mirrors, and caches its answers because policies repeat values.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

# -- ports: iana.IsSvcName and strconv.ParseUint(port, 0, 16) ----------------------------

_SVC_NAME = re.compile(r"([a-zA-Z0-9]-?)*[a-zA-Z](-?[a-zA-Z0-9])*")  # RFC 6335, 5.1
_SVC_NAME_MAX = 15
_DIGITS = {**{chr(48 + n): n for n in range(10)}, **{chr(97 + n): 10 + n for n in range(6)}}
_BASES = {"b": 2, "o": 8, "x": 16}
_UINT16_MAX = 0xFFFF


def is_service_name(port: str) -> bool:
    """iana.IsSvcName: 1-15 letters, digits and single inner hyphens, at least one letter."""
    return 0 < len(port) <= _SVC_NAME_MAX and _SVC_NAME.fullmatch(port) is not None


def _underscores_ok(text: str) -> bool:
    # strconv's underscoreOK: "_" only between digits (a base prefix counts as a digit).
    saw, index, hexadecimal = "^", 0, False
    if len(text) > 1 and text[0] == "0" and text[1].lower() in _BASES:
        index, saw, hexadecimal = 2, "0", text[1].lower() == "x"
    for char in text[index:]:
        if char.isdigit() or (hexadecimal and char.lower() in "abcdef"):
            saw = "0"
        elif char == "_":
            if saw != "0":
                return False
            saw = "_"
        elif saw == "_":
            return False
        else:
            saw = "!"
    return saw != "_"


@functools.lru_cache(maxsize=4096)
def go_parse_uint16(text: str) -> int | None:
    """``strconv.ParseUint(text, 0, 16)``: base prefixes, a leading 0 for octal, "_" separators.

    Python's ``int(text, 0)`` differs: it rejects "010" (Go reads octal 8) and accepts signs.
    """
    digits, base = text, 10
    if text[:1] == "0" and len(text) > 1:
        prefix = text[1].lower() if len(text) > 2 else ""  # noqa: PLR2004 - "0x" alone is octal
        base = _BASES.get(prefix, 8)
        digits = text[2:] if prefix in _BASES else text[1:]
    value, underscores = 0, False
    for char in digits.lower():
        if char == "_":
            underscores = True
            continue
        digit = _DIGITS.get(char)
        if digit is None or digit >= base:
            return None
        value = value * base + digit
    if value > _UINT16_MAX or (underscores and not _underscores_ok(text)):
        return None
    return value


# -- labels: labels.IsValidCiliumLabelKey and validation.IsValidLabelValue -------------------

_SOURCE = re.compile(r"[A-Za-z0-9]+")  # LabelSourceRegexp in pkg/labels
_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_NAME_MAX, _SUBDOMAIN_MAX = 63, 253
_SHAPE = "63 letters, digits, '-', '_' or '.' at most, alphanumeric at both ends"


@functools.lru_cache(maxsize=4096)
def label_key_problem(key: str, *, source: bool = True) -> str | None:
    """labels.IsValidCiliumLabelKey: an optional ``source:`` then a Kubernetes label key.

    ``source`` is False for cidrGroupSelector, whose keys Cilium checks as plain Kubernetes
    keys (``ValidateAsK8sLabelSelector`` in 1.19, a fixed source prefix in 1.20).
    """
    parts = key.split(":") if source else [key]
    if len(parts) > 2:  # noqa: PLR2004
        return "only one ':' may separate the source from the key"
    if len(parts) == 2 and not _SOURCE.fullmatch(parts[0]):  # noqa: PLR2004
        return f"source {parts[0]!r} must be letters and digits"
    return _qualified_name_problem(parts[-1])


def _qualified_name_problem(key: str) -> str | None:
    # validation.IsQualifiedName: [DNS subdomain "/"] name
    prefix, slash, name = key.rpartition("/")
    if slash and "/" in prefix:
        return "a key has at most one '/'"
    if slash and not (len(prefix) <= _SUBDOMAIN_MAX and _SUBDOMAIN.fullmatch(prefix)):
        return f"prefix {prefix!r} must be a lowercase DNS subdomain"
    if len(name) > _NAME_MAX or not _NAME.fullmatch(name):
        return f"name {name!r} must have {_SHAPE}"
    return None


def label_value_problem(value: str) -> str | None:
    """validation.IsValidLabelValue: empty, or a name of up to 63 characters."""
    if value and (len(value) > _NAME_MAX or not _NAME.fullmatch(value)):
        return f"a label value has {_SHAPE}"
    return None


# -- CIDRs: netip.ParsePrefix and netip.ParseAddr ------------------------------------------

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_BITS = re.compile(r"0|[1-9][0-9]{0,2}")  # decimal, no sign, no leading zero


@functools.lru_cache(maxsize=4096)
def parse_prefix(text: str) -> tuple[Network, Address] | None:
    """netip.ParsePrefix: the prefix (host bits cleared) and the address as written, or None.

    Stricter than Python's ``ip_network``: no zone, no netmask, no leading zero in the bits.
    """
    address, slash, bits = text.rpartition("/")
    if not slash or "%" in address or not _BITS.fullmatch(bits):
        return None
    try:
        written = ipaddress.ip_address(address)
        network = ipaddress.ip_network(f"{address}/{bits}", strict=False)
    except ValueError:
        return None
    return network, written


def is_address(text: str) -> bool:
    """netip.ParseAddr: a single IPv4 or IPv6 address (an IPv6 zone is allowed)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# -- ICMP: ICMPField.UnmarshalJSON ---------------------------------------------------------

# icmpIpv4TypeNameToCode / icmpIpv6TypeNameToCode in pkg/policy/api/icmp.go.
_ICMP_NAMES = {
    "IPv4": frozenset(
        [
            "EchoReply",
            "DestinationUnreachable",
            "Redirect",
            "Echo",
            "EchoRequest",
            "RouterAdvertisement",
            "RouterSelection",
            "TimeExceeded",
            "ParameterProblem",
            "Timestamp",
            "TimestampReply",
            "Photuris",
            "ExtendedEchoRequest",
            "ExtendedEchoReply",
        ]
    ),
    "IPv6": frozenset(
        [
            "DestinationUnreachable",
            "PacketTooBig",
            "TimeExceeded",
            "ParameterProblem",
            "EchoRequest",
            "EchoReply",
            "MulticastListenerQuery",
            "MulticastListenerReport",
            "MulticastListenerDone",
            "RouterSolicitation",
            "RouterAdvertisement",
            "NeighborSolicitation",
            "NeighborAdvertisement",
            "RedirectMessage",
            "RouterRenumbering",
            "ICMPNodeInformationQuery",
            "ICMPNodeInformationResponse",
            "InverseNeighborDiscoverySolicitation",
            "InverseNeighborDiscoveryAdvertisement",
            "HomeAgentAddressDiscoveryRequest",
            "HomeAgentAddressDiscoveryReply",
            "MobilePrefixSolicitation",
            "MobilePrefixAdvertisement",
            "DuplicateAddressRequestCodeSuffix",
            "DuplicateAddressConfirmationCodeSuffix",
            "ExtendedEchoRequest",
            "ExtendedEchoReply",
        ]
    ),
}
_ATOI = re.compile(r"[+-]?[0-9]+")  # strconv.Atoi, which intstr.IntValue uses
_ICMP_TYPE_MAX = 255


def icmp_type_problem(value: object, family: str) -> str | None:
    """Why an ICMP ``type`` is wrong for ``family`` ("IPv4" or "IPv6"), or None."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None  # missing or mistyped: the structure layer's finding
    number = value if isinstance(value, int) else None
    if isinstance(value, str) and _ATOI.fullmatch(value):
        number = int(value)
        if number == 0 and value != "0":  # IntValue() is 0, so Go looks "00" up as a name
            number = None
    if number is not None:
        # Go does not check the range of a number, but an ICMP type is one byte: 300 never
        # matches (the CRD's pattern already says 0-255 for the string form).
        return None if 0 <= number <= _ICMP_TYPE_MAX else f"ICMP type {number} is outside 0-255"
    if value in _ICMP_NAMES[family]:
        return None
    return f"ICMP type {value!r} is not an {family} type name"


# -- Kafka (Cilium 1.19): kafka.PortRule.Sanitize -----------------------------------------

_KAFKA_API_KEYS = frozenset(
    [
        "produce",
        "fetch",
        "offsets",
        "metadata",
        "leaderandisr",
        "stopreplica",
        "updatemetadata",
        "controlledshutdown",
        "offsetcommit",
        "offsetfetch",
        "findcoordinator",
        "joingroup",
        "heartbeat",
        "leavegroup",
        "syncgroup",
        "describegroups",
        "listgroups",
        "saslhandshake",
        "apiversions",
        "createtopics",
        "deletetopics",
        "deleterecords",
        "initproducerid",
        "offsetforleaderepoch",
        "addpartitionstotxn",
        "addoffsetstotxn",
        "endtxn",
        "writetxnmarkers",
        "txnoffsetcommit",
        "describeacls",
        "createacls",
        "deleteacls",
        "describeconfigs",
        "alterconfigs",
    ]
)
# kafka.TopicValidChar is written `^[a-zA-Z0-9\\._\\-]+$` in a raw string: it admits "\" too.
_KAFKA_TOPIC = re.compile(r"[a-zA-Z0-9\\._-]+")
_KAFKA_TOPIC_MAX = 255
_INT16_MAX = 0x7FFF


def kafka_problems(kafka: Mapping[str, Any]) -> Iterator[str]:
    """What Cilium 1.19 rejects in one Kafka rule (roles and keys compare case-insensitively)."""
    text = {key: value for key, value in kafka.items() if isinstance(value, str) and value}
    role, api_key = text.get("role"), text.get("apiKey")
    version, topic = text.get("apiVersion"), text.get("topic")
    if role and api_key:
        yield f"role {role!r} and apiKey {api_key!r} cannot both be set"
    if api_key and api_key.lower() not in _KAFKA_API_KEYS:
        yield f"apiKey {api_key!r} is not a Kafka API key"
    if role and role.lower() not in {"produce", "consume"}:
        yield f"role {role!r} is neither produce nor consume"
    if version and not (_ATOI.fullmatch(version) and 0 <= int(version) <= _INT16_MAX):
        yield f"apiVersion {version!r} is not a number 0-32767"
    if topic and (len(topic) > _KAFKA_TOPIC_MAX or not _KAFKA_TOPIC.fullmatch(topic)):
        yield f"topic {topic!r} is not a Kafka topic name (letters, digits, . _ -; 255 at most)"

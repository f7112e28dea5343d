"""Ports and protocols as ``toPorts`` and ``icmps`` (or a NetworkPolicy's ``ports``) match them.

Third step of ``verdicts`` (identity -> selectors -> ports/l7 -> rules -> engine). From
``pkg/policy/api/l4.go`` and the CRD's field documentation:

* ``protocol`` ``ANY`` (or omitted) matches the protocols with transport ports, TCP, UDP and
  SCTP (``mergeIngress`` in ``pkg/policy/rule.go`` expands ANY into them); it never matches
  ICMP, which only ``icmps`` selects (``layer4.rst``: with L4 rules, ICMP is blocked);
* ``port`` ``0`` (or omitted) is every port of the protocol; ``endPort`` makes a range
  ``port``-``endPort``; a port *name* matches the destination's container port of that name
  (for ingress the selected pod's own, for egress the peer's), and only with its protocol;
* ``icmps`` fields match an ICMP (``family: IPv4``, the default) or ICMPv6 type, by number or
  by the names of ``icmpIpv4TypeNameToCode``/``icmpIpv6TypeNameToCode`` in
  ``pkg/policy/api/icmp.go`` (the IANA numbers);
* the extended protocols (VRRP, IGMP, GRE, ...) have no ports: they match by protocol alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

TRANSPORT = frozenset({"TCP", "UDP", "SCTP"})
ICMP_PROTOCOLS = frozenset({"ICMP", "ICMPV6"})
# The protocols a flow may name: transport ones, ICMP, and the extended IP protocols the CRD
# accepts with --enable-extended-ip-protocols.
PROTOCOLS = TRANSPORT | ICMP_PROTOCOLS | {"VRRP", "IGMP", "GRE", "IPIP", "IPV6", "ESP", "AH"}
MAX_PORT = 65535

_ICMPV4 = {
    "EchoReply": 0,
    "DestinationUnreachable": 3,
    "Redirect": 5,
    "Echo": 8,
    "EchoRequest": 8,
    "RouterAdvertisement": 9,
    "RouterSelection": 10,
    "TimeExceeded": 11,
    "ParameterProblem": 12,
    "Timestamp": 13,
    "TimestampReply": 14,
    "Photuris": 40,
    "ExtendedEchoRequest": 42,
    "ExtendedEchoReply": 43,
}
_ICMPV6 = {
    "DestinationUnreachable": 1,
    "PacketTooBig": 2,
    "TimeExceeded": 3,
    "ParameterProblem": 4,
    "EchoRequest": 128,
    "EchoReply": 129,
    "MulticastListenerQuery": 130,
    "MulticastListenerReport": 131,
    "MulticastListenerDone": 132,
    "RouterSolicitation": 133,
    "RouterAdvertisement": 134,
    "NeighborSolicitation": 135,
    "NeighborAdvertisement": 136,
    "RedirectMessage": 137,
    "RouterRenumbering": 138,
    "ICMPNodeInformationQuery": 139,
    "ICMPNodeInformationResponse": 140,
    "InverseNeighborDiscoverySolicitation": 141,
    "InverseNeighborDiscoveryAdvertisement": 142,
    "HomeAgentAddressDiscoveryRequest": 144,
    "HomeAgentAddressDiscoveryReply": 145,
    "MobilePrefixSolicitation": 146,
    "MobilePrefixAdvertisement": 147,
    "DuplicateAddressRequestCodeSuffix": 157,
    "DuplicateAddressConfirmationCodeSuffix": 158,
    "ExtendedEchoRequest": 160,
    "ExtendedEchoReply": 161,
}


class PortError(ValueError):
    """A port, range, protocol or ICMP type that Cilium would reject."""


@dataclass(frozen=True, slots=True)
class Probe:
    """What a flow asks about at L4: its protocol and destination port (or ICMP type)."""

    protocol: str  # upper case: TCP, UDP, SCTP, ICMP, ICMPV6, GRE, ...
    port: int = 0  # the destination port; the ICMP type for ICMP

    def text(self) -> str:
        """``TCP/8080``, ``ICMP type 8``, ``GRE``."""
        if self.protocol in ICMP_PROTOCOLS:
            name = "ICMPv6" if self.protocol == "ICMPV6" else "ICMP"
            return f"{name} type {self.port}"
        if self.protocol in TRANSPORT:
            return f"{self.protocol}/{self.port}"
        return self.protocol


@dataclass(frozen=True, slots=True)
class PortMatch:
    """One ``ports`` entry: a protocol and a port, a range, or a port name."""

    protocol: str  # TCP, UDP, SCTP, ANY, or an extended protocol
    port: int = 0  # 0: every port
    end_port: int = 0  # the last port of a range (== port for a single port)
    name: str | None = None  # a named port

    def matches(self, probe: Probe, named: Callable[[str], tuple[int, str] | None]) -> bool:
        """Whether the flow's protocol and port fall under this entry."""
        if not self.covers_protocol(probe.protocol):
            return False
        if probe.protocol not in TRANSPORT:
            return True  # an extended protocol has no ports to compare
        if self.name is not None:
            found = named(self.name)
            if found is None:
                return False
            number, protocol = found
            return number == probe.port and protocol in (probe.protocol, "ANY")
        if self.port == 0:
            return True
        return self.port <= probe.port <= max(self.port, self.end_port)

    def covers_protocol(self, protocol: str) -> bool:
        """ANY is TCP, UDP and SCTP; never ICMP, which only ``icmps`` selects."""
        if protocol in ICMP_PROTOCOLS:
            return False
        if self.protocol == "ANY":
            return protocol in TRANSPORT
        return self.protocol == protocol

    @property
    def wildcard(self) -> bool:
        """Every port of its protocol."""
        return self.name is None and self.port == 0

    def text(self) -> str:
        """``TCP/80``, ``TCP/8000-8080``, ``TCP/http``, ``ANY/*``."""
        if self.name is not None:
            where = self.name
        elif self.port == 0:
            where = "*"
        elif self.end_port > self.port:
            where = f"{self.port}-{self.end_port}"
        else:
            where = str(self.port)
        return f"{self.protocol}/{where}"


@dataclass(frozen=True, slots=True)
class IcmpMatch:
    """One ``icmps`` field: an ICMP or ICMPv6 type."""

    family: str  # IPv4 or IPv6
    type: int

    def matches(self, probe: Probe) -> bool:
        """Whether the flow is this ICMP type of this family."""
        protocol = "ICMPV6" if self.family == "IPv6" else "ICMP"
        return probe.protocol == protocol and probe.port == self.type

    def text(self) -> str:
        """``ICMP type 8``."""
        return f"{'ICMPv6' if self.family == 'IPv6' else 'ICMP'} type {self.type}"


def port_match(entry: Any, *, default_protocol: str = "ANY") -> PortMatch:  # noqa: ANN401
    """One item of ``toPorts[].ports`` (or of a NetworkPolicy's ``ports``), checked."""
    if not isinstance(entry, dict):
        msg = "a ports item must be a mapping"
        raise PortError(msg)
    protocol = str(entry.get("protocol") or default_protocol).upper()
    if protocol not in PROTOCOLS - ICMP_PROTOCOLS and protocol != "ANY":
        msg = f"unknown protocol {entry.get('protocol')!r}"
        raise PortError(msg)
    raw = entry.get("port")
    end = entry.get("endPort")
    if raw is None or raw == "":
        return PortMatch(protocol)
    number = _number(raw)
    if number is None:
        if end is not None:
            msg = f"endPort cannot go with the named port {raw!r}"
            raise PortError(msg)
        return PortMatch(protocol, name=str(raw).lower())
    if not 0 <= number <= MAX_PORT:
        msg = f"port {number} is outside 0-65535"
        raise PortError(msg)
    last = number
    if end is not None:
        if isinstance(end, bool) or not isinstance(end, int) or not 0 <= end <= MAX_PORT:
            msg = f"endPort {end!r} is not a port number"
            raise PortError(msg)
        if end and end < number:
            msg = f"endPort {end} is below port {number}"
            raise PortError(msg)
        last = end or number
    return PortMatch(protocol, number, last)


def _number(raw: object) -> int | None:
    """A port given as a number or digits; None for a name. Raises for anything else."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.isdigit():
        return int(raw)
    if isinstance(raw, str):
        return None
    msg = f"port {raw!r} is neither a number nor a name"
    raise PortError(msg)


def icmp_match(field: Any) -> IcmpMatch:  # noqa: ANN401 - raw YAML
    """One ``icmps[].fields`` item: the family and the type, by number or name."""
    if not isinstance(field, dict):
        msg = "an icmps field must be a mapping"
        raise PortError(msg)
    family = field.get("family") or "IPv4"
    if family not in ("IPv4", "IPv6"):
        msg = f"unknown ICMP family {family!r}"
        raise PortError(msg)
    return IcmpMatch(family, icmp_type(field.get("type"), family))


def icmp_type(value: object, family: str) -> int:
    """An ICMP type given as a number or a name (``EchoRequest``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.isdigit():
        number = int(value)
    elif isinstance(value, str):
        table = _ICMPV6 if family == "IPv6" else _ICMPV4
        if value not in table:
            msg = f"{value!r} is not an {family} ICMP type name"
            raise PortError(msg)
        return table[value]
    else:
        msg = f"ICMP type {value!r} is neither a number nor a name"
        raise PortError(msg)
    if not 0 <= number <= 255:  # noqa: PLR2004 - one byte
        msg = f"ICMP type {number} is outside 0-255"
        raise PortError(msg)
    return number

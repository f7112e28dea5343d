"""Hubble flow lines (``hubble observe -o jsonpb`` or ``-o json``) as distinct flows with counts.

The input of ``replaying`` (hubble -> replaying -> replay_formats). One line is one flow event;
``-o jsonpb`` wraps it as ``{"flow": {...}, "node_name": ...}`` with enums as names, ``-o json``
prints the flow itself and older CLIs print enums as numbers; both are read. A line keeps what
policy decides on (``api/v1/flow/flow.proto``): the source's and the destination's identity
labels, the IP of an endpoint outside the cluster with its ``destination_names``, the protocol
and destination port (or ICMP type), the HTTP request or DNS query of an L7 ``REQUEST``, and
where Hubble saw it (``traffic_direction``) with the verdict it recorded. Replies
(``is_reply``), L7 responses and events that are not flows are skipped, so each connection
counts once per observation point.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

# Enum values of flow.proto, for CLIs that print numbers.
_VERDICTS = {
    0: "VERDICT_UNKNOWN",
    1: "FORWARDED",
    2: "DROPPED",
    3: "ERROR",
    4: "AUDIT",
    5: "REDIRECTED",
    6: "TRACED",
    7: "TRANSLATED",
}
_DIRECTIONS = {0: "", 1: "ingress", 2: "egress", "INGRESS": "ingress", "EGRESS": "egress"}
_L7_TYPES = {0: "UNKNOWN_L7_TYPE", 1: "REQUEST", 2: "RESPONSE", 3: "SAMPLE"}
_L4 = (("TCP", "TCP"), ("UDP", "UDP"), ("SCTP", "SCTP"), ("ICMPv4", "ICMP"), ("ICMPv6", "ICMPV6"))
# Drop reasons that are policy's doing (pkg/monitor/api/drop.go): a drop for any other reason
# says nothing about policy.
POLICY_DROPS = frozenset({"POLICY_DENIED", "POLICY_DENY", "AUTH_REQUIRED", 133, 181, 189})


class HubbleError(ValueError):
    """A line that is not a Hubble flow in JSON."""


@dataclass(frozen=True, slots=True)
class Side:
    """One end of a flow as Hubble saw it: enough to rebuild its identity."""

    labels: tuple[str, ...]  # sorted, "k8s:app=api"
    ip: str | None  # only for endpoints outside the cluster (the only ones CIDRs select)
    names: tuple[str, ...]  # destination_names, for the world
    # "shop/api" (namespace and workload or app), or the IP: for people, so two pods of one
    # identity are one flow even when their names differ.
    display: str = field(default="", compare=False)
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Hash once: a side is hashed for every line that names it."""
        object.__setattr__(self, "_hash", hash((self.labels, self.ip, self.names)))

    def __hash__(self) -> int:
        """The hash worked out at construction."""
        return self._hash


@dataclass(frozen=True, slots=True)
class Observed:
    """A distinct flow: both ends, protocol, port, request, and where Hubble recorded what."""

    source: Side
    destination: Side
    protocol: str  # TCP, UDP, SCTP, ICMP, ICMPV6
    port: int  # destination port, or ICMP type
    http: tuple[str, str, str] | None = None  # method, path, host
    dns: str | None = None
    direction: str = ""  # ingress or egress: the observation point
    verdict: str = ""  # FORWARDED, DROPPED, ... as Hubble recorded it
    policy_drop: bool = False  # DROPPED because of policy (not a checksum error, ...)


def tally(lines: Iterable[bytes | str]) -> tuple[Counter[Observed], int]:
    """Distinct flows with how many lines showed each, and how many lines were skipped.

    Raises ``HubbleError`` for a line that is not JSON (blank lines are skipped).
    """
    counts: Counter[Observed] = Counter()
    sides: dict[tuple[object, ...], Side] = {}
    skipped = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            msg = f"line {number}: not JSON"
            raise HubbleError(msg) from None
        flow = observed(event, sides)
        if flow is None:
            skipped += 1
        else:
            counts[flow] += 1
    return counts, skipped


def observed(
    event: Any,  # noqa: ANN401 - one decoded JSON line
    sides: dict[tuple[object, ...], Side] | None = None,
) -> Observed | None:
    """The distinct flow of one event, or None when policy has nothing to say about it.

    ``sides`` keeps the ends already seen, so a million lines between a few thousand identities
    build (and hash) a few thousand of them.
    """
    sides = {} if sides is None else sides
    flow = event.get("flow", event) if isinstance(event, dict) else None
    if not isinstance(flow, dict) or _truthy(flow.get("is_reply")):
        return None
    l4 = flow.get("l4")
    if not isinstance(l4, dict):
        return None
    protocol, port = _l4(l4)
    if protocol is None:
        return None
    http, dns = None, None
    l7 = flow.get("l7")
    if isinstance(l7, dict):
        kind = l7.get("type")
        if (_L7_TYPES.get(kind, "") if isinstance(kind, int) else kind) != "REQUEST":
            return None
        http, dns = _request(l7)
    verdict = flow.get("verdict", "")
    verdict = _VERDICTS.get(verdict, verdict) if isinstance(verdict, int) else str(verdict)
    drop = flow.get("drop_reason_desc", flow.get("drop_reason"))
    names = flow.get("destination_names")
    return Observed(
        _side(flow.get("source"), flow.get("IP"), "source", (), sides),
        _side(flow.get("destination"), flow.get("IP"), "destination", names, sides),
        protocol,
        port,
        http,
        dns,
        _DIRECTIONS.get(flow.get("traffic_direction", 0), ""),
        verdict,
        verdict == "DROPPED" and drop in POLICY_DROPS,
    )


def _truthy(value: object) -> bool:
    if isinstance(value, dict):  # google.protobuf.BoolValue through encoding/json
        return bool(value.get("value"))
    return bool(value)


def _l4(l4: dict[str, Any]) -> tuple[str | None, int]:
    # encoding/json (older CLIs' -o json) nests the oneof one level down, under "Protocol".
    nested = l4.get("Protocol")
    if isinstance(nested, dict):
        l4 = nested
    for key, protocol in _L4:
        found = l4.get(key)
        if isinstance(found, dict):
            if protocol.startswith("ICMP"):
                return protocol, int(found.get("type") or 0)
            return protocol, int(found.get("destination_port") or 0)
    return None, 0


def _request(l7: dict[str, Any]) -> tuple[tuple[str, str, str] | None, str | None]:
    nested = l7.get("Record")  # the oneof under encoding/json, as for l4
    if isinstance(nested, dict):
        l7 = {**l7, **{k.lower(): v for k, v in nested.items()}}
    http = l7.get("http")
    if isinstance(http, dict):
        url = str(http.get("url") or "/")
        host = ""
        if "://" in url:
            host, _, rest = url.split("://", 1)[1].partition("/")
            url = "/" + rest
        return (str(http.get("method") or "GET"), url, host), None
    dns = l7.get("dns")
    if isinstance(dns, dict) and dns.get("query"):
        return None, str(dns["query"]).rstrip(".")
    return None, None


def _side(
    raw: object, ip: object, which: str, names: object, sides: dict[tuple[object, ...], Side]
) -> Side:
    endpoint = raw if isinstance(raw, dict) else {}
    given = endpoint.get("labels") or ()
    # A pod (it has a namespace) is its labels; only the world is also its address and names.
    outside = not endpoint.get("namespace") and (
        not given or any(str(label).startswith("reserved:world") for label in given)
    )
    address = ip.get(which) if outside and isinstance(ip, dict) else None
    dns = names if isinstance(names, list) and outside else ()
    key = (tuple(given), address, tuple(dns))
    found = sides.get(key)
    if found is None:
        labels = tuple(sorted(str(label) for label in given))
        listed = tuple(sorted(str(n).rstrip(".").lower() for n in dns))
        kept = str(address) if address else None
        found = Side(labels, kept, listed, _display(endpoint, labels, address))
        sides[key] = found
    return found


def _display(endpoint: dict[str, Any], labels: tuple[str, ...], address: object) -> str:
    namespace = endpoint.get("namespace")
    workloads = endpoint.get("workloads")
    if namespace and isinstance(workloads, list) and workloads and isinstance(workloads[0], dict):
        return f"{namespace}/{workloads[0].get('name')}"
    for key in ("k8s:app=", "k8s:app.kubernetes.io/name=", "k8s:k8s-app="):
        app = next((label[len(key) :] for label in labels if label.startswith(key)), None)
        if namespace and app:
            return f"{namespace}/{app}"
    if namespace and endpoint.get("pod_name"):
        return f"{namespace}/{endpoint['pod_name']}"
    reserved = [x.removeprefix("reserved:") for x in labels if x.startswith("reserved:")]
    if reserved:
        entity = reserved[0]
        return f"{entity} {address}" if entity.startswith("world") and address else entity
    return str(address or "unknown")

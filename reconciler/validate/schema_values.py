"""Value-level helpers for the CRD schema checks: formats, Go patterns, and message wording.

Used by ``schema_compiler`` (and ``structure`` for metadata) in the structure layer of
``validate`` (documents -> structure -> semantics -> lint -> repository). Formats follow what
kube-apiserver's format registry accepts for a CRD; a format it does not know (the CRDs use
``idn-hostname`` on ``rules.http[].host``) is not checked by the apiserver, so not here either.
"""

from __future__ import annotations

import functools
import ipaddress
import json
from datetime import date, datetime
from typing import TYPE_CHECKING

import regex

from reconciler.validate.findings import format_path

if TYPE_CHECKING:
    from collections.abc import Callable

    from reconciler.validate.findings import Path

_SHOWN_CHARS = 60
# Python's backtracking engine is cubic on one CRD pattern (named ports: no maxLength) where
# Go's RE2 is linear; strings this short finish in microseconds, longer ones get a deadline so
# a hostile value cannot stall CI.
SHORT_STRING = 128
_PATTERN_SECONDS = 1.0


def show(value: object) -> str:
    """A value as a message quotes it: JSON-like, cut to about 60 characters."""
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 4] + '..."'
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        text = str(value)
        return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."
    if isinstance(value, date):
        return value.isoformat()
    return "an object" if isinstance(value, dict) else "a list"


def describe(value: object) -> str:
    """The kind of a value, with the value for scalars: ``an integer (80)``."""
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    kind = "a string"
    if isinstance(value, bool):
        kind = "a boolean"
    elif isinstance(value, int):
        kind = "an integer"
    elif isinstance(value, float):
        kind = "a number"
    elif isinstance(value, date):
        kind = "a date"
    return f"{kind} ({show(value)})"


def field_name(path: Path) -> str:
    """How a message names the node at ``path``: ``matchLabels.app``, ``ports[0]``, ``port``.

    The last key with any list indexes after it, and the key above when that is an object too.
    """
    for index in range(len(path) - 1, -1, -1):
        if isinstance(path[index], str):
            start = index - 1 if index and isinstance(path[index - 1], str) else index
            return format_path(path[start:])
    return "the document" if not path else format_path(path)


@functools.cache
def go_pattern(source: str) -> regex.Pattern[str]:
    r"""A Go RE2 pattern compiled for Python, once per distinct pattern.

    The ``regex`` module reads the Unicode classes the CRDs use (``\PC``) that ``re`` rejects.
    Go's ``$`` (without the m flag) matches only at the very end; Python's also matches before
    a final newline, so a bare ``$`` becomes ``\Z``.
    """
    out: list[str] = []
    index, in_class, first = 0, False, 0
    while index < len(source):
        char = source[index]
        if char == "\\":
            out.append(source[index : index + 2])
            index += 2
            continue
        if in_class:
            in_class = char != "]" or index == first  # "[]a]": a leading "]" is a member
        elif char == "[":
            in_class = True
            first = index + 2 if source.startswith("^", index + 1) else index + 1
        elif char == "$":
            char = r"\Z"
        out.append(char)
        index += 1
    return regex.compile("".join(out))


def pattern_matches(pattern: regex.Pattern[str], value: str) -> bool | None:
    """Search semantics, as Go's MatchString; None when a long value runs past the deadline."""
    if len(value) <= SHORT_STRING:
        return pattern.search(value) is not None
    try:
        return pattern.search(value, timeout=_PATTERN_SECONDS) is not None
    except TimeoutError:
        return None


def is_cidr(value: str) -> bool:
    """What Go's ``net.ParseCIDR`` accepts: ``address/bits``, host bits allowed, both families.

    ``ip_network`` alone is looser than Go: it takes a bare address, a netmask after the slash
    and an IPv6 zone, all of which Go rejects. Leading zeros in the bits are fine in Go.
    """
    address, slash, bits = value.partition("/")
    if not slash or not bits.isascii() or not bits.isdigit() or "%" in address:
        return False
    try:
        network = ipaddress.ip_network(f"{address}/{int(bits)}", strict=False)
    except ValueError:
        return False
    return network.prefixlen == int(bits)


def identity(item: object) -> object:
    """Equal for equal JSON values only: 1, True and "1" stay apart, objects compare by content."""
    if isinstance(item, dict | list):
        return json.dumps(item, sort_keys=True, default=str)
    if isinstance(item, date):
        return ("str", item.isoformat())  # what the apiserver sees for an unquoted YAML date
    return (type(item).__name__, item)


def map_key(item: object, keys: tuple[str, ...]) -> object:
    """What makes an entry of an ``x-kubernetes-list-type: map`` list unique; None if unkeyed."""
    if not isinstance(item, dict) or any(item.get(k) is None for k in keys):
        return None  # a missing key is reported as a missing field, not as a duplicate
    return tuple(identity(item[k]) for k in keys)


_DATE_TIME = regex.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:\.[0-9]{1,9})?)?(?:[Zz]|[+-][0-9]{2}:?[0-9]{2})?"
)


def is_date_time(value: str) -> bool:
    """RFC 3339 and the looser layouts kube-openapi also parses (no seconds, no zone)."""
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        return False
    year, month, day, hour, minute, second = (int(part or 0) for part in match.groups())
    try:
        datetime(year, month, day, hour, minute, second)  # noqa: DTZ001 - only the ranges matter
    except ValueError:
        return False
    return True


def _is_ip(version: int) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        try:
            return ipaddress.ip_address(value).version == version and "%" not in value
        except ValueError:
            return False

    return check


# Format -> (check, how a message names it).
FORMATS: dict[str, tuple[Callable[[str], bool], str]] = {
    "cidr": (is_cidr, "CIDR (address/bits, such as 10.0.0.0/8 or 2001:db8::/32)"),
    "date-time": (is_date_time, "RFC 3339 date-time"),
    "ipv4": (_is_ip(4), "IPv4 address"),
    "ipv6": (_is_ip(6), "IPv6 address"),
}
INTEGER_FORMATS = {"int32": 32, "int64": 64}  # bits; Cilium decodes these into Go ints

r"""Layer 7: HTTP rules as Envoy matches them, and DNS names and patterns as Cilium's proxy does.

Fourth step of ``verdicts`` (identity -> selectors -> ports/l7 -> rules -> engine).

HTTP (``getHTTPRule`` in ``pkg/envoy/xds_server.go``): ``path``, ``method`` and ``host``
become Envoy header matchers on ``:path``, ``:method`` and ``:authority`` with a Google RE2
``safe_regex``, which must match the *whole* value (so ``/public`` does not match
``/public/x``, and ``:path`` includes the query string); each ``headers`` entry ``"Name:
value"`` is an exact match of that header, a bare ``"Name"`` only asks that it be present;
``headerMatches`` with no ``mismatch`` action must match exactly (or be present when it has no
value), while one with a ``mismatch`` action never refuses a request, it only logs or rewrites.
A request is allowed when *any* rule matches (``layer7.rst``: "A layer 7 request is permitted
if at least one of the rules matches").

DNS (``pkg/fqdn/matchpattern``, ``layer3.rst`` "DNS based"): ``matchName`` is the name itself,
case-insensitively; in ``matchPattern`` a ``*`` inside a label is any run of
``[-a-zA-Z0-9_]`` (never a dot), ``*`` alone is every name, and a leading ``**.`` is one or
more labels. The same matching serves ``toFQDNs`` and the DNS proxy's ``rules.dns``.

Kafka rules and generic ``l7proto`` rules are kept but never evaluated: the engine says it
cannot decide a request they filter.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Literal

import regex

from reconciler.verdicts.identity import normal_name

L7Kind = Literal["http", "dns", "kafka", "l7proto"]
_DNS_CHARS = "[-a-zA-Z0-9_]"


class L7Error(ValueError):
    """An L7 rule Cilium rejects (a regex RE2 does not compile, an empty DNS rule, ...)."""


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """The request a flow asks about."""

    method: str = "GET"
    path: str = "/"
    host: str | None = None
    headers: tuple[tuple[str, str], ...] = ()  # names lower case

    def header(self, name: str) -> str | None:
        """The value of a header (case-insensitive name), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key == wanted:
                return value
        return None

    def text(self) -> str:
        """``GET /api/v1/cart`` (with the host when there is one)."""
        host = f" (host {self.host})" if self.host else ""
        return f"{self.method} {self.path}{host}"


@dataclass(frozen=True, slots=True)
class HttpRule:
    """One ``rules.http`` item, compiled."""

    text: str
    method: regex.Pattern[str] | None = None
    path: regex.Pattern[str] | None = None
    host: regex.Pattern[str] | None = None
    headers: tuple[tuple[str, str | None], ...] = ()  # (name, exact value or presence)
    secret: str | None = None  # a headerMatches value held in a Secret: cannot be checked

    def allows(self, request: HttpRequest) -> bool | None:
        """Whether every matcher accepts the request; None when only a Secret's value could say."""
        if self.method is not None and not self.method.fullmatch(request.method):
            return False
        if self.path is not None and not self.path.fullmatch(request.path):
            return False
        if self.host is not None and not self.host.fullmatch(request.host or ""):
            return False
        for name, value in self.headers:
            found = request.header(name)
            if found is None or (value is not None and found != value):
                return False
        return None if self.secret is not None else True


@dataclass(frozen=True, slots=True)
class DnsRule:
    """One ``rules.dns`` item (or one ``toFQDNs`` selector)."""

    text: str
    pattern: re.Pattern[str]

    def allows(self, name: str) -> bool:
        """Whether the (normalised) name matches."""
        return bool(self.pattern.fullmatch(normal_name(name)))


@dataclass(frozen=True, slots=True)
class L7Rules:
    """The ``rules`` of one ``toPorts`` item: one kind, and its rules."""

    kind: L7Kind
    http: tuple[HttpRule, ...] = ()
    dns: tuple[DnsRule, ...] = ()
    count: int = 0  # how many rules, whatever the kind

    def text(self) -> str:
        """``HTTP GET /.*`` or ``DNS *.example.com`` (the first rules, then how many more)."""
        shown = [*(r.text for r in self.http), *(r.text for r in self.dns)][:2]
        more = self.count - len(shown)
        label = {"http": "HTTP", "dns": "DNS", "kafka": "Kafka", "l7proto": "L7"}[self.kind]
        if not shown:
            return f"{label} rules ({self.count})"
        return f"{label} " + "; ".join(shown) + (f" (+{more} more)" if more > 0 else "")


def l7_rules(raw: Any) -> L7Rules | None:  # noqa: ANN401 - raw YAML
    """A ``toPorts[].rules`` mapping compiled; None when it holds no rules at all."""
    if not isinstance(raw, dict):
        return None
    http, dns, kafka, generic = (raw.get(k) for k in ("http", "dns", "kafka", "l7"))
    if isinstance(http, list) and http:
        return L7Rules("http", http=tuple(_http(item) for item in http), count=len(http))
    if isinstance(dns, list) and dns:
        return L7Rules("dns", dns=tuple(dns_rule(item) for item in dns), count=len(dns))
    if isinstance(kafka, list) and kafka:
        return L7Rules("kafka", count=len(kafka))
    if raw.get("l7proto") or (isinstance(generic, list) and generic):
        return L7Rules("l7proto", count=len(generic) if isinstance(generic, list) else 0)
    return None


def _http(item: Any) -> HttpRule:  # noqa: ANN401 - raw YAML
    if not isinstance(item, dict):
        msg = "an http rule must be a mapping"
        raise L7Error(msg)
    parts = [f"{k}={item[k]}" for k in ("method", "path", "host") if item.get(k)]
    headers: list[tuple[str, str | None]] = []
    for header in item.get("headers") or []:
        # "X-Key: value" is name and exact value, a bare "X-Key" only asks for presence.
        name, _, value = str(header).partition(" ")
        headers.append((name.rstrip(":").lower(), value or None))
        parts.append(f"header {header}")
    secret = None
    for match in item.get("headerMatches") or []:
        if not isinstance(match, dict) or match.get("mismatch"):
            continue  # a mismatch action logs or rewrites; it never refuses the request
        name = str(match.get("name", "")).lower()
        if match.get("secret"):
            secret = name  # the value lives in a Kubernetes Secret this model never reads
            parts.append(f"header {name} (value in a Secret)")
            continue
        headers.append((name, str(match["value"]) if match.get("value") else None))
        parts.append(f"header {name}")
    return HttpRule(
        " ".join(parts) or "any request",
        re2(item.get("method")),
        re2(item.get("path")),
        re2(item.get("host")),
        tuple(headers),
        secret,
    )


def re2(pattern: object) -> regex.Pattern[str] | None:
    """An RE2 pattern compiled for full matches; None for an empty one (no matcher)."""
    if pattern is None or pattern == "":
        return None
    return _compile(str(pattern))


@functools.lru_cache(maxsize=4096)
def _compile(pattern: str) -> regex.Pattern[str]:
    # The regex module reads RE2's classes (\pL, [[:alpha:]]) and named groups; only \z, \C,
    # \Q...\E and the U flag are RE2's own.
    if "\\C" in pattern or re.search(r"\(\?[imsU]*U", pattern):
        msg = f"{pattern!r}: \\C and the U flag are not modelled"
        raise L7Error(msg)
    text = re.sub(r"\\Q(.*?)(?:\\E|$)", lambda m: regex.escape(m.group(1)), pattern)
    text = text.replace("\\z", "\\Z")
    try:
        return regex.compile(text)
    except regex.error as exc:
        msg = f"{pattern!r} is not a regular expression Envoy accepts: {exc}"
        raise L7Error(msg) from None


def dns_rule(item: Any) -> DnsRule:  # noqa: ANN401 - raw YAML
    """A ``matchName``/``matchPattern`` mapping (``rules.dns`` item or ``toFQDNs`` item)."""
    if not isinstance(item, dict):
        msg = "a DNS rule must be a mapping"
        raise L7Error(msg)
    name, pattern = item.get("matchName"), item.get("matchPattern")
    if isinstance(name, str) and name:
        return DnsRule(f"matchName {name}", re.compile(re.escape(normal_name(name))))
    if isinstance(pattern, str) and pattern:
        return DnsRule(f"matchPattern {pattern}", _pattern(pattern))
    msg = "a DNS rule needs matchName or matchPattern"
    raise L7Error(msg)


@functools.lru_cache(maxsize=4096)
def _pattern(pattern: str) -> re.Pattern[str]:
    text = normal_name(pattern)
    if text == "*":
        return re.compile(".*")
    prefix = ""
    if text.startswith("**."):
        prefix, text = f"(?:{_DNS_CHARS}+\\.)+", text[3:]
    body = "".join(f"{_DNS_CHARS}*" if c == "*" else re.escape(c) for c in text)
    return re.compile(prefix + body)

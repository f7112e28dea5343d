"""A small, deterministic YAML emitter for JSON-shaped data: the byte format of every file we write.

Sits under ``render``: it turns already-ordered dicts, lists and scalars into text. It is
hand-written, not ruamel.yaml's emitter, for two reasons: speed (ruamel's pure-Python emitter
renders about 450 policies a second, this one tens of thousands) and control (the output must be
byte-identical on every run and Python version, and must read back as the same object in both
YAML 1.1 parsers such as PyYAML and libyaml, which Kubernetes tooling uses, and YAML 1.2 ones).

The format: 2-space indent, block style, sequences not indented under their key (as kubectl and
kustomize write them), ``{}``/``[]`` for empty collections, no anchors, no tags, LF endings. A
string is written plain only when it cannot be read as anything else under YAML 1.1 or 1.2;
otherwise it is double-quoted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

# Plain scalars we allow: start with a letter or '/', then a conservative alphabet. Anything that
# starts with a digit, sign or dot is quoted, which rules out every int/float/sexagesimal/date
# form of YAML 1.1 and 1.2 at once ("0123", "1e3", "12:30", "2001-12-14", ".inf").
_PLAIN = re.compile(r"[A-Za-z/][A-Za-z0-9_./:@-]*(?: [A-Za-z0-9_./:@()-]+)*")
# Words YAML 1.1 reads as booleans or null (YAML 1.2 reads a subset of these).
RESERVED = frozenset(
    {"y", "yes", "n", "no", "true", "false", "on", "off", "null", "~"},
)
# Characters that must be escaped inside a double-quoted scalar: quote, backslash, and
# everything YAML does not allow raw or that a reviewer could not see (controls, DEL, C1,
# line/paragraph separators, BOM, surrogates, non-characters).
_NEEDS_ESCAPE = re.compile('["\\\\\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]')
_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\t": "\\t",
    "\r": "\\r",
    "\x00": "\\0",
}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    short = _SHORT_ESCAPES.get(char)
    if short is not None:
        return short
    return f"\\u{ord(char):04x}"


def scalar(value: object) -> str:
    """Format one scalar (str, int, bool, float, None) as a YAML token."""
    if isinstance(value, str):
        return _string(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    msg = f"cannot write {type(value).__name__} as YAML"
    raise TypeError(msg)


# Keys and short values repeat across policies ("matchLabels", "TCP", "k8s-app"): each is
# judged once. Bounded, so odd input cannot grow it without end; a pure function's cache, so
# what it holds never changes an output.
_WRITTEN: dict[str, str] = {}
_WRITTEN_MAX = 1 << 16
_WRITTEN_LONGEST = 64


def _string(value: str) -> str:
    written = _WRITTEN.get(value)
    if written is not None:
        return written
    if (
        _PLAIN.fullmatch(value)
        and value.lower() not in RESERVED
        and not value.endswith(":")
        and ": " not in value
    ):
        written = value
    else:
        written = '"' + _NEEDS_ESCAPE.sub(_escape, value) + '"'
    if len(value) <= _WRITTEN_LONGEST and len(_WRITTEN) < _WRITTEN_MAX:
        _WRITTEN[value] = written
    return written


def _float(value: float) -> str:
    if value != value:  # noqa: PLR0124 - NaN is the one value unequal to itself
        return ".nan"
    if value in (float("inf"), float("-inf")):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    # YAML 1.1 needs a dot in a float ("1e+20" would read as a string there).
    if "." not in text:
        mantissa, _, exponent = text.partition("e")
        text = f"{mantissa}.0e{exponent}" if exponent else f"{mantissa}.0"
    return text


def dump(document: Mapping[str, object]) -> str:
    """Return ``document`` as YAML text ending in exactly one newline."""
    if not document:
        return "{}\n"
    lines: list[str] = []
    _mapping(document, "", lines)
    lines.append("")
    return "\n".join(lines)


def _mapping(node: Mapping[str, object], indent: str, lines: list[str]) -> None:
    for key, value in node.items():
        _entry(f"{indent}{_string(key)}:", value, indent, lines)


def _entry(prefix: str, value: object, indent: str, lines: list[str]) -> None:
    """Write ``prefix`` (``key:`` or ``- key:``) followed by ``value``."""
    if isinstance(value, str):  # the common case first
        lines.append(f"{prefix} {_string(value)}")
    # A check against dict first: against the Mapping ABC alone it costs several times more.
    elif isinstance(value, dict) or isinstance(value, Mapping):  # noqa: SIM101
        if value:
            lines.append(prefix)
            _mapping(value, indent + "  ", lines)
        else:
            lines.append(prefix + " {}")
    elif isinstance(value, list | tuple):
        if value:
            lines.append(prefix)
            _sequence(value, indent, lines)
        else:
            lines.append(prefix + " []")
    else:
        lines.append(f"{prefix} {scalar(value)}")


def _sequence(items: Sequence[object], indent: str, lines: list[str]) -> None:
    """Write a block sequence at ``indent`` (not indented under its key, as kubectl does)."""
    for item in items:
        if (isinstance(item, dict) or isinstance(item, Mapping)) and item:  # noqa: SIM101
            first = True
            for key, value in item.items():
                lead = f"{indent}- " if first else f"{indent}  "
                _entry(f"{lead}{_string(key)}:", value, indent + "  ", lines)
                first = False
        elif isinstance(item, list | tuple) and item:
            lines.append(f"{indent}-")
            _sequence(item, indent + "  ", lines)
        else:
            _entry(f"{indent}-", item, indent, lines)

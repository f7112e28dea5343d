r"""How a finding reads: one line, a block with its hint and diff, text safe to print.

Shared by the output formats of ``validate`` (``formats`` for text and JSON, ``ci_formats`` for
JUnit, SARIF and GitHub): ``Run`` holds the facts of one run, sorted; the functions below give a
finding's title, headline and full message, and ``visible`` shows control characters as
``\xNN`` wherever a terminal, a CI log or an XML parser would act on them. ``code_span`` and
``table_cell`` put such text into Markdown literally (the review's and the replay's reports
use them). Pure.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reconciler.validate.findings import RULES, Finding, Severity

if TYPE_CHECKING:
    from collections.abc import Iterable

TOOL = "cilium-gitops"
_ANSI = {Severity.ERROR: "\x1b[1;31m", Severity.WARNING: "\x1b[33m", Severity.INFO: "\x1b[36m"}
_DIFF_ANSI = {"+": "\x1b[32m", "-": "\x1b[31m", "@": "\x1b[36m"}
_RESET = "\x1b[0m"
_INDENT = "    "
_HINT_INDENT = " " * len(f"{_INDENT}hint: ")

# C0 and C1 control characters, shown as \xNN. Tab and newline stay: the formats lay them out.
_CONTROLS = [c for c in (*range(0x20), *range(0x7F, 0xA0)) if chr(c) not in "\t\n"]
_VISIBLE = {c: f"\\x{c:02x}" for c in _CONTROLS}
# Workflow commands escape \r themselves (%0D), so the GitHub format keeps it.
_VISIBLE_BUT_CR = {c: text for c, text in _VISIBLE.items() if c != ord("\r")}


@dataclass(frozen=True, slots=True)
class Run:
    """Everything a format prints: the sorted findings and what was checked."""

    findings: tuple[Finding, ...]
    files_checked: int
    policies_checked: int
    tool_version: str
    color: bool
    files: tuple[str, ...] | None
    information_uri: str | None

    def count(self, severity: Severity) -> int:
        """How many findings have this severity."""
        return sum(1 for f in self.findings if f.severity is severity)

    def summary(self) -> str:
        """``2 errors, 1 warning, 0 infos in 3 files (4 policies)``, or ``no findings in ...``."""
        where = (
            f"in {plural(self.files_checked, 'file')}"
            f" ({plural(self.policies_checked, 'policy', 'policies')})"
        )
        if not self.findings:
            return f"no findings {where}"
        counts = ", ".join(plural(self.count(s), s.label) for s in reversed(Severity))
        return f"{counts} {where}"


def ordered(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Forward slashes, then ``sort_key``; the rest of a finding breaks ties.

    Input order never shows in the output, so runs that find the same things print the same.
    """
    # replace() only where needed: it costs more than the sort, and Windows paths are rare.
    slashed = (
        dataclasses.replace(f, file=slashes(f.file)) if "\\" in f.file else f for f in findings
    )
    return tuple(sorted(slashed, key=lambda f: (*f.sort_key, f.policy or "", f.path, f.message)))


def slashes(path: str) -> str:
    """``path`` with forward slashes, as every format shows it."""
    return path.replace("\\", "/")


def plural(n: int, word: str, words: str | None = None) -> str:
    """``1 file``, ``2 files``; ``words`` for an irregular plural."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


def rule_name(rule_id: str) -> str:
    """The rule's short name; its id when no module registered it (the fallback never fails)."""
    rule = RULES.get(rule_id)
    return rule.name if rule is not None else rule_id


def visible(text: str) -> str:
    r"""``text`` with control characters shown as ``\xNN`` (tab and newline kept)."""
    return text.translate(_VISIBLE)


# Inside one line of Markdown even newlines are controls: every C0/C1 character but tab.
_INLINE = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0)) if chr(c) != "\t"}
_BACKTICKS = re.compile(r"`+")


def code_span(text: str) -> str:
    """An inline code span holding ``text`` literally: no emphasis, links or HTML in it."""
    text = text.translate(_INLINE)
    if not text:
        return ""
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    # CommonMark strips one space from each side when both are there, and needs the space
    # when the content starts or ends with a backtick.
    padded = text.startswith(("`", " ")) or text.endswith(("`", " "))
    pad = " " if padded else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def table_cell(text: str) -> str:
    r"""A table cell showing ``text`` literally: a code span with ``|`` as ``\|``.

    GitHub splits rows on unescaped pipes before it reads code spans, and turns ``\|`` back
    into ``|`` inside them, so the escape is both needed and invisible.
    """
    return code_span(text).replace("|", "\\|")


def title(f: Finding) -> str:
    """``CG206 port``; the bare id for an unregistered rule, rather than the id twice."""
    name = rule_name(f.rule)
    return f.rule if name == f.rule else f"{f.rule} {name}"


def headline(f: Finding) -> str:
    """``shop/api: port 99999 is out of range (spec.ingress[0]...)``: the finding in one line."""
    policy = f"{f.policy}: " if f.policy else ""
    path = f" ({f.path})" if f.path else ""
    return f"{policy}{f.message}{path}"


def text_block(f: Finding, *, color: bool) -> list[str]:
    """The finding's line, its hint and its diff, continuation lines indented under it."""
    label = f.severity.label
    if color:
        label = f"{_ANSI[f.severity]}{label}{_RESET}"
    position = ":".join(str(n) for n in (f.line, f.column) if n) if f.line else ""
    where = f"{f.file}:{position}" if position else f.file
    what = visible(f"{title(f)}: {headline(f)}")
    first, *more = f"{visible(where)}: {label} {what}".split("\n")
    lines = [first, *(_INDENT + line for line in more)]
    if f.hint:
        hint, *more = visible(f.hint).split("\n")
        lines += [f"{_INDENT}hint: {hint}", *(_HINT_INDENT + line for line in more)]
    if f.detail.strip():
        for line in visible(f.detail.rstrip("\n")).split("\n"):
            paint = _DIFF_ANSI.get(line[:1], "") if color else ""
            lines.append(f"{_INDENT}{paint}{line}{_RESET if paint else ''}")
    return lines


def full_message(f: Finding) -> str:
    """Headline, hint and diff: everything a reviewer reads in an alert or an annotation."""
    parts = [headline(f)]
    if f.hint:
        parts.append(f"hint: {f.hint}")
    if f.detail.strip():
        parts.append(f.detail.rstrip("\n"))
    return "\n".join(parts)


def dump(document: dict[str, Any]) -> str:
    """A JSON document as the JSON and SARIF formats lay it out."""
    # ASCII only: the bytes survive any stdout encoding and any CI log; parsers restore the text.
    return json.dumps(document, indent=2, ensure_ascii=True)


def visible_but_cr(text: str) -> str:
    r"""``visible`` except ``\r``: GitHub's workflow commands escape it themselves (``%0D``)."""
    return text.translate(_VISIBLE_BUT_CR)

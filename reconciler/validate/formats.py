r"""The output formats of ``validate``: findings in, one string out.

The last step of the flow: ``runner`` places every issue in a file and hands the findings here;
``render`` sorts them and prints one of five formats; the command writes the string to stdout
(no trailing newline: ``click.echo`` adds one) and picks the exit code. Pure: no I/O, no clock,
so every format is a golden file in the tests.

- ``text``: for people at a terminal, one ``file:line:col:`` line per finding, then a summary.
- ``json``: the same facts for scripts, with a ``version`` for the shape.
- ``junit``: for the test reports of GitLab, Jenkins and GitHub test-reporter actions.
- ``sarif``: SARIF 2.1.0 for GitHub code scanning (``github/codeql-action/upload-sarif``).
- ``github``: GitHub Actions workflow commands, which annotate the pull request's diff.

Text from the scanned files (names, values, messages quoting them) is never trusted to be
printable: control characters are shown as ``\xNN`` where a terminal, a CI log or an XML parser
would act on them.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from reconciler.validate.findings import RULES, Finding, Rule, Severity

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET
    from collections.abc import Callable, Iterable, Sequence
    from pathlib import Path

FORMATS = ("text", "json", "junit", "sarif", "github")
# _LAZY: XML, hashing and URL quoting are imported by the formats that use them, not at start-up:
# every run of the command pays for its imports, and most print text or JSON.

TOOL = "cilium-gitops"
SUITE = "cilium-gitops validate"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
# A key of our own (SARIF's "<name>/v<n>" style). GitHub reads only primaryLocationLineHash, and
# upload-sarif computes that from the file's lines, warning on every result that brings another
# value; so it is left to the action, and this key serves other SARIF consumers.
FINGERPRINT = "ciliumGitops/v1"

_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
_GITHUB_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
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


def write_report(text: str, output: Path | None) -> None:
    """Print a report, or write it to ``output``; either way it ends with one newline."""
    if output is None:
        click.echo(text, nl=not text.endswith("\n"))
    else:
        output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")


def render(  # noqa: PLR0913 - the facts of one run, all keyword-only
    findings: Sequence[Finding],
    fmt: str,
    *,
    files_checked: int,
    policies_checked: int,
    color: bool = False,
    tool_version: str,
    files: Sequence[str] | None = None,
    information_uri: str | None = None,
) -> str:
    """The findings of one run in format ``fmt`` (one of ``FORMATS``), sorted by position.

    ``files`` lists every checked file, so JUnit can show the clean ones as passing tests;
    ``information_uri`` is the tool's home page for SARIF, left out when None.
    """
    renderer = _RENDERERS.get(fmt)
    if renderer is None:
        msg = f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}"
        raise ValueError(msg)
    run = _Run(
        findings=_ordered(findings),
        files_checked=files_checked,
        policies_checked=policies_checked,
        tool_version=tool_version,
        color=color,
        files=tuple(_slashes(f) for f in files) if files is not None else None,
        information_uri=information_uri,
    )
    return renderer(run)


@dataclass(frozen=True, slots=True)
class _Run:
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
            f"in {_plural(self.files_checked, 'file')}"
            f" ({_plural(self.policies_checked, 'policy', 'policies')})"
        )
        if not self.findings:
            return f"no findings {where}"
        counts = ", ".join(_plural(self.count(s), s.label) for s in reversed(Severity))
        return f"{counts} {where}"


def _ordered(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Forward slashes, then ``sort_key``; the rest of a finding breaks ties.

    Input order never shows in the output, so runs that find the same things print the same.
    """
    # replace() only where needed: it costs more than the sort, and Windows paths are rare.
    slashed = (
        dataclasses.replace(f, file=_slashes(f.file)) if "\\" in f.file else f for f in findings
    )
    return tuple(sorted(slashed, key=lambda f: (*f.sort_key, f.policy or "", f.path, f.message)))


def _slashes(path: str) -> str:
    return path.replace("\\", "/")


def _plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n} {word if n == 1 else (words or word + 's')}"


def _rule_name(rule_id: str) -> str:
    """The rule's short name; its id when no module registered it (the fallback never fails)."""
    rule = RULES.get(rule_id)
    return rule.name if rule is not None else rule_id


def _visible(text: str) -> str:
    return text.translate(_VISIBLE)


def _title(f: Finding) -> str:
    """``CG206 port``; the bare id for an unregistered rule, rather than the id twice."""
    name = _rule_name(f.rule)
    return f.rule if name == f.rule else f"{f.rule} {name}"


def _headline(f: Finding) -> str:
    """``shop/api: port 99999 is out of range (spec.ingress[0]...)``: the finding in one line."""
    policy = f"{f.policy}: " if f.policy else ""
    path = f" ({f.path})" if f.path else ""
    return f"{policy}{f.message}{path}"


# --- text ------------------------------------------------------------------------------------


def _text(run: _Run) -> str:
    lines = [line for f in run.findings for line in _text_block(f, color=run.color)]
    return "\n".join([*lines, run.summary()])


def _text_block(f: Finding, *, color: bool) -> list[str]:
    """The finding's line, its hint and its diff, continuation lines indented under it."""
    label = f.severity.label
    if color:
        label = f"{_ANSI[f.severity]}{label}{_RESET}"
    position = ":".join(str(n) for n in (f.line, f.column) if n) if f.line else ""
    where = f"{f.file}:{position}" if position else f.file
    what = _visible(f"{_title(f)}: {_headline(f)}")
    first, *more = f"{_visible(where)}: {label} {what}".split("\n")
    lines = [first, *(_INDENT + line for line in more)]
    if f.hint:
        hint, *more = _visible(f.hint).split("\n")
        lines += [f"{_INDENT}hint: {hint}", *(_HINT_INDENT + line for line in more)]
    if f.detail.strip():
        for line in _visible(f.detail.rstrip("\n")).split("\n"):
            paint = _DIFF_ANSI.get(line[:1], "") if color else ""
            lines.append(f"{_INDENT}{paint}{line}{_RESET if paint else ''}")
    return lines


# --- json ------------------------------------------------------------------------------------


def _json(run: _Run) -> str:
    document = {
        "version": 1,
        "tool": {"name": TOOL, "version": run.tool_version},
        "summary": {
            "files": run.files_checked,
            "policies": run.policies_checked,
            "findings": len(run.findings),
            **{f"{s.label}s": run.count(s) for s in reversed(Severity)},
        },
        "findings": [],
    }
    text = _dump(document)
    if not run.findings:
        return text
    # json.dumps with indent encodes in Python, a third of a large run's time: the findings,
    # all alike, are laid out here as it would lay them out, each string by its C encoder.
    head = text.removesuffix("[]\n}")
    return head + "[\n" + ",\n".join(map(_json_finding, run.findings)) + "\n  ]\n}"


def _json_finding(f: Finding) -> str:
    policy = "null" if f.policy is None else _quote(f.policy)
    return (
        "    {\n"
        f'      "rule": {_quote(f.rule)},\n'
        f'      "name": {_quote(_rule_name(f.rule))},\n'
        f'      "severity": {_quote(f.severity.label)},\n'
        f'      "file": {_quote(f.file)},\n'
        f'      "line": {int(f.line)},\n'
        f'      "column": {int(f.column)},\n'
        f'      "policy": {policy},\n'
        f'      "path": {_quote(f.path)},\n'
        f'      "message": {_quote(f.message)},\n'
        f'      "hint": {_quote(f.hint)},\n'
        f'      "detail": {_quote(f.detail)}\n'
        "    }"
    )


def _dump(document: dict[str, Any]) -> str:
    # ASCII only: the bytes survive any stdout encoding and any CI log; parsers restore the text.
    return json.dumps(document, indent=2, ensure_ascii=True)


# What json.dumps(ensure_ascii=True) writes for a string (the C function where there is one).
_quote: Callable[[str], str] = json.encoder.encode_basestring_ascii


# --- junit -----------------------------------------------------------------------------------


def _junit(run: _Run) -> str:
    """One testsuite; a testcase per (file, policy); errors fail it, the rest go to system-out.

    Only errors fail a test: warnings and infos are advice, so a report shows them without
    turning red (the convention of linters' JUnit reports, such as checkstyle's and ESLint's).
    """
    import xml.etree.ElementTree as ET  # noqa: PLC0415 - see _LAZY

    cases = _junit_cases(run)
    failures = sum(1 for case in cases if case.find("failure") is not None)
    totals = {"tests": str(len(cases)), "failures": str(failures), "errors": "0"}
    root = ET.Element("testsuites", {"name": TOOL, **totals, "time": "0"})
    suite = ET.SubElement(root, "testsuite", {"name": SUITE, **totals, "skipped": "0", "time": "0"})
    suite.extend(cases)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def _junit_cases(run: _Run) -> list[ET.Element]:
    """The (file, policy) groups with findings and the clean files, in file order."""
    groups: dict[tuple[str, str], list[Finding]] = {}
    for f in run.findings:
        groups.setdefault((f.file, f.policy or f.file), []).append(f)
    with_findings = {file for file, _ in groups}
    for file in set(run.files or ()) - with_findings:
        groups[file, file] = []
    cases = [
        _junit_case(file, name, found, file=file) for (file, name), found in sorted(groups.items())
    ]
    clean = run.files_checked - len(with_findings)
    if run.files is None and clean > 0:
        # Without the list of files, the clean ones pass as one test, so the totals still add up.
        name = f"{_plural(clean, 'file')} without findings"
        cases.append(_junit_case(SUITE, name, [], file=None))
    return cases


def _junit_case(classname: str, name: str, found: list[Finding], *, file: str | None) -> ET.Element:
    import xml.etree.ElementTree as ET  # noqa: PLC0415 - see _LAZY

    case = ET.Element("testcase", {"classname": _xml(classname), "name": _xml(name)})
    if file is not None:  # what GitHub test-reporter actions annotate; GitLab and Jenkins skip it
        case.set("file", _xml(file))
    case.set("time", "0")
    errors = [f for f in found if f.severity is Severity.ERROR]
    others = [f for f in found if f.severity is not Severity.ERROR]
    if errors:
        # One failure per testcase: test-reporter and GitLab read only the first one anyway.
        first_line = errors[0].message.split("\n", 1)[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        message = f"{_title(errors[0])}: {first_line}{more}"
        kinds = " ".join(dict.fromkeys(f.rule for f in errors))
        failure = ET.SubElement(case, "failure", {"message": _xml(message), "type": kinds})
        failure.text = _xml(_text_body(errors))
    if others:
        ET.SubElement(case, "system-out").text = _xml(_text_body(others))
    return case


def _text_body(findings: list[Finding]) -> str:
    return "\n".join(line for f in findings for line in _text_block(f, color=False)) + "\n"


def _xml(text: str) -> str:
    # XML 1.0 has no way to write most control characters, so they must not reach ElementTree.
    return _visible(text)


# --- sarif -----------------------------------------------------------------------------------


def _sarif(run: _Run) -> str:
    """One SARIF 2.1.0 run, in the subset GitHub code scanning reads.

    ``rules`` lists the rules that have results, not every registered one: a rule's index must
    not depend on which modules happen to be imported, and GitHub needs only these.
    """
    rule_ids = sorted({f.rule for f in run.findings})
    driver: dict[str, Any] = {"name": TOOL, "version": run.tool_version}
    if run.information_uri:
        driver["informationUri"] = run.information_uri
    driver["rules"] = [_sarif_rule(rule_id, run.findings) for rule_id in rule_ids]
    index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
    results = [
        _sarif_result(f, index[f.rule], fingerprint)
        for f, fingerprint in zip(run.findings, _fingerprints(run.findings), strict=True)
    ]
    sarif_run = {"tool": {"driver": driver}, "columnKind": "unicodeCodePoints", "results": results}
    return _dump({"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [sarif_run]})


def _sarif_rule(rule_id: str, findings: Sequence[Finding]) -> dict[str, Any]:
    """A rule's descriptor. GitHub requires all three texts, so each falls back to the name."""
    rule = RULES.get(rule_id)
    if rule is None:  # unregistered: the id names it, its findings give its level
        severity = max(f.severity for f in findings if f.rule == rule_id)
        rule = Rule(rule_id, rule_id, severity, rationale="", hint="")
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.name},
        "fullDescription": {"text": (rule.rationale or rule.name)[:1000]},  # GitHub's limit
        "help": {"text": rule.hint or rule.name},
        "defaultConfiguration": {"level": _SARIF_LEVEL[rule.severity]},
    }


def _sarif_result(f: Finding, rule_index: int, fingerprint: str) -> dict[str, Any]:
    # GitHub requires region.startLine (and refuses an upload with a logical-only location), so a
    # finding about the whole file points at line 1; a column only comes with a real line.
    region = {"startLine": f.line or 1}
    if f.line and f.column:
        region["startColumn"] = f.column
    from urllib.parse import quote  # noqa: PLC0415 - see _LAZY

    artifact = {"uri": quote(f.file, safe="/"), "uriBaseId": "%SRCROOT%"}
    physical = {"artifactLocation": artifact, "region": region}
    location: dict[str, Any] = {"physicalLocation": physical}
    if f.policy:
        name = f.policy.rsplit("/", 1)[-1]
        location["logicalLocations"] = [
            {"name": name, "fullyQualifiedName": f.policy, "kind": "resource"}
        ]
    result: dict[str, Any] = {
        "ruleId": f.rule,
        "ruleIndex": rule_index,
        "level": _SARIF_LEVEL[f.severity],
        "message": {"text": _full_message(f)},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT: fingerprint},
    }
    if f.path:
        result["properties"] = {"path": f.path}
    return result


def _full_message(f: Finding) -> str:
    """Headline, hint and diff: everything a reviewer reads in an alert or an annotation."""
    parts = [_headline(f)]
    if f.hint:
        parts.append(f"hint: {f.hint}")
    if f.detail.strip():
        parts.append(f.detail.rstrip("\n"))
    return "\n".join(parts)


def _fingerprints(findings: Sequence[Finding]) -> list[str]:
    """A hash of rule, file, policy and path: a problem keeps its identity when lines move.

    Two findings with the same four (two unnamed documents in one file) are told apart by their
    order, ``hash:1``, ``hash:2``, as CodeQL numbers its own.
    """
    from hashlib import sha256  # noqa: PLC0415 - see _LAZY

    seen: Counter[str] = Counter()
    fingerprints = []
    for f in findings:
        identity = "\0".join((f.rule, f.file, f.policy or "", f.path))
        digest = sha256(identity.encode()).hexdigest()[:32]
        seen[digest] += 1
        fingerprints.append(f"{digest}:{seen[digest]}")
    return fingerprints


# --- github ----------------------------------------------------------------------------------


def _github(run: _Run) -> str:
    """``::error file=...,line=...,col=...,title=...::message`` per finding, then the summary.

    GitHub shows at most 10 annotations of each kind per step; the log keeps every line.
    """
    return "\n".join([*(_github_command(f) for f in run.findings), run.summary()])


def _github_command(f: Finding) -> str:
    properties = {"file": f.file}
    if f.line:  # no line (whole file): the annotation goes on the file, never on a wrong line
        properties["line"] = str(f.line)
        if f.column:
            properties["col"] = str(f.column)
    properties["title"] = _title(f)
    listed = ",".join(f"{key}={_escape_property(value)}" for key, value in properties.items())
    return f"::{_GITHUB_COMMAND[f.severity]} {listed}::{_escape_data(_full_message(f))}"


# The runner's escaping, as actions/toolkit packages/core/src/command.ts (escapeData,
# escapeProperty) writes it and actions/runner src/Runner.Common/ActionCommand.cs (TryParseV2,
# UnescapeData, UnescapeProperty) reads it: "%" first, so the escapes themselves survive.
def _escape_data(text: str) -> str:
    text = text.translate(_VISIBLE_BUT_CR)
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


_RENDERERS: dict[str, Callable[[_Run], str]] = {
    "text": _text,
    "json": _json,
    "junit": _junit,
    "sarif": _sarif,
    "github": _github,
}

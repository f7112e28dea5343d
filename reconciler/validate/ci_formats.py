"""The formats of ``validate`` that CI systems read: JUnit, SARIF and GitHub workflow commands.

Sits beside ``formats``, which dispatches to these and keeps the shared helpers: the facts of one
run (``formats.Run``), a finding's title, headline and full message, the escaping of control
characters. Pure: no I/O, no clock, so every format is a golden file in the tests.

- ``junit``: for the test reports of GitLab, Jenkins and GitHub test-reporter actions.
- ``sarif``: SARIF 2.1.0 for GitHub code scanning (``github/codeql-action/upload-sarif``).
- ``github``: GitHub Actions workflow commands, which annotate the pull request's diff.

XML, hashing and URL quoting are imported by the formats that use them, not at start-up: every
run of the command pays for its imports, and most print text or JSON.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from reconciler.validate.finding_text import (
    TOOL,
    Run,
    dump,
    full_message,
    plural,
    text_block,
    title,
    visible,
    visible_but_cr,
)
from reconciler.validate.findings import RULES, Finding, Rule, Severity

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET
    from collections.abc import Sequence

SUITE = "cilium-gitops validate"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
# A key of our own (SARIF's "<name>/v<n>" style). GitHub reads only primaryLocationLineHash, and
# upload-sarif computes that from the file's lines, warning on every result that brings another
# value; so it is left to the action, and this key serves other SARIF consumers.
FINGERPRINT = "ciliumGitops/v1"

_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
_GITHUB_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


# --- junit -----------------------------------------------------------------------------------


def junit(run: Run) -> str:
    """One testsuite; a testcase per (file, policy); errors fail it, the rest go to system-out.

    Only errors fail a test: warnings and infos are advice, so a report shows them without
    turning red (the convention of linters' JUnit reports, such as checkstyle's and ESLint's).
    """
    import xml.etree.ElementTree as ET  # noqa: PLC0415 - see the docstring

    cases = _junit_cases(run)
    failures = sum(1 for case in cases if case.find("failure") is not None)
    totals = {"tests": str(len(cases)), "failures": str(failures), "errors": "0"}
    root = ET.Element("testsuites", {"name": TOOL, **totals, "time": "0"})
    suite = ET.SubElement(root, "testsuite", {"name": SUITE, **totals, "skipped": "0", "time": "0"})
    suite.extend(cases)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def _junit_cases(run: Run) -> list[ET.Element]:
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
        name = f"{plural(clean, 'file')} without findings"
        cases.append(_junit_case(SUITE, name, [], file=None))
    return cases


def _junit_case(classname: str, name: str, found: list[Finding], *, file: str | None) -> ET.Element:
    import xml.etree.ElementTree as ET  # noqa: PLC0415 - see the docstring

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
        message = f"{title(errors[0])}: {first_line}{more}"
        kinds = " ".join(dict.fromkeys(f.rule for f in errors))
        failure = ET.SubElement(case, "failure", {"message": _xml(message), "type": kinds})
        failure.text = _xml(_text_body(errors))
    if others:
        ET.SubElement(case, "system-out").text = _xml(_text_body(others))
    return case


def _text_body(findings: list[Finding]) -> str:
    return "\n".join(line for f in findings for line in text_block(f, color=False)) + "\n"


def _xml(text: str) -> str:
    # XML 1.0 has no way to write most control characters, so they must not reach ElementTree.
    return visible(text)


# --- sarif -----------------------------------------------------------------------------------


def sarif(run: Run) -> str:
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
    return dump({"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [sarif_run]})


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
    from urllib.parse import quote  # noqa: PLC0415 - see the docstring

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
        "message": {"text": full_message(f)},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT: fingerprint},
    }
    if f.path:
        result["properties"] = {"path": f.path}
    return result


def _fingerprints(findings: Sequence[Finding]) -> list[str]:
    """A hash of rule, file, policy and path: a problem keeps its identity when lines move.

    Two findings with the same four (two unnamed documents in one file) are told apart by their
    order, ``hash:1``, ``hash:2``, as CodeQL numbers its own.
    """
    from hashlib import sha256  # noqa: PLC0415 - see the docstring

    seen: Counter[str] = Counter()
    fingerprints = []
    for f in findings:
        identity = "\0".join((f.rule, f.file, f.policy or "", f.path))
        digest = sha256(identity.encode()).hexdigest()[:32]
        seen[digest] += 1
        fingerprints.append(f"{digest}:{seen[digest]}")
    return fingerprints


# --- github ----------------------------------------------------------------------------------


def github(run: Run) -> str:
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
    properties["title"] = title(f)
    listed = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
    return f"::{_GITHUB_COMMAND[f.severity]} {listed}::{escape_data(full_message(f))}"


# The runner's escaping, as actions/toolkit packages/core/src/command.ts (escapeData,
# escapeProperty) writes it and actions/runner src/Runner.Common/ActionCommand.cs (TryParseV2,
# UnescapeData, UnescapeProperty) reads it: "%" first, so the escapes themselves survive.
def escape_data(text: str) -> str:
    """A workflow command's message: controls visible, ``%``, CR and LF escaped."""
    text = visible_but_cr(text)
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: as ``escape_data``, and ``:`` and ``,`` too."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")

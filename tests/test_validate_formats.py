"""`validate` output formats: golden files, and each format read back by what consumes it.

The golden files live in tests/data/validate/formats/, one per format, rendered from FINDINGS
below. After a deliberate change to a format, regenerate them and review the diff:

    UPDATE_GOLDEN=1 pytest tests/test_validate_formats.py

SARIF is checked for the structure GitHub code scanning needs. To also validate it against the
official SARIF 2.1.0 JSON schema (not in the repository, and the tests stay offline), download
sarif-schema-2.1.0.json once and point SARIF_SCHEMA at it (needs the jsonschema package).
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.validate import ci_formats, finding_text, formats
from reconciler.validate.findings import RULES, Finding, Severity, rule

GOLDEN = Path(__file__).parent / "data" / "validate" / "formats"
VERSION = "0.0.0-test"

# RULES is global: register once, at import, with ids no real layer uses. TEST003 stays
# unregistered on purpose: a finding may name a rule no imported module registered.
PORT = rule(
    "TEST001",
    "test-port",
    Severity.ERROR,
    "Cilium rejects a port outside 0-65535.",
    "Use a number 0-65535.",
)
ODD = rule(
    "TEST002",
    "test-odd-value",
    Severity.WARNING,
    'Values with <, & and "quotes" must survive every format.',
    "Keep it, it's a test: 100% harmless.",
)
HAND_EDITED = rule(
    "TEST004",
    "test-hand-edited",
    Severity.ERROR,
    "A generated file was changed by hand.",
    "Render it again.",
)
UNREGISTERED = "TEST003"

DIFF = """\
--- policies/shop/db.yaml
+++ policies/shop/db.yaml (rendered)
@@ -3,2 +3,2 @@
-  port: "5432"
+  port: 5432
"""

FINDINGS = [
    # Deliberately out of order: render sorts.
    Finding(
        rule=HAND_EDITED,
        severity=Severity.ERROR,
        file="policies/shop/db.yaml",
        line=3,
        column=1,
        policy="shop/db",
        message="the file differs from its rendered form",
        hint="Render it again.",
        detail=DIFF,
    ),
    Finding(
        rule=PORT,
        severity=Severity.ERROR,
        file="policies/shop/api.yaml",
        line=12,
        column=7,
        policy="shop/api",
        message="port 99999 is out of range",
        hint="Use a number 0-65535.",
        path="spec.ingress[0].toPorts[0].ports[0].port",
    ),
    Finding(
        rule=ODD,
        severity=Severity.WARNING,
        file="policies/shop/api.yaml",
        line=20,
        column=0,  # a line, no column
        policy="shop/api",
        message="egress to \"world\" isn't narrow: 'all' & <any>",
        hint="first line\nsecond line",
        path="spec.egress[0]",
    ),
    Finding(
        rule=ODD,
        severity=Severity.WARNING,
        file="policies/zürich/a,b:c 100%.yaml",
        line=4,
        column=9,
        policy="zürich/web-ü",
        message="value \"50%\" <b> & 'x': a, b\nand a second line",
        hint="Keep it, it's a test: 100% harmless.",
        path="metadata.labels",
    ),
    Finding(
        rule=UNREGISTERED,
        severity=Severity.INFO,
        file="policies\\legacy\\all.yaml",  # a Windows path: printed with forward slashes
        line=0,  # about the file as a whole
        column=0,
        policy=None,
        message="no CiliumNetworkPolicy in this file",
        hint="",
    ),
]
FILES = [
    "policies/shop/api.yaml",
    "policies/shop/clean.yaml",
    "policies/shop/db.yaml",
    "policies\\legacy\\all.yaml",
    "policies/zürich/a,b:c 100%.yaml",
]
COUNTS = {"errors": 2, "warnings": 2, "infos": 1}


def render(fmt: str, findings: list[Finding] | None = None, **options: Any) -> str:
    options.setdefault("files_checked", len(FILES))
    options.setdefault("policies_checked", 6)
    options.setdefault("tool_version", VERSION)
    return formats.render(FINDINGS if findings is None else findings, fmt, **options)


GOLDEN_OPTIONS: dict[str, dict[str, Any]] = {
    "text": {},
    "json": {},
    "junit": {"files": FILES},
    "sarif": {"information_uri": "https://example.com/cilium-gitops"},
    "github": {},
}
SUFFIX = {"text": "txt", "json": "json", "junit": "xml", "sarif": "sarif", "github": "txt"}


@pytest.mark.parametrize("fmt", formats.FORMATS)
def test_golden(fmt: str) -> None:
    """Each format prints the fixed findings exactly as its golden file."""
    output = render(fmt, **GOLDEN_OPTIONS[fmt]) + "\n"
    golden = GOLDEN / f"{fmt}.{SUFFIX[fmt]}"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(output, encoding="utf-8")
    assert output == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", formats.FORMATS)
def test_input_order_does_not_matter(fmt: str) -> None:
    """Findings arrive in any order; the output is the same."""
    assert render(fmt, list(reversed(FINDINGS))) == render(fmt)


@pytest.mark.parametrize("fmt", formats.FORMATS)
def test_no_findings(fmt: str) -> None:
    """A clean run renders in every format."""
    assert render(fmt, [], files_checked=1, policies_checked=1)


def test_unknown_format() -> None:
    """An unknown format name is an error that lists the known ones."""
    with pytest.raises(ValueError, match="text, json, junit, sarif, github"):
        render("yaml")


# --- text ------------------------------------------------------------------------------------


def test_text_summary() -> None:
    """The summary counts each severity, in singular or plural."""
    assert render("text").splitlines()[-1] == "2 errors, 2 warnings, 1 info in 5 files (6 policies)"
    clean = render("text", [], files_checked=1, policies_checked=1)
    assert clean == "no findings in 1 file (1 policy)"


def test_text_color_only_when_asked() -> None:
    """ANSI colours appear with color=True, and never otherwise."""
    assert "\x1b[" not in render("text")
    colored = render("text", color=True)
    assert "\x1b[1;31merror\x1b[0m" in colored
    assert "\x1b[33mwarning\x1b[0m" in colored
    assert "\x1b[36minfo\x1b[0m" in colored


def test_control_characters_are_shown_not_obeyed() -> None:
    """An escape sequence from a scanned file cannot drive the terminal or break the XML."""
    nasty = Finding(PORT, Severity.ERROR, "a.yaml", 1, 1, "ns/p\x1b[2J", "bad\x00\x07", "")
    for fmt in ("text", "junit", "github"):
        output = render(fmt, [nasty])
        assert "\x1b" not in output
        assert "\x00" not in output
        assert "\\x1b[2J" in output
    parse_xml(render("junit", [nasty]))


# --- json ------------------------------------------------------------------------------------


def test_json_parses_and_counts() -> None:
    """JSON carries the tool, the counts and every finding with its rule name."""
    document = json.loads(render("json"))
    assert list(document) == ["version", "tool", "summary", "findings"]
    assert document["tool"] == {"name": "cilium-gitops", "version": VERSION}
    assert document["summary"] == {"files": 5, "policies": 6, "findings": 5, **COUNTS}
    found = document["findings"]
    assert [f["rule"] for f in found] == ["TEST003", "TEST001", "TEST002", "TEST004", "TEST002"]
    assert found[0]["name"] == "TEST003"  # unregistered: the id stands in for the name
    assert found[0]["file"] == "policies/legacy/all.yaml"
    assert found[0]["policy"] is None
    assert found[3]["detail"] == DIFF
    assert found[4]["file"] == "policies/zürich/a,b:c 100%.yaml"


texts = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ['"quoted"', "back\\slash", "new\nline", "tab\t", "\x00\x1f\x7f", "zürich 😀", "\u2028"]
)
findings = st.builds(
    Finding,
    rule=st.sampled_from([PORT, ODD, HAND_EDITED, UNREGISTERED]),
    severity=st.sampled_from(Severity),
    file=texts,
    line=st.integers(0, 10**6),
    column=st.integers(0, 10**6),
    policy=st.none() | texts,
    message=texts,
    hint=texts,
    path=texts,
    detail=texts,
)


@settings(max_examples=200, deadline=None)
@given(found=st.lists(findings, max_size=5))
def test_json_is_laid_out_as_json_dumps_lays_it_out(found: list[Finding]) -> None:
    """The findings are written by hand for speed: byte for byte what json.dumps would write."""
    text = render("json", found, files_checked=3, policies_checked=4)
    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=True)
    ordered = finding_text.ordered(found)
    assert [f["message"] for f in json.loads(text)["findings"]] == [f.message for f in ordered]
    assert [f["policy"] for f in json.loads(text)["findings"]] == [f.policy for f in ordered]


# --- junit -----------------------------------------------------------------------------------


def parse_xml(text: str) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314 - our own output, not untrusted input


def junit_cases(xml: str) -> tuple[ET.Element, list[ET.Element]]:
    root = parse_xml(xml)
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "cilium-gitops validate"
    cases = suite.findall("testcase")
    for element in (root, suite):
        assert element.get("tests") == str(len(cases))
        failed = [c for c in cases if c.find("failure") is not None]
        assert element.get("failures") == str(len(failed))
        assert element.get("errors") == "0"
    return suite, cases


def test_junit_one_testcase_per_file_and_policy() -> None:
    """Errors fail their policy's testcase; warnings and infos pass in system-out; clean pass."""
    _, cases = junit_cases(render("junit", files=FILES))
    by_name = {(c.get("classname"), c.get("name")): c for c in cases}
    assert list(by_name) == [
        ("policies/legacy/all.yaml", "policies/legacy/all.yaml"),
        ("policies/shop/api.yaml", "shop/api"),
        ("policies/shop/clean.yaml", "policies/shop/clean.yaml"),
        ("policies/shop/db.yaml", "shop/db"),
        ("policies/zürich/a,b:c 100%.yaml", "zürich/web-ü"),
    ]
    api = by_name["policies/shop/api.yaml", "shop/api"]
    failure = api.find("failure")
    assert failure is not None
    assert failure.get("type") == "TEST001"
    assert failure.get("message") == "TEST001 test-port: port 99999 is out of range"
    assert "policies/shop/api.yaml:12:7: error TEST001 test-port:" in (failure.text or "")
    assert "egress to \"world\" isn't narrow: 'all' & <any>" in (api.findtext("system-out") or "")
    db_failure = by_name["policies/shop/db.yaml", "shop/db"].find("failure")
    assert db_failure is not None
    assert "+  port: 5432" in (db_failure.text or "")
    clean = by_name["policies/shop/clean.yaml", "policies/shop/clean.yaml"]
    assert list(clean) == []
    assert clean.get("file") == "policies/shop/clean.yaml"


def test_junit_without_file_list_aggregates_clean_files() -> None:
    """Without the file list, the clean files pass as one testcase that says how many."""
    _, cases = junit_cases(render("junit", files_checked=7))
    assert cases[-1].get("name") == "3 files without findings"
    _, cases = junit_cases(render("junit", files_checked=4))
    assert [c.get("classname") for c in cases][-1] == "policies/zürich/a,b:c 100%.yaml"


def test_junit_several_errors_make_one_failure() -> None:
    """Two errors in one policy: one failure naming both rules, both in its text."""
    second = Finding(
        HAND_EDITED, Severity.ERROR, "policies/shop/api.yaml", 30, 1, "shop/api", "x", ""
    )
    _, cases = junit_cases(render("junit", [*FINDINGS, second]))
    failures = [c.find("failure") for c in cases if c.get("name") == "shop/api"]
    assert len(failures) == 1
    failure = failures[0]
    assert failure is not None
    assert failure.get("type") == "TEST001 TEST004"
    assert (failure.get("message") or "").endswith("(and 1 more)")
    assert "TEST004" in (failure.text or "")


# --- sarif -----------------------------------------------------------------------------------

# What SARIF 2.1.0 allows in each object this tool writes (the schema says additionalProperties:
# false for all of them), and what it requires.
SARIF_OBJECTS: dict[str, tuple[set[str], set[str]]] = {
    "log": ({"$schema", "version", "runs"}, {"version", "runs"}),
    "run": ({"tool", "results", "columnKind"}, {"tool"}),
    "driver": ({"name", "version", "informationUri", "rules"}, {"name"}),
    "rule": (
        {"id", "name", "shortDescription", "fullDescription", "help", "defaultConfiguration"},
        {"id"},
    ),
    "result": (
        {
            "ruleId",
            "ruleIndex",
            "level",
            "message",
            "locations",
            "partialFingerprints",
            "properties",
        },
        {"message"},
    ),
    "location": ({"physicalLocation", "logicalLocations"}, set()),
    "physical": ({"artifactLocation", "region"}, {"artifactLocation"}),
    "artifact": ({"uri", "uriBaseId"}, set()),
    "region": ({"startLine", "startColumn"}, {"startLine"}),
    "logical": ({"name", "fullyQualifiedName", "kind"}, set()),
}
LEVELS = {"none", "note", "warning", "error"}
# RFC 3986 URI-reference characters: unreserved, sub-delims, ":", "@", "/", and %XX escapes.
URI_REFERENCE = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-F]{2})*")


def shape(kind: str, value: dict[str, Any]) -> None:
    allowed, required = SARIF_OBJECTS[kind]
    assert set(value) <= allowed, f"{kind}: {set(value) - allowed} not in SARIF"
    assert required <= set(value), f"{kind}: {required - set(value)} missing"


def check_sarif(log: dict[str, Any]) -> None:
    """The subset of the SARIF 2.1.0 schema this tool writes, and what GitHub needs of it."""
    shape("log", log)
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    shape("run", run)
    driver = run["tool"]["driver"]
    shape("driver", driver)
    rules = driver["rules"]
    for descriptor in rules:
        shape("rule", descriptor)
        # GitHub requires the three texts, and shows at most 1000 characters of the full one.
        for text in ("shortDescription", "fullDescription", "help"):
            assert descriptor[text]["text"]
        assert len(descriptor["fullDescription"]["text"]) <= 1000
        assert descriptor["defaultConfiguration"]["level"] in LEVELS
    assert len({r["id"] for r in rules}) == len(rules)
    fingerprints = set()
    for result in run["results"]:
        shape("result", result)
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in LEVELS
        assert result["message"]["text"]
        fingerprints.add(result["partialFingerprints"][ci_formats.FINGERPRINT])
        (location,) = result["locations"]  # GitHub refuses results without a physical location
        shape("location", location)
        shape("physical", location["physicalLocation"])
        artifact = location["physicalLocation"]["artifactLocation"]
        shape("artifact", artifact)
        assert URI_REFERENCE.fullmatch(artifact["uri"])
        assert not artifact["uri"].startswith("/")  # relative to the checkout: %SRCROOT%
        region = location["physicalLocation"]["region"]
        shape("region", region)
        assert all(isinstance(n, int) and n >= 1 for n in region.values())
        for logical in location.get("logicalLocations", []):
            shape("logical", logical)
    assert len(fingerprints) == len(run["results"])


def test_sarif_structure() -> None:
    """SARIF has what GitHub code scanning reads, in the shapes the schema allows."""
    log = json.loads(render("sarif", information_uri="https://example.com/cilium-gitops"))
    check_sarif(log)
    (run,) = log["runs"]
    assert run["tool"]["driver"]["version"] == VERSION
    assert run["tool"]["driver"]["informationUri"] == "https://example.com/cilium-gitops"
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["TEST001", "TEST002", "TEST003", "TEST004"]
    assert rules[0]["fullDescription"]["text"] == RULES[PORT].rationale
    assert rules[0]["help"]["text"] == RULES[PORT].hint
    assert rules[2] == {  # unregistered: GitHub still gets every text it requires
        "id": "TEST003",
        "name": "TEST003",
        "shortDescription": {"text": "TEST003"},
        "fullDescription": {"text": "TEST003"},
        "help": {"text": "TEST003"},
        "defaultConfiguration": {"level": "note"},
    }
    results = run["results"]
    assert [r["level"] for r in results] == ["note", "error", "warning", "error", "warning"]
    whole_file, port = results[0], results[1]
    assert whole_file["locations"][0]["physicalLocation"]["region"] == {"startLine": 1}
    assert "logicalLocations" not in whole_file["locations"][0]
    assert port["locations"][0]["physicalLocation"]["region"] == {"startLine": 12, "startColumn": 7}
    assert port["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == "shop/api"
    assert port["message"]["text"].endswith("\nhint: Use a number 0-65535.")
    uri = results[4]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "policies/z%C3%BCrich/a%2Cb%3Ac%20100%25.yaml"


def test_sarif_fingerprints_ignore_lines() -> None:
    """A finding keeps its fingerprint when its line moves; identical ones get numbered."""
    moved = Finding(PORT, Severity.ERROR, "a.yaml", 40, 3, "ns/p", "m", "", path="spec")
    before = Finding(PORT, Severity.ERROR, "a.yaml", 4, 3, "ns/p", "m", "", path="spec")
    key = ci_formats.FINGERPRINT

    def fingerprints(findings: list[Finding]) -> list[str]:
        log = json.loads(render("sarif", findings))
        return [r["partialFingerprints"][key] for r in log["runs"][0]["results"]]

    assert fingerprints([before]) == fingerprints([moved])
    first, second = fingerprints([before, moved])
    assert first.endswith(":1")
    assert second == first.removesuffix(":1") + ":2"


def test_sarif_against_official_schema() -> None:
    """With SARIF_SCHEMA pointing at sarif-schema-2.1.0.json, the output validates against it."""
    schema_file = os.environ.get("SARIF_SCHEMA")
    if not schema_file:
        pytest.skip("set SARIF_SCHEMA to a downloaded sarif-schema-2.1.0.json to run")
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(Path(schema_file).read_text(encoding="utf-8"))
    for findings in (FINDINGS, []):
        jsonschema.validate(json.loads(render("sarif", findings)), schema)


# --- github ----------------------------------------------------------------------------------


def unescape_data(text: str) -> str:
    # As actions/runner's ActionCommand.UnescapeData: the mappings in order, "%25" last.
    for escaped, raw in (("%0D", "\r"), ("%0A", "\n"), ("%25", "%")):
        text = text.replace(escaped, raw)
    return text


def unescape_property(text: str) -> str:
    # As actions/runner's ActionCommand.UnescapeProperty.
    for escaped, raw in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
        text = text.replace(escaped, raw)
    return text


def parse_command(line: str) -> tuple[str, dict[str, str], str]:
    """A workflow command read as the runner's ActionCommand.TryParseV2 reads it."""
    line = line.lstrip()
    assert line.startswith("::")
    end = line.index("::", 2)
    name, _, listed = line[2:end].partition(" ")
    properties = {}
    for pair in listed.strip().split(","):
        key, value = pair.split("=", 1)
        properties[key] = unescape_property(value)
    return name, properties, unescape_data(line[end + 2 :])


COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
TITLE = {
    PORT: "TEST001 test-port",
    ODD: "TEST002 test-odd-value",
    UNREGISTERED: "TEST003",
    HAND_EDITED: "TEST004 test-hand-edited",
}


def test_github_commands_round_trip() -> None:
    """Every command parses back to the finding's file, position, title and whole message."""
    *commands, summary = render("github").split("\n")
    assert summary == "2 errors, 2 warnings, 1 info in 5 files (6 policies)"
    expected = sorted(FINDINGS, key=lambda f: (f.file.replace("\\", "/"), f.line, f.column))
    assert len(commands) == len(expected)
    for command, finding in zip(commands, expected, strict=True):
        name, properties, message = parse_command(command)
        assert name == COMMAND[finding.severity]
        assert properties.pop("file") == finding.file.replace("\\", "/")
        assert properties.pop("title") == TITLE[finding.rule]
        assert properties.pop("line", None) == (str(finding.line) if finding.line else None)
        assert properties.pop("col", None) == (str(finding.column) if finding.column else None)
        assert properties == {}
        policy = f"{finding.policy}: " if finding.policy else ""
        path = f" ({finding.path})" if finding.path else ""
        parts = [f"{policy}{finding.message}{path}"]
        parts += [f"hint: {finding.hint}"] if finding.hint else []
        parts += [finding.detail.rstrip("\n")] if finding.detail else []
        assert message == "\n".join(parts)


def test_github_escaping() -> None:
    """%, CR and LF are escaped in messages; properties also escape : and ,."""
    assert ci_formats.escape_data("100%\r\n: ,") == "100%25%0D%0A: ,"
    assert ci_formats.escape_property("100%\r\n: ,") == "100%25%0D%0A%3A %2C"
    # Escaping "%" first keeps a literal "%0A" literal.
    assert unescape_data(ci_formats.escape_data("%0A")) == "%0A"
    assert unescape_property(ci_formats.escape_property("%3A,%2C")) == "%3A,%2C"
    odd = next(line for line in render("github").split("\n") if "zürich" in line)
    assert odd.startswith("::warning file=policies/zürich/a%2Cb%3Ac 100%25.yaml,line=4,col=9,")
    assert "\n" not in odd

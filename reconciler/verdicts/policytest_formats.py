r"""Printing a ``cilium-gitops test`` run: text, JSON, JUnit XML, or GitHub workflow commands.

The last step of ``policytest`` (documents -> tests -> engine -> *formats*). Everything from the
test and policy files (names, labels, paths, HTTP paths) is shown with control characters as
``\xNN`` (``validate.finding_text.visible``) in text and XML, JSON escapes for itself, and
GitHub commands use the runner's own escaping (``validate.ci_formats``). Each format lists
the flows in file order, then the count of passes and failures.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from reconciler.validate.ci_formats import escape_data, escape_property
from reconciler.validate.finding_text import TOOL, plural, visible

if TYPE_CHECKING:
    from collections.abc import Sequence

    from reconciler.verdicts.policytest import Outcome
    from reconciler.verdicts.verdict import Step

Format = Literal["text", "json", "junit", "github"]
FORMATS: tuple[Format, ...] = ("text", "json", "junit", "github")
SUITE = "cilium-gitops test"


def render(outcomes: Sequence[Outcome], fmt: Format, *, tests: int) -> str:
    """The run in format ``fmt``; ``tests`` is how many PolicyTest documents were read."""
    if fmt == "text":
        return _text(outcomes, tests)
    if fmt == "json":
        return dump_list([_json(o) for o in outcomes])
    if fmt == "junit":
        return _junit(outcomes)
    return _github(outcomes, tests)


def summary(outcomes: Sequence[Outcome], tests: int) -> str:
    """``3 passed, 1 failed (4 flows in 2 tests)``."""
    failed = sum(1 for o in outcomes if not o.passed)
    where = f"{plural(len(outcomes), 'flow')} in {plural(tests, 'test')}"
    return f"{len(outcomes) - failed} passed, {failed} failed ({where})"


def title(outcome: Outcome) -> str:
    """``storefront: frontend -> api TCP/8080 POST /``."""
    return f"{outcome.test.name}: {outcome.case.flow.text()}"


def _text(outcomes: Sequence[Outcome], tests: int) -> str:
    lines: list[str] = []
    for outcome in outcomes:
        mark = "PASS" if outcome.passed else "FAIL"
        verdict = outcome.verdict.decision
        lines.append(f"{mark} {title(outcome)}: {verdict} (expected {outcome.case.expect})")
        lines.extend(f"       {step.direction}: {step.reason}" for step in _shown(outcome))
    lines.append(summary(outcomes, tests))
    return "\n".join(visible(line).replace("\n", "\\x0a") for line in lines)


def _shown(outcome: Outcome) -> tuple[Step, ...]:
    return outcome.verdict.deciding


def _json(outcome: Outcome) -> dict[str, Any]:
    case, flow = outcome.case, outcome.case.flow
    found: dict[str, Any] = {
        "test": outcome.test.name,
        "file": outcome.test.file,
        "flow": case.index,
        "from": flow.source.name,
        "to": flow.destination.name,
        "protocol": flow.probe.protocol.replace("ICMPV6", "ICMPv6"),
        "port": flow.probe.port if flow.probe.protocol in ("TCP", "UDP", "SCTP") else None,
        "port_name": case.port_name,
        "expect": case.expect,
        "verdict": outcome.verdict.decision,
        "passed": outcome.passed,
        "reason": outcome.verdict.reason,
    }
    if flow.probe.protocol in ("ICMP", "ICMPV6"):
        found["icmp_type"] = flow.probe.port
    if flow.http is not None:
        found["http"] = {"method": flow.http.method, "path": flow.http.path, "host": flow.http.host}
    if flow.dns is not None:
        found["dns"] = {"query": flow.dns}
    found["egress"] = step_json(outcome.verdict.egress)
    found["ingress"] = step_json(outcome.verdict.ingress)
    return found


def step_json(step: Step) -> dict[str, Any]:
    """One side of a verdict as JSON: decision, cause, reason, policy and rule."""
    policy = None
    if step.policy is not None:
        policy = {
            "kind": step.policy.kind,
            "namespace": step.policy.namespace,
            "name": step.policy.name,
            "file": step.policy.file,
        }
    return {
        "endpoint": step.endpoint,
        "decision": step.decision,
        "cause": step.cause,
        "reason": step.reason,
        "policy": policy,
        "rule": step.rule,
    }


def dump_list(items: list[dict[str, Any]]) -> str:
    """A JSON array laid out as ``validate``'s JSON is (ASCII only)."""
    return json.dumps(items, indent=2, ensure_ascii=True) if items else "[]"


def _junit(outcomes: Sequence[Outcome]) -> str:
    import xml.etree.ElementTree as ET  # noqa: PLC0415 - only this format needs it

    suites: dict[tuple[str, str], list[Outcome]] = {}
    for outcome in outcomes:
        suites.setdefault((outcome.test.file, outcome.test.name), []).append(outcome)
    failures = sum(1 for o in outcomes if not o.passed)
    totals = {"tests": str(len(outcomes)), "failures": str(failures), "errors": "0"}
    root = ET.Element("testsuites", {"name": TOOL, **totals, "time": "0"})
    for (file, name), group in suites.items():
        failed = sum(1 for o in group if not o.passed)
        attributes = {"tests": str(len(group)), "failures": str(failed), "errors": "0"}
        suite = ET.SubElement(
            root, "testsuite", {"name": visible(name), **attributes, "skipped": "0", "time": "0"}
        )
        for outcome in group:
            case = ET.SubElement(
                suite,
                "testcase",
                {
                    "classname": visible(f"{SUITE}.{name}"),
                    "name": visible(f"{outcome.case.flow.text()} (expect {outcome.case.expect})"),
                    "file": visible(file),
                    "time": "0",
                },
            )
            text = "\n".join(f"{s.direction}: {s.reason}" for s in _shown(outcome))
            if outcome.passed:
                ET.SubElement(case, "system-out").text = visible(text)
            else:
                message = f"{outcome.verdict.decision}, expected {outcome.case.expect}"
                failure = ET.SubElement(
                    case, "failure", {"message": visible(message), "type": "verdict"}
                )
                failure.text = visible(text)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def _github(outcomes: Sequence[Outcome], tests: int) -> str:
    lines = []
    for outcome in outcomes:
        if outcome.passed:
            continue
        properties = {
            "file": outcome.test.file,
            "title": f"{outcome.test.name}: {outcome.verdict.decision}, expected "
            f"{outcome.case.expect}",
        }
        listed = ",".join(f"{k}={escape_property(v)}" for k, v in properties.items())
        message = f"{outcome.case.flow.text()}: {outcome.verdict.reason}"
        lines.append(f"::error {listed}::{escape_data(message)}")
    lines.append(summary(outcomes, tests))
    return "\n".join(lines)

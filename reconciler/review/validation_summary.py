"""The review comment's "Validation" section: a ``validate --format json`` report, summed up.

Beside ``markdown`` at the end of ``review`` (inputs -> flows -> diff -> risks -> formats):
``diff --validation FILE`` reads the report ``validate`` wrote earlier in the same workflow,
``section`` turns it into Markdown lines, and ``markdown.render`` puts them after the summary,
so a reviewer sees in one comment whether the change is valid and what it does to traffic.
Pure: a parsed JSON document in, lines out. The report quotes the policy files, so every value
from it goes through ``markdown.cell``.
"""

from __future__ import annotations

from typing import Any

from reconciler.review.markdown import cell

# The version of the JSON report this reads (``validate.formats``' ``"version"``).
REPORT_VERSION = 1
# The comment shows this many findings; the job log and ``validate`` itself have them all.
MAX_FINDINGS = 20
# Errors first, so warnings never push an error out of the table.
_RANK = {"error": 0, "warning": 1, "info": 2}
_ICON = {"error": "❌ error", "warning": "⚠️ warning", "info": "ℹ️ info"}  # noqa: RUF001


class ReportError(ValueError):
    """The file given is not a report of ``validate --format json`` this version reads."""


def section(report: object) -> list[str]:
    """The section's Markdown lines; ``ReportError`` when ``report`` is not a version-1 report."""
    if not isinstance(report, dict) or report.get("version") != REPORT_VERSION:
        msg = f"not a cilium-gitops validate --format json report (version {REPORT_VERSION})"
        raise ReportError(msg)
    totals, findings = report.get("summary"), report.get("findings")
    if not isinstance(totals, dict) or not isinstance(findings, list):
        msg = "the report has no summary or no findings list"
        raise ReportError(msg)
    if not all(isinstance(f, dict) for f in findings):
        msg = "a finding of the report is not an object"
        raise ReportError(msg)
    counts = {word: _count(totals, f"{word}s") for word in ("error", "warning", "info")}
    where = f"in {_plural(_count(totals, 'files'), 'file')} "
    where += f"({_plural(_count(totals, 'policies'), 'policy', 'policies')})"
    lines = ["#### Validation", ""]
    if not findings:
        return [*lines, f"✅ No findings {where}."]
    icon = "❌" if counts["error"] else "⚠️" if counts["warning"] else "ℹ️"  # noqa: RUF001
    tally = ", ".join(_plural(n, word) for word, n in counts.items())
    lines += [f"{icon} {tally} {where}.", ""]
    lines += ["| Severity | Where | Rule | Message |", "|---|---|---|---|"]
    shown = sorted(findings, key=lambda f: _RANK.get(f.get("severity"), len(_RANK)))
    lines.extend(_row(finding) for finding in shown[:MAX_FINDINGS])
    if len(findings) > MAX_FINDINGS:
        more = f"The first {MAX_FINDINGS} of {len(findings)} findings, errors first; "
        lines += ["", more + "`cilium-gitops validate` lists them all."]
    return lines


def _row(finding: dict[str, Any]) -> str:
    severity = str(finding.get("severity"))
    file, line = str(finding.get("file", "")), finding.get("line")
    place = f"{file}:{line}" if isinstance(line, int) and line > 0 else file
    policy = finding.get("policy")
    message = str(finding.get("message", ""))
    if policy:
        message = f"{policy}: {message}"
    cells = [
        _ICON.get(severity) or cell(severity),
        cell(place),
        cell(str(finding.get("rule", ""))),
        cell(message),
    ]
    return f"| {' | '.join(cells)} |"


def _count(totals: dict[str, Any], key: str) -> int:
    value = totals.get(key, 0)
    if not isinstance(value, int) or isinstance(value, bool):
        msg = f"the report's summary.{key} is not a number"
        raise ReportError(msg)
    return value


def _plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n} {word if n == 1 else (words or word + 's')}"

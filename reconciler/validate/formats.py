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

The first two are here; the three for CI systems are in ``ci_formats``; what they share (the
facts of a run, a finding's headline, the escaping of control characters: text from the scanned
files is never trusted to be printable) is in ``finding_text``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from reconciler.validate import ci_formats
from reconciler.validate.finding_text import (
    TOOL,
    Run,
    dump,
    ordered,
    rule_name,
    slashes,
    text_block,
)
from reconciler.validate.findings import Severity

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from reconciler.validate.findings import Finding

FORMATS = ("text", "json", "junit", "sarif", "github")


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
    run = Run(
        findings=ordered(findings),
        files_checked=files_checked,
        policies_checked=policies_checked,
        tool_version=tool_version,
        color=color,
        files=tuple(slashes(f) for f in files) if files is not None else None,
        information_uri=information_uri,
    )
    return renderer(run)


# --- text ------------------------------------------------------------------------------------


def _text(run: Run) -> str:
    lines = [line for f in run.findings for line in text_block(f, color=run.color)]
    return "\n".join([*lines, run.summary()])


# --- json ------------------------------------------------------------------------------------


def _json(run: Run) -> str:
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
    text = dump(document)
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
        f'      "name": {_quote(rule_name(f.rule))},\n'
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


# What json.dumps(ensure_ascii=True) writes for a string (the C function where there is one).
_quote: Callable[[str], str] = json.encoder.encode_basestring_ascii


_RENDERERS: dict[str, Callable[[Run], str]] = {
    "text": _text,
    "json": _json,
    "junit": ci_formats.junit,
    "sarif": ci_formats.sarif,
    "github": ci_formats.github,
}

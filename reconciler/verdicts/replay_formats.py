r"""Printing a replay: which recorded flows a change flips (or where the model and Hubble differ).

The last step of ``replay`` (hubble -> replaying -> *replay_formats*): text for a terminal,
JSON for scripts, Markdown for a pull-request comment. Newly denied flows come first, grouped by
namespace, each with how often Hubble saw it, the rule that allowed it before and why it is
denied now. Labels, names and paths come from flow logs and policy files: text shows control
characters as ``\xNN``, Markdown puts them in code spans (``validate.finding_text.table_cell``),
JSON escapes them itself. ``limit`` caps the rows of each group in text and Markdown (JSON is
never cut).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from reconciler.validate.finding_text import code_span, table_cell, visible
from reconciler.verdicts.policytest_formats import step_json

if TYPE_CHECKING:
    from reconciler.verdicts.replaying import Change, Fidelity, Replay, Replayed
    from reconciler.verdicts.verdict import Flow, Verdict

Format = Literal["text", "json", "markdown"]
FORMATS: tuple[Format, ...] = ("text", "json", "markdown")
MARKER = "<!-- cilium-gitops:replay -->"
JSON_VERSION = 1
_SHOWN: tuple[Change, ...] = ("newly denied", "newly allowed", "newly undecided", "now decided")


def render_replay(replay: Replay, fmt: Format, *, revisions: tuple[str, str], limit: int) -> str:
    """The flows a change flips, from ``revisions[0]`` to ``revisions[1]``."""
    if fmt == "json":
        return _json_replay(replay, revisions)
    if fmt == "markdown":
        return _markdown_replay(replay, revisions, limit)
    return _text_replay(replay, revisions, limit)


def headline(replay: Replay, revisions: tuple[str, str]) -> str:
    """``12,000 flow lines, 340 distinct flows from main to HEAD: 2 newly denied (...), ...``."""
    parts = []
    for change in _SHOWN:
        found = replay.of(change)
        if found or change in ("newly denied", "newly allowed"):
            seen = sum(r.count for r in found)
            parts.append(f"{len(found)} {change} ({seen:,} seen)")
    return (
        f"{replay.lines:,} flow lines, {replay.distinct:,} distinct flows "
        f"from {revisions[0]} to {revisions[1]}: {', '.join(parts)}"
    )


def _times(count: int) -> str:
    return f"{count:,} time" if count == 1 else f"{count:,} times"


def _text_replay(replay: Replay, revisions: tuple[str, str], limit: int) -> str:
    lines = [headline(replay, revisions)]
    for change in _SHOWN:
        for namespace, group in replay.by_namespace(change):
            lines += ["", f"{change.capitalize()} in {namespace}:"]
            for replayed in group[:limit]:
                lines += [
                    f"  {replayed.flow.text()}  (seen {_times(replayed.count)})",
                    f"      before: {replayed.was.direction}: {replayed.was.reason}",
                    f"      after:  {replayed.side.direction}: {replayed.side.reason}",
                ]
            if len(group) > limit:
                lines.append(f"  ... and {len(group) - limit} more (--limit, or --format json)")
    return "\n".join(visible(line).replace("\n", "\\x0a") for line in lines)


def _json_replay(replay: Replay, revisions: tuple[str, str]) -> str:
    document = {
        "version": JSON_VERSION,
        "before": revisions[0],
        "after": revisions[1],
        "lines": replay.lines,
        "skipped": replay.skipped,
        "distinct": replay.distinct,
        "summary": {c: len(replay.of(c)) for c in _SHOWN},
        "changes": [_json_change(r) for r in replay.changes],
    }
    return json.dumps(document, indent=2, ensure_ascii=True)


def flow_json(flow: Flow) -> dict[str, Any]:
    """A flow's fields as JSON: ends, protocol, port, request."""
    found: dict[str, Any] = {
        "from": flow.source.name,
        "to": flow.destination.name,
        "protocol": flow.probe.protocol,
        "port": flow.probe.port,
    }
    if flow.http is not None:
        found["http"] = {"method": flow.http.method, "path": flow.http.path, "host": flow.http.host}
    if flow.dns is not None:
        found["dns"] = {"query": flow.dns}
    return found


def verdict_json(verdict: Verdict) -> dict[str, Any]:
    """A verdict as JSON: the decision, its reason and both steps."""
    return {
        "decision": verdict.decision,
        "reason": verdict.reason,
        "egress": step_json(verdict.egress),
        "ingress": step_json(verdict.ingress),
    }


def _json_change(replayed: Replayed) -> dict[str, Any]:
    return {
        "change": replayed.change,
        "namespace": replayed.namespace,
        "count": replayed.count,
        **flow_json(replayed.flow),
        "before": verdict_json(replayed.before),
        "after": verdict_json(replayed.after),
    }


def _markdown_replay(replay: Replay, revisions: tuple[str, str], limit: int) -> str:
    lines = [
        MARKER,
        "### Replay of recorded traffic",
        "",
        code_span(headline(replay, revisions)),
        "",
    ]
    for change in _SHOWN:
        groups = replay.by_namespace(change)
        if not groups:
            continue
        icon = "🔴" if change == "newly denied" else "🟢" if change == "newly allowed" else "🟡"
        lines += [f"#### {icon} {change.capitalize()}", ""]
        for namespace, group in groups:
            lines += [
                f"**{table_cell(namespace)}**",
                "",
                "| Flow | Seen | Before | After |",
                "|---|---|---|---|",
            ]
            lines.extend(
                f"| {table_cell(r.flow.text())} | {r.count:,} | "
                f"{table_cell(r.was.reason)} | {table_cell(r.side.reason)} |"
                for r in group[:limit]
            )
            if len(group) > limit:
                lines.append(f"| … and {len(group) - limit} more | | | |")
            lines.append("")
    return "\n".join(lines).rstrip("\n")


def render_fidelity(fidelity: Fidelity, fmt: Format, *, revision: str, limit: int) -> str:
    """Where the model and Hubble disagree under one revision."""
    compared = fidelity.compared
    rate = f"{100 * fidelity.agreed / compared:.1f}%" if compared else "n/a"
    head = (
        f"{fidelity.lines:,} flow lines under {revision}: the model agrees with Hubble on "
        f"{fidelity.agreed:,} of {compared:,} policy verdicts ({rate}); "
        f"{fidelity.undecided:,} it cannot decide, {fidelity.unjudged:,} carry no policy verdict"
    )
    if fmt == "json":
        document = {
            "version": JSON_VERSION,
            "revision": revision,
            "lines": fidelity.lines,
            "skipped": fidelity.skipped,
            "agreed": fidelity.agreed,
            "undecided": fidelity.undecided,
            "unjudged": fidelity.unjudged,
            "disagreements": [
                {
                    "count": d.count,
                    **flow_json(d.flow),
                    "direction": d.model.direction,
                    "recorded": d.recorded,
                    "model": step_json(d.model),
                }
                for d in fidelity.disagreements
            ],
        }
        return json.dumps(document, indent=2, ensure_ascii=True)
    shown = fidelity.disagreements[:limit]
    if fmt == "markdown":
        lines = [MARKER, "### Model fidelity", "", code_span(head), ""]
        if shown:
            lines += ["| Flow | Seen | Hubble | Model says |", "|---|---|---|---|"]
            lines.extend(
                f"| {table_cell(d.flow.text())} | {d.count:,} | "
                f"{d.recorded} at {d.model.direction} | {table_cell(d.model.reason)} |"
                for d in shown
            )
        return "\n".join(lines).rstrip("\n")
    lines = [head]
    for d in shown:
        lines += [
            f"  {d.flow.text()}  (seen {_times(d.count)})",
            (
                f"      Hubble: {d.recorded} at {d.model.direction}; "
                f"model: {d.model.decision}: {d.model.reason}"
            ),
        ]
    if len(fidelity.disagreements) > limit:
        lines.append(f"  ... and {len(fidelity.disagreements) - limit} more")
    return "\n".join(visible(line).replace("\n", "\\x0a") for line in lines)

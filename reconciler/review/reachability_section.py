r"""The review's "What can now reach what": end-to-end answers, in text, JSON and Markdown.

A section of every review format (``output`` for text and JSON, ``markdown`` for the comment),
printing ``verdicts.reachability``: for every workload of the repository and the entities
world, kube-apiserver and host, the pairs and ports whose end-to-end verdict the change flips,
new reachability from the world first, each with the reason on each side (the source's egress
and the destination's ingress) before and after. Text from the repository (names, labels,
rules) is escaped as in the rest of the review: ``\xNN`` in text, code spans in Markdown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconciler.review.wording import visible
from reconciler.validate.finding_text import table_cell

if TYPE_CHECKING:
    from reconciler.verdicts.reachability import Reach, Reachability
    from reconciler.verdicts.verdict import Step, Verdict

TITLE = "What can now reach what"
# A comment stays readable (and under GitHub's limit) with this many rows; text and JSON list all.
MAX_ROWS = 100
_ICONS = {
    "now allowed": "🟢 now allowed",
    "now denied": "🔴 now denied",
    "now undecided": "🟡 cannot decide",
    "now decided": "🟢 now decided",
}


def shown(reach: Reachability | None) -> bool:
    """Whether the section has anything to say (workloads found, or a pair changed)."""
    return reach is not None and (reach.workloads > 0 or bool(reach.changes))


def summary(reach: Reachability) -> str:
    """``2 pairs change end to end (1 now allowed, 1 now denied) among 4 workloads, world, ...``."""
    counts: dict[str, int] = {}
    for change in reach.changes:
        counts[change.change] = counts.get(change.change, 0) + 1
    among = f"{reach.workloads} workloads, world, kube-apiserver and host"
    if not reach.changes:
        return f"no end-to-end change among {among} ({reach.asked} pair-ports asked)"
    detail = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    pairs = "pair-port changes" if len(reach.changes) != 1 else "pair-port change"
    return f"{len(reach.changes)} {pairs} ({detail}) among {among}"


def _sides(verdict: Verdict) -> str:
    return "; ".join(f"{s.direction}: {s.reason}" for s in _relevant(verdict))


def _relevant(verdict: Verdict) -> tuple[Step, ...]:
    """The sides worth reading: both when allowed, else the ones that deny or cannot tell."""
    return verdict.deciding


def text_lines(reach: Reachability) -> list[str]:
    """The section for the text format (escaped by the caller, line by line)."""
    lines = [f"{TITLE}: {summary(reach)}"]
    for change in reach.changes:
        lines += [
            f"  {change.change}: {_pair(change)}",
            f"      before: {change.before.decision}: {_sides(change.before)}",
            f"      after:  {change.after.decision}: {_sides(change.after)}",
        ]
    return lines


def _pair(change: Reach) -> str:
    return f"{change.source.name} -> {change.destination.name} {change.port_text}"


def markdown_lines(reach: Reachability) -> list[str]:
    """The section for the pull-request comment."""
    lines = [f"#### {TITLE}", "", visible(summary(reach)), ""]
    if not reach.changes:
        return lines
    lines += ["| Change | From | To | Port | Before | After |", "|---|---|---|---|---|---|"]
    for change in reach.changes[:MAX_ROWS]:
        row = [
            _ICONS[change.change],
            table_cell(change.source.name),
            table_cell(change.destination.name),
            table_cell(change.port_text),
            _cell_sides(change.before),
            _cell_sides(change.after),
        ]
        lines.append(f"| {' | '.join(row)} |")
    if len(reach.changes) > MAX_ROWS:
        more = len(reach.changes) - MAX_ROWS
        lines.append(f"| … {more} more (`cilium-gitops diff` lists them all) | | | | | |")
    return [*lines, ""]


def _cell_sides(verdict: Verdict) -> str:
    parts = [table_cell(f"{s.direction}: {s.reason}") for s in _relevant(verdict)]
    return f"**{verdict.decision}**<br>" + "<br>".join(parts)


def json_value(reach: Reachability) -> dict[str, Any]:
    """The section as JSON."""
    return {
        "workloads": reach.workloads,
        "asked": reach.asked,
        "changes": [
            {
                "change": change.change,
                "from": change.source.name,
                "to": change.destination.name,
                "protocol": change.probe.protocol,
                "port": None if change.other_ports else change.probe.port,
                "other_ports": change.other_ports,
                "before": _json_verdict(change.before),
                "after": _json_verdict(change.after),
            }
            for change in reach.changes
        ],
    }


def _json_verdict(verdict: Verdict) -> dict[str, Any]:
    return {
        "decision": verdict.decision,
        "egress": {"decision": verdict.egress.decision, "reason": verdict.egress.reason},
        "ingress": {"decision": verdict.ingress.decision, "reason": verdict.ingress.reason},
    }

"""A ``Review`` as a pull-request comment: GitHub-flavoured Markdown with a Mermaid flow graph.

One of the formats ``output.render`` offers (inputs -> flows -> compare -> risks -> output). The
comment opens with a hidden marker, so a workflow can find and update its own comment, then
gives the summary (then, with ``diff --validation``, the ``validation`` section), the risks, a
graph of the changed flows (added green, removed red, L7 changed amber, deny rules dotted), a
table of flows per namespace and, folded, the field diff of each policy. ``truncate`` cuts the
finished comment to what GitHub accepts.

Every piece of text from the policy files goes through one of three escapes, chosen by where
it lands: ``cell`` (a code span in a table: no emphasis, links or HTML, pipes escaped so the
row keeps its columns), ``_mermaid`` (inside a quoted Mermaid label: everything but a short
list of plain characters becomes a ``#NN;`` entity, so quotes, brackets, angle brackets, pipes
and ``%%`` cannot end the label or start markup), and ``_fenced`` (a fence longer than any run
of backticks in the content). HTML inside ``<summary>`` is escaped with ``html.escape``.
"""

from __future__ import annotations

import html
import re
import string
from typing import TYPE_CHECKING, NamedTuple

from reconciler.review import reachability_section
from reconciler.review.peers import port_text
from reconciler.review.wording import (
    granted_by,
    heading,
    l7_change,
    peer_label,
    subject_label,
    summary,
    visible,
)
from reconciler.validate.finding_text import code_span as _code
from reconciler.validate.finding_text import table_cell as cell

if TYPE_CHECKING:
    from collections.abc import Sequence

    from reconciler.review.compare import PolicyChange, Review
    from reconciler.review.flows import FlowChange

# ``cell`` moved to validate.finding_text (the replay's report uses it too); callers keep it here.
__all__ = ["GITHUB_COMMENT_LIMIT", "MARKER", "MIN_LIMIT", "cell", "render", "truncate"]

MARKER = "<!-- cilium-gitops:review -->"
# GitHub refuses an issue or pull-request comment longer than this (in characters).
GITHUB_COMMENT_LIMIT = 65_536
# The smallest limit ``truncate`` takes: room for the marker, a few lines and the note.
MIN_LIMIT = 200
# A large change would make a graph nobody can read (and GitHub caps Mermaid's text size);
# past this many edges the graph shows the first ones and says how many it left out.
MAX_EDGES = 60
COLOURS = {"added": "#1a7f37", "removed": "#cf222e", "changed": "#9a6700"}
_ICONS = {"added": "🟢 added", "removed": "🔴 removed", "changed": "🟡 changed"}
_MERMAID_PLAIN = frozenset(string.ascii_letters + string.digits + " .,:/=_-+*?!@^$~'")
_BACKTICKS = re.compile(r"`+")


def render(review: Review, *, validation: Sequence[str] = ()) -> str:
    """The review as a comment body; ``validation`` (Markdown lines) goes after the summary."""
    lines = [MARKER, "### Cilium network policy review", ""]
    if review.empty:
        lines.append("No CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy changed.")
        return "\n".join([*lines, "", *validation] if validation else lines)
    lines += [summary(review), ""]
    if validation:
        lines += [*validation, ""]
    if review.risks:
        lines += ["#### ⚠️ Risks", "", "| Risk | Policy | Rule | Why |", "|---|---|---|---|"]
        lines.extend(
            f"| {cell(r.code)} | {cell(r.policy.display)} | {cell(r.rule)} | {cell(r.message)} |"
            for r in review.risks
        )
        lines.append("")
    if review.reach is not None and reachability_section.shown(review.reach):
        lines += reachability_section.markdown_lines(review.reach)
    if review.flows:
        lines += ["#### Connectivity", "", *_graph(review.flows), ""]
        for namespace, changes in review.by_namespace():
            lines += _flow_table(namespace, changes)
    lines += ["#### Policies", ""]
    for change in review.policies:
        lines += _policy(change)
    if review.notes:
        lines += ["#### Notes", ""]
        lines.extend(f"- {_code(note)}" for note in review.notes)
    return "\n".join(lines).rstrip("\n")


# -- escapes -----------------------------------------------------------------------------------


def _mermaid(text: str) -> str:
    """Text for inside a quoted Mermaid label; anything not plainly safe as ``#code;``."""
    # Control characters first become visible text, so a label never holds a raw newline.
    return "".join(c if c in _MERMAID_PLAIN else f"#{ord(c)};" for c in visible(text))


def _fenced(content: list[str], info: str) -> list[str]:
    body = [visible(line) for line in content]
    longest = max((len(r) for line in body for r in _BACKTICKS.findall(line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{info}", *body, fence]


# -- pieces ------------------------------------------------------------------------------------


def _graph(flows: tuple[FlowChange, ...]) -> list[str]:
    shown = flows[:MAX_EDGES]
    edges = []
    for change in shown:
        flow = change.flow
        subject, peer = subject_label(flow), peer_label(flow)
        source, target = (peer, subject) if flow.direction == "ingress" else (subject, peer)
        label = port_text(flow.protocol, flow.port)
        if flow.verdict == "deny":
            label = f"deny {label}"
        if change.change == "changed":
            label += " L7 changed"
        elif flow.l7:
            label += " L7"
        edges.append((source, target, label, flow.verdict == "deny", change.change))
    names = sorted({name for source, target, *_ in edges for name in (source, target)})
    ids = {name: f"n{index}" for index, name in enumerate(names)}
    lines = ["flowchart LR"]
    lines.extend(f'  {ids[name]}["{_mermaid(name)}"]' for name in names)
    for source, target, label, deny, _ in edges:
        arrow = "-.->" if deny else "-->"
        lines.append(f'  {ids[source]} {arrow}|"{_mermaid(label)}"| {ids[target]}')
    lines.extend(
        f"  linkStyle {index} stroke:{COLOURS[edge[4]]},stroke-width:2px,color:{COLOURS[edge[4]]}"
        for index, edge in enumerate(edges)
    )
    legend = "Green: added, red: removed, amber: L7 conditions changed; dotted: deny rules."
    if len(flows) > len(shown):
        legend += f" The graph shows the first {len(shown)} of {len(flows)} flow changes."
    return [*_fenced(lines, "mermaid"), "", legend]


def _flow_table(namespace: str, changes: list[FlowChange]) -> list[str]:
    lines = [
        f"**{cell(heading(namespace))}**",
        "",
        "| Change | Verdict | Direction | Subject | Peer | Port | L7 | Granted by |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for change in changes:
        flow = change.flow
        row = [
            _ICONS[change.change],
            flow.verdict,
            flow.direction,
            cell(flow.subject),
            cell(peer_label(flow)),
            cell(port_text(flow.protocol, flow.port)),
            cell(l7_change(change)),
            cell(granted_by(change.grants)),
        ]
        lines.append(f"| {' | '.join(row)} |")
    return [*lines, ""]


def _policy(change: PolicyChange) -> list[str]:
    before, after = change.file_before, change.file_after
    if before and after and before != after:
        where = f"moved from {_html_code(before)} to {_html_code(after)}"
    else:
        where = f"in {_html_code(str(after or before))}"
    count = len(change.fields)
    title = (
        f"{change.change} {_html_code(change.policy.display)} {where}: "
        f"{count} {'field' if count == 1 else 'fields'}"
    )
    body = [str(field) for field in change.fields]
    return [
        f"<details><summary>{title}</summary>",
        "",
        *_fenced(body, "diff"),
        "",
        "</details>",
        "",
    ]


def _html_code(text: str) -> str:
    return f"<code>{html.escape(visible(text))}</code>"


# -- truncation --------------------------------------------------------------------------------


def truncate(text: str, limit: int = GITHUB_COMMENT_LIMIT) -> str:
    """``text`` in at most ``limit`` characters: whole lines, then a note of what was left out.

    Text within the limit comes back untouched. Otherwise the most lines that fit are kept,
    with the code fence and the ``<details>`` folds the cut falls inside closed (so the note
    reads as text, not as code or hidden in a fold), then a blank line and the note.
    """
    if limit < MIN_LIMIT:
        msg = f"limit {limit} is below {MIN_LIMIT}, too short for the note"
        raise ValueError(msg)
    if len(text) <= limit:
        return text
    lines = text.split("\n")
    total = len(lines)
    best = _Cut(0, (), _note(lines_left=total, total=total, chars=len(text)))
    blocks, kept = _Blocks(None, 0), -1  # kept: the length of the kept lines, joined
    for count, line in enumerate(lines[:-1], start=1):  # all of them would not fit
        kept += len(line) + 1
        if kept > limit:
            break
        blocks = blocks.after(line)
        closing = blocks.closing()
        note = _note(lines_left=total - count, total=total, chars=len(text) - kept)
        if kept + sum(len(c) + 1 for c in closing) + 2 + len(note) <= limit:
            best = _Cut(count, closing, note)
    if not best.lines:
        return best.note
    return "\n".join([*lines[: best.lines], *best.closing, "", best.note])


class _Cut(NamedTuple):
    lines: int  # how many of the text's lines are kept
    closing: tuple[str, ...]  # the lines that close what is still open after them
    note: str


# A fence opens with three or more backticks or tildes, indented at most three spaces; a
# backtick fence's info string holds no backtick (CommonMark 4.5).
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")


class _Blocks(NamedTuple):
    """What is open after some lines: a code fence (its opening run) and ``<details>`` folds."""

    fence: str | None
    details: int

    def after(self, line: str) -> _Blocks:
        match = _FENCE.fullmatch(line)
        run, rest = match.groups() if match else ("", "")
        if self.fence is not None:
            # Only a run of the same character, at least as long and with nothing after it,
            # closes the fence; everything else inside is content.
            closes = (
                run[:1] == self.fence[0] and len(run) >= len(self.fence) and not rest.strip(" \t")
            )
            return self._replace(fence=None) if closes else self
        if run and not (run[0] == "`" and "`" in rest):
            return self._replace(fence=run)
        if line.lstrip().startswith("<details"):
            return self._replace(details=self.details + 1)
        if line.lstrip().startswith("</details>") and self.details:
            return self._replace(details=self.details - 1)
        return self

    def closing(self) -> tuple[str, ...]:
        fence = (self.fence,) if self.fence else ()
        return fence + ("</details>",) * self.details


def _note(*, lines_left: int, total: int, chars: int) -> str:
    return (
        f"*✂️ Cut short for GitHub: the last {lines_left:,} of {total:,} lines ({chars:,} "
        "characters) are left out. `cilium-gitops diff` prints the whole report.*"
    )

r"""Printing a ``Review``: text for a terminal, JSON for scripts, Markdown for a pull request.

The last step of ``review`` (inputs -> flows -> diff -> risks -> formats). ``render`` takes the
review ``compare`` built and returns one string, with no trailing newline (``click.echo`` adds
one). Everything is in the review's own order, so output is a golden file in the tests. The
Markdown form lives in ``markdown``; ``wording`` holds the phrases all three share.

Text from the policy files (labels, paths, HTTP regexes) is never trusted to be printable: the
text format shows control characters as ``\xNN`` so a policy cannot move the cursor of the
terminal reading the review; JSON escapes them itself; ``markdown`` escapes for its contexts.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from reconciler.review import markdown, reachability_section
from reconciler.review.wording import (
    flow_line,
    granted_by,
    heading,
    l7_change,
    summary,
    visible,
)

if TYPE_CHECKING:
    from reconciler.review.compare import PolicyChange, Review
    from reconciler.review.flows import Flow, FlowChange, PolicyRef
    from reconciler.review.risks import Risk

Format = Literal["text", "json", "markdown"]
FORMATS: tuple[Format, ...] = ("text", "json", "markdown")
JSON_VERSION = 1
_MARK = {"added": "+", "removed": "-", "changed": "~"}


def render(review: Review, fmt: Format) -> str:
    """The review in format ``fmt`` (one of ``FORMATS``)."""
    if fmt == "text":
        return _text(review)
    if fmt == "json":
        return _json(review)
    if fmt == "markdown":
        return markdown.render(review)
    msg = f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}"
    raise ValueError(msg)


# -- text --------------------------------------------------------------------------------------


def _text(review: Review) -> str:
    if review.empty:
        return "No policy changes."
    lines = [summary(review), "", "Policies:"]
    for policy in review.policies:
        lines.append(f"  {policy.change} {policy.policy.display} ({_files(policy)})")
        lines.extend(f"      {field}" for field in policy.fields)
    if review.risks:
        lines += ["", "Risks:"]
        lines.extend(
            f"  ! {r.code}: {r.policy.display} {r.rule}: {r.message}" for r in review.risks
        )
    if review.reach is not None and reachability_section.shown(review.reach):
        lines += ["", *reachability_section.text_lines(review.reach)]
    if review.flows:
        lines += ["", "Connectivity:"]
    for namespace, changes in review.by_namespace():
        lines.append(f"  {heading(namespace)}")
        lines.extend(line for change in changes for line in _text_flow(change))
    if review.notes:
        lines += ["", "Notes:"]
        lines.extend(f"  {note}" for note in review.notes)
    # Line by line, so a newline inside a value shows as \x0a instead of forging a line.
    return "\n".join(visible(line) for line in lines)


def _text_flow(change: FlowChange) -> list[str]:
    l7 = l7_change(change)
    return [
        f"    {_MARK[change.change]} {flow_line(change)}" + (f" [{l7}]" if l7 else ""),
        f"        via {granted_by(change.grants)}",
    ]


def _files(change: PolicyChange) -> str:
    before, after = change.file_before, change.file_after
    if before and after and before != after:
        return f"{before} -> {after}"
    return str(after or before)


# -- json --------------------------------------------------------------------------------------


def _json(review: Review) -> str:
    document: dict[str, Any] = {
        "version": JSON_VERSION,
        "summary": {
            key: review.count(key)
            for key in ("created", "updated", "deleted", "added", "removed", "changed")
        }
        | {"risks": len(review.risks)},
        "policies": [_json_policy(change) for change in review.policies],
        "namespaces": [
            {
                "namespace": namespace,
                **{
                    kind: [_json_flow(c) for c in changes if c.change == kind]
                    for kind in ("added", "removed", "changed")
                },
            }
            for namespace, changes in review.by_namespace()
        ],
        "risks": [_json_risk(risk) for risk in review.risks],
        "notes": list(review.notes),
    }
    if review.reach is not None:
        document["reachability"] = reachability_section.json_value(review.reach)
    return json.dumps(document, indent=2, ensure_ascii=False)


def _ref(ref: PolicyRef) -> dict[str, Any]:
    return {"kind": ref.kind, "namespace": ref.namespace, "name": ref.name}


def _json_policy(change: PolicyChange) -> dict[str, Any]:
    return {
        "change": change.change,
        **_ref(change.policy),
        "file_before": change.file_before,
        "file_after": change.file_after,
        # Values as JSON values again; "op" tells an absent side from a null value.
        "fields": [
            {"op": f.op, "path": f.path, "old": _value(f.old), "new": _value(f.new)}
            for f in change.fields
        ],
    }


def _value(text: str | None) -> Any:  # noqa: ANN401 - any JSON value
    return None if text is None else json.loads(text)


def _json_flow(change: FlowChange) -> dict[str, Any]:
    flow = change.flow
    return {
        "subject": flow.subject,
        "direction": flow.direction,
        "verdict": flow.verdict,
        "peer": {"kind": flow.peer_kind, "text": flow.peer},
        "protocol": flow.protocol,
        "port": flow.port,
        "l7_before": list(change.l7_before),
        "l7_after": list(change.l7_after),
        "granted_before": [_grant(f) for f in change.before],
        "granted_after": [_grant(f) for f in change.after],
    }


def _grant(flow: Flow) -> dict[str, Any]:
    return {**_ref(flow.policy), "rule": flow.rule, "l7": list(flow.l7)}


def _json_risk(risk: Risk) -> dict[str, Any]:
    return {
        "code": risk.code,
        "namespace": risk.namespace,
        "policy": _ref(risk.policy),
        "rule": risk.rule,
        "message": risk.message,
    }

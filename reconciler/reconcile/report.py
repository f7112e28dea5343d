"""Plan and result -> text lines or JSON for people and CI. Pure: no I/O.

Sits at the very end of a pass, between ``passes`` and the commands' output. The text form is what a
reviewer reads in a terminal or CI log (and what the golden plan files pin); the JSON form is for
pipelines, with the same facts under stable keys.
"""

from __future__ import annotations

import json
import textwrap
from typing import TYPE_CHECKING, Any

from reconciler.reconcile.plan import Action, Plan
from reconciler.scrub import printable

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from reconciler.desired.record import Rejection
    from reconciler.reconcile.description import Proposal


def plan_lines(plan: Plan) -> list[str]:
    """One line per file the plan writes or deletes, then the summary line."""
    # Paths and ids can come from the tree (a file someone committed), so each is printable.
    lines = [
        f"{change.action.value:<7} {printable(change.path)}  [{printable(change.policy_id or '-')}]"
        f" {printable(change.reason)}"
        for change in plan.effective
    ]
    lines += [
        f"write   {printable(_kustomization(folder))}"
        for folder in sorted(plan.kustomization_writes)
    ]
    lines += [f"delete  {printable(_kustomization(f))}" for f in plan.kustomization_removals]
    lines.append(f"plan: {plan.summary}, {plan.count(Action.UNCHANGED)} unchanged")
    return lines


def rejection_lines(rejections: tuple[Rejection, ...]) -> list[str]:
    """``rejected: <policy id>: <field>: <reason>``, one per problem, in input order.

    Each line is one line: an id with a newline in it cannot forge a second ``rejected:`` line.
    """
    return [
        f"rejected: {printable(r.policy_id)}: {printable(r.field)}: {printable(r.reason)}"
        for r in rejections
    ]


def plan_json(
    plan: Plan, *, commit: str | None, dry_run: bool, rejections: tuple[Rejection, ...]
) -> dict[str, Any]:
    """The plan, its outcome and every rejection (input and placement) as a JSON-ready mapping."""
    return {
        "summary": plan.summary,
        "counts": {action.value: plan.count(action) for action in Action},
        "version": plan.version,
        "dry_run": dry_run,
        "commit": commit,
        # Made one at a time as ``json_text`` writes them: a cold sync lists 100,000.
        "changes": _Lazy(
            {
                "action": change.action.value,
                "path": change.path,
                "policy_id": change.policy_id,
                "reason": change.reason,
            }
            for change in plan.effective
        ),
        "kustomizations": {
            "written": [_kustomization(f) for f in sorted(plan.kustomization_writes)],
            "removed": [_kustomization(f) for f in plan.kustomization_removals],
        },
        "rejections": [
            {"policy_id": r.policy_id, "field": r.field, "reason": r.reason} for r in rejections
        ],
    }


def proposal_json(proposal: Proposal) -> dict[str, Any]:
    """What a pull-request-mode pass did to its branch, with the description it published."""
    description = proposal.description
    return {
        "branch": proposal.branch,
        "commit": proposal.commit,
        "pushed": proposal.pushed,
        "title": description.title if description else None,
        "body": description.body if description else None,
    }


def _kustomization(folder: str) -> str:
    return f"{folder}/kustomization.yaml" if folder else "kustomization.yaml"


class _Lazy:
    """A list of JSON values made only as ``json_text`` writes them out."""

    def __init__(self, items: Iterable[Any]) -> None:
        self.items = items


def json_text(data: dict[str, Any]) -> Iterator[str]:
    """``json.dumps(data, indent=2)`` in pieces, each ``_Lazy`` list item by item.

    The same text, without ever holding all of it or every item at once: the output of a
    100,000-file plan is tens of MB that the pass's peak of memory need not carry.
    """
    lazy = {key: value for key, value in data.items() if isinstance(value, _Lazy)}
    marks = {key: f"\0{key}\0" for key in lazy}
    head = json.dumps({k: marks.get(k, v) for k, v in data.items()}, indent=2)
    for key, value in lazy.items():
        before, _, head = head.partition(json.dumps(marks[key]))
        yield before
        first = True
        for item in value.items:
            yield ("[\n" if first else ",\n") + textwrap.indent(json.dumps(item, indent=2), "    ")
            first = False
        yield "[]" if first else "\n  ]"
    yield head

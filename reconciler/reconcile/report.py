"""Plan and result -> text lines or JSON for people and CI. Pure: no I/O.

Sits at the very end of a pass, between ``passes`` and the commands' output. The text form is what a
reviewer reads in a terminal or CI log (and what the golden plan files pin); the JSON form is for
pipelines, with the same facts under stable keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconciler.reconcile.plan import Action, Plan
from reconciler.scrub import printable

if TYPE_CHECKING:
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
        "changes": [
            {
                "action": change.action.value,
                "path": change.path,
                "policy_id": change.policy_id,
                "reason": change.reason,
            }
            for change in plan.effective
        ],
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

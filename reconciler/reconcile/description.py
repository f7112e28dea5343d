"""What a pass's commit and pull request say, from its plan and its review (pure).

``commit_message`` writes the commit message from the template, one line per change.

Sits between ``plan``/``review`` and ``gitops.branches`` in pull-request mode
(``--push-branch``): the pass has computed what it would commit, ``review.compare`` what that
does to traffic; this module writes what a reviewer reads first. The description says which
control-plane version and region asked for the change and on which commit of the watched
branch it was built, then the connectivity review (risks first, the Mermaid flow graph, the
flows by namespace, the field-level diff) and the files the commit changes. It is cut to
GitHub's limit for a pull-request body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.reconcile.plan import Action
from reconciler.scrub import printable

if TYPE_CHECKING:
    from collections.abc import Sequence

    from reconciler.reconcile.plan import Plan
    from reconciler.render.templates import Templates
    from reconciler.review import Review

_PAST_TENSE = {Action.CREATE: "created", Action.UPDATE: "updated", Action.DELETE: "deleted"}

# Marks a body as ours, so a workflow (or a person) can tell it from a hand-written one.
MARKER = "<!-- cilium-gitops:pull-request -->"


@dataclass(frozen=True, slots=True)
class Description:
    """A pull request's title and Markdown body."""

    title: str
    body: str

    @property
    def note(self) -> str:
        """The text of the note pushed with the branch: title, blank line, body."""
        return f"{self.title}\n\n{self.body}\n"

    @classmethod
    def from_note(cls, text: str) -> Description:
        """Read back what ``note`` wrote."""
        title, _, body = text.partition("\n\n")
        return cls(title.strip(), body.rstrip("\n"))


@dataclass(frozen=True, slots=True)
class Proposal:
    """What a pull-request-mode pass did to its branch."""

    branch: str
    commit: str | None  # the branch's commit after the pass; None when there is no branch
    pushed: bool  # the pass created, replaced or deleted the branch
    description: Description | None = None  # when the pass (re)published it


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a proposal comes from: the control plane's side and the watched branch's."""

    version: int
    region: str | None
    base_branch: str
    base_commit: str | None  # None: the watched branch does not exist yet


def describe(plan: Plan, review: Review, changes: Sequence[str], origin: Origin) -> Description:
    """The title and body for the pull request that proposes ``plan``.

    ``changes`` are the commit message's lines, one per file written or removed.
    """
    # The review's Markdown only here: the pass imports this module whether it proposes or not.
    from reconciler.review.markdown import (  # noqa: PLC0415
        GITHUB_COMMENT_LIMIT,
        cell,
        truncate,
    )
    from reconciler.review.markdown import render as review_markdown  # noqa: PLC0415

    where = f" for {origin.region}" if origin.region else ""
    title = f"Network policies{where}: {plan.summary} (control-plane version {origin.version})"
    risks = len(review.risks)
    if risks:
        title += f", {risks} {'risk' if risks == 1 else 'risks'} flagged"
    base = f"`{origin.base_branch}`"
    base += f" at `{origin.base_commit[:12]}`" if origin.base_commit else " (new branch)"
    lines = [
        MARKER,
        "| Proposal | |",
        "|---|---|",
        f"| Control-plane version | `{origin.version}` |",
        f"| Region | {cell(origin.region) if origin.region else 'all'} |",
        f"| Built on | {base} |",
        f"| Files | {plan.summary} |",
        "",
        review_markdown(review),
        "",
        f"<details><summary>Files in the commit ({len(changes)})</summary>",
        "",
        *_fenced(changes),
        "",
        "</details>",
        "",
        "---",
        (
            f"cilium-gitops rebuilds this branch on top of `{origin.base_branch}` whenever the "
            "control plane or the watched branch changes, so it always holds exactly the "
            "pending change: commits pushed to it by hand are replaced. Merging applies the "
            "change; if the control plane reverts it first, the branch is deleted and the pull "
            "request closes."
        ),
    ]
    return Description(title, truncate("\n".join(lines), GITHUB_COMMENT_LIMIT))


def _fenced(lines: Sequence[str]) -> list[str]:
    """``lines`` verbatim in a code block whose fence no line can close."""
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}text", *lines, fence]


def change_lines(plan: Plan) -> list[str]:
    """One line per file the plan writes or removes, for the commit message and the PR."""
    # Paths come from the tree too (folders someone committed): printable, so that no name can
    # forge a line of the message, such as a Control-Plane-Version trailer.
    lines = [
        f"- {_PAST_TENSE[c.action]} {printable(c.path)}"
        f" (policy {printable(c.policy_id or 'unknown')}): {printable(c.reason)}"
        for c in plan.effective
    ]
    lines += [
        f"- regenerated {printable(folder + '/' if folder else '')}kustomization.yaml"
        for folder in sorted(plan.kustomization_writes)
    ]
    lines += [
        f"- removed {printable(folder)}/kustomization.yaml"
        for folder in plan.kustomization_removals
    ]
    return lines


def commit_message(plan: Plan, templates: Templates, *, region: str | None) -> str:
    """The commit message from the template: a summary line and one line per change."""
    lines = change_lines(plan)
    return templates.commit_message.substitute(
        summary=plan.summary,
        changes="\n".join(lines),
        created=plan.count(Action.CREATE),
        updated=plan.count(Action.UPDATE),
        deleted=plan.count(Action.DELETE),
        version=plan.version,
        region=region or "",
    )

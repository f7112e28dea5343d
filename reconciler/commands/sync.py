"""``cilium-gitops sync`` and ``render``: one pass, then exit.

The one-shot commands cron jobs, CI pipelines and first-time users run. ``sync`` reads the
desired state once, runs ``reconcile.passes.reconcile`` in the workdir, and prints the plan and
what was committed (or proposed, in pull-request mode); ``render`` writes the tree into a folder
without git. Both print rejected policies on stderr and exit 3 when there are any.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler.commands.options import (
    EXIT_OK,
    EXIT_REJECTED,
    git_options,
    guard,
    option,
    source_options,
)
from reconciler.commands.wiring import (
    PassSetup,
    access,
    control_plane_token,
    limits,
    pass_setup,
)
from reconciler.errors import MassDeletionError
from reconciler.scrub import redact

if TYPE_CHECKING:
    from reconciler.desired.record import Admit, Rejection
    from reconciler.desired.state import DesiredState
    from reconciler.reconcile.description import Proposal
    from reconciler.reconcile.passes import SyncResult
    from reconciler.reconcile.plan import Plan


@click.command()
@source_options
@git_options
def sync(**kw: Any) -> None:  # noqa: ANN401 - click passes the options as keywords
    """Reconcile once: plan, commit and push the managed tree, then exit."""
    from reconciler.gitops import Workspace  # noqa: PLC0415 - see wiring's docstring
    from reconciler.reconcile.intake import read_first  # noqa: PLC0415
    from reconciler.reconcile.passes import reconcile  # noqa: PLC0415
    from reconciler.reconcile.plan import Plan  # noqa: PLC0415
    from reconciler.reconcile.sources import read_state  # noqa: PLC0415
    from reconciler.render.templates import load_templates  # noqa: PLC0415

    setup = pass_setup(kw)

    def run() -> tuple[DesiredState, SyncResult]:
        templates = load_templates(kw["templates"])
        read: list[DesiredState] = []

        def reader(admit: Admit) -> DesiredState:
            # Read by the pass once it has read the tree, so unchanged entries are skipped.
            state = read_state(
                kw["control_plane"],
                admit,
                region=kw["region"],
                limits=setup.options.limits,
                access=access(kw, setup.control_plane_token),
            )
            read.append(state)
            return state

        limits = setup.options.limits
        first = read_first(reader, templates, limits=limits, workdir=setup.workdir)
        with Workspace(setup.workdir, setup.settings) as workspace:
            try:
                result = reconcile(first, workspace, templates, setup.options)
            except MassDeletionError as exc:
                # What would have gone, before saying why nothing did (exit 4).
                if isinstance(exc.plan, Plan) and kw["output"] == "text":
                    print_plan(exc.plan, read[-1].rejections if read else ())
                raise
        return result.state or read[-1], result

    _report_sync(kw, setup, guard(run, secrets=setup.secrets))


def _report_sync(
    kw: dict[str, Any], setup: PassSetup, outcome: tuple[DesiredState, SyncResult]
) -> None:
    from reconciler.reconcile.report import plan_json, proposal_json  # noqa: PLC0415

    state, result = outcome
    plan, commit, proposal = result.plan, result.commit, result.proposal
    rejections = state.rejections + plan.rejections
    dry_run = setup.options.dry_run
    if kw["output"] == "json":
        data = plan_json(plan, commit=commit, dry_run=dry_run, rejections=rejections)
        if proposal is not None:
            data["pull_request"] = proposal_json(proposal)
        echo_json(data)
        sys.exit(EXIT_REJECTED if rejections else EXIT_OK)
    print_plan(plan, rejections)
    target = f"{kw['branch']} of {redact(kw['repo'], setup.settings.secrets)}"
    if dry_run:
        click.echo(f"dry run: nothing written; {plan.summary}")
    elif proposal is not None:
        click.echo(_proposal_line(proposal, target, plan))
    elif commit is None:
        click.echo(f"up to date: {target} already matches version {plan.version}")
    else:
        click.echo(f"committed {commit[:12]} to {target}: {plan.summary}")
    sys.exit(EXIT_REJECTED if rejections else EXIT_OK)


def _proposal_line(proposal: Proposal, target: str, plan: Plan) -> str:
    if proposal.description is not None and proposal.commit is not None:
        return (
            f"proposed {proposal.commit[:12]} on {proposal.branch} for {target}: {plan.summary}\n"
            f"pull request: {proposal.description.title}"
        )
    if proposal.commit is not None:
        return (
            f"up to date: {proposal.branch} already proposes this change ({proposal.commit[:12]})"
        )
    if proposal.pushed:
        return f"nothing pending against {target}: deleted {proposal.branch}"
    return f"up to date: {target} already matches version {plan.version}; no pull request"


@click.command()
@source_options
@option(
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write the managed tree into (no git).",
)
def render(**kw: Any) -> None:  # noqa: ANN401 - click passes the options as keywords
    """Write the managed tree for the desired state into a folder, without git."""
    from reconciler.reconcile.passes import render_only  # noqa: PLC0415 - see wiring
    from reconciler.reconcile.report import plan_json  # noqa: PLC0415
    from reconciler.reconcile.sources import read_state  # noqa: PLC0415
    from reconciler.render.admission import Admission  # noqa: PLC0415
    from reconciler.render.manifest import Renderer  # noqa: PLC0415
    from reconciler.render.templates import load_templates  # noqa: PLC0415

    cp_token = control_plane_token(kw)

    def run() -> tuple[DesiredState, Plan]:
        templates = load_templates(kw["templates"])
        bounds = limits(kw)
        admit = Admission(Renderer(templates, max_bytes=bounds.policy_bytes))
        state = read_state(
            kw["control_plane"],
            admit,
            region=kw["region"],
            limits=bounds,
            access=access(kw, cp_token),
        )
        kw["out"].mkdir(parents=True, exist_ok=True)
        return state, render_only(state, kw["out"])

    state, plan = guard(run, secrets=(cp_token,) if cp_token else ())
    rejections = state.rejections + plan.rejections
    if kw["output"] == "json":
        echo_json(plan_json(plan, commit=None, dry_run=False, rejections=rejections))
    else:
        print_plan(plan, rejections)
        click.echo(f"rendered into {kw['out']}")
    sys.exit(EXIT_REJECTED if rejections else EXIT_OK)


def print_plan(plan: Plan, rejections: tuple[Rejection, ...]) -> None:
    """The plan on stdout, one line per file, and the rejections on stderr."""
    from reconciler.reconcile.report import plan_lines, rejection_lines  # noqa: PLC0415

    for line in plan_lines(plan):
        click.echo(line)
    for line in rejection_lines(rejections):
        click.echo(line, err=True)


def echo_json(data: dict[str, Any]) -> None:
    """Print ``data`` as indented JSON, written in pieces of about 64 KiB (``report.json_text``)."""
    from reconciler.reconcile.report import json_text  # noqa: PLC0415 - see wiring

    buffered: list[str] = []
    size = 0
    for piece in json_text(data):
        buffered.append(piece)
        size += len(piece)
        if size >= 1 << 16:
            click.echo("".join(buffered), nl=False)
            buffered, size = [], 0
    click.echo("".join(buffered))

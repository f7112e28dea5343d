"""The ``cilium-gitops`` command group: global options, and every command added to it.

The front door. Each command lives in a module of its own in this package, thin over the
package that does its work; this module only gathers them, applies ``--config`` (a YAML file of
option values) and ``-v`` to all of them, and is the console script's entry point.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from reconciler import __version__
from reconciler.commands.control_plane import control_plane
from reconciler.commands.demo import demo
from reconciler.commands.diff import diff, explain
from reconciler.commands.history import history
from reconciler.commands.options import env_var, guard, load_config
from reconciler.commands.policy_test import policy_test
from reconciler.commands.replay import replay
from reconciler.commands.run import run_service
from reconciler.commands.sync import render, sync
from reconciler.commands.validation import validate
from reconciler.service.logs import configure


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar=env_var("config"),
    show_envvar=True,
    help="YAML file of option values (keys are option names, e.g. 'repo: URL').",
)
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.version_option(__version__, prog_name="cilium-gitops")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, verbose: int) -> None:
    """Keep a GitOps repository's CiliumNetworkPolicies in step with a control plane."""
    level = logging.WARNING - 10 * min(verbose, 2)
    configure(level)
    if config is None:
        return
    known = {p.name for command in cli.commands.values() for p in command.params if p.name}
    values = guard(lambda: load_config(config, known))
    ctx.default_map = {
        name: {p.name: values[p.name] for p in command.params if p.name in values}
        for name, command in cli.commands.items()
    }


for _command in (
    sync,
    render,
    run_service,
    demo,
    control_plane,
    validate,
    history,
    diff,
    explain,
    policy_test,
    replay,
):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="cilium-gitops")

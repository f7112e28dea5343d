"""``cilium-gitops demo``: the whole flow, offline, on a temporary local remote.

Thin: the script itself is ``walkthrough``, imported when the command runs (it loads every
package, gRPC and git included, which the other commands must not pay for at start-up).
"""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.commands.options import guard


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to put the demo's repositories [default: a new temporary folder].",
)
def demo(directory: Path | None) -> None:
    """Run the whole flow on a local bare remote seeded from the sample repository."""
    from reconciler.commands.walkthrough import run_demo  # noqa: PLC0415 - see the docstring

    guard(lambda: run_demo(directory, click.echo))

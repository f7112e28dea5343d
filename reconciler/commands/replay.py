"""``cilium-gitops replay --flows FILE BASE [HEAD]``: which recorded traffic a change would drop.

A command module beside ``diff``: it reads Hubble's flow lines (``hubble observe -o jsonpb``,
a file or ``-`` for standard input) and one or two sides of the policies (git revisions
through ``gitops.files_at``, or folders), and hands them to the pure ``verdicts`` package:
``hubble.tally`` counts the distinct flows, ``replaying.compare`` (or ``fidelity`` with one
side) evaluates them, ``replay_formats`` prints the result. A large file is read by worker
processes, each tallying a share of its lines, the parent included.

Exit codes: 0 done; 1 with ``--fail-on-new-denies`` when the change newly denies a flow that
was seen; 2 bad input (a revision, a line that is not JSON, a policy file that is not YAML).
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from reconciler.commands.diff import read_folder, warn_skipped
from reconciler.commands.history import checkout_option
from reconciler.commands.options import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, fail
from reconciler.commands.policy_test import agent_options, engine_options
from reconciler.desired.names import DEFAULT_PATH
from reconciler.errors import CiliumGitopsError
from reconciler.validate.formats import write_report

if TYPE_CHECKING:
    from reconciler.verdicts.engine import Engine, Options
    from reconciler.verdicts.hubble import Observed
    from reconciler.verdicts.replay_formats import Format

# Below this size one process reads faster than starting workers.
PARALLEL_BYTES = 32 * 1024 * 1024


def policies_at(value: str, checkout: Path, managed: str) -> dict[str, bytes]:
    """The policy files of one side: a folder on disk, or ``managed`` at a git revision.

    What is not read (links out of the folder, non-files, oversized files) is warned about.
    """
    skipped: list[str] = []
    if Path(value).is_dir():
        found = read_folder(Path(value), skipped)
    else:
        from reconciler.gitops import files_at  # noqa: PLC0415 - GitPython only when used

        found = files_at(checkout, value, managed, skipped=skipped)
    warn_skipped(skipped)
    return found


def _engine(value: str, checkout: Path, managed: str, options: Options) -> Engine:
    from reconciler.verdicts.policy_files import engine_for  # noqa: PLC0415 - on demand

    return engine_for(policies_at(value, checkout, managed), options)


def tally_range(path: str, start: int, end: int) -> tuple[Counter[Observed], int, int]:
    """Distinct flows of the lines that start in ``[start, end)`` of a file; lines, skipped."""
    from reconciler.verdicts.hubble import tally  # noqa: PLC0415 - in a worker too

    with open(path, "rb") as handle:  # noqa: PTH123 - a str path, as workers get it
        if start:
            handle.seek(start - 1)
            handle.readline()  # the rest of a line that started before this share
        lines: list[bytes] = []
        while handle.tell() < end:
            line = handle.readline()
            if not line:
                break
            lines.append(line)
    counts, skipped = tally(lines)
    return counts, len(lines), skipped


def read_flows(flows: str, workers: int) -> tuple[Counter[Observed], int, int]:
    """Every distinct flow of a file (or ``-``), with the numbers of lines and skipped lines."""
    from reconciler.verdicts.hubble import tally  # noqa: PLC0415

    if flows == "-":
        lines = sys.stdin.buffer.readlines()
        counts, skipped = tally(lines)
        return counts, len(lines), skipped
    size = Path(flows).stat().st_size
    if workers <= 1 or size < PARALLEL_BYTES:
        return tally_range(flows, 0, size)
    from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415

    bounds = [size * i // workers for i in range(workers + 1)]
    total: Counter[Observed] = Counter()
    lines = skipped = 0
    with ProcessPoolExecutor(workers - 1) as pool:
        futures = [
            pool.submit(tally_range, flows, bounds[i], bounds[i + 1]) for i in range(1, workers)
        ]
        parts = [tally_range(flows, bounds[0], bounds[1]), *(f.result() for f in futures)]
    for counts, count, skip in parts:
        total.update(counts)
        lines += count
        skipped += skip
    return total, lines, skipped


@click.command("replay")
@click.argument("base")
@click.argument("head", required=False)
@click.option(
    "--flows",
    required=True,
    metavar="FILE",
    help="Hubble flows, one JSON object a line (hubble observe -o jsonpb), or - for stdin.",
)
@checkout_option("The repository BASE and HEAD are revisions of (unless they are folders).")
@click.option(
    "--path", "managed", default=DEFAULT_PATH, show_default=True, help="The policy folder."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write the report to this file instead of standard output.",
)
@click.option(
    "--fail-on-new-denies", is_flag=True, help="Exit 1 when the change denies a recorded flow."
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Flows shown per group in text and markdown (json lists all).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Processes reading the flow file [default: the number of CPUs].",
)
@agent_options
def replay(base: str, head: str | None, **kw: Any) -> None:  # noqa: ANN401 - click's keywords
    """Replay recorded Hubble flows under BASE and HEAD (git revisions, or two folders).

    Lists the flows whose verdict the change flips, newly denied first (with how often they
    were seen and the rule that used to allow them), grouped by namespace. With BASE alone,
    lists where the model disagrees with the verdict Hubble recorded: a measure of the
    model's fidelity, and a way to find policies that were never applied.
    """
    from reconciler.verdicts import replay_formats, replaying  # noqa: PLC0415 - on demand

    checkout: Path = kw["checkout"]
    fmt = cast("Format", kw["fmt"])
    try:
        counts, lines, skipped = read_flows(kw["flows"], kw["workers"] or os.cpu_count() or 1)
        options = engine_options(
            kw["policy_enforcement"], kw["allow_localhost"], kw["host_firewall"]
        )
        before = _engine(base, checkout, kw["managed"], options)
        after = _engine(head, checkout, kw["managed"], options) if head is not None else None
    except (CiliumGitopsError, OSError, ValueError) as exc:
        fail(EXIT_USAGE, str(exc))
    if after is None:
        result = replaying.fidelity(counts, before, lines=lines, skipped=skipped)
        text = replay_formats.render_fidelity(result, fmt, revision=base, limit=kw["limit"])
        write_report(text, kw["output"])
        sys.exit(EXIT_OK)
    compared = replaying.compare(counts, before, after, lines=lines, skipped=skipped)
    text = replay_formats.render_replay(
        compared, fmt, revisions=(base, cast("str", head)), limit=kw["limit"]
    )
    write_report(text, kw["output"])
    denied = bool(compared.of("newly denied"))
    sys.exit(EXIT_FAILURE if kw["fail_on_new_denies"] and denied else EXIT_OK)

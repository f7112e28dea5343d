"""``cilium-gitops test TESTS... --policies DIR``: policy unit tests for CI, thin over ``verdicts``.

A command module beside ``validation`` and ``diff``: it reads the PolicyTest files and the
policy folders from disk, hands their contents to the pure ``verdicts`` package (``sources``
finds the policies, ``policytest`` reads the tests and runs them on the ``engine``), and prints
``policytest_formats.render``. The exit code is what CI acts on: 0 when every flow gets the
verdict its test expects, 1 when any does not (or cannot be decided), 2 when the input is bad
(an unreadable file, an unknown endpoint, a bad port), with the reason on stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from reconciler.commands.diff import read_folder, warn_skipped
from reconciler.commands.options import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, fail
from reconciler.desired.names import DEFAULT_PATH
from reconciler.errors import CiliumGitopsError
from reconciler.validate.documents import UnreadableError, read
from reconciler.validate.formats import write_report

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from reconciler.verdicts.engine import Options
    from reconciler.verdicts.policytest_formats import Format

F = TypeVar("F", bound="Callable[..., Any]")


def agent_options(func: F) -> F:
    """The agent settings that change verdicts, as ``test`` and ``replay`` take them."""
    func = click.option(
        "--policy-enforcement",
        type=click.Choice(["default", "always", "never"]),
        default="default",
        show_default=True,
        help="The cluster's policyEnforcementMode (enable-policy).",
    )(func)
    func = click.option(
        "--allow-localhost/--no-allow-localhost",
        default=True,
        show_default=True,
        help="Whether a pod's own node always reaches it (--allow-localhost auto/always; "
        "no for 'policy').",
    )(func)
    return click.option(
        "--host-firewall",
        type=click.Choice(["auto", "on", "off"]),
        default="auto",
        show_default=True,
        help="Whether host policies are enforced; auto: when the tree has any.",
    )(func)


def engine_options(policy_enforcement: str, allow_localhost: bool, host_firewall: str) -> Options:
    """The engine's ``Options`` from ``agent_options``' values."""
    from reconciler.verdicts.engine import Options  # noqa: PLC0415 - the engine on demand

    firewall = {"auto": None, "on": True, "off": False}[host_firewall]
    if policy_enforcement == "always":
        return Options("always", allow_localhost, firewall)
    if policy_enforcement == "never":
        return Options("never", allow_localhost, firewall)
    return Options("default", allow_localhost, firewall)


def read_paths(paths: Iterable[Path]) -> dict[str, bytes]:
    """Files named, and every file under folders named, by path as the user gave it.

    As ``diff`` reads: FIFOs, devices, sockets and links out of a folder are warned about on
    stderr and never read.
    """
    found: dict[str, bytes] = {}
    skipped: list[str] = []
    for path in paths:
        if path.is_dir():
            for relative, content in read_folder(path, skipped).items():
                found[(path / relative).as_posix()] = content
        else:
            try:
                found[path.as_posix()] = read(path)
            except UnreadableError as exc:
                skipped.append(f"{path.as_posix()}: {exc}")
    warn_skipped(skipped)
    return found


@click.command("test")
@click.argument("tests", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--policies",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    default=(DEFAULT_PATH,),
    show_default=True,
    help="A folder (or file) of CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy and "
    "NetworkPolicy files; repeat it for more.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "junit", "github"]),
    default="text",
    show_default=True,
    help="text for people, json for tools, junit for test reports, github for annotations.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write the report to this file instead of standard output.",
)
@agent_options
def policy_test(
    tests: tuple[Path, ...],
    policies: tuple[Path, ...],
    fmt: str,
    output: Path | None,
    **agent: Any,  # noqa: ANN401 - agent_options' values
) -> None:
    """Evaluate the flows of PolicyTest files against the policies, as Cilium would enforce them.

    TESTS are PolicyTest files, or folders of them. Each flow passes when the verdict (allow or
    deny, end to end: the source's egress and the destination's ingress) is the one it
    expects; every flow is printed with its verdict and the rule that decided it.
    """
    from reconciler.verdicts import policytest_formats  # noqa: PLC0415 - the engine on demand
    from reconciler.verdicts.policy_files import documents, engine_for  # noqa: PLC0415
    from reconciler.verdicts.policytest import is_test, read_test, run  # noqa: PLC0415

    try:
        engine = engine_for(read_paths(policies), engine_options(**agent))
        found = [read_test(doc, path) for path, doc in documents(read_paths(tests)) if is_test(doc)]
    except (CiliumGitopsError, OSError) as exc:
        fail(EXIT_USAGE, str(exc))
    if not found:
        fail(EXIT_USAGE, f"no PolicyTest document in {', '.join(str(t) for t in tests)}")
    outcomes = run(found, engine)
    format_ = cast_format(fmt)
    write_report(policytest_formats.render(outcomes, format_, tests=len(found)), output)
    sys.exit(EXIT_OK if all(o.passed for o in outcomes) else EXIT_FAILURE)


def cast_format(fmt: str) -> Format:
    """The format name click checked, typed."""
    from reconciler.verdicts.policytest_formats import FORMATS  # noqa: PLC0415

    for known in FORMATS:
        if known == fmt:
            return known
    msg = f"unknown format {fmt!r}"
    raise click.BadParameter(msg, param_hint="--format")

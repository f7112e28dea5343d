"""``cilium-gitops validate PATH...``: the command line of the validator.

Thin, like every command module: options become ``runner.Settings``, ``runner.run`` does the
work, ``formats.render`` prints it, and the exit code says what CI should do: 0 clean, 1
findings at or above ``--fail-on``, 2 the tool could not run (a file unreadable or not YAML).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler import __version__
from reconciler.validate.findings import Severity
from reconciler.validate.formats import FORMATS, render, write_report
from reconciler.validate.runner import Settings, run
from reconciler.validate.semantics import AgentFlags
from reconciler.validate.structure import DEFAULT_VERSION, VERSIONS

if TYPE_CHECKING:
    from collections.abc import Callable

_SEVERITIES = {severity.label: severity for severity in Severity}


@click.command("validate")
# Paths stay str: converting 10,000 of them to Path costs more than checking a small file.
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--cilium-version",
    type=click.Choice(VERSIONS),
    default=DEFAULT_VERSION,
    show_default=True,
    help="The Cilium release whose CRD schema and rules apply.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text for people, json for tools, junit and sarif for CI, github for annotations.",
)
@click.option(
    "--fail-on",
    type=click.Choice(list(_SEVERITIES)),
    default="error",
    show_default=True,
    help="Exit 1 when a finding is at least this severe.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write the report to this file instead of standard output (e.g. results.sarif).",
)
@click.option(
    "--enable-node-selector-labels",
    is_flag=True,
    help="The agent runs with this flag: fromNodes/toNodes are allowed.",
)
@click.option(
    "--enable-extended-ip-protocols",
    is_flag=True,
    help="The agent runs with this flag: protocols such as VRRP, GRE, ESP are allowed.",
)
@click.option(
    "--mesh-auth-mutual-enabled",
    is_flag=True,
    help="The agent runs with mutual authentication: authentication.mode is allowed.",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes for large inputs (default: one per CPU).",
)
@click.option(
    "--color/--no-color",
    default=None,
    help="Colour the text report (default: when writing to a terminal).",
)
def validate(paths: tuple[str, ...], **kw: Any) -> None:  # noqa: ANN401 - click's keywords
    """Check CiliumNetworkPolicy files and folders offline, before Flux applies them.

    Folders are searched for .yaml, .yml and .json files and also get the repository checks
    (kustomization listings, managed files, duplicates).
    """
    flags = AgentFlags(
        node_selector_labels=kw["enable_node_selector_labels"],
        extended_ip_protocols=kw["enable_extended_ip_protocols"],
        mutual_auth=kw["mesh_auth_mutual_enabled"],
    )
    settings = Settings(kw["cilium_version"], flags, history=committed_version)
    report = run(list(paths), settings, workers=kw["jobs"])
    fmt: str = kw["fmt"]
    output: Path | None = kw["output"]
    color: bool | None = kw["color"]
    use_color = color if color is not None else (output is None and sys.stdout.isatty())
    text = render(
        report.findings,
        fmt,
        files_checked=len(report.files),
        policies_checked=report.policies,
        color=use_color and fmt == "text",
        tool_version=__version__,
        files=report.files,
    )
    write_report(text, output)
    if report.unreadable:
        sys.exit(2)
    threshold = _SEVERITIES[kw["fail_on"]]
    sys.exit(1 if any(f.severity >= threshold for f in report.findings) else 0)


def committed_version(path: Path, accept: Callable[[bytes], bool]) -> tuple[str, bytes] | None:
    """The newest committed content of ``path`` that ``accept`` takes (a hand edit's "before").

    GitPython is imported here, when a hand edit is found, not when ``validate`` starts: CI runs
    it once per job, and most runs find none.
    """
    from reconciler.gitops.log import last_version  # noqa: PLC0415 - see the docstring

    return last_version(path, accept)

"""``cilium-gitops history POLICY``: provenance, from a manifest to the control-plane change.

An edge command for auditors, beside ``validate``: it names the policy's file in the managed
tree (from ``namespace/name``, a clusterwide ``name``, or the file's path), asks ``gitops`` for
the commits that changed it, and prints each with the control-plane versions and region its
trailers record (``Control-Plane-Version``, ``Control-Plane-Region``), newest first.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from reconciler.desired.names import CLUSTER_FOLDER, DEFAULT_PATH
from reconciler.errors import ConfigError
from reconciler.scrub import printable

if TYPE_CHECKING:
    from collections.abc import Callable

F = TypeVar("F", bound="Callable[..., Any]")

# DNS-1123, as the renderer requires of names and namespaces: nothing here can climb out of the
# managed folder.
_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


def policy_file(policy: str, managed: str) -> str:
    """The repository path of a policy given as ``namespace/name``, ``name`` or a file path."""
    if policy.endswith((".yaml", ".yml")):
        return Path(policy).as_posix().removeprefix("./")
    namespace, _, name = policy.rpartition("/")
    for part in (namespace or CLUSTER_FOLDER, name):
        if part != CLUSTER_FOLDER and not _NAME.fullmatch(part):
            msg = f"{policy!r} is not namespace/name, a clusterwide name, or a .yaml path"
            raise ConfigError(msg)
    return f"{managed.strip('/')}/{namespace or CLUSTER_FOLDER}/{name}.yaml"


def checkout_option(help: str) -> Callable[[F], F]:  # noqa: A002 - click's word
    """``--repo DIR``: the clone the review commands read (the working folder by default)."""
    return click.option(
        "--repo",
        "checkout",
        type=click.Path(file_okay=False, exists=True, path_type=Path),
        default=Path(),
        show_default=True,
        help=help,
    )


@click.command("history")
@click.argument("policy")
@checkout_option("A clone of the GitOps repository.")
@click.option("--revision", default="HEAD", show_default=True, help="Where to start from.")
@click.option(
    "--path",
    "managed",
    default=DEFAULT_PATH,
    show_default=True,
    help="The managed folder in the repository.",
)
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def history(policy: str, checkout: Path, revision: str, managed: str, output: str) -> None:
    """List the commits that changed POLICY, with the control-plane versions they reflect.

    POLICY is namespace/name, the name of a clusterwide policy, or the file's path in the
    repository.
    """
    from reconciler.gitops import changes_to  # noqa: PLC0415 - GitPython only when used

    try:
        path = policy_file(policy, managed)
        changes = changes_to(checkout, path, revision)
    except ConfigError as exc:
        raise click.UsageError(printable(str(exc))) from None
    if output == "json":
        click.echo(json.dumps({"file": path, "changes": [asdict(c) for c in changes]}, indent=2))
        return
    if not changes:
        click.echo(printable(f"no commit on {revision} changed {path}"))
        return
    # Commit subjects and authors are anyone's text: shown, never obeyed by the terminal.
    click.echo(printable(f"{path}: {len(changes)} commit(s), newest first"))
    for change in changes:
        versions = ", ".join(str(v) for v in change.versions) or "none recorded"
        region = f", region {change.region}" if change.region else ""
        click.echo(
            printable(
                f"{change.commit[:12]}  {change.date}  control-plane version {versions}{region}"
            )
        )
        click.echo(f"    {printable(change.subject)}  ({printable(change.author)})")

"""``cilium-gitops diff`` and ``explain``: the review commands, thin over ``reconciler.review``.

An edge beside ``validate`` and ``history``: it reads the two sides of a change (two git
revisions through ``gitops.files_at``, or two folders from disk), hands them to the pure
``review.compare``, and prints ``review.formats.render``. ``explain`` reads one policy file,
or finds a policy by ``namespace/name`` in the managed folder, and prints ``review.explain``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from reconciler.config import DEFAULT_PATH
from reconciler.errors import CiliumGitopsError
from reconciler.history import checkout_option, policy_file
from reconciler.validate.documents import MAX_FILE_BYTES
from reconciler.validate.formats import write_report

if TYPE_CHECKING:
    from reconciler.review.formats import Format


def read_folder(folder: Path) -> dict[str, bytes]:
    """Every regular file below ``folder``, by relative path; links are not followed."""
    found: dict[str, bytes] = {}
    for current, folders, files in os.walk(folder, followlinks=False):
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        for name in files:
            path = Path(current) / name
            if path.is_symlink() or path.stat().st_size > MAX_FILE_BYTES:
                continue
            found[path.relative_to(folder).as_posix()] = path.read_bytes()
    return found


def _side(value: str, checkout: Path, managed: str) -> dict[str, bytes]:
    if Path(value).is_dir():
        return read_folder(Path(value))
    from reconciler.gitops import files_at  # noqa: PLC0415 - GitPython only when used

    return files_at(checkout, value, managed)


@click.command("diff")
@click.argument("base")
@click.argument("head")
@checkout_option("The repository BASE and HEAD are revisions of (unless they are folders).")
@click.option(
    "--path",
    "managed",
    default=DEFAULT_PATH,
    show_default=True,
    help="The folder of the repository to compare.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="markdown is a pull-request comment with a Mermaid flow graph.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write the report to this file instead of standard output.",
)
@click.option("--fail-on-risk", is_flag=True, help="Exit 1 when the change raises a risk flag.")
def diff(base: str, head: str, **kw: Any) -> None:  # noqa: ANN401 - click's keywords
    """What a change does to traffic, from BASE to HEAD (git revisions, or two folders).

    Lists the policies created, updated and deleted (field by field), the flows added, removed
    and changed (grouped by namespace, each naming the policy and rule that grants it), and risk
    flags: new ingress from the world, a lost default deny, a selector widened to every pod,
    L7 filtering removed, a deny rule removed.
    """
    from reconciler.review.diff import compare  # noqa: PLC0415 - the review code on demand
    from reconciler.review.formats import render  # noqa: PLC0415

    checkout: Path = kw["checkout"]
    try:
        review = compare(_side(base, checkout, kw["managed"]), _side(head, checkout, kw["managed"]))
    except CiliumGitopsError as exc:
        raise click.UsageError(str(exc)) from None
    text = render(review, cast("Format", kw["fmt"]))
    output: Path | None = kw["output"]
    write_report(text, output)
    sys.exit(1 if kw["fail_on_risk"] and review.risks else 0)


@click.command("explain")
@click.argument("policy")
@checkout_option("Where to look for namespace/name (the managed folder under it).")
@click.option("--path", "managed", default=DEFAULT_PATH, show_default=True)
def explain(policy: str, checkout: Path, managed: str) -> None:
    """What one policy allows and denies, in sentences to check against intent.

    POLICY is a policy file, or namespace/name (a clusterwide name) in the managed folder.
    """
    from reconciler.review.explain import explain as sentences  # noqa: PLC0415
    from reconciler.review.inputs import load  # noqa: PLC0415

    path = Path(policy) if Path(policy).is_file() else None
    try:
        if path is None:
            path = checkout / policy_file(policy, managed)
            if not path.is_file():
                msg = f"no policy file {path}"
                raise click.UsageError(msg)
        policies = load({path.as_posix(): path.read_bytes()})
    except CiliumGitopsError as exc:
        raise click.UsageError(str(exc)) from None
    if not policies:
        msg = f"{path} holds no CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy"
        raise click.UsageError(msg)
    for found in policies.values():
        click.echo(f"{found.file}: {found.ref.display}")
        for sentence in sentences(found.data):
            click.echo(f"  - {sentence}")

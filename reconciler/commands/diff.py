"""``cilium-gitops diff`` and ``explain``: the review commands, thin over ``reconciler.review``.

A command module beside ``validation`` and ``history``: it reads the two sides of a change (two git
revisions through ``gitops.files_at``, or two folders from disk), hands them to the pure
``review.compare``, and prints ``review.formats.render``; the Markdown comment can carry the
summary of a ``validate`` JSON report (``--validation``) and is cut to GitHub's limit last.
``explain`` reads one policy file, or finds a policy by ``namespace/name`` in the managed
folder, and prints ``review.explain``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from reconciler.commands.history import checkout_option, policy_file
from reconciler.desired.names import DEFAULT_PATH
from reconciler.errors import CiliumGitopsError
from reconciler.scrub import printable
from reconciler.validate.documents import UnreadableError, read
from reconciler.validate.formats import write_report

if TYPE_CHECKING:
    from reconciler.review.compare import Review
    from reconciler.review.output import Format


def read_folder(folder: Path, skipped: list[str]) -> dict[str, bytes]:
    """Every regular file below ``folder``, by relative path.

    Links are not followed; links out of the folder, FIFOs, devices, sockets and files over the
    size limit are added to ``skipped`` (``path: why``) and never read.
    """
    found: dict[str, bytes] = {}
    for relative, path in _files(folder, skipped):
        try:
            found[relative] = read(path)
        except UnreadableError as exc:
            skipped.append(f"{relative}: {exc}")
    return found


def _files(folder: Path, skipped: list[str]) -> list[tuple[str, Path]]:
    root = folder.resolve()
    files: list[tuple[str, Path]] = []
    for current, folders, names in os.walk(folder, followlinks=False):
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        for name in sorted(names):
            path = Path(current) / name
            relative = path.relative_to(folder).as_posix()
            if path.is_symlink():
                # A link to a file of the folder is that file, compared on its own.
                if not path.resolve().is_relative_to(root):
                    skipped.append(f"{relative}: a symlink to outside the folder: not followed")
                continue
            files.append((relative, path))
    return files


def _side(value: str, checkout: Path, managed: str, skipped: list[str]) -> dict[str, bytes]:
    if Path(value).is_dir():
        return read_folder(Path(value), skipped)
    from reconciler.gitops import files_at  # noqa: PLC0415 - GitPython only when used

    return files_at(checkout, value, managed, skipped=skipped)


def warn_skipped(skipped: list[str]) -> None:
    """One ``warning: skipped ...`` line per path that was not read, on stderr."""
    for entry in skipped:
        click.echo(f"warning: skipped {printable(entry)}", err=True)


def _tree(value: str, checkout: Path, skipped: list[str]) -> dict[str, bytes]:
    """The whole repository at a revision (its workloads and all its policies), or the folder."""
    if Path(value).is_dir():
        return read_folder(Path(value), skipped)
    from reconciler.gitops import files_at  # noqa: PLC0415 - GitPython only when used

    return files_at(checkout, value, "", skipped=skipped)


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
@click.option(
    "--validation",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A `validate --format json` report to sum up after the summary (markdown only).",
)
@click.option(
    "--max-length",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="Cut the markdown at a line boundary to at most N characters, with a note (default "
    "65536, GitHub's limit for a comment; 0: no limit). text and json are never cut.",
)
def diff(base: str, head: str, **kw: Any) -> None:  # noqa: ANN401 - click's keywords
    """What a change does to traffic, from BASE to HEAD (git revisions, or two folders).

    Lists the policies created, updated and deleted (field by field), the flows added, removed
    and changed (grouped by namespace, each naming the policy and rule that grants it), and risk
    flags: new ingress from the world, a lost default deny, a selector widened to every pod,
    L7 filtering removed, a deny rule removed.
    """
    from reconciler.review.compare import compare  # noqa: PLC0415 - the review code on demand
    from reconciler.review.output import render  # noqa: PLC0415

    checkout: Path = kw["checkout"]
    skipped: list[str] = []
    try:
        before = _side(base, checkout, kw["managed"], skipped)
        after = _side(head, checkout, kw["managed"], skipped)
        # The reachability section reads the workloads too: the whole repository's files. What
        # it skips is warned about once, with the managed folder's.
        whole: list[str] = []
        trees = (_tree(base, checkout, whole), _tree(head, checkout, whole))
        review = compare(before, after, trees=trees)
    except CiliumGitopsError as exc:
        raise click.UsageError(printable(str(exc))) from None
    warn_skipped(skipped)
    fmt = cast("Format", kw["fmt"])
    if fmt == "markdown":
        text = _comment(review, kw["validation"], kw["max_length"])
    else:
        text = render(review, fmt)
    output: Path | None = kw["output"]
    write_report(text, output)
    sys.exit(1 if kw["fail_on_risk"] and review.risks else 0)


def _comment(review: Review, validation: Path | None, max_length: int | None) -> str:
    """The Markdown comment: the review, the validation section, then the cut to the limit."""
    from reconciler.review import markdown  # noqa: PLC0415 - the review code on demand
    from reconciler.review.validation_summary import section  # noqa: PLC0415

    limit = markdown.GITHUB_COMMENT_LIMIT if max_length is None else max_length
    if 0 < limit <= markdown.MIN_LIMIT:
        msg = f"0 (no limit) or more than {markdown.MIN_LIMIT}: the note must fit"
        raise click.BadParameter(msg, param_hint="--max-length")
    lines: list[str] = []
    if validation is not None:
        try:
            lines = section(json.loads(validation.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:  # unreadable, not JSON, or not a report
            raise click.BadParameter(f"{validation}: {exc}", param_hint="--validation") from None
    text = markdown.render(review, validation=lines)
    # Last, on the whole comment; one character is kept for the newline the file ends with.
    return markdown.truncate(text, limit - 1) if limit else text


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

    path = Path(policy) if os.path.lexists(policy) else None
    try:
        if path is None:
            path = checkout / policy_file(policy, managed)
            # Within the clone: a link out of it is refused, not followed.
            if path.is_symlink() and not path.resolve().is_relative_to(checkout.resolve()):
                msg = f"{path}: a symlink to outside the clone: not followed"
                raise click.UsageError(printable(msg))
            if not os.path.lexists(path):
                msg = f"no policy file {path}"
                raise click.UsageError(printable(msg))
        policies = load({path.as_posix(): read(path)})
    except (CiliumGitopsError, UnreadableError) as exc:
        raise click.UsageError(printable(f"{path}: {exc}")) from None
    if not policies:
        msg = f"{path} holds no CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy"
        raise click.UsageError(printable(msg))
    for found in policies.values():
        click.echo(printable(f"{found.file}: {found.ref.display}"))
        for sentence in sentences(found.data):
            click.echo(f"  - {printable(sentence)}")

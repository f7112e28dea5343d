"""Pull-request mode's git steps: the proposal branch and the note that describes it.

Sits where a direct pass would push. In pull-request mode the pass commits on top of the
watched branch as usual, then, instead of pushing there, publishes that one commit as
``GitSettings.push_branch``; the branch is rebuilt every pass, so it always holds exactly the
pending change, and it is the only ref ever replaced (a force push with a lease: the push fails,
and the pass is retried, if the branch moved since it was read).

The pull request's title and Markdown body travel with the push, as a git note on the branch's
commit in ``refs/notes/cilium-gitops/<branch>``, pushed atomically with the branch, so the
workflow that the push triggers always finds the description of the commit it was triggered by
(``git notes --ref cilium-gitops/<branch> show HEAD``). One notes ref per branch keeps services
of different regions from racing on one ref.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.errors import GitCommandError, GitRemoteError
from reconciler.gitops.workspace import REMOTE, Workspace

if TYPE_CHECKING:
    from pathlib import Path

NOTES_PREFIX = "refs/notes/cilium-gitops/"


def notes_ref(branch: str) -> str:
    """The notes ref that holds ``branch``'s pull-request description."""
    return NOTES_PREFIX + branch


@dataclass(frozen=True, slots=True)
class RemoteBranch:
    """The proposal branch as the remote had it when the pass read it."""

    name: str
    tip: str | None  # None: the branch does not exist
    note: str | None  # the notes ref's commit, None if there is none
    tree: str | None = None  # the tip's tree
    parent: str | None = None  # the tip's first parent

    def holds(self, tree: str, base: str | None) -> bool:
        """Whether the branch is already exactly ``tree`` on top of ``base``, described."""
        return (
            self.tip is not None
            and self.note is not None
            and (self.tree, self.parent)
            == (
                tree,
                base,
            )
        )

    @property
    def leases(self) -> list[str]:
        """Replace (or delete) the branch and its notes only as this pass saw them."""
        return [
            f"refs/heads/{self.name}:{self.tip or ''}",
            f"{notes_ref(self.name)}:{self.note or ''}",
        ]


def read_branch(workspace: Workspace, name: str) -> RemoteBranch:
    """Where the remote's ``name`` and its notes ref are; fetches the branch's tip if any."""
    try:
        listing = workspace.run(
            "ls-remote", REMOTE, f"refs/heads/{name}", notes_ref(name), remote=True
        )
    except GitCommandError as exc:
        raise GitRemoteError(str(exc)) from None
    found: dict[str, str] = {}
    for line in listing.splitlines():
        sha, _, ref = line.partition("\t")
        found[ref] = sha
    tip, note = found.get(f"refs/heads/{name}"), found.get(notes_ref(name))
    if tip is None:
        return RemoteBranch(name, None, note)
    tracking = f"refs/remotes/{REMOTE}/{name}"
    try:
        workspace.run(
            "fetch", "--quiet", "--no-tags", REMOTE, f"+refs/heads/{name}:{tracking}", remote=True
        )
    except GitCommandError as exc:
        raise GitRemoteError(str(exc)) from None
    tree = workspace.run("rev-parse", f"{tip}^{{tree}}").strip()
    parents = workspace.run("rev-list", "--parents", "-n", "1", tip).split()
    return RemoteBranch(name, tip, note, tree, parents[1] if len(parents) > 1 else None)


def publish(workspace: Workspace, branch: RemoteBranch, commit: str, description: str) -> None:
    """Point ``branch`` at ``commit`` and its notes ref at a note holding ``description``."""
    ref = notes_ref(branch.name)
    # The ref holds this commit's note alone, rebuilt each time: no history of old drafts.
    workspace.run("update-ref", "-d", ref)
    with workspace.message_file(description) as path, workspace.as_committer():
        workspace.run("notes", f"--ref={ref}", "add", "--force", "--file", str(path), commit)
    workspace.push_refs(
        [f"{commit}:refs/heads/{branch.name}", f"{ref}:{ref}"], leases=branch.leases
    )


def withdraw(workspace: Workspace, branch: RemoteBranch) -> bool:
    """Delete the branch and its notes ref from the remote; False if neither was there."""
    refspecs = [f":refs/heads/{branch.name}"] if branch.tip else []
    refspecs += [f":{notes_ref(branch.name)}"] if branch.note else []
    if not refspecs:
        return False
    workspace.push_refs(refspecs, leases=branch.leases)
    return True


def read_note(checkout: Path, branch: str, revision: str = "HEAD") -> str | None:
    """The description noted on ``revision`` in ``branch``'s notes ref of a checkout, if any."""
    import git  # noqa: PLC0415 - as history does: GitPython only when used

    with git.Repo(checkout) as repo:
        try:
            return str(repo.git.notes(f"--ref={notes_ref(branch)}", "show", revision))
        except git.GitCommandError:
            return None

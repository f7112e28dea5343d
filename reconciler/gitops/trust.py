"""Whether a pass may build on the branch Flux watches: its head must carry a trusted signature.

Sits between planning and committing, when ``GitSettings.verify_base`` is set. Flux's
``spec.verify: {mode: HEAD}`` checks the head commit only, so a signed commit of ours on top of
an unsigned one (pushed by hand, or by someone who should not push) would make Flux apply both:
the service would launder it. The head a pass is about to build on is therefore verified first
(SSH signatures against ``allowed_signers``, OpenPGP ones against gpg's keyring), and a refused
head stalls the pass before anything is written: a person signs or reverts that commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.errors import ConfigError, UnverifiedCommitError

if TYPE_CHECKING:
    from reconciler.gitops.workspace import Workspace


class TrustedCommits:
    """Commits known to carry a trusted signature; only the newest ``limit`` are kept.

    A pass only ever asks about the branch head, so older entries are dead weight in a service
    that commits for months.
    """

    def __init__(self, limit: int = 64) -> None:
        """Hold at most ``limit`` commits, dropping the oldest first."""
        self._commits: dict[str, None] = {}  # insertion-ordered: the oldest first
        self._limit = limit

    def add(self, commit: str) -> None:
        """Trust ``commit`` (again: it becomes the newest)."""
        self._commits.pop(commit, None)
        self._commits[commit] = None
        if len(self._commits) > self._limit:
            del self._commits[next(iter(self._commits))]

    def __contains__(self, commit: object) -> bool:
        """Whether ``commit`` is among the trusted ones kept."""
        return commit in self._commits

    def __len__(self) -> int:
        """How many are kept."""
        return len(self._commits)


def check_base(workspace: Workspace) -> None:
    """Refuse to build on the workspace's HEAD unless it carries a trusted signature.

    Call after ``Workspace.update``: HEAD is then the remote head of the watched branch. An
    unborn branch passes, and so does a commit this workspace verified or signed before (no
    gpg or ssh-keygen run for a pass on top of our own last commit).
    """
    settings = workspace.settings
    head = workspace.head()
    if not settings.verify_base or head is None or head in workspace.verified:
        return
    signers = settings.allowed_signers
    # Checked here, not only by the CLI: a long-running service outlives a mounted file.
    if signers is not None and not signers.expanduser().is_file():
        msg = f"cannot verify {settings.branch}: --allowed-signers {signers} is not a readable file"
        raise ConfigError(msg)
    try:
        workspace.verify(head, allowed_signers=signers)
    except UnverifiedCommitError as exc:
        # The fix is a new commit on the remote: the next pass fetches even if told it may not.
        workspace.touch()
        msg = (
            f"refusing to commit on top of {settings.branch}: its head {head[:12]} {exc.reason}. "
            "Flux verifies only the head commit, so a signed commit from cilium-gitops would "
            f"vouch for it. Sign that commit, or revert it with a signed commit, on "
            f"{settings.branch}; nothing was committed or pushed"
        )
        raise UnverifiedCommitError(head, exc.reason, msg) from None
    workspace.verified.add(head)

"""Whether a pass may build on the branch Flux watches: its head must carry a trusted signature.

Sits between planning and committing, when ``GitSettings.verify_base`` is set. Flux's
``spec.verify: {mode: HEAD}`` checks the head commit only, so a signed commit of ours on top of
an unsigned one (pushed by hand, or by someone who should not push) would make Flux apply both:
the service would launder it. The head a pass is about to build on is therefore verified first
(SSH signatures against ``allowed_signers``, OpenPGP ones against gpg's keyring), and a refused
head stalls the pass before anything is written: a person signs or reverts that commit.

Below ``workspace``: it runs git through the function the workspace hands it, and knows the
workspace only by the few members ``check_base`` reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from reconciler.errors import ConfigError, GitCommandError, UnverifiedCommitError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from reconciler.gitops.settings import GitSettings


class Git(Protocol):
    """Runs one git command in the workdir with per-call ``-c`` settings; its output."""

    def __call__(self, *args: str, config: Sequence[tuple[str, str]] = ()) -> str:
        """Run ``git args``; a failure raises ``GitCommandError``."""
        ...


class Base(Protocol):
    """What ``check_base`` needs of a workspace."""

    @property
    def settings(self) -> GitSettings:
        """The edge's settings: branch, ``verify_base``, ``allowed_signers``."""
        ...

    @property
    def verified(self) -> TrustedCommits:
        """Commits known to carry a trusted signature."""
        ...

    def head(self) -> str | None:
        """The commit HEAD points at."""
        ...

    def touch(self) -> None:
        """The next update must fetch and check out anew."""
        ...

    def verify(self, commit: str, *, allowed_signers: Path | None = None) -> str:
        """Check ``commit``'s signature; the signing key's fingerprint."""
        ...


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


def verify(git: Git, commit: str, *, allowed_signers: Path | None = None) -> str:
    """Check ``commit``'s signature with ``git verify-commit``; the signing key's fingerprint.

    SSH signatures are checked against ``allowed_signers`` (git's
    ``gpg.ssh.allowedSignersFile``), OpenPGP ones against gpg's keyring. An unsigned commit or
    a bad or unknown signature raises ``UnverifiedCommitError``: someone must look at it.
    """
    config: list[tuple[str, str]] = []
    if allowed_signers is not None:
        path = allowed_signers.expanduser().absolute()
        config.append(("gpg.ssh.allowedSignersFile", str(path)))
    try:
        git("verify-commit", commit, config=config)
    except GitCommandError as exc:
        why = _signature_problem(git, commit, config) or f"failed: {exc.detail}"
        raise UnverifiedCommitError(commit, why) from None
    return git("log", "-1", "--format=%GF", commit, config=config).strip()


def _signature_problem(git: Git, commit: str, config: Sequence[tuple[str, str]]) -> str | None:
    """Why ``verify-commit`` refused ``commit``, from git's ``%G?`` letter and ``%GK`` key."""
    out = git("log", "-1", "--format=%G?|%GK", commit, config=config)
    status, _, key = out.strip().partition("|")
    key = key or "an unknown key"
    return {
        "N": "is unsigned",
        "B": "has a bad signature (it was changed after signing)",
        "E": f"is signed by {key}, which is not an allowed signer",
        "U": f"is signed by {key}, which is not an allowed signer",
        "X": f"has a signature by {key} that has expired",
        "Y": f"is signed by {key}, which has expired",
        "R": f"is signed by {key}, which is revoked",
    }.get(status)


def check_base(workspace: Base) -> None:
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

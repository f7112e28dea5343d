"""The exception tree, grouped by what the reconcile loop should do about each error.

::

    CiliumGitopsError                 base: the commands catch this, and only this, in one place
    +-- RetryableError                transient: back off and try the same pass again
    |   +-- GitRemoteError            fetch/push failed for a reason that may go away
    |   +-- PushRejectedError         someone else pushed first: fetch, re-plan, retry
    |   +-- DiskFullError             no space left for the workdir: retry once space is back
    |   +-- SourceUnavailableError    the control plane could not be read right now
    |       +-- CursorExpiredError    the watch cursor is older than the server's history: resync
    +-- StalledError                  a person must act; retrying cannot help
    |   +-- ConfigError               bad usage or configuration (exit code 2)
    |   +-- UnsafePathError           the tree contains something we refuse to write through
    |   +-- PushRefusedError          the remote refused the push (protection, a hook, a rule)
    |   +-- WorkdirError              the workdir is not ours or is broken
    |   |   +-- GitCommandError       a git command failed (the remote-facing steps re-classify it)
    |   +-- MassDeletionError         a pass would delete too much: a person must confirm
    |   +-- UnverifiedCommitError     a commit has no signature we trust: sign or revert it
    +-- InvalidInputError             one input is bad: report it, skip it, carry on
        +-- PolicyRejectedError       a desired policy failed validation or collides

Messages never carry credentials: ``scrub.redact`` scrubs tokens and URL user-info before any
error text leaves the git edge.
"""

from __future__ import annotations


class CiliumGitopsError(Exception):
    """Base of every error this package raises on purpose."""


class RetryableError(CiliumGitopsError):
    """A transient failure: the same pass may succeed after a back-off."""


class GitRemoteError(RetryableError):
    """Fetching from or pushing to the remote failed (network, remote down, auth hiccup)."""


class PushRejectedError(RetryableError):
    """The remote refused a fast-forward because another writer pushed first."""


class DiskFullError(RetryableError):
    """The workdir's file system is full (or over quota); nothing half-written is committed."""


class SourceUnavailableError(RetryableError):
    """The control plane (or the desired-state file) could not be read."""


class CursorExpiredError(SourceUnavailableError):
    """The control plane no longer has the history after our cursor (OUT_OF_RANGE): resync."""


class StalledError(CiliumGitopsError):
    """A condition that needs a person; the loop should report it and not spin on it."""


class ConfigError(StalledError):
    """Bad usage or configuration: an option, a URL, a template, a missing file."""


class UnsafePathError(StalledError):
    """A write would leave the managed root (symlink, traversal): refused, nothing written."""


class PushRefusedError(StalledError):
    """The remote refused the push for a reason a person must lift.

    A protected branch, a hook that declined, a host's rule (required signatures, GitHub's
    GH006/GH013, GitLab's hooks).
    """


class WorkdirError(StalledError):
    """The working directory exists but is not a clone this tool made, or is damaged."""


class GitCommandError(WorkdirError):
    """A failed git command, already redacted.

    Local commands failing means the workdir is broken (stall); the remote-facing steps of the
    git edge catch it and translate it into retry or push-rejected errors.
    """

    def __init__(self, message: str, detail: str) -> None:
        """``detail`` is git's own output, for callers that tell failures apart by it."""
        super().__init__(message)
        self.detail = detail


class MassDeletionError(StalledError):
    """A pass would delete more of the managed policies than the guard allows; nothing done."""

    def __init__(self, message: str, *, plan: object = None, deletes: int = 0) -> None:
        """Keep the refused plan (to show what would have gone) and how many it deletes."""
        super().__init__(message)
        self.plan = plan
        self.deletes = deletes


class UnverifiedCommitError(StalledError):
    """A commit is unsigned or not signed by an allowed signer; nothing was built on it."""

    def __init__(self, commit: str, reason: str, message: str | None = None) -> None:
        """``reason`` completes "commit X ...": "is unsigned", "is signed by K, which ..."."""
        super().__init__(message or f"commit {commit[:12]} has no valid signature: it {reason}")
        self.commit = commit
        self.reason = reason


class InvalidInputError(CiliumGitopsError):
    """One piece of input is bad. It is reported and skipped; the rest of the work goes on."""


class PolicyRejectedError(InvalidInputError):
    """A desired policy is invalid or cannot be placed; it names the policy and the field."""

    def __init__(self, policy_id: str, field: str, reason: str) -> None:
        """Keep the three parts apart so reports can print them as columns or JSON."""
        super().__init__(f"policy {policy_id!r}: {field}: {reason}")
        self.policy_id = policy_id
        self.field = field
        self.reason = reason

"""What git and the Git hosts answer when a push fails, sorted by what the loop should do.

Sits under ``workspace.push_refs`` (and ``commit_failure`` under its commits). A failed push is
one of three things:

* a **race**: another writer moved the ref first. git says ``[rejected] ... (fetch first)`` or
  ``(non-fast-forward)`` when it sees that before sending; when two pushes meet on the server,
  the loser's ref update fails inside the server and git reports ``[remote rejected] ...
  (failed to update ref)`` or ``(cannot lock ref 'refs/heads/main': is at X but expected
  Y)``; GitLab and Gitea word it ``incorrect old value provided``; a lease that no longer holds
  is ``(stale info)``. All of them: fetch, re-plan, retry;
* a **refusal** a person must lift: a protected branch, a pre-receive hook that declined,
  GitHub's rules (``GH006`` protected branch, ``GH013`` repository rules, among them required
  signatures), GitLab's ``GL-HOOK-ERR``, a signature the host requires. Retrying cannot help:
  the service reports it as stalled and keeps running;
* anything else (the network, the host down): retry with backoff.

A ``[remote rejected]`` line is a refusal unless its reason is one of the race's: before, every
``[remote rejected]`` was read as a refusal, and two replicas racing stopped one of them.
"""

from __future__ import annotations

import enum
import re
from typing import TYPE_CHECKING

from reconciler.errors import ConfigError, DiskFullError

if TYPE_CHECKING:
    from pathlib import Path

    from reconciler.errors import GitCommandError, WorkdirError
    from reconciler.gitops.settings import Signing


class PushFailure(enum.StrEnum):
    """What a failed push means for the loop."""

    RACE = "race"
    REFUSED = "refused"
    TRANSPORT = "transport"


# git's own words for a ref that moved (builtin/receive-pack.c, refs.c, transport.c) and the
# hosts' (GitLab's and Gitea's "incorrect old value provided", from their ref-update APIs).
_RACE = re.compile(
    r"fetch first|non-fast-forward|\[rejected\]|stale info|failed to update ref"
    r"|cannot lock ref|incorrect old value provided|is at [0-9a-f]+ but expected"
    r"|reference already exists|failed to lock",
    re.IGNORECASE,
)
_REFUSED = re.compile(
    r"protected branch|pre-receive hook declined|hook declined|\bGH006\b|\bGH013\b"
    r"|GL-HOOK-ERR|signature|signed|denied|not allowed|permission|push declined"
    r"|refusing to (?:update|delete)|deny(?:Current|NonFastForwards|Deletes)",
    re.IGNORECASE,
)
# The reason git prints in parentheses after "[remote rejected] SRC -> DST".
_REMOTE_REJECTED = re.compile(r"\[remote rejected\][^\n(]*\(([^)\n]*)\)", re.IGNORECASE)


def classify(detail: str) -> PushFailure:
    """What git's output of a failed push says: a race, a refusal, or a transport failure."""
    reasons = _REMOTE_REJECTED.findall(detail)
    if reasons:
        # Refused when any ref's reason is a refusal (an atomic push fails as a whole).
        if any(_REFUSED.search(r) and not _RACE.search(r) for r in reasons):
            return PushFailure.REFUSED
        if all(_RACE.search(r) for r in reasons):
            return PushFailure.RACE
        return PushFailure.REFUSED
    if _REFUSED.search(detail) and not _RACE.search(detail):
        return PushFailure.REFUSED
    if _RACE.search(detail):
        return PushFailure.RACE
    return PushFailure.TRANSPORT


def commit_failure(
    exc: GitCommandError, signing: Signing | None, where: Path
) -> WorkdirError | ConfigError | DiskFullError:
    """What a failed ``git commit`` means: a full disk, a key that cannot sign, else ``exc``."""
    if "no space left on device" in exc.detail.lower() or "quota" in exc.detail.lower():
        return DiskFullError(f"no space left to commit in {where}: {exc.detail}")
    # git reports every failure of ssh-keygen or gpg as this line, after their own words.
    if signing is None or "failed to write commit object" not in exc.detail:
        return exc
    msg = f"cannot sign commits with {signing.describe()}: {exc.detail}"
    return ConfigError(msg)

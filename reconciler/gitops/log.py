"""Reading a repository's history: for the review commands, and the service's cursor.

Read-only. On a checkout the user names (``history``, ``diff``, ``validate``): the commits that
changed a file with the control-plane facts their trailers record, the files of a folder at a
revision, a file's last committed version. On the service's workdir: the newest control-plane
version the branch records (``read_cursor``), and a commit as ``git show`` prints it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import git

from reconciler.errors import ConfigError, GitCommandError
from reconciler.gitops.workspace import REGION_TRAILER, REMOTE, VERSION_TRAILER

if TYPE_CHECKING:
    from collections.abc import Callable

    from reconciler.gitops.workspace import Workspace


@dataclass(frozen=True, slots=True)
class Change:
    """One commit that touched a file, with the control-plane facts its trailers record."""

    commit: str
    date: str  # the committer date, ISO 8601
    author: str
    subject: str
    versions: tuple[int, ...]  # Control-Plane-Version trailers (one per pass it reflects)
    region: str | None


_FIELD, _RECORD = "\x1f", "\x1e"


def changes_to(checkout: Path, path: str, revision: str = "HEAD") -> list[Change]:
    """The commits reachable from ``revision`` that changed ``path``, newest first.

    ``path`` is a file relative to the repository root; the commit that deleted it is included.
    """
    fields = [
        "%H",
        "%cI",
        "%an <%ae>",
        "%s",
        f"%(trailers:key={VERSION_TRAILER},valueonly,separator=%x2C)",
        f"%(trailers:key={REGION_TRAILER},valueonly,separator=%x2C)",
    ]
    log_format = f"--format={_FIELD.join(fields)}{_RECORD}"
    text = _read_git(checkout, "log", log_format, revision, "--", path)
    found: list[Change] = []
    for record in text.split(_RECORD):
        parts = record.strip("\n").split(_FIELD)
        if len(parts) != len(fields):
            continue
        commit, date, author, subject, versions, region = parts
        numbers = tuple(int(v) for v in versions.strip().split(",") if v.strip().isdigit())
        found.append(Change(commit, date, author, subject, numbers, region.strip() or None))
    return found


def files_at(
    checkout: Path,
    revision: str,
    under: str,
    *,
    max_bytes: int = 8 * 1024 * 1024,
    skipped: list[str] | None = None,
) -> dict[str, bytes]:
    """Every file below ``under`` at ``revision``, by path relative to ``under``.

    Symlinks and files over ``max_bytes`` are not read; each is added to ``skipped`` as
    ``path: why``, for the caller to report.
    """
    prefix = under.strip("/")
    with _open_checkout(checkout) as repo:
        try:
            tree = repo.commit(revision).tree
        except (git.BadName, ValueError):
            msg = f"unknown revision {revision!r} in {checkout}"
            raise ConfigError(msg) from None
        try:
            folder = tree / prefix if prefix else tree
        except KeyError:
            return {}  # the managed folder did not exist yet
        found: dict[str, bytes] = {}
        for item in folder.traverse():
            if not isinstance(item, git.Blob):
                continue
            relative = str(item.path)[len(prefix) + 1 if prefix else 0 :]
            if item.mode == _SYMLINK_MODE:
                why = "a symlink: not followed"
            elif item.size > max_bytes:
                why = f"{item.size} bytes: larger than any policy file ({max_bytes} at most)"
            else:
                found[relative] = item.data_stream.read()
                continue
            if skipped is not None:
                skipped.append(f"{relative}: {why}")
        return found


_SYMLINK_MODE = 0o120000


def _open_checkout(checkout: Path) -> git.Repo:
    try:
        return git.Repo(checkout, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        msg = f"{checkout} is not in a git repository"
        raise ConfigError(msg) from None


def _read_git(checkout: Path, *args: str) -> str:
    with _open_checkout(checkout) as repo:
        try:
            return str(repo.git.execute(["git", *args], stdout_as_string=True))
        except git.GitCommandError as exc:
            msg = f"git {args[0]} failed in {checkout}: {str(exc.stderr).strip()}"
            raise ConfigError(msg) from None


def last_version(path: Path, accept: Callable[[bytes], bool], depth: int = 50) -> Version | None:
    """The newest committed content of ``path`` that ``accept`` takes, if ``path`` is in git.

    For a hand edit: the last version cilium-gitops wrote (its checksum intact) is the one to
    diff against. Looks at the ``depth`` newest commits that changed the file; None outside a
    repository, for an untracked file, or when no version is accepted.
    """
    try:
        repo = git.Repo(path.parent, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    with repo:
        if repo.working_tree_dir is None:
            return None
        relative = path.resolve().relative_to(Path(repo.working_tree_dir).resolve()).as_posix()
        try:
            commits = repo.git.log(f"-{depth}", "--format=%H", "--", relative).split()
        except git.GitCommandError:
            return None  # no commit yet
        for commit in commits:
            try:
                content = (repo.commit(commit).tree / relative).data_stream.read()
            except KeyError:
                continue  # the commit that deleted it
            if accept(content):
                return Version(commit, content)
    return None


class Version(NamedTuple):
    """A file's content at a commit (a pair, as ``validate``'s history reader takes it)."""

    commit: str
    content: bytes


def describe(workspace: Workspace, commit: str) -> str:
    """A commit's header, message and changed files, as ``git show --stat`` prints them."""
    return workspace.run("show", "--stat", "--format=commit %H%nAuthor: %an <%ae>%n%n%B", commit)


def read_cursor(workspace: Workspace) -> int | None:
    """The highest control-plane version recorded on the workdir's remote branch, if any.

    What a restarted service resumes its watch from: the repository records what it reflects.
    """
    ref = f"refs/remotes/{REMOTE}/{workspace.settings.branch}"
    try:
        value = workspace.run(
            "log",
            "-1",
            f"--grep=^{VERSION_TRAILER}:",
            f"--format=%(trailers:key={VERSION_TRAILER},valueonly,separator=%x2C)",
            ref,
        )
    except GitCommandError:
        return None
    values = [v for v in value.strip().split(",") if v.strip().isdigit()]
    return max((int(v) for v in values), default=None)

"""The service's working directory: align with the remote, commit, push.

Sits at the end of a pass. ``Workspace`` owns one working directory: it clones (or reuses) it,
aligns it with the remote branch, stages the managed root, commits with trailers, and pushes.
Every git failure becomes one of our errors, with credentials scrubbed:

* the remote refused a non-fast-forward push -> ``PushRejectedError`` (fetch, re-plan, retry);
* the remote could not be reached or failed -> ``GitRemoteError`` (back off, retry);
* the remote refused for policy reasons (hook, protected branch) -> ``PushRefusedError``
  (``refusals`` tells a refusal from a race by what git and the hosts say);
* the remote stopped answering -> ``GitRemoteError``, once ``network``'s watchdog cut it.

The workdir is this process's alone while it is open (``repair.WorkdirLock``); git's lock files
a killed process left are cleared, and a damaged repository is cloned again (``rebuild``).

GitPython pitfalls handled here: ``Remote.push`` does not raise on rejection, so we push through
the git binary and read its exit status and porcelain output; long-lived processes must close
repos, so ``Workspace`` is a context manager that closes its ``Repo``. The branch Flux watches
only moves forward: ``push`` never forces, and ``push_refs`` (pull-request mode's proposal
branch, under a lease) refuses to lease it.

Credentials never reach argv, logs or errors: an HTTPS token is handed to git by a credential
helper that reads it from the child's environment, and an SSH key and pinned known_hosts go in
``GIT_SSH_COMMAND``.

Commits are signed when ``GitSettings.signing`` says so (Flux's ``spec.verify`` and protected
branches refuse unsigned ones). The signing configuration goes to git per invocation with
``-c``, never into the workdir's config or the user's; git runs ``ssh-keygen`` or ``gpg`` itself.
A key that cannot sign -> ``ConfigError`` naming the key (path or id), never its content.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import git

from reconciler.closing import Closing
from reconciler.errors import (
    ConfigError,
    DiskFullError,
    GitCommandError,
    GitRemoteError,
    PushRefusedError,
    PushRejectedError,
    StalledError,
    WorkdirError,
)
from reconciler.gitops import credentials, network, refusals, repair, trust, tuning
from reconciler.gitops.settings import split_userinfo
from reconciler.scrub import redact

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

    from reconciler.gitops.settings import GitSettings

log = logging.getLogger("cilium_gitops.gitops")

VERSION_TRAILER = "Control-Plane-Version"
REGION_TRAILER = "Control-Plane-Region"
_OWNER_FILE = "cilium-gitops-workdir"
REMOTE = "origin"


# Above this many changed files, staging the whole root is cheaper than a long argument list.
_MAX_PATHSPECS = 200


@dataclass(frozen=True, slots=True)
class Touched:
    """The files a pass wrote or removed, relative to the root; ``new_files`` if any is new."""

    paths: Sequence[str]
    new_files: bool


class Workspace(Closing):
    """One working directory tracking ``settings.branch`` of ``settings.url``."""

    def __init__(self, workdir: Path, settings: GitSettings) -> None:
        """Open (cloning if needed) the workdir; use as a context manager so it gets closed.

        The workdir is locked for this process until ``close``; what a killed process left in
        it (git's lock files, a damaged repository) is cleared or rebuilt here.
        """
        self.path = workdir
        self.settings = settings
        self._env = credentials.environment(settings)
        # The commit the working tree is known to match exactly (set after a checkout or our own
        # commit, cleared before anything writes to it), so a pass whose remote has not moved
        # skips re-checking 10,000 files out.
        self._clean_at: str | None = None
        # Commits known to carry a trusted signature: verified ones, and those this workspace
        # signed itself, so a pass on our own last commit runs no gpg or ssh-keygen.
        self.verified = trust.TrustedCommits()
        self._lock = self._take()
        try:
            self.repo = self._open()
        except BaseException:
            self._lock.release()
            raise

    def close(self) -> None:
        """Release GitPython's cat-file processes and caches, and the workdir's lock."""
        self.repo.close()
        self._lock.release()

    # -- set-up ---------------------------------------------------------------------------

    def _url_fingerprint(self) -> str:
        # The owner file stores a hash, so a URL with credentials in it never lands on disk.
        return hashlib.sha256(f"{self.settings.url}\n{self.settings.branch}".encode()).hexdigest()

    def _take(self) -> repair.WorkdirLock:
        """Lock the workdir, after checking it is ours (a folder we made) or not there yet."""
        git_dir = self.path / ".git"
        ours = (git_dir / _OWNER_FILE).is_file() or (git_dir / repair.LOCK_NAME).is_file()
        if not ours and self.path.exists() and any(self.path.iterdir()):
            msg = f"{self.path} exists, is not empty and was not created by cilium-gitops"
            raise WorkdirError(msg)
        lock = repair.WorkdirLock(git_dir)
        cleared = repair.clear_stale_locks(git_dir)
        if cleared:
            log.warning("workdir: removed lock files a killed process left: %s", ", ".join(cleared))
        return lock

    def _open(self) -> git.Repo:
        owner = self.path / ".git" / _OWNER_FILE
        if not owner.is_file():
            return self._init()
        try:
            repo = git.Repo(self.path)
        except git.GitError as exc:
            log.warning("workdir: damaged (%s); cloning it again", type(exc).__name__)
            repair.wipe(self.path)
            return self._init()
        if owner.read_text(encoding="utf-8").strip() != self._url_fingerprint():
            self._adopt(repo, owner)
        tuning.configure(repo)
        return repo

    def _init(self) -> git.Repo:
        repo = git.Repo.init(self.path, initial_branch=self.settings.branch)
        tuning.configure(repo)
        repo.git.remote("add", REMOTE, self.settings.url)
        (self.path / ".git" / _OWNER_FILE).write_text(self._url_fingerprint() + "\n", "utf-8")
        return repo

    def rebuild(self) -> None:
        """Start the workdir again from nothing: the next ``update`` fetches and checks out.

        For a repository that a local git command found damaged. The workdir holds nothing the
        remote does not (every pass starts from the remote's head), so nothing is lost.
        """
        log.warning("workdir: %s is damaged; cloning it again", self.path)
        self.repo.close()
        repair.wipe(self.path)
        self.repo = self._init()
        self._clean_at = None

    def _adopt(self, repo: git.Repo, owner: Path) -> None:
        """Take over a workdir an earlier version made with credentials in its remote's URL.

        It stored that URL in ``.git/config``, token included. The same remote and branch
        without the credentials is this workdir: the URL is rewritten without them, so the
        token leaves the disk, and the owner file is brought up to date. Anything else is
        another remote's workdir.
        """
        with repo.config_reader() as config:
            stored = str(config.get_value(f'remote "{REMOTE}"', "url", default=""))
        legacy = hashlib.sha256(f"{stored}\n{self.settings.branch}".encode()).hexdigest()
        same = split_userinfo(stored)[0] == self.settings.url
        if not same or owner.read_text(encoding="utf-8").strip() != legacy:
            repo.close()
            msg = f"{self.path} is a cilium-gitops workdir for another remote or branch"
            raise WorkdirError(msg)
        repo.git.remote("set-url", REMOTE, self.settings.url)
        owner.write_text(self._url_fingerprint() + "\n", encoding="utf-8")

    # -- running git ----------------------------------------------------------------------

    def run(self, *args: str, remote: bool = False, config: Sequence[tuple[str, str]] = ()) -> str:
        """Run git in the workdir; ``remote`` adds credentials, ``config`` per-call settings.

        A remote command is watched: cut once it makes no progress for the settings'
        ``stall_seconds`` (``network``), which raises ``GitRemoteError``.
        """
        prefix = credentials.remote_options(self.settings) if remote else []
        for key, value in config:
            prefix += ["-c", f"{key}={value}"]
        if remote:
            return self._run_remote([*prefix, *args])
        try:
            output = self.repo.git.execute(
                ["git", *prefix, *args], env=self._env, with_extended_output=False
            )
        except git.GitCommandError as exc:
            text = redact(f"{exc.stderr or ''}\n{exc.stdout or ''}".strip(), self.settings.secrets)
            raise GitCommandError(f"git {args[0]} failed: {text}", text) from None
        return str(output)

    def _run_remote(self, argv: list[str]) -> str:
        verb = next(a for a in argv if not a.startswith("-") and "=" not in a)
        stall = self.settings.stall_seconds
        done = network.run_watched(
            ["git", *argv], cwd=self.path, env=self._env, stall_seconds=stall
        )
        if done.stalled:
            msg = (
                f"git {verb}: the remote sent nothing for {stall:g} s (--git-timeout); "
                "the transfer was cut and will be tried again"
            )
            raise GitRemoteError(msg)
        if done.code != 0:
            text = redact(f"{done.stderr}\n{done.stdout}".strip(), self.settings.secrets)
            raise GitCommandError(f"git {verb} failed: {text}", text)
        return done.stdout

    # -- the steps of a pass --------------------------------------------------------------

    def update(self, *, fetch: bool = True, align: bool = True) -> bool:
        """Align the workdir with the remote branch; False when the branch does not exist yet.

        ``fetch=False`` trusts the last known remote head when the workdir is exactly it (after
        our own push or a fetch) and skips the round trip: if the remote has moved, the push
        is rejected and the retry fetches. Otherwise it fetches as usual.

        ``align=False`` leaves the working tree as it is when HEAD already is the remote head:
        a pass reads the tree from the commit, and aligns (``align``) only before it writes.
        A no-op pass over 100,000 files then runs no checkout at all.
        """
        branch = self.settings.branch
        tracking = f"refs/remotes/{REMOTE}/{branch}"
        if not fetch:
            known = self._resolve(tracking)
            if known is not None and known == self._clean_at == self.head():
                return True
        refspec = f"+refs/heads/{branch}:{tracking}"
        # Under our lock, any git lock file here is a killed process's: it would block git.
        repair.clear_stale_locks(self.path / ".git")
        try:
            # --progress: the watchdog's signs of life (network.run_watched).
            self.run("fetch", "--progress", "--no-tags", REMOTE, refspec, remote=True)
        except GitCommandError as exc:
            if repair.is_damage(exc.detail):
                raise  # the workdir, not the remote: the pass rebuilds it and starts over
            if "couldn't find remote ref" not in exc.detail:
                raise GitRemoteError(str(exc)) from None
            # No branch yet: whatever the workdir held (a commit the remote refused, say) is
            # not the remote's, and no cached tree may stand for it.
            self._clean_at = None
            self._start_unborn()
            return False
        remote_head = self._resolve(tracking)
        head = self.head()
        aligned = not align or head == self._clean_at
        if remote_head is not None and remote_head == head and aligned:
            return True
        self._align()
        return True

    def align(self) -> None:
        """Make the working tree exactly HEAD's commit (``update(align=False)`` may not have)."""
        head = self.head()
        if head is not None and head != self._clean_at:
            self._align()

    def _align(self) -> None:
        branch = self.settings.branch
        remote_head = self._resolve(f"refs/remotes/{REMOTE}/{branch}")
        self._clean_at = None
        self.run("checkout", "--quiet", "--force", "-B", branch, f"{REMOTE}/{branch}")
        # -x: ignored files are not in the repository, so Flux never sees them; leaving them
        # here would let them into the scan and the kustomization lists.
        self.run("clean", "-ffdxq")
        self._clean_at = remote_head

    def clean_head(self) -> str | None:
        """The commit the working tree is known to match byte for byte, if any."""
        return self._clean_at

    def touch(self) -> None:
        """Say the working tree is about to be written: the next ``update`` checks it out anew."""
        self._clean_at = None

    def _resolve(self, ref: str) -> str | None:
        # Reads the ref files in-process: no git subprocess for a question this small.
        try:
            return git.SymbolicReference.dereference_recursive(self.repo, ref)
        except (ValueError, OSError):
            return None

    def _start_unborn(self) -> None:
        self.run("symbolic-ref", "HEAD", f"refs/heads/{self.settings.branch}")
        if self.repo.head.is_valid():
            self.run("update-ref", "-d", f"refs/heads/{self.settings.branch}")
        self.run("read-tree", "--empty")
        self.run("clean", "-ffdxq")

    def head(self) -> str | None:
        """The commit id HEAD points at, or None on an unborn branch."""
        return self._resolve("HEAD")

    def commit(
        self,
        root: Path,
        message: str,
        trailers: dict[str, str],
        touched: Touched | None = None,
    ) -> str | None:
        """Commit what changed under ``root`` (``touched`` narrows it); None if nothing did.

        Signs the commit when ``settings.signing`` is set; a key that cannot sign raises
        ``ConfigError`` and leaves nothing committed.
        """
        return self._commit(message, trailers, self._add(root, touched, may_defer=True))

    def stage(self, root: Path, touched: Touched | None = None) -> str:
        """Stage what changed under ``root``; the id of the tree a commit would now record."""
        self._add(root, touched, may_defer=False)
        return self.run("write-tree").strip()

    def commit_staged(self, message: str, trailers: dict[str, str]) -> str | None:
        """Commit what ``stage`` staged, as ``commit`` does."""
        return self._commit(message, trailers, [])

    def detach(self) -> None:
        """Leave the local branch where it is: the next commit goes on a detached HEAD.

        For a commit that is not for the watched branch (a proposal), so the workdir's local
        branch never holds what its remote branch does not.
        """
        self.run("checkout", "--quiet", "--detach")

    def _add(self, root: Path, touched: Touched | None, *, may_defer: bool) -> list[str]:
        """Stage ``root``'s changes, or return the known files the commit is to stage."""
        relative = root.relative_to(self.path).as_posix()
        if touched is None or len(touched.paths) > _MAX_PATHSPECS:
            self.run("add", "--all", "--", relative)
        elif touched.new_files or not may_defer:
            # Naming the files spares git a walk over every file of a large tree.
            self.run("add", "--all", "--", *(f"{relative}/{p}" for p in touched.paths))
        else:
            return [f"{relative}/{p}" for p in touched.paths]
        return []

    def _commit(self, message: str, trailers: dict[str, str], include: list[str]) -> str | None:
        sign_config, sign_args = self.settings.signing_options()
        body = message.rstrip("\n") + "\n"
        if trailers:
            body += "\n" + "".join(f"{k}: {v}\n" for k, v in trailers.items())
        try:
            with self.message_file(body) as path, self.as_committer():
                if include and not sign_args:
                    return self._commit_known(include, path)
                self.run(
                    "commit", "--quiet", "--no-verify", "--cleanup=verbatim", "-F", str(path),
                    *sign_args, *(["--include", "--", *include] if include else []),
                    config=sign_config,
                )  # fmt: skip
        except GitCommandError as exc:
            if "nothing to commit" in exc.detail or "nothing added to commit" in exc.detail:
                return None
            raise self._commit_error(exc) from None
        commit = self._clean_at = self.head()
        if commit is not None and self.settings.signing is not None:
            self.verified.add(commit)
        return commit

    def _commit_known(self, paths: list[str], message: Path) -> str | None:
        """``commit --include paths``, without a stat of every file (100,000: a third of a pass)."""
        parent = self.head()
        self.run("update-index", "--remove", "--", *paths)
        tree = self.run("write-tree").strip()
        if parent is None or tree == self.run("rev-parse", f"{parent}^{{tree}}").strip():
            return None
        commit = self.run("commit-tree", tree, "-p", parent, "-F", str(message))
        self.run("update-ref", "HEAD", commit, parent)  # only from the parent it was built on
        self._clean_at = commit
        return commit

    def message_file(self, text: str) -> contextlib.AbstractContextManager[Path]:
        """``text`` in a file inside ``.git`` for ``-F``: argv has a length limit, files do not."""
        return repair.scratch_file(self.path / ".git", text)

    @contextlib.contextmanager
    def as_committer(self) -> Iterator[None]:
        """Run the git commands inside as the configured author and committer."""
        saved = self._env
        self._env = {**saved, **self.settings.identity_environment()}
        try:
            yield
        finally:
            self._env = saved

    def _commit_error(self, exc: GitCommandError) -> WorkdirError | ConfigError | DiskFullError:
        """A failed ``git commit``: a full disk, a signing failure, else ``exc``."""
        return refusals.commit_failure(exc, self.settings.signing, self.path)

    def verify(self, commit: str, *, allowed_signers: Path | None = None) -> str:
        """Check ``commit``'s signature (see ``trust.verify``); the signing key's fingerprint."""
        return trust.verify(self.run, commit, allowed_signers=allowed_signers)

    def push(self) -> None:
        """Push HEAD to the branch: never forced; a rejection raises ``PushRejectedError``."""
        self.push_refs([f"HEAD:refs/heads/{self.settings.branch}"])

    def push_refs(self, refspecs: Sequence[str], leases: Sequence[str] = ()) -> None:
        """Push ``refspecs`` in one atomic push; ``leases`` are ``REF:EXPECTED`` force leases.

        A lease lets the push replace or delete ``REF`` only while the remote still has
        ``EXPECTED`` there (empty: only while it does not exist). The watched branch can never
        be leased: it only moves forward.
        """
        watched = f"refs/heads/{self.settings.branch}"
        if any(lease.partition(":")[0] == watched for lease in leases):
            msg = f"refusing to force-push {watched}, the branch Flux watches"
            raise StalledError(msg)
        options = [f"--force-with-lease={lease}" for lease in leases]
        if len(refspecs) > 1:
            options.append("--atomic")
        try:
            self.run("push", "--porcelain", "--progress", *options, REMOTE, *refspecs, remote=True)
        except GitRemoteError:  # cut for making no progress: the push may or may not have landed
            self._clean_at = None
            raise
        except GitCommandError as exc:
            # The workdir now holds a commit the remote does not: the next update starts over.
            self._clean_at = None
            failure = refusals.classify(exc.detail)
            if failure is refusals.PushFailure.REFUSED:
                msg = f"the remote refused the push (hook or branch protection): {exc.detail}"
                raise PushRefusedError(msg) from None
            if failure is refusals.PushFailure.RACE:
                raise PushRejectedError(str(exc)) from None
            raise GitRemoteError(str(exc)) from None


def init_bare(path: Path, branch: str) -> str:
    """Create an empty bare repository (a local remote, as the demo and tests use); its URL."""
    git.Repo.init(path, bare=True, initial_branch=branch).close()
    return path.resolve().as_uri()

"""Runs every layer over the files asked for, in worker processes when there are many.

The orchestrator of ``validate``: ``walk`` the paths; per file (``check_files``) load the
documents, run structure, semantics and lint on each policy and the repository checks on the
file, and place each ``Issue`` at a line and column, adding it to the ``Share`` of its chunk of
files (the parent and the worker processes take chunks in turn); then, with every file seen,
the checks across files (duplicates, namespaces without default deny, DNS allowed
namespace-wide). The output formats print the ``Report``.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.validate import lint, repository
from reconciler.validate.documents import LoadedFile, SkippedError, UnreadableError, load, walk
from reconciler.validate.findings import RULES, Finding, Issue, Severity, format_path, rule
from reconciler.validate.semantics import AgentFlags, check_semantics
from reconciler.validate.structure import check_structure

if TYPE_CHECKING:
    from collections.abc import Sequence
    from multiprocessing.sharedctypes import Synchronized

    from reconciler.validate.documents import PolicyDocument

SKIPPED = rule(
    "CG002",
    "not-a-file",
    Severity.WARNING,
    "A FIFO, device or socket could block or never end, and a link out of the tree reads "
    "files Flux never sees: such paths are reported and never read.",
    "Remove it from the folder, or replace the link with the file itself.",
)
UNREADABLE = rule(
    "CG001",
    "unreadable",
    Severity.ERROR,
    "A file that cannot be read or parsed cannot be checked, and Flux cannot apply it either.",
    "Fix the YAML at the position given (indentation, quoting, a duplicate key).",
)
# Below this many files one process is faster than starting workers.
PARALLEL_FROM = 400
# Files checked together, layer by layer (see check_files): enough to keep each layer's code
# hot, few enough that their documents stay in the processor's caches too.
BATCH = 32
# Files a process claims at a time in a parallel run, at most: few enough that the processes
# finish together (a chunk is a few hundredths of a second of work), and at least eight chunks a
# process, so smaller runs are shared out as evenly.
CHUNK = 256


@dataclass(frozen=True, slots=True)
class Settings:
    """What the run checks against."""

    version: str
    flags: AgentFlags = field(default_factory=AgentFlags)
    # Reads a file's committed versions, for a hand edit's diff (the command passes the git
    # edge's reader; validate itself never runs git). A module-level function: it is pickled
    # to the worker processes.
    history: repository.History | None = None


@dataclass(slots=True)
class Share:
    """What checking a share of the files gives: findings, and what the checks across files need.

    One per chunk of files, not one per file: a clean file adds only its name, so what a worker
    process sends back (pickled) stays small however many files it checked.
    """

    files: list[str] = field(default_factory=list)  # each file as reports name it, in order
    findings: list[Finding] = field(default_factory=list)
    # (namespace, finding) DNS warnings that a namespace-wide DNS policy may make void
    dns: list[tuple[str | None, Finding]] = field(default_factory=list)
    namespaces: lint.Namespaces = field(default_factory=lint.Namespaces)
    policies: int = 0
    # kustomize tree -> (file, (document index, base path), kind, namespace, name) of its
    # policies, for duplicate detection
    trees: dict[str, list[repository.Listed]] = field(default_factory=dict)
    # namespace -> a file of a tree holding one of its policies, for namespace-wide findings
    in_trees: dict[str, str] = field(default_factory=dict)
    unreadable: bool = False

    def update(self, other: Share) -> None:
        """Append a later share (files further down the list)."""
        self.files += other.files
        self.findings += other.findings
        self.dns += other.dns
        self.namespaces.update(other.namespaces)
        self.policies += other.policies
        for root, listed in other.trees.items():
            self.trees.setdefault(root, []).extend(listed)
        self.in_trees.update(other.in_trees)
        self.unreadable = self.unreadable or other.unreadable


@dataclass(slots=True)
class Report:
    """Everything a run found."""

    findings: list[Finding]
    files: list[str]
    policies: int
    unreadable: bool


def shown_path(path: str) -> str:
    """The path as reports show it: relative to the working folder when inside it, with '/'."""
    # String work, not resolve() or relpath(): this runs once per file of a large tree, and a
    # symlinked tree keeps the names it was given.
    text = os.path.normpath(path)
    cwd = _cwd()
    if text.startswith(cwd) and text[len(cwd) : len(cwd) + 1] == os.sep:
        text = text[len(cwd) + 1 :]
    return text.replace(os.sep, "/")


@functools.cache
def _cwd() -> str:
    return os.path.normpath(Path.cwd())


def _finding(
    issue: Issue, shown: str, place: tuple[int, int], policy: PolicyDocument | None
) -> Finding:
    known = RULES.get(issue.rule)
    return Finding(
        rule=issue.rule,
        severity=known.severity if known else Severity.ERROR,
        file=shown,
        line=place[0],
        column=place[1],
        policy=policy.display if policy else None,
        message=issue.message,
        hint=issue.hint or (known.hint if known else ""),
        path=format_path(issue.path),
        detail=issue.detail,
    )


def check_files(jobs: list[tuple[str, Path | None]], settings: Settings, share: Share) -> None:
    """Every per-file layer over a few files (path, folder walked), adding them to ``share``.

    Layer by layer over the files, not file by file through every layer: each layer's code then
    stays in the processor's caches while it runs, and a file takes about a quarter less time.
    """
    read = [_read(path, follow=top is None) for path, top in jobs]
    policies = [p for file in read if isinstance(file, LoadedFile) for p in file.policies]
    version, flags = settings.version, settings.flags
    structure = [check_structure(policy.data, version=version) for policy in policies]
    semantics = [check_semantics(p.data, version=version, flags=flags) for p in policies]
    linted = [lint.check(policy.data) for policy in policies]
    checked = iter(zip(structure, semantics, linted, strict=True))
    for job, file in zip(jobs, read, strict=True):
        shown = shown_path(job[0])
        share.files.append(shown)
        if isinstance(file, SkippedError):
            share.findings.append(_finding(Issue(SKIPPED, (), str(file)), shown, (0, 0), None))
        elif isinstance(file, UnreadableError):
            issue = Issue(UNREADABLE, (), str(file))
            share.findings.append(_finding(issue, shown, (file.line, file.column), None))
            share.unreadable = True
        else:
            checks = [next(checked) for _ in file.policies]
            _add(share, job, shown, file, checks, history=settings.history)


def _read(path: str, *, follow: bool) -> LoadedFile | UnreadableError:
    """The file, or why not.

    A link found in a walked folder is never followed (``walk`` only yields those that lead out
    of the tree, to report them); a path named on the command line is.
    """
    if not follow and os.path.islink(path):  # noqa: PTH114 - str paths
        return SkippedError("a symlink to outside the tree: not followed, so not read")
    try:
        return load(path)
    except UnreadableError as exc:
        return exc


def _add(  # noqa: PLR0913 - one file's facts, as check_files holds them
    share: Share,
    job: tuple[str, Path | None],
    shown: str,
    loaded: LoadedFile,
    checked: list[tuple[list[Issue], list[Issue], tuple[list[Issue], lint.Facts]]],
    *,
    history: repository.History | None,
) -> None:
    """One read file, its policies checked: its findings and facts, and its repository checks."""
    path, top = job
    placed: list[tuple[PolicyDocument | None, Issue]] = []
    root = repository.tree_root(Path(path), top) if top is not None else None
    listed = share.trees.setdefault(root.as_posix(), []) if root is not None else None
    for policy, (structure, semantics, (warnings, facts)) in zip(
        loaded.policies, checked, strict=True
    ):
        placed.extend((policy, issue) for issue in (*_layers(structure, semantics), *warnings))
        share.namespaces.add(facts)
        share.policies += 1
        if listed is not None:  # collisions and namespaces matter within a tree
            if policy.name is not None:
                where = (policy.index, policy.base)
                listed.append((shown, where, policy.kind, policy.namespace, policy.name))
            if facts.namespace:
                share.in_trees[facts.namespace] = shown
        placed.extend((policy, issue) for issue in facts.dns_issues)
    if root is not None:
        by_index = {p.index: p for p in loaded.policies}
        found = repository.check_file(Path(path), shown, loaded, root=root, history=history)
        for index, issue in found:
            placed.append((by_index.get(index) if index is not None else None, issue))
    if placed:
        _place(share, placed, shown, loaded)


def _layers(structure: list[Issue], semantics: list[Issue]) -> list[Issue]:
    """Both layers' issues, less the schema's where semantics explains the same node better.

    The layers overlap by design (``fromRequires`` is both over the schema's maxItems and
    removed from Cilium); one finding with the reason reads better than three. Semantic issues
    about a whole rule (``spec``, ``spec.ingress``) are too broad to stand in for a field's.
    """
    covered = [issue.path for issue in semantics if len(issue.path) > 2]  # noqa: PLR2004
    kept = [issue for issue in structure if not any(_under(issue.path, p) for p in covered)]
    return kept + semantics


def _under(path: tuple[str | int, ...], prefix: tuple[str | int, ...]) -> bool:
    return path[: len(prefix)] == prefix


def _place(
    share: Share,
    placed: list[tuple[PolicyDocument | None, Issue]],
    shown: str,
    loaded: LoadedFile,
) -> None:
    positions = loaded.positions()
    for policy, issue in placed:
        where = (
            positions.locate(policy.index, (*policy.base, *issue.path))
            if policy is not None
            else (0, 0)
        )
        finding = _finding(issue, shown, where, policy)
        if issue.rule in {lint.EGRESS_WITHOUT_DNS, lint.FQDN_WITHOUT_DNS_PROXY}:
            share.dns.append((policy.namespace if policy else None, finding))
        else:
            share.findings.append(finding)


def _check_many(jobs: list[tuple[str, Path | None]], settings: Settings, workers: int) -> Share:
    if workers <= 1 or len(jobs) < PARALLEL_FROM:
        return _check_share(jobs, settings)
    # Imported here: a small run (a pre-commit hook's few files) need not pay for them.
    import multiprocessing  # noqa: PLC0415
    from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415

    # The parent checks files too: it would otherwise only wait. The files go in chunks to
    # whichever process is free rather than in equal shares, so a process that starts later, or
    # shares its core with other work (a CI runner's neighbours), takes fewer of them.
    size = max(BATCH, min(CHUNK, len(jobs) // (workers * 8)))
    chunks = [jobs[start : start + size] for start in range(0, len(jobs), size)]
    claims = multiprocessing.Value("i", 0)
    with ProcessPoolExecutor(workers - 1, initializer=_inherit, initargs=(claims,)) as pool:
        futures = [pool.submit(_check_chunks, chunks, settings) for _ in range(workers - 1)]
        done = _check_chunks(chunks, settings, claims)
        for future in futures:
            done.update(future.result())
    total = Share()
    for index in sorted(done):  # back in the order of the files
        total.update(done[index])
    return total


# What a worker process inherits from the parent: the counter of chunks claimed so far.
_INHERITED: dict[str, Synchronized[int]] = {}


def _inherit(claims: Synchronized[int]) -> None:
    _INHERITED["claims"] = claims


def _check_chunks(
    chunks: list[list[tuple[str, Path | None]]],
    settings: Settings,
    claims: Synchronized[int] | None = None,
) -> dict[int, Share]:
    """Check the next chunk no process has claimed, until none is left; by chunk index."""
    claims = claims if claims is not None else _INHERITED["claims"]
    done: dict[int, Share] = {}
    while True:
        with claims.get_lock():
            index = claims.value
            claims.value = index + 1
        if index >= len(chunks):
            return done
        done[index] = _check_share(chunks[index], settings)


def _check_share(jobs: list[tuple[str, Path | None]], settings: Settings) -> Share:
    share = Share()
    for start in range(0, len(jobs), BATCH):
        check_files(jobs[start : start + BATCH], settings, share)
    return share


def _across_files(total: Share) -> list[Finding]:
    """Namespaces of the walked trees without default deny, and duplicate policies."""
    found: list[Finding] = []
    for namespace in total.namespaces.without_default_deny(total.in_trees):
        issue = Issue(lint.NO_DEFAULT_DENY, (), f"namespace {namespace} has no default-deny policy")
        found.append(_finding(issue, total.in_trees[namespace], (0, 0), None))
    duplicates = [
        found for listed in total.trees.values() for found in repository.duplicates(listed)
    ]
    for file, (index, base), issue in duplicates:
        # Rare, so the file is read again for the position rather than kept from the worker.
        place = load(file).positions().locate(index, (*base, *issue.path))
        found.append(_finding(issue, file, place, None))
    return found


def run(
    paths: Sequence[str | os.PathLike[str]], settings: Settings, *, workers: int | None = None
) -> Report:
    """Validate files and folders; folders also get the repository checks."""
    jobs: list[tuple[str, Path | None]] = []
    for path in paths:
        if os.path.isdir(path):  # noqa: PTH112 - the paths are str, as click gives them
            top = Path(path)
            jobs.extend((os.fspath(found), top) for found in walk([top]))
        else:
            jobs.append((os.fspath(path), None))
    total = _check_many(jobs, settings, workers or os.cpu_count() or 1)
    findings = total.findings
    findings.extend(
        finding
        for namespace, finding in total.dns
        if not total.namespaces.void(finding.rule, namespace)
    )
    findings.extend(_across_files(total))
    findings.sort(key=lambda f: f.sort_key)
    return Report(findings, total.files, total.policies, total.unreadable)

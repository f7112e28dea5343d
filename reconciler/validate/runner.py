"""Runs every layer over the files asked for, in worker processes when there are many.

The orchestrator of ``validate``: ``walk`` the paths; per file (``check_file``, in a worker)
load the documents, run structure, semantics and lint on each policy and the repository checks
on the file, and place each ``Issue`` at a line and column; then, with every file seen, the
checks across files (duplicates, namespaces without default deny, DNS allowed namespace-wide).
The output formats print the ``Report``.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.validate import lint, repository
from reconciler.validate.documents import UnreadableError, load, walk
from reconciler.validate.findings import RULES, Finding, Issue, Severity, format_path, rule
from reconciler.validate.semantics import AgentFlags, check_semantics
from reconciler.validate.structure import check_structure

if TYPE_CHECKING:
    from collections.abc import Iterable

    from reconciler.validate.documents import LoadedFile, PolicyDocument

UNREADABLE = rule(
    "CG001",
    "unreadable",
    Severity.ERROR,
    "A file that cannot be read or parsed cannot be checked, and Flux cannot apply it either.",
    "Fix the YAML at the position given (indentation, quoting, a duplicate key).",
)
# Below this many files one process is faster than starting workers.
PARALLEL_FROM = 400


@dataclass(frozen=True, slots=True)
class Settings:
    """What the run checks against."""

    version: str
    flags: AgentFlags = field(default_factory=AgentFlags)


@dataclass(slots=True)
class FileResult:
    """One file's findings, and what the checks across files need from it."""

    shown: str = ""  # the file as reports name it
    findings: list[Finding] = field(default_factory=list)
    # (namespace, finding) DNS warnings that a namespace-wide DNS policy may make void
    dns: list[tuple[str | None, Finding]] = field(default_factory=list)
    facts: list[lint.Facts] = field(default_factory=list)
    # (file, (document index, base path), kind, namespace, name) for duplicate detection
    policies: list[repository.Listed] = field(default_factory=list)
    root: str | None = None  # the kustomize tree the file belongs to, if any
    # namespace -> the first file holding one of its policies, for tree-wide namespace findings
    namespaces: dict[str, str] = field(default_factory=dict)
    unreadable: bool = False


@dataclass(slots=True)
class Report:
    """Everything a run found."""

    findings: list[Finding]
    files: list[str]
    policies: int
    unreadable: bool


def shown_path(path: Path) -> str:
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


def check_file(path: Path, settings: Settings, top: Path | None) -> FileResult:
    """Every per-file layer over one file (picklable: runs in a worker process)."""
    shown = shown_path(path)
    result = FileResult(shown)
    try:
        loaded = load(path)
    except UnreadableError as exc:
        issue = Issue(UNREADABLE, (), str(exc))
        result.findings.append(_finding(issue, shown, (exc.line, exc.column), None))
        result.unreadable = True
        return result
    placed: list[tuple[PolicyDocument | None, Issue]] = []
    root = repository.tree_root(path, top) if top is not None else None
    result.root = root.as_posix() if root is not None else None
    for policy in loaded.policies:
        issues = _layers(
            check_structure(policy.data, version=settings.version),
            check_semantics(policy.data, version=settings.version, flags=settings.flags),
        )
        warnings, facts = lint.check(policy.data)
        placed.extend((policy, issue) for issue in (*issues, *warnings))
        result.facts.append(facts)
        if root is not None and policy.name is not None:  # collisions matter within a tree
            where = (policy.index, policy.base)
            result.policies.append((shown, where, policy.kind, policy.namespace, policy.name))
        if root is not None and facts.namespace:
            result.namespaces.setdefault(facts.namespace, shown)
        pending = [(policy, issue) for issue in facts.dns_issues]
        placed.extend(pending)
    if root is not None:
        by_index = {p.index: p for p in loaded.policies}
        for index, issue in repository.check_file(path, shown, loaded, root=root):
            placed.append((by_index.get(index) if index is not None else None, issue))
    _place(result, placed, shown, loaded)
    return result


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
    result: FileResult,
    placed: list[tuple[PolicyDocument | None, Issue]],
    shown: str,
    loaded: LoadedFile,
) -> None:
    if not placed:
        return
    positions = loaded.positions()
    for policy, issue in placed:
        where = (
            positions.locate(policy.index, (*policy.base, *issue.path))
            if policy is not None
            else (0, 0)
        )
        finding = _finding(issue, shown, where, policy)
        if issue.rule in {lint.EGRESS_WITHOUT_DNS, lint.FQDN_WITHOUT_DNS_PROXY}:
            result.dns.append((policy.namespace if policy else None, finding))
        else:
            result.findings.append(finding)


def _check_many(
    jobs: list[tuple[Path, Path | None]], settings: Settings, workers: int
) -> Iterable[FileResult]:
    if workers <= 1 or len(jobs) < PARALLEL_FROM:
        return _check_chunk(jobs, settings)
    # The parent is one of the workers: it would otherwise only wait, and one process fewer to
    # start and to send results back from is worth more than it costs to split the work.
    share = len(jobs) // workers
    chunks = [jobs[start : start + share] for start in range(share, len(jobs), share)]
    with ProcessPoolExecutor(max_workers=len(chunks)) as pool:
        futures = [pool.submit(_check_chunk, chunk, settings) for chunk in chunks]
        results = _check_chunk(jobs[:share], settings)
        for future in futures:
            results.extend(future.result())
    return results


def _check_chunk(jobs: list[tuple[Path, Path | None]], settings: Settings) -> list[FileResult]:
    return [check_file(path, settings, top) for path, top in jobs]


def _across_files(results: list[FileResult]) -> list[Finding]:
    """Namespaces of the walked trees without default deny, and duplicate policies."""
    found: list[Finding] = []
    namespaces = {ns: file for result in results for ns, file in result.namespaces.items()}
    tree_facts = [f for r in results for f in r.facts if f.namespace in namespaces]
    for namespace in lint.namespace_findings(tree_facts)[2]:
        issue = Issue(lint.NO_DEFAULT_DENY, (), f"namespace {namespace} has no default-deny policy")
        found.append(_finding(issue, namespaces[namespace], (0, 0), None))
    trees: dict[str, list[repository.Listed]] = {}
    for result in results:
        if result.root is not None:
            trees.setdefault(result.root, []).extend(result.policies)
    duplicates = [found for listed in trees.values() for found in repository.duplicates(listed)]
    for file, (index, base), issue in duplicates:
        # Rare, so the file is read again for the position rather than kept from the worker.
        place = load(Path(file)).positions().locate(index, (*base, *issue.path))
        found.append(_finding(issue, file, place, None))
    return found


def run(paths: list[Path], settings: Settings, *, workers: int | None = None) -> Report:
    """Validate files and folders; folders also get the repository checks."""
    jobs: list[tuple[Path, Path | None]] = []
    for path in paths:
        top = path if path.is_dir() else None
        jobs.extend((found, top) for found in walk([path]))
    results = list(_check_many(jobs, settings, workers or os.cpu_count() or 1))
    findings = [finding for result in results for finding in result.findings]
    facts = [fact for result in results for fact in result.facts]
    dns, proxied, _ = lint.namespace_findings(facts)
    for result in results:
        for namespace, finding in result.dns:
            issue = Issue(finding.rule, (), finding.message)
            if not lint.void_dns_issue(issue, namespace, dns, proxied):
                findings.append(finding)
    findings.extend(_across_files(results))
    findings.sort(key=lambda f: f.sort_key)
    return Report(
        findings,
        [result.shown for result in results],
        sum(len(result.facts) for result in results),
        any(result.unreadable for result in results),
    )

"""One reconcile pass, as a recipe, and its retry loop.

Read the desired state, align the workdir, read the tree (from the commit's listing and the tree
cache), plan, check the base (when asked to verify it), apply, commit, push; on a rejected push,
start again from the new remote head.

The desired state is read first, with what the workdir's tree cache knows, so an entry whose
exact input an intact file was planned against is not validated or rendered again
(``reconcile.intake``, ``render.admission``); and when the last pass settled this very commit on
this very desired set (``reconcile.settled``), the plan is known without reading the tree. A
one-shot pass over 100,000 unchanged policies costs parsing the file, not rendering it.

Sits between its callers (``commands.sync`` and the service's controller) and the modules that
do the work. It holds no state between passes: the repository itself records what was done
(commit trailers carry the control-plane version), so a pass can always be retried from scratch.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from reconciler.desired.limits import Limits
from reconciler.desired.names import CLUSTER_FOLDER, DEFAULT_PATH
from reconciler.desired.record import many_policies
from reconciler.errors import (
    ConfigError,
    GitCommandError,
    MassDeletionError,
    PushRejectedError,
)
from reconciler.gitops import (
    REGION_TRAILER,
    VERSION_TRAILER,
    Touched,
    check_base,
    publish,
    read_branch,
    settled_file,
    tree_cache_file,
    withdraw,
)
from reconciler.reconcile.apply import apply_plan, written_paths
from reconciler.reconcile.description import (
    Origin,
    Proposal,
    change_lines,
    commit_message,
    describe,
)
from reconciler.reconcile.intake import PassCache, Reading, read_tree, remember
from reconciler.reconcile.outcome import tree_after
from reconciler.reconcile.plan import (
    Action,
    Plan,
    Planned,
    StaleRecordError,
    make_plan,
    planned_after,
    replan,
    settled_plan,
)
from reconciler.reconcile.settled import is_settled, settle
from reconciler.render.manifest import Renderer
from reconciler.render.tree import (
    TreeSnapshot,
    check_root,
    read_files,
    scan,
)
from reconciler.render.tree_cache import TreeCache

if TYPE_CHECKING:
    from collections.abc import Callable

    from reconciler.desired.state import DesiredState
    from reconciler.gitops import Workspace
    from reconciler.reconcile.intake import Reader
    from reconciler.render.templates import Templates


@dataclass(frozen=True, slots=True)
class Backoff:
    """Bounded, jittered exponential backoff between push attempts (seconds)."""

    attempts: int = 5
    base: float = 0.5
    ceiling: float = 10.0

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Full jitter: a random delay up to the capped exponential, so writers spread out."""
        cap: float = min(self.ceiling, self.base * 2.0 ** (attempt - 1))
        return rng() * cap


@dataclass(frozen=True, slots=True)
class PassOptions:
    """What a pass needs besides the desired state and the workspace."""

    path: str = DEFAULT_PATH
    region: str | None = None
    dry_run: bool = False
    backoff: Backoff = field(default_factory=Backoff)
    # Refuse a pass that would delete more than this share of the managed files (None: no
    # limit). A control plane that suddenly answers "nothing" must not empty the cluster.
    max_delete_share: float | None = None
    # Lift the deletion guard entirely, the empty-state rule included (--allow-mass-delete).
    allow_mass_delete: bool = False
    # False: skip the fetch when the workdir is the last known remote head (the service's
    # event passes); a remote that moved rejects the push, and the retry fetches.
    fetch: bool = True
    # The bounds on the input; a pass uses the rendered-policy size (see desired.limits).
    limits: Limits = field(default_factory=Limits)
    # Save what was learned of the tree's files in the workdir (``render.tree_cache``), for the
    # next process. The service's event passes keep it in memory only.
    save_tree_cache: bool = True


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What a pass did; ``proposal`` in pull-request mode, where ``commit`` is the branch's.

    ``state`` is the desired state the pass planned from (as read by its last attempt).
    """

    plan: Plan
    commit: str | None
    attempts: int
    proposal: Proposal | None = None
    state: DesiredState | None = None


def managed_root(workdir: Path, path: str) -> Path:
    """The managed root inside ``workdir``; ``path`` must be relative and stay inside."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or not pure.parts or ".." in pure.parts or pure.parts[0] == ".git":
        msg = f"--path {path!r} must be a relative folder inside the repository"
        raise ConfigError(msg)
    return workdir.joinpath(*pure.parts)


def reconcile(  # noqa: PLR0913 - what, where, how, plus two keyword-only injections
    desired: DesiredState | Reader | Reading,
    workspace: Workspace,
    templates: Templates,
    options: PassOptions,
    *,
    sleep: Callable[[float], None] = time.sleep,
    cache: PassCache | None = None,
) -> SyncResult:
    """Make the remote branch's managed tree match the desired state in at most one commit.

    ``desired`` is a state already admitted (records rendered with ``templates``: the
    service's), or a ``Reader``, read here before git is touched with what the workdir's tree
    cache knows, so unchanged entries are skipped (``intake.Reading``; a caller that must read
    before opening the workspace passes one, from ``intake.read_first``). A long-running caller
    passes the same ``cache`` every time, so a pass over an unchanged tree does not re-read it,
    and a pass after one event re-renders only what changed.
    """
    # Records, file states and changes hold no cycles: the cycle collector would only walk
    # 100,000 of each again and again as they are made.
    with many_policies():
        return _reconcile(desired, workspace, templates, options, sleep=sleep, cache=cache)


def _reconcile(  # noqa: PLR0913 - reconcile's arguments
    desired: DesiredState | Reader | Reading,
    workspace: Workspace,
    templates: Templates,
    options: PassOptions,
    *,
    sleep: Callable[[float], None],
    cache: PassCache | None,
) -> SyncResult:
    renderer = Renderer(templates, max_bytes=options.limits.policy_bytes)
    root = managed_root(workspace.path, options.path)
    cache = cache if cache is not None else PassCache()
    if isinstance(desired, Reading):
        reading = desired
        cache.blobs = cache.blobs or reading.blobs
    else:
        if cache.blobs is None:
            cache.blobs = TreeCache.load(tree_cache_file(workspace.path))
        # Read before git is touched: a source that cannot be read fails the pass first.
        reading = Reading(desired, renderer, cache.blobs)
    repaired = False
    attempt = 0
    while True:
        attempt += 1
        try:
            return _attempt(
                reading, workspace, options, templates=templates, root=root, cache=cache,
                attempt=attempt,
            )  # fmt: skip
        except PushRejectedError:
            # Someone else pushed first: their commit is kept; ours is rebuilt on top of it.
            if attempt >= options.backoff.attempts:
                raise
            if options.fetch or attempt > 1:
                # Not after a first try that skipped the fetch: that one was not contention,
                # only news we chose not to fetch.
                sleep(options.backoff.delay(attempt))
        except GitCommandError:
            # A local git command failed (a remote one would be a GitRemoteError): the
            # workdir's repository is damaged. It holds nothing the remote does not, so it is
            # cloned again and the pass starts over, once; nothing broken is ever pushed.
            if repaired:
                raise
            workspace.rebuild()
            cache.blobs = TreeCache()
            repaired = True


def _attempt(  # noqa: PLR0913 - one try of reconcile, with what it holds
    reading: Reading,
    workspace: Workspace,
    options: PassOptions,
    *,
    templates: Templates,
    root: Path,
    cache: PassCache,
    attempt: int,
) -> SyncResult:
    proposing = workspace.settings.push_branch
    # The tree is read from the commit: the working tree is aligned only before it is written
    # (or read, for a pull request's review).
    workspace.update(fetch=options.fetch or proposing is not None, align=proposing is not None)
    head = workspace.head()
    key = f"{head}:{options.path}" if head is not None else None
    saving = options.save_tree_cache and not options.dry_run
    if key is None:  # an unborn branch's (empty) tree is read from disk
        check_root(workspace.path, root)
    elif options.save_tree_cache and proposing is None and reading.all_known:
        # Not when some entry had to be validated: the full pass teaches the tree cache it.
        state = reading.state
        if is_settled(settled_file(workspace.path), key, state):
            # This commit is what this very desired set planned to: nothing to read or compare.
            plan = settled_plan(state.policies, version=state.version)
            return SyncResult(plan, None, attempt, state=state)
    tree = read_tree(workspace, root, cache, key)
    state = reading.for_tree(tree)
    try:
        plan, planned = _plan(state, tree, cache, key)
    except StaleRecordError:
        # A skipped entry whose file the plan would write: never expected, as the reading
        # checks every skipped entry against this tree. Read again, validating everything.
        state = reading.again()
        plan, planned = _plan(state, tree, cache, key)
    if not options.allow_mass_delete:
        _guard_deletions(state, plan, options.max_delete_share)
    if options.dry_run or plan.is_empty:
        if key is not None and plan.is_empty:
            _keep(workspace, cache, key, state, (tree, plan, planned), save=saving)
        result = _nothing_to_push(workspace, plan, attempt, dry_run=options.dry_run)
        return replace(result, state=state)
    # With verify_base, a head we cannot verify stops here, before anything is written.
    check_base(workspace)
    workspace.align()
    check_root(workspace.path, root)
    workspace.touch()
    if proposing:
        result = _propose(state, workspace, templates, options, (root, tree, plan), attempt)
        return replace(result, state=state)
    apply_plan(root, plan)
    message = commit_message(plan, templates, region=options.region)
    commit = workspace.commit(root, message, _trailers(state, options), _touched(tree, plan))
    if commit is None:
        return SyncResult(plan, None, attempt, state=state)
    _keep(workspace, cache, f"{commit}:{options.path}", state, (tree, plan, planned), save=saving)
    workspace.push()
    return SyncResult(plan, commit, attempt, state=state)


def _keep(  # noqa: PLR0913 - where, under which key, and what the pass planned
    workspace: Workspace,
    cache: PassCache,
    key: str,
    state: DesiredState,
    planning: tuple[TreeSnapshot, Plan, Planned | None],
    *,
    save: bool,
) -> None:
    """Remember the tree ``plan`` leaves (the commit ``key``) and the desired set it matches."""
    tree, plan, planned = planning
    held = state.rejected_ids
    planned = planned or planned_after(state.policies, plan, held_ids=held)
    after = tree_after(tree, plan, learn=save)
    remember(workspace, cache, (key, after, after is not tree), planned, save=save)
    if save and not plan.rejections:
        settle(settled_file(workspace.path), key, state)


def _trailers(state: DesiredState, options: PassOptions) -> dict[str, str]:
    trailers = {VERSION_TRAILER: str(state.version)}
    if options.region:
        trailers[REGION_TRAILER] = options.region
    return trailers


def _propose(  # noqa: PLR0913, PLR0917 - a pass's inputs, as reconcile holds them
    state: DesiredState,
    workspace: Workspace,
    templates: Templates,
    options: PassOptions,
    planned: tuple[Path, TreeSnapshot, Plan],
    attempt: int,
) -> SyncResult:
    """Pull-request mode: the plan as one commit on the watched branch, on the proposal branch.

    The branch is replaced only when its content would change: a reviewer's approval is not
    dismissed by a pass that proposes the same tree again.
    """
    root, tree, plan = planned
    branch = read_branch(workspace, workspace.settings.push_branch or "")
    scope = _review_scope(plan)
    before = read_files(root, scope)
    # The whole checkout too, for the description's "What can now reach what" (its workloads,
    # and every policy a pair of them meets); only pull-request mode reads it.
    from reconciler.render.tree import read_repository  # noqa: PLC0415 - pull-request mode only

    repository = read_repository(workspace.path)
    apply_plan(root, plan)
    staged = workspace.stage(root, _touched(tree, plan))
    base = workspace.head()
    if branch.holds(staged, base):
        return SyncResult(plan, None, attempt, Proposal(branch.name, branch.tip, pushed=False))
    message = commit_message(plan, templates, region=options.region)
    workspace.detach()
    commit = workspace.commit_staged(message, _trailers(state, options))
    if commit is None:  # pragma: no cover - a non-empty plan always changes the tree
        return SyncResult(plan, None, attempt)
    from reconciler.review import compare  # noqa: PLC0415 - only pull-request mode reviews

    trees = (repository, read_repository(workspace.path))
    review = compare(before, read_files(root, scope), trees=trees)
    origin = Origin(state.version, options.region, workspace.settings.branch, base)
    description = describe(plan, review, change_lines(plan), origin)
    publish(workspace, branch, commit, description.note)
    return SyncResult(
        plan, commit, attempt, Proposal(branch.name, commit, pushed=True, description=description)
    )


def _nothing_to_push(
    workspace: Workspace, plan: Plan, attempt: int, *, dry_run: bool
) -> SyncResult:
    """A dry run, or a pass with nothing to commit; in pull-request mode the branch goes."""
    name = workspace.settings.push_branch
    if name is None or dry_run:
        return SyncResult(plan, None, attempt)
    # Nothing is pending (the control plane reverted it, or it was merged).
    branch = read_branch(workspace, name)
    return SyncResult(plan, None, attempt, Proposal(name, None, pushed=withdraw(workspace, branch)))


def _review_scope(plan: Plan) -> set[str]:
    """The folders a review of ``plan`` must read: each changed namespace's, and the cluster's.

    A namespace's default deny can come from any policy selecting it, so the review sees every
    policy of the namespaces that change (and the clusterwide ones), not only the changed files.
    """
    folders = {change.path.partition("/")[0] for change in plan.effective if "/" in change.path}
    return {*folders, CLUSTER_FOLDER}


def _guard_deletions(state: DesiredState, plan: Plan, share: float | None) -> None:
    """Refuse a plan that empties the tree, or deletes more than ``share`` of it (None: no limit).

    A control plane (or a file) that answers "nothing" by mistake must not open the cluster's
    network: an empty desired state against a non-empty tree is refused whatever the share.
    """
    deletes = plan.count(Action.DELETE)
    if deletes == 0:
        return
    managed = deletes + plan.count(Action.UPDATE) + plan.count(Action.UNCHANGED)
    if not state.policies and not state.rejections:
        msg = (
            f"refusing to delete all {deletes} managed policies: the desired state is empty; "
            "if that is right, run once with --allow-mass-delete"
        )
        raise MassDeletionError(msg, plan=plan, deletes=deletes)
    if share is not None and deletes > share * managed:
        msg = (
            f"refusing to delete {deletes} of {managed} managed policies (more than "
            f"{share:.0%}, --max-delete-share); if the control plane is right, run once with "
            "--allow-mass-delete"
        )
        raise MassDeletionError(msg, plan=plan, deletes=deletes)


def _touched(tree: TreeSnapshot, plan: Plan) -> Touched:
    new_files = plan.count(Action.CREATE) > 0 or any(
        folder not in tree.kustomizations for folder in plan.kustomization_writes
    )
    return Touched(written_paths(plan), new_files=new_files)


def _plan(
    state: DesiredState, tree: TreeSnapshot, cache: PassCache, key: str | None
) -> tuple[Plan, Planned | None]:
    """Plan from what is known about this exact commit when possible, else from scratch.

    The second value, when known, is what the tree matches once the plan is applied.
    """
    fresh = key is not None and cache.key == key and not state.rejected_ids
    if fresh and cache.planned is not None:
        delta = replan(cache.planned, state.policies, tree, version=state.version)
        if delta is not None:
            return delta
    return _full_plan(state, tree), None


def _full_plan(state: DesiredState, tree: TreeSnapshot) -> Plan:
    return make_plan(state.policies, tree, held_ids=state.rejected_ids, version=state.version)


def render_only(state: DesiredState, out: Path) -> Plan:
    """Write the tree for ``state`` into ``out`` (no git); unmanaged files there are kept."""
    plan = _full_plan(state, scan(out))
    apply_plan(out, plan)
    return plan

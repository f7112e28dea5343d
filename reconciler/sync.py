"""One reconcile pass, as a recipe, and its retry loop.

Read desired state, align the workdir, scan, plan, apply, commit, push; on a rejected push,
start again from the new remote head.

Sits between the CLI (or, later, the long-running controller) and the modules that do the work.
It holds no state between passes: the repository itself records what was done (commit trailers
carry the control-plane version), so a pass can always be retried from scratch.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from reconciler.apply import apply_plan, written_paths
from reconciler.errors import ConfigError, PushRejectedError
from reconciler.gitops import REGION_TRAILER, VERSION_TRAILER, Workspace
from reconciler.plan import Action, Plan, make_plan, tree_after
from reconciler.render import Renderer
from reconciler.tree import ScanCache, TreeSnapshot, check_root, scan

if TYPE_CHECKING:
    from collections.abc import Callable

    from reconciler.sources import DesiredState
    from reconciler.templates import Templates

DEFAULT_PATH = "infrastructure/network-policies"
_PAST_TENSE = {Action.CREATE: "created", Action.UPDATE: "updated", Action.DELETE: "deleted"}


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


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What a pass did."""

    plan: Plan
    commit: str | None
    attempts: int


def managed_root(workdir: Path, path: str) -> Path:
    """The managed root inside ``workdir``; ``path`` must be relative and stay inside."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or not pure.parts or ".." in pure.parts or pure.parts[0] == ".git":
        msg = f"--path {path!r} must be a relative folder inside the repository"
        raise ConfigError(msg)
    return workdir.joinpath(*pure.parts)


def reconcile(  # noqa: PLR0913 - what, where, how, plus two keyword-only injections
    state: DesiredState,
    workspace: Workspace,
    templates: Templates,
    options: PassOptions,
    *,
    sleep: Callable[[float], None] = time.sleep,
    cache: ScanCache | None = None,
) -> SyncResult:
    """Make the remote branch's managed tree match ``state`` in at most one pushed commit.

    A long-running caller passes the same ``cache`` every time, so passes over an unchanged
    tree do not re-read it.
    """
    renderer = Renderer(templates)
    root = managed_root(workspace.path, options.path)
    attempt = 0
    while True:
        attempt += 1
        workspace.update()
        check_root(workspace.path, root)
        tree = _tree(workspace, root, options.path, cache)
        plan = make_plan(
            state.policies,
            tree,
            renderer,
            held_ids=state.rejected_ids,
            version=state.version,
        )
        if options.dry_run or plan.is_empty:
            return SyncResult(plan, None, attempt)
        workspace.touch()
        apply_plan(root, plan)
        trailers = {VERSION_TRAILER: str(state.version)}
        if options.region:
            trailers[REGION_TRAILER] = options.region
        message = commit_message(plan, templates, region=options.region)
        commit = workspace.commit(root, message, trailers, written_paths(plan))
        if commit is None:
            return SyncResult(plan, None, attempt)
        if cache is not None:
            cache.remember(f"{commit}:{options.path}", tree_after(tree, plan))
        try:
            workspace.push()
        except PushRejectedError:
            # Someone else pushed first: their commit is kept; ours is rebuilt on top of it.
            if attempt >= options.backoff.attempts:
                raise
            sleep(options.backoff.delay(attempt))
            continue
        return SyncResult(plan, commit, attempt)


def _tree(workspace: Workspace, root: Path, path: str, cache: ScanCache | None) -> TreeSnapshot:
    """The managed tree: recalled when the workdir is exactly a commit already seen, else read."""
    head = workspace.clean_head()
    key = f"{head}:{path}"
    if cache is not None and head is not None:
        remembered = cache.recall(key)
        if remembered is not None:
            return remembered
    tree = scan(root, cache)
    if cache is not None and head is not None:
        cache.remember(key, tree)
    return tree


def render_only(state: DesiredState, out: Path, templates: Templates) -> Plan:
    """Write the tree for ``state`` into ``out`` (no git); unmanaged files there are kept."""
    plan = make_plan(
        state.policies,
        scan(out),
        Renderer(templates),
        held_ids=state.rejected_ids,
        version=state.version,
    )
    apply_plan(out, plan)
    return plan


def commit_message(plan: Plan, templates: Templates, *, region: str | None) -> str:
    """The commit message from the template: a summary line and one line per change."""
    lines = [
        f"- {_PAST_TENSE[c.action]} {c.path} (policy {c.policy_id or 'unknown'}): {c.reason}"
        for c in plan.effective
    ]
    lines += [
        f"- regenerated {folder + '/' if folder else ''}kustomization.yaml"
        for folder in sorted(plan.kustomization_writes)
    ]
    lines += [f"- removed {folder}/kustomization.yaml" for folder in plan.kustomization_removals]
    return templates.commit_message.substitute(
        summary=plan.summary,
        changes="\n".join(lines),
        created=plan.count(Action.CREATE),
        updated=plan.count(Action.UPDATE),
        deleted=plan.count(Action.DELETE),
        version=plan.version,
        region=region or "",
    )

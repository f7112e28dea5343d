"""Desired state + tree snapshot -> Plan. Pure: no disk, no network, no clock.

Sits in the middle of a pass, after ``tree.scan`` and before ``apply``. Every decision about what
to write is made here, with a reason a reviewer can read:

* create  ``missing``: the policy has no file yet (new, or its file was deleted);
* update  ``changed`` (content differs), ``hand-edited`` (checksum broken),
  ``re-rendered`` (header template or owner changed);
* delete  ``orphaned`` (managed file, no desired policy), ``moved`` (policy lives elsewhere now),
  ``duplicate`` (a second file for the same policy);
* unchanged.

Policies that are rejected keep their existing file untouched: removing protection because the
new input is broken would be worse than keeping the last good version.
"""

from __future__ import annotations

import enum
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reconciler.errors import UnsafePathError
from reconciler.models import DesiredPolicy, Rejection
from reconciler.tree import (
    KUSTOMIZATION,
    TreeSnapshot,
    inspect,
    is_generated_kustomization,
    kustomization,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from reconciler.render import Renderer


class Action(enum.StrEnum):
    """What happens to one policy file."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class Change:
    """One policy file's fate. ``content`` is set for create and update."""

    action: Action
    path: str
    policy_id: str | None
    reason: str
    content: bytes | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything one pass would do, computed before anything is done."""

    changes: tuple[Change, ...]
    kustomization_writes: dict[str, bytes] = field(default_factory=dict)
    kustomization_removals: tuple[str, ...] = ()
    rejections: tuple[Rejection, ...] = ()
    version: int = 0

    def count(self, action: Action) -> int:
        """How many policy files get ``action``."""
        return sum(1 for change in self.changes if change.action is action)

    @property
    def is_empty(self) -> bool:
        """True when applying the plan would change no byte: no commit is made."""
        return (
            not self.kustomization_writes
            and not self.kustomization_removals
            and all(change.action is Action.UNCHANGED for change in self.changes)
        )

    @property
    def summary(self) -> str:
        """``"3 created, 1 updated, 0 deleted"``."""
        return (
            f"{self.count(Action.CREATE)} created, {self.count(Action.UPDATE)} updated, "
            f"{self.count(Action.DELETE)} deleted"
        )

    @property
    def effective(self) -> list[Change]:
        """The changes that write or delete a file, in path order."""
        return sorted(
            (c for c in self.changes if c.action is not Action.UNCHANGED), key=lambda c: c.path
        )


def make_plan(
    desired: Sequence[DesiredPolicy],
    tree: TreeSnapshot,
    renderer: Renderer,
    *,
    held_ids: Iterable[str] = (),
    version: int = 0,
) -> Plan:
    """Compare ``desired`` with ``tree``; ``held_ids`` are rejected policies whose files stay."""
    accepted, rejections = _place(desired, tree)
    held = set(held_ids) | {r.policy_id for r in rejections}
    changes: list[Change] = []
    claimed: set[str] = set()
    wanted_path = {p.id: p.path for p in accepted}
    for policy in accepted:
        claimed.add(policy.path)
        changes.append(_decide(policy, tree, renderer))
    for path in sorted(tree.files):
        state = tree.files[path]
        if path in claimed or not state.managed or state.policy_id in held:
            continue
        moved_to = wanted_path.get(state.policy_id or "")
        reason = f"moved to {moved_to}" if moved_to else "orphaned"
        changes.append(Change(Action.DELETE, path, state.policy_id, reason))
    writes, removals = _kustomizations(tree, changes)
    return Plan(
        changes=tuple(sorted(changes, key=lambda c: c.path)),
        kustomization_writes=writes,
        kustomization_removals=removals,
        rejections=tuple(rejections),
        version=version,
    )


def tree_after(tree: TreeSnapshot, plan: Plan) -> TreeSnapshot:
    """The snapshot ``scan`` would return once ``plan`` is applied to ``tree``, without a scan."""
    files = dict(tree.files)
    for change in plan.changes:
        if change.action is Action.DELETE:
            files.pop(change.path, None)
        elif change.content is not None:
            files[change.path] = inspect(change.path, change.content)
    kustomizations = {**tree.kustomizations, **plan.kustomization_writes}
    for folder in plan.kustomization_removals:
        kustomizations.pop(folder, None)
    return TreeSnapshot(files=files, kustomizations=kustomizations, symlinks=list(tree.symlinks))


def _place(
    desired: Sequence[DesiredPolicy], tree: TreeSnapshot
) -> tuple[list[DesiredPolicy], list[Rejection]]:
    """Drop policies that share an id or a file, or whose file is not ours; say why for each."""
    by_path: dict[str, list[DesiredPolicy]] = defaultdict(list)
    ids = Counter(p.id for p in desired)
    rejections: list[Rejection] = []
    for policy in desired:
        if ids[policy.id] > 1:
            rejections.append(Rejection(policy.id, "id", "the same id is desired more than once"))
        else:
            by_path[policy.path].append(policy)
    accepted: list[DesiredPolicy] = []
    for path, group in by_path.items():
        if len(group) > 1:
            for policy in group:
                others = ", ".join(o.id for o in group if o is not policy)
                rejections.append(
                    Rejection(policy.id, "name", f"maps to {path} like policy {others}")
                )
            continue
        policy = group[0]
        state = tree.files.get(path)
        if state is not None and not state.managed:
            reason = f"{path} exists and is not managed by cilium-gitops; it is left as is"
            rejections.append(Rejection(policy.id, "name", reason))
            continue
        link = next((p for p in (policy.folder, path) if p in tree.symlinks), None)
        if link is not None:
            reason = f"{link} is a symlink in the managed tree; refusing to write through it"
            rejections.append(Rejection(policy.id, "name", reason))
            continue
        accepted.append(policy)
    return accepted, rejections


def _decide(policy: DesiredPolicy, tree: TreeSnapshot, renderer: Renderer) -> Change:
    state = tree.files.get(policy.path)
    if state is None:
        reason = "missing"
    elif not state.intact:
        reason = "hand-edited"
    elif state.digest != renderer.digest(policy):
        reason = "changed"
    elif state.policy_id != policy.id or state.header != renderer.header(policy):
        reason = "re-rendered"
    else:
        return Change(Action.UNCHANGED, policy.path, policy.id, "up to date")
    action = Action.CREATE if state is None else Action.UPDATE
    return Change(action, policy.path, policy.id, reason, renderer.document(policy))


def _kustomizations(
    tree: TreeSnapshot, changes: list[Change]
) -> tuple[dict[str, bytes], tuple[str, ...]]:
    """Regenerate every folder's kustomization from the files that will exist."""
    final = set(tree.files)
    for change in changes:
        if change.action is Action.CREATE:
            final.add(change.path)
        elif change.action is Action.DELETE:
            final.discard(change.path)
    by_folder: dict[str, list[str]] = defaultdict(list)
    for path in final:
        folder, _, name = path.rpartition("/")
        by_folder[folder].append(name)
    root_entries = by_folder.pop("", []) + list(by_folder)
    wanted = {"": kustomization(root_entries)}
    wanted.update({folder: kustomization(names) for folder, names in by_folder.items()})
    writes: dict[str, bytes] = {}
    for folder, content in sorted(wanted.items()):
        current = tree.kustomizations.get(folder)
        if current == content:
            continue
        if current is not None and not is_generated_kustomization(current):
            where = f"{folder}/{KUSTOMIZATION}" if folder else KUSTOMIZATION
            msg = (
                f"{where} was written by hand; refusing to overwrite it "
                "(remove it to let cilium-gitops manage the folder)"
            )
            raise UnsafePathError(msg)
        writes[folder] = content
    removals = tuple(
        sorted(
            folder
            for folder, content in tree.kustomizations.items()
            if folder and folder not in wanted and is_generated_kustomization(content)
        )
    )
    return writes, removals

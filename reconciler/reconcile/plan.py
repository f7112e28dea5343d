"""Desired state + tree snapshot -> Plan. Pure: no disk, no network, no clock.

Sits in the middle of a pass, after ``render.tree.scan`` and before ``apply``. Every decision about
what to write is made here, with a reason a reviewer can read:

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
from typing import TYPE_CHECKING, NamedTuple

from reconciler.desired.names import KUSTOMIZATION
from reconciler.desired.record import Rejection, unpack
from reconciler.errors import UnsafePathError
from reconciler.render.tree import (
    TreeSnapshot,
    is_generated_kustomization,
    kustomization,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from reconciler.desired.record import Record


class Action(enum.StrEnum):
    """What happens to one policy file."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    UNCHANGED = "unchanged"


class Change(NamedTuple):
    """One policy file's fate. ``content`` is set for create and update.

    ``input`` is the input key of the record planned here, when known: what the file is known
    to match once the plan is applied (the tree cache keeps it). A named tuple: a plan over
    100,000 policies holds 100,000 of them.
    """

    action: Action
    path: str
    policy_id: str | None
    reason: str
    body: bytes | None = None  # the file's bytes as the record holds them (``packed``)
    input: str | None = None
    # The written file's fingerprints, so the tree after the plan is known without reading it.
    digest: str | None = None
    header: str | None = None
    # The body stays compressed, as the service holds it, until the file is written: a plan
    # that creates 100,000 files would otherwise hold every one of them unpacked at once.
    packed: bool = False

    @property
    def content(self) -> bytes | None:
        """The file's bytes (create and update)."""
        if self.body is None or not self.packed:
            return self.body
        return unpack(self.body)


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything one pass would do, computed before anything is done."""

    changes: tuple[Change, ...]
    kustomization_writes: dict[str, bytes] = field(default_factory=dict)
    kustomization_removals: tuple[str, ...] = ()
    rejections: tuple[Rejection, ...] = ()
    version: int = 0
    # Derived once: with 10,000 unchanged entries, every reader walking ``changes`` adds up.
    _effective: tuple[Change, ...] = field(init=False, repr=False, compare=False)
    _counts: Counter[Action] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Index the changes that do something, and count each action."""
        effective = sorted(
            (c for c in self.changes if c.action is not Action.UNCHANGED), key=lambda c: c.path
        )
        object.__setattr__(self, "_effective", tuple(effective))
        counts = Counter(c.action for c in effective)
        counts[Action.UNCHANGED] = len(self.changes) - len(effective)
        object.__setattr__(self, "_counts", counts)

    def count(self, action: Action) -> int:
        """How many policy files get ``action``."""
        return self._counts[action]

    @property
    def is_empty(self) -> bool:
        """True when applying the plan would change no byte: no commit is made."""
        return (
            not self.kustomization_writes
            and not self.kustomization_removals
            and not self._effective
        )

    @property
    def summary(self) -> str:
        """``"3 created, 1 updated, 0 deleted"``."""
        return (
            f"{self.count(Action.CREATE)} created, {self.count(Action.UPDATE)} updated, "
            f"{self.count(Action.DELETE)} deleted"
        )

    @property
    def effective(self) -> tuple[Change, ...]:
        """The changes that write or delete a file, in path order."""
        return self._effective


def make_plan(
    desired: Sequence[Record],
    tree: TreeSnapshot,
    *,
    held_ids: Iterable[str] = (),
    version: int = 0,
) -> Plan:
    """Compare ``desired`` with ``tree``; ``held_ids`` are rejected policies whose files stay."""
    accepted, rejections = _place(desired, tree)
    changes: list[Change] = []
    claimed: set[str] = set()
    wanted_path = {p.id: p.path for p in accepted}
    for policy in accepted:
        claimed.add(policy.path)
        changes.append(_decide(policy, tree))
    held = set(held_ids) | {r.policy_id for r in rejections}
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


def settled_plan(desired: Sequence[Record], *, version: int = 0) -> Plan:
    """``make_plan`` for a tree known to be exactly what ``desired`` plans to (``settled``).

    Every policy is up to date, as ``make_plan`` would find it one by one.
    """
    changes = sorted((_settled(p.path, p.id, p.input) for p in desired), key=lambda c: c.path)
    return Plan(changes=tuple(changes), version=version)


# Above this many changed policies a delta saves little; plan the whole set.
_DELTA_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Planned:
    """A desired set a tree is known to match exactly: the base for planning the next delta."""

    by_id: dict[str, Record]
    changes: dict[str, Change]  # path -> its UNCHANGED change, in path order


def planned_after(
    desired: Sequence[Record], plan: Plan, *, held_ids: Iterable[str] = ()
) -> Planned | None:
    """What the tree matches once ``plan`` (made from ``desired``) is applied; None if unsure.

    Only a plan that placed every policy qualifies: with rejections or held files, the next
    pass must look at the whole set again.
    """
    if plan.rejections or any(True for _ in held_ids):
        return None
    changes = {
        c.path: c if c.action is Action.UNCHANGED else _settled(c.path, c.policy_id, c.input)
        for c in plan.changes
        if c.action is not Action.DELETE
    }
    by_id = {p.id: p for p in desired}
    if len(by_id) != len(changes):
        return None
    return Planned(by_id=by_id, changes=changes)


def replan(
    base: Planned,
    desired: Sequence[Record],
    tree: TreeSnapshot,
    *,
    version: int = 0,
) -> tuple[Plan, Planned] | None:
    """``make_plan`` for a tree that matches ``base``, looking only at the policies that changed.

    Policies that are the very objects of ``base`` are known to be up to date, so an event that
    changes one policy of 10,000 costs one render, not 10,000 comparisons. Returns None whenever
    the delta could need a judgement only the full plan makes (duplicates, collisions, files not
    ours, symlinks, many changes); the caller then calls ``make_plan``. The caller also plans in
    full when input was rejected, since held files are outside any delta.

    Also returns the ``Planned`` the tree will match once the plan is applied.
    """
    delta = _delta(base, desired)
    if delta is None:
        return None
    changed, stale, claimed, by_id = delta
    accepted, rejections = _place(changed, tree)
    if rejections:
        return None
    changes = dict(base.changes)
    for path in stale - claimed:
        del changes[path]
    wanted_path = {p.id: p.path for p in accepted}
    for policy in accepted:
        changes[policy.path] = _decide(policy, tree)
    for path in stale - claimed:
        state = tree.files.get(path)
        if state is not None and state.managed:
            moved_to = wanted_path.get(state.policy_id or "")
            reason = f"moved to {moved_to}" if moved_to else "orphaned"
            changes[path] = Change(Action.DELETE, path, state.policy_id, reason)
    ordered = list(changes.values())
    files_come_or_go = bool(claimed - base.changes.keys() or stale - claimed)
    if files_come_or_go:
        ordered.sort(key=lambda c: c.path)
        writes, removals = _kustomizations(tree, ordered)
    else:  # the same files as before: the kustomizations written last time still hold
        writes, removals = {}, ()
    plan = Plan(
        changes=tuple(ordered),
        kustomization_writes=writes,
        kustomization_removals=removals,
        version=version,
    )
    return plan, _next_base(plan, changes, by_id, sort=files_come_or_go)


def _next_base(
    plan: Plan, changes: dict[str, Change], by_id: dict[str, Record], *, sort: bool
) -> Planned:
    """``planned_after`` for a delta plan, touching only the entries the plan changes."""
    after = dict(sorted(changes.items())) if sort else dict(changes)
    for change in plan.effective:
        if change.action is Action.DELETE:
            del after[change.path]
        else:
            after[change.path] = _settled(change.path, change.policy_id, change.input)
    return Planned(by_id=by_id, changes=after)


def _delta(
    base: Planned, desired: Sequence[Record]
) -> tuple[list[Record], set[str], set[str], dict[str, Record]] | None:
    """The changed policies, the paths their old versions held, the paths they claim now."""
    by_id = {p.id: p for p in desired}
    if len(by_id) != len(desired):
        return None
    previous = base.by_id
    changed = [p for p in desired if previous.get(p.id) is not p]
    if len(changed) > _DELTA_LIMIT:
        return None
    stale = {previous[i].path for i in previous.keys() - by_id.keys()}
    stale |= {previous[p.id].path for p in changed if p.id in previous}
    claimed: set[str] = set()
    for policy in changed:
        if policy.path in claimed or (policy.path in base.changes and policy.path not in stale):
            return None
        claimed.add(policy.path)
    return changed, stale, claimed, by_id


def _place(desired: Sequence[Record], tree: TreeSnapshot) -> tuple[list[Record], list[Rejection]]:
    """Drop policies that share an id or a file, or whose file is not ours; say why for each."""
    by_path = {p.path: p for p in desired}
    if len(by_path) == len(desired) and len({p.id for p in desired}) == len(desired):
        # The common case, checked once rather than per policy: every id and path unique.
        groups: Iterable[tuple[str, list[Record]]] = ((p.path, [p]) for p in desired)
        rejections: list[Rejection] = []
    else:
        groups, rejections = _groups(desired)
    accepted: list[Record] = []
    files = tree.files
    symlinks = set(tree.symlinks)
    for path, group in groups:
        if len(group) > 1:
            for policy in group:
                others = ", ".join(o.id for o in group if o is not policy)
                rejections.append(
                    Rejection(policy.id, "name", f"maps to {path} like policy {others}")
                )
            continue
        policy = group[0]
        state = files.get(path)
        if state is not None and not state.managed:
            reason = f"{path} exists and is not managed by cilium-gitops; it is left as is"
            rejections.append(Rejection(policy.id, "name", reason))
            continue
        link = _symlink_on_the_way(policy, symlinks) if symlinks else None
        if link is not None:
            reason = f"{link} is a symlink in the managed tree; refusing to write through it"
            rejections.append(Rejection(policy.id, "name", reason))
            continue
        accepted.append(policy)
    return accepted, rejections


def _groups(desired: Sequence[Record]) -> tuple[list[tuple[str, list[Record]]], list[Rejection]]:
    """Policies by path, without those whose id is desired twice (each of those rejected)."""
    by_path: dict[str, list[Record]] = defaultdict(list)
    ids = Counter(p.id for p in desired)
    rejections: list[Rejection] = []
    for policy in desired:
        if ids[policy.id] > 1:
            reason = "the same id is desired more than once"
            rejections.append(Rejection(policy.id, "id", reason))
        else:
            by_path[policy.path].append(policy)
    return list(by_path.items()), rejections


def _symlink_on_the_way(policy: Record, symlinks: set[str]) -> str | None:
    return next((p for p in (policy.folder, policy.path) if p in symlinks), None)


def _settled(path: str, policy_id: str | None, input_digest: str | None = None) -> Change:
    """The entry of a file that already is what its policy renders to."""
    return Change(Action.UNCHANGED, path, policy_id, "up to date", None, input_digest)


class StaleRecordError(Exception):
    """A record without its file's bytes met a tree that does not hold them: admit it again.

    Never expected: records are skipped only against the very tree they are planned with. The
    pass admits every entry again rather than plan from a record it cannot write.
    """


def _decide(policy: Record, tree: TreeSnapshot) -> Change:
    """What ``policy``'s file needs."""
    state = tree.files.get(policy.path)
    if state is None:
        reason = "missing"
    elif not state.intact:
        reason = "hand-edited"
    elif state.digest != policy.digest:
        reason = "changed"
    elif state.policy_id != policy.id or state.header != policy.header:
        reason = "re-rendered"
    else:
        return _settled(policy.path, policy.id, policy.input)
    if policy.body is None:
        raise StaleRecordError(policy.path)
    action = Action.CREATE if state is None else Action.UPDATE
    return Change(
        action,
        policy.path,
        policy.id,
        reason,
        policy.body,
        policy.input,
        policy.digest,
        policy.header,
        policy.packed,
    )


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

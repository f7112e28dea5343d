"""The tree a plan leaves: what a scan would find once it is applied, without the scan.

Sits after ``plan``, for ``passes``: a long-running process keeps the tree of the commit it just
made (``intake.PassCache``), and every pass keeps what it learned of each file for the next
one (``render.tree_cache``). Pure.
"""

from __future__ import annotations

from reconciler.reconcile.plan import Action, Change, Plan
from reconciler.render.tree import FileState, TreeSnapshot, blob_id, inspect


def tree_after(tree: TreeSnapshot, plan: Plan, *, learn: bool = False) -> TreeSnapshot:
    """The snapshot ``scan`` would return once ``plan`` is applied to ``tree``, without a scan.

    With ``learn``, files planned unchanged also keep the input they were planned against
    (``FileState.input``), for the tree cache. A plan that changes nothing and teaches nothing
    gives back ``tree`` itself: a no-op pass over 100,000 files copies none of them.
    """
    learned = _learned(tree, plan) if learn else {}
    if plan.is_empty and not learned:
        return tree
    files = dict(tree.files)
    files.update(learned)
    for change in plan.effective:
        if change.action is Action.DELETE:
            files.pop(change.path, None)
        elif change.body is not None:
            files[change.path] = _written(change)
    kustomizations = {**tree.kustomizations, **plan.kustomization_writes}
    for folder in plan.kustomization_removals:
        kustomizations.pop(folder, None)
    return TreeSnapshot(files=files, kustomizations=kustomizations, symlinks=list(tree.symlinks))


def _learned(tree: TreeSnapshot, plan: Plan) -> dict[str, FileState]:
    """The files planned unchanged whose state does not yet say which input they match."""
    files = tree.files
    learned = {}
    for change in plan.changes:
        if change.action is Action.UNCHANGED and change.input is not None:
            state = files.get(change.path)
            if state is not None and state.input != change.input:
                learned[change.path] = state._replace(input=change.input)
    return learned


def _written(change: Change) -> FileState:
    """What ``inspect`` would find in the file ``change`` writes, without reading it again."""
    content = change.content
    assert content is not None  # noqa: S101 - only a create or update writes
    if change.digest is None or change.header is None:
        return inspect(change.path, content, input_digest=change.input)
    blob = blob_id(content)
    return FileState(
        change.path,
        managed=True,
        intact=True,
        policy_id=change.policy_id,
        digest=change.digest,
        header=change.header,
        blob=blob,
        input=change.input,
    )

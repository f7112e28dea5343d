"""What a pass plans from: the desired state and the tree, each read no more than it must be.

Sits at the start of ``passes.reconcile``. The tree comes from the commit's listing and the tree
cache (``read_tree``), or from memory in a long-running process (``PassCache``); what a pass
learned is kept for the next one (``remember``). The desired state is read once per pass, before
git is touched, and again only where the tree moved (``Reading``). A pass over an unchanged desired
state of 100,000 policies should cost reading the file, not validating and rendering every entry:
the admission knows the inputs the tree cache (``render.tree_cache``) says intact files were
planned against, and such entries become records without bodies (``desired.record``). That
knowledge comes from the workdir as the last pass left it; each attempt checks it against the tree
it plans with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.desired.state import DesiredState
from reconciler.gitops import list_tree, read_blob, tree_cache_file
from reconciler.render.admission import Admission
from reconciler.render.manifest import Renderer
from reconciler.render.tree import scan, snapshot
from reconciler.render.tree_cache import TreeCache

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    from reconciler.desired.limits import Limits
    from reconciler.desired.record import Admit
    from reconciler.gitops import Workspace
    from reconciler.reconcile.plan import Planned
    from reconciler.render.templates import Templates
    from reconciler.render.tree import FileState, TreeSnapshot

    # Reads the whole desired state, each policy admitted through the pass's ``Admit``.
    Reader = Callable[[Admit], DesiredState]


@dataclass(slots=True)
class PassCache:
    """What a long-running caller keeps between passes, so unchanged work is not redone.

    ``blobs`` is what is known of the tree's files by content (loaded from the workdir when
    None). ``tree`` and ``planned`` are exact, not heuristic: they describe the commit named by
    ``key`` (and the managed path), and are used only while the workdir is known to be exactly
    that commit.
    """

    blobs: TreeCache | None = None
    key: str | None = None
    tree: TreeSnapshot | None = None
    planned: Planned | None = None

    def remember(self, key: str, tree: TreeSnapshot, planned: Planned | None) -> None:
        """Keep the tree of commit ``key`` and the desired set it matches (if known)."""
        self.key, self.tree, self.planned = key, tree, planned


def read_tree(workspace: Workspace, root: Path, cache: PassCache, key: str | None) -> TreeSnapshot:
    """The managed tree of the commit the workdir is (``key``), from memory when possible."""
    if key is not None and cache.key == key and cache.tree is not None:
        return cache.tree
    if key is None:  # an unborn branch: update left the workdir empty
        return scan(root)
    if cache.blobs is None:
        cache.blobs = TreeCache()
    return snapshot(
        root, list_tree(workspace, root), cache.blobs, lambda sha: read_blob(workspace, sha)
    )


def remember(
    workspace: Workspace,
    cache: PassCache,
    known: tuple[str, TreeSnapshot, bool],
    planned: Planned | None,
    *,
    save: bool,
) -> None:
    """Keep the tree of commit ``key`` (and what it matches) for the next pass; save the cache.

    ``known`` is the key, the tree, and whether the tree differs from the one planned against
    (a no-op that learned nothing leaves the cache as the snapshot made it). ``save``: also
    write the tree cache to the workdir, for the next process.
    """
    key, tree, moved = known
    cache.remember(key, tree, planned)
    if not save:
        return
    if cache.blobs is None:
        cache.blobs = TreeCache()
    if moved or cache.blobs.changed:
        cache.blobs.keep(tree.files.values())
    if cache.blobs.changed:
        try:
            cache.blobs.save(tree_cache_file(workspace.path))
        except OSError:
            # Only a later pass's speed depends on it: a full disk fails the next write
            # that matters, not this one.
            cache.blobs.changed = True


class Reading:
    """The desired state of one pass, read once, and again only where the tree moved on.

    A ``Reader`` is called with an admission that knows the inputs the tree cache says intact
    files were planned against, so those entries are not validated or rendered.
    Each attempt checks the skipped entries against the tree it plans with (``for_tree``): one
    whose file is not the one planned against its input (another writer changed it since) is
    read again, with its input no longer known.
    """

    def __init__(
        self, desired: DesiredState | Reader, renderer: Renderer, blobs: TreeCache
    ) -> None:
        """Read ``desired`` now (a state already admitted is taken as it is)."""
        self._renderer = renderer
        self.blobs = blobs
        if isinstance(desired, DesiredState):
            self._reader: Reader | None = None
            self._known: dict[str, FileState] = {}
            self.state = desired
            return
        self._reader = desired
        self._known = {
            s.input: s for s in blobs.states() if s.input is not None and s.managed and s.intact
        }
        self.state = desired(Admission(renderer, tree=self._known))

    @property
    def all_known(self) -> bool:
        """Whether every record was made from what the tree cache knows (none was validated)."""
        return self._reader is not None and all(r.body is None for r in self.state.policies)

    def for_tree(self, tree: TreeSnapshot) -> DesiredState:
        """The state, with every skipped entry true of ``tree``."""
        if self._reader is None or not self._known:
            return self.state
        files = tree.files
        stale = {
            record.input
            for record in self.state.policies
            if record.body is None and _input_at(files, record.path) != record.input
        }
        if stale:
            self._known = {k: v for k, v in self._known.items() if k not in stale}
            admit = Admission(self._renderer, tree=self._known)
            self.state = self._reader(admit)
        return self.state

    def again(self) -> DesiredState:
        """Read everything again, skipping nothing."""
        if self._reader is not None:
            self._known = {}
            self.state = self._reader(Admission(self._renderer))
        return self.state


def _input_at(files: Mapping[str, FileState], path: str) -> str | None:
    state = files.get(path)
    return state.input if state is not None and state.intact else None


def read_first(reader: Reader, templates: Templates, *, limits: Limits, workdir: Path) -> Reading:
    """Read the desired state for a pass in ``workdir`` before its workspace is opened.

    For a command that must fail on a source it cannot read (a wrong token, a missing file)
    before it creates or touches a workdir; pass the result to ``passes.reconcile``.
    """
    renderer = Renderer(templates, max_bytes=limits.policy_bytes)
    return Reading(reader, renderer, TreeCache.load(tree_cache_file(workdir)))

"""What the last pass settled: the tree of commit K is exactly what desired set D plans to.

Sits beside ``intake``, between reading the desired state and reading the tree. A pass whose
plan was complete (nothing rejected, nothing held) leaves one line in the workdir: the commit it
left (``<commit>:<managed path>``) and the fingerprint of the desired set it planned
(``fingerprint``). The next one-shot pass reads the desired state as always; when the workdir's
commit and the state's fingerprint are the ones settled, its plan is known to be empty without
listing the tree, loading what is known of 100,000 files, or comparing them
(``passes._attempt``).

That line is a fact about two immutable things, so it never goes stale: a commit's tree never
changes, and the fingerprint is the ordered input keys of every record, each salted with
everything that shapes a file (``render.admission``). ``make_plan`` is a pure function of the
records and the tree, so the same pair plans the same: the plan it gives is exactly the one
``make_plan`` would (``plan.settled_plan``; the property tests compare them). Any other commit,
any other input, an edited, torn or missing file: no match, and the pass plans in full. The file
is always safe to delete.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from reconciler.desired.state import DesiredState

_MAGIC = "cilium-gitops settled 1"
_SLICE = 4096


def fingerprint(state: DesiredState) -> str | None:
    """The digest of every record's input key, in order; None when a pass cannot settle on it.

    A state with rejections leaves files held and reports them every time, and a record whose
    input is unknown cannot be told apart from another: neither is ever settled.
    """
    if state.rejections:
        return None
    hashed = hashlib.sha256()
    records = state.policies
    # In slices: the keys of 100,000 records joined at once would be 13 MB more at a cold
    # sync's peak of memory.
    for start in range(0, len(records), _SLICE):
        keys = [record.input for record in records[start : start + _SLICE]]
        if None in keys:
            return None
        hashed.update("".join(f"{key}\n" for key in keys if key is not None).encode())
    return hashed.hexdigest()


def _line(key: str, digest: str = "") -> str:
    return f"{_MAGIC}\n{key}\n{digest}\n" if digest else f"{_MAGIC}\n{key}\n"


def _said(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def is_settled(path: Path, key: str, state: DesiredState) -> bool:
    """Whether the file at ``path`` says the commit ``key`` is what ``state`` plans to.

    The state is fingerprinted only when the line names this commit: a pass after another
    writer's commit does not hash 100,000 keys for nothing.
    """
    said = _said(path)
    if said is None or not said.startswith(_line(key)):
        return False
    digest = fingerprint(state)
    # A torn or edited file cannot spell the current commit and fingerprint by accident.
    return digest is not None and said == _line(key, digest)


def settle(path: Path, key: str, state: DesiredState) -> None:
    """Say that the commit ``key`` is what ``state`` plans to (atomically), if it can be said.

    Only a later pass's speed depends on it, so a write that fails is left at that.
    """
    digest = fingerprint(state)
    if digest is None or _said(path) == _line(key, digest):
        return
    temporary = path.with_name(path.name + ".tmp")
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(_line(key, digest), encoding="utf-8")
        temporary.replace(path)

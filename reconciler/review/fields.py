"""Field-level diff of two JSON-like values: the "what changed in the file" half of a review.

Used by ``diff`` for every created, updated and deleted policy, next to the connectivity diff
that says what the change means. Each change is one leaf, at a path written the way reviewers
and ``validate`` findings write them (``spec.ingress[0].toPorts[0].ports[0].port``), with the
old and new values as JSON so a string ``"80"`` and a number ``80`` stay apart.

Lists are compared index by index, as ``kubectl diff`` and the API server's field paths do, so
an item inserted at the front shows as every later index changing: predictable beats clever
here, since a reviewer reads the paths against the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

# Keys that read unambiguously after a dot; others (label keys such as
# "app.kubernetes.io/name") are quoted in brackets so the path still splits one way.
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


class Absent:
    """The value on the side of a diff where a field (or the whole document) does not exist."""

    def __repr__(self) -> str:
        """Shown in test failures."""
        return "ABSENT"


ABSENT = Absent()


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One leaf that was added, removed or changed; values as JSON text, None where absent."""

    path: str
    old: str | None
    new: str | None

    @property
    def op(self) -> str:
        """``added``, ``removed`` or ``changed``."""
        if self.old is None:
            return "added"
        return "removed" if self.new is None else "changed"

    def __str__(self) -> str:
        """``path: old -> new``, ``+ path: new`` or ``- path: old``."""
        if self.old is None:
            return f"+ {self.path}: {self.new}"
        if self.new is None:
            return f"- {self.path}: {self.old}"
        return f"{self.path}: {self.old} -> {self.new}"


def _json(value: object) -> str:
    # ASCII only: a value may hold bidirectional or invisible characters, which must show as
    # escapes in a terminal or a pull-request comment rather than reorder the line.
    return json.dumps(value, sort_keys=True, ensure_ascii=True, default=str)


def _key(path: str, key: object) -> str:
    text = str(key)
    if _PLAIN_KEY.fullmatch(text):
        return f"{path}.{text}" if path else text
    return f"{path}[{_json(text)}]"


def _children(value: object, path: str) -> Iterator[tuple[str, object]] | None:
    """The children of a container with their paths; None for a scalar."""
    if isinstance(value, Mapping):
        return ((_key(path, k), v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0])))
    if isinstance(value, list):
        return ((f"{path}[{i}]", v) for i, v in enumerate(value))
    return None


def _leaves(value: object, path: str) -> Iterator[tuple[str, object]]:
    children = _children(value, path)
    found = False
    for child_path, child in children or ():
        found = True
        yield from _leaves(child, child_path)
    if not found:  # a scalar, or an empty container: itself a leaf ({} and [] mean something)
        yield path, value


def diff(before: object, after: object, path: str = "") -> list[FieldChange]:
    """Every leaf that differs between ``before`` and ``after``; ``ABSENT`` for a missing side."""
    if before is ABSENT:
        return [FieldChange(p or "(document)", None, _json(v)) for p, v in _leaves(after, path)]
    if after is ABSENT:
        return [FieldChange(p or "(document)", _json(v), None) for p, v in _leaves(before, path)]
    pairs = _pairs(before, after, path)
    if pairs is not None:
        return [change for p, old, new in pairs for change in diff(old, new, p)]
    if _same(before, after):
        return []
    if _is_leaf(before) and _is_leaf(after):
        return [FieldChange(path or "(document)", _json(before), _json(after))]
    # A container against a leaf or a container of the other type: old leaves go, new ones come.
    return diff(before, ABSENT, path) + diff(ABSENT, after, path)


def _pairs(before: object, after: object, path: str) -> list[tuple[str, object, object]] | None:
    """Matching children of two non-empty containers of one type; None for anything else."""
    if isinstance(before, Mapping) and isinstance(after, Mapping) and before and after:
        keys = sorted({*before, *after}, key=str)
        return [(_key(path, k), before.get(k, ABSENT), after.get(k, ABSENT)) for k in keys]
    if isinstance(before, list) and isinstance(after, list) and before and after:
        return [
            (
                f"{path}[{index}]",
                before[index] if index < len(before) else ABSENT,
                after[index] if index < len(after) else ABSENT,
            )
            for index in range(max(len(before), len(after)))
        ]
    return None


def _is_leaf(value: object) -> bool:
    return not (isinstance(value, (Mapping, list)) and value)


def _same(before: object, after: object) -> bool:
    # True == 1 in Python, but not in YAML: a boolean turned into a number is a change.
    return type(before) is type(after) and before == after

"""What is known about the files of the managed tree, by git blob id, kept between passes.

Sits beside ``tree``: ``tree.snapshot`` asks it before reading a file, so a pass over an
unchanged tree of 100,000 files reads none of them. Keyed by content (the blob id the commit's
listing gives), never by timestamps: a blob's bytes never change, so what was learned from them
holds for as long as the blob is in the tree. Each entry also keeps the input digest the file
was last planned against (``FileState.input``), which lets a one-shot pass skip validating
entries that did not change (``render.admission``).

The cache is saved in the workdir's ``.git`` (``save``) and is always safe to delete. A file
that does not read back exactly as written (a bad checksum, another format, a line out of
shape) is ignored as a whole; an entry whose blob is not in the commit is never used. So a
wrong cache can cost a pass time, never change what it writes: the digests it holds are those
``inspect`` computes from the blob's bytes, and inputs are salted with everything that shapes
a file.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import TYPE_CHECKING, BinaryIO

from reconciler.desired.record import many_policies
from reconciler.render.tree import FileState

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

_MAGIC = "cilium-gitops tree cache 1"
_SEP = "\x1f"  # ASCII unit separator: never in a blob id, digest, or a value we keep
_FIELDS = 8
_CHUNK = 512


class TreeCache:
    """Blob id -> what ``inspect`` found in it (the path is the last one it was seen at)."""

    def __init__(self, states: Iterable[FileState] = ()) -> None:
        """Start with ``states`` (each must carry its blob id)."""
        self._states: dict[str, FileState] = {s.blob: s for s in states if s.blob}
        self.changed = False

    def __len__(self) -> int:
        """How many blobs are known."""
        return len(self._states)

    def states(self) -> Iterable[FileState]:
        """Everything known, one state per blob."""
        return self._states.values()

    def get(self, blob: str, path: str) -> FileState | None:
        """What is known of ``blob``, as found at ``path``.

        The input a file was planned against holds only at the path it was planned at: an
        input renders to one path, and a copy of the file elsewhere (same blob) is not it.
        """
        state = self._states.get(blob)
        if state is None or state.path == path:
            return state
        return state._replace(path=path, input=None)

    def put(self, state: FileState) -> None:
        """Learn (or re-learn) one file."""
        if state.blob and self._states.get(state.blob) != state:
            self._states[state.blob] = state
            self.changed = True

    def keep(self, states: Iterable[FileState]) -> None:
        """Hold exactly ``states`` (a tree's files): the cache never outgrows the tree."""
        listed = list(states)
        fresh = {s.blob: s for s in listed if s.blob and s.input is None}
        # Where two paths hold the same blob, the one that knows its input is kept.
        fresh.update((s.blob, s) for s in listed if s.blob and s.input is not None)
        if fresh != self._states:
            self._states = fresh
            self.changed = True

    @classmethod
    def load(cls, path: Path) -> TreeCache:
        """The cache saved at ``path``; an empty one if it is missing or not exactly ours."""
        try:
            text = path.read_bytes().decode()
        except (OSError, UnicodeDecodeError):
            return cls()
        lines = text.split("\n")
        # magic, entries..., checksum, "" (the file ends in a newline)
        if len(lines) < 3 or lines[0] != _MAGIC or lines[-1] != "":  # noqa: PLR2004
            return cls()
        body = text[: len(text) - len(lines[-2]) - 1]
        if lines[-2] != _checksum(body):
            return cls()
        with many_policies():  # 100,000 tuples and no cycle among them
            return cls._parse(lines[1:-2])

    @classmethod
    def _parse(cls, lines: list[str]) -> TreeCache:
        states: list[FileState] = []
        headers: dict[str, str] = {}  # one header for most files: kept once, not per file
        for line in lines:
            values = line.split(_SEP)
            if len(values) != _FIELDS:
                return cls()
            blob, managed, intact, policy_id, digest, header, input_digest, where = values
            header = headers.setdefault(header, header)
            states.append(
                FileState(
                    where,
                    managed == "1",
                    intact == "1",
                    policy_id or None,
                    digest or None,
                    header or None,
                    blob,
                    input_digest or None,
                )
            )
        return cls(states)

    def save(self, path: Path) -> None:
        """Write the cache to ``path`` atomically (a killed pass leaves the old one or none).

        Written as it is hashed, a few hundred lines at a time: 100,000 entries are 27 MB of
        text, which a pass at its peak of memory should not hold twice.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        hashed = hashlib.sha256()
        with temporary.open("wb") as out:
            chunk = [_MAGIC]
            for state in self._states.values():
                line = _line(state)
                if line is not None:
                    chunk.append(line)
                if len(chunk) >= _CHUNK:
                    _put(out, hashed, chunk)
                    chunk = []
            _put(out, hashed, chunk)
            out.write(f"sha256:{hashed.hexdigest()}\n".encode())
        temporary.replace(path)
        self.changed = False


def _put(out: BinaryIO, hashed: hashlib._Hash, lines: list[str]) -> None:
    if lines:
        data = ("\n".join(lines) + "\n").encode()
        hashed.update(data)
        out.write(data)


def _checksum(body: str) -> str:
    return "sha256:" + hashlib.sha256(body.encode()).hexdigest()


def _line(state: FileState) -> str | None:
    values = (
        state.blob or "",
        "1" if state.managed else "0",
        "1" if state.intact else "0",
        state.policy_id or "",
        state.digest or "",
        state.header or "",
        state.input or "",
        state.path,
    )
    if any(_SEP in value or "\n" in value for value in values):
        return None  # an id or path we cannot write back exactly is simply not cached
    if state.policy_id == "":
        return None
    return _SEP.join(values)

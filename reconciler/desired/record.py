"""A desired policy as the planner needs it: where its file goes, and what that file holds.

Sits between the validated model (``policy.DesiredPolicy``) and the planner. A pass over 100,000
policies cannot hold 100,000 pydantic models (about 10 KiB each): each policy is validated and
rendered as it is read (``Admit``, implemented by ``render.admission``), and only this record is
kept: its id, path and version, the fingerprints the planner compares with the file in the
tree, and the file's bytes when they may have to be written.

A record whose ``body`` is None was not validated or rendered in this pass: its input (the
entry's bytes, salted with everything that shapes the output) is the input an intact file in
the tree was planned unchanged against, so that file is known to be what rendering would keep.
Such a record is only ever planned as unchanged, against the tree it was checked with.

The long-running service keeps every record between passes, so it keeps the bytes
zlib-compressed (``packed``): a third of the size, and a file to restore is always at hand.
"""

from __future__ import annotations

import gc
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from reconciler.desired.names import CLUSTER_FOLDER

if TYPE_CHECKING:
    from collections.abc import Iterator

    from reconciler.desired.policy import DesiredPolicy


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one desired policy is not used: which policy, which field, what is wrong."""

    policy_id: str
    field: str
    reason: str

    def __str__(self) -> str:
        """One line, as the CLI prints it."""
        return f"{self.policy_id}\t{self.field}\t{self.reason}"


@contextmanager
def many_policies() -> Iterator[None]:
    """Pause the cycle collector while a batch of policies is validated into long-lived objects.

    Each collection walks the objects that survived earlier ones; validating 10,000 policies
    otherwise triggers collections over an ever larger heap that double the cost (measured in
    bench/stream.py). Validated policies and records hold no reference cycles, and reference
    counting still frees everything else at once.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# Raw deflate with a 2 KiB window and small tables: a rendered file is a few KiB, and zlib's
# defaults spend three times as long setting up 256 KiB of state for each one (measured:
# 52 -> 16 us a file, 0.56 of the size either way).
_WBITS = -11
_MEMLEVEL = 4


@dataclass(frozen=True, slots=True)
class Record:
    """One desired policy, rendered (or known to be rendered already)."""

    id: str
    path: str  # <namespace or _cluster>/<name>.yaml, relative to the managed root
    version: int
    digest: str  # the content fingerprint the file's digest annotation records
    header: str  # fingerprint of the file's header comment (``render.manifest.header_digest``)
    input: str | None = None  # the salted input digest, when the input is known
    body: bytes | None = None  # the whole file; None: the tree already holds it
    packed: bool = False  # body is zlib-compressed

    @property
    def content(self) -> bytes | None:
        """The file's bytes, if the record has them."""
        if self.body is None or not self.packed:
            return self.body
        return zlib.decompress(self.body, _WBITS)

    def pack(self) -> Record:
        """The same record with its bytes compressed, to be held for long."""
        if self.body is None or self.packed:
            return self
        packer = zlib.compressobj(1, zlib.DEFLATED, _WBITS, _MEMLEVEL)
        body = packer.compress(self.body) + packer.flush()
        return Record(
            self.id,
            self.path,
            self.version,
            self.digest,
            self.header,
            self.input,
            body,
            packed=True,
        )

    @property
    def folder(self) -> str:
        """The folder under the managed root: the namespace, or ``_cluster``."""
        return self.path.partition("/")[0]

    @property
    def name(self) -> str:
        """The policy's name (its file's name without ``.yaml``)."""
        return self.path.rpartition("/")[2].removesuffix(".yaml")

    @property
    def namespace(self) -> str | None:
        """The policy's namespace; None for a clusterwide policy."""
        folder = self.folder
        return None if folder == CLUSTER_FOLDER else folder


class Admit(Protocol):
    """Validated policy -> ``Record``: what every source calls for each policy it reads.

    ``key`` is the digest of a policy's input as its source read it (its exact bytes, and what
    else the source says shapes it), salted with what shapes the output: two inputs with the
    same key render the same file.
    """

    @property
    def knows(self) -> bool:
        """Whether any input may be known (else every entry is validated: read it strictly)."""
        ...

    def key(self, *parts: bytes) -> str:
        """The input key of ``parts`` (each one length-prefixed, so no two lists collide)."""
        ...

    def __call__(self, policy: DesiredPolicy, key: str | None) -> Record | Rejection:
        """Render ``policy``; a ``Rejection`` when its file would be over the size limit."""
        ...

    def known(self, key: str, version: int, policy_id: str, path: str) -> Record | None:
        """The record for an input already rendered (skip validating it), if known.

        ``policy_id`` and ``path`` are what the input says, read without validating it: a
        record known under another id or path is not this input's.
        """
        ...

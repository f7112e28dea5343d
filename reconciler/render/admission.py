"""Validated policy -> ``Record``, and the inputs that need no validating at all.

Sits between the sources (the desired-state file, the control plane, the service's events) and
the planner: every policy a pass plans is admitted here, as it is read, so a pass holds records
(a few hundred bytes each) rather than models (about 10 KiB each). Implements
``desired.record.Admit``.

An input is keyed by a digest of its bytes as the source read them (``key``), salted with
``Renderer.identity`` (tool version, file format, header template, size limit): the same key
always renders the same file. ``known`` maps such inputs to records already made
from them, from the tree (one-shot passes: the tree cache) or from what the service holds, so
an unchanged entry skips validation and rendering. Whatever ``known`` holds can only make a
pass cheaper: an input is skipped only when it is byte for byte one already admitted under the
same identity.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from reconciler.desired.record import Record, Rejection

if TYPE_CHECKING:
    from collections.abc import Mapping

    from reconciler.desired.policy import DesiredPolicy
    from reconciler.render.manifest import Renderer
    from reconciler.render.tree import FileState


class Admission:
    """Admits policies with one renderer; see the module docstring."""

    def __init__(
        self,
        renderer: Renderer,
        *,
        held: Mapping[str, Record] | None = None,
        tree: Mapping[str, FileState] | None = None,
        pack: bool = False,
    ) -> None:
        """``held``: records by salted input; ``tree``: intact files by the input they match.

        ``pack`` compresses each record's file, for a caller that keeps records for long.
        """
        self.renderer = renderer
        self._salt = hashlib.sha256(renderer.identity).digest()  # what every key starts from
        self._held = held or {}
        self._tree = tree or {}
        self._pack = pack
        self.skipped = 0

    @property
    def knows(self) -> bool:
        """Whether any input may be known (``desired.record.Admit.knows``)."""
        return bool(self._held or self._tree)

    def key(self, *parts: bytes) -> str:
        """The input key of ``parts`` under this renderer (``desired.record.Admit.key``)."""
        hashed = hashlib.sha256(self._salt)
        for part in parts:
            hashed.update(len(part).to_bytes(8, "big"))
            hashed.update(part)
        return hashed.hexdigest()

    def __call__(self, policy: DesiredPolicy, key: str | None) -> Record | Rejection:
        """Render ``policy``; a ``Rejection`` naming it when its file is over the size limit."""
        record = self.renderer.record(policy, key)
        size = len(record.body or b"")
        if size > self.renderer.max_bytes:
            # The API server would refuse it, and Flux's apply of the whole Kustomization with it.
            why = (
                f"the rendered file is {size:,} bytes, over the limit of "
                f"{self.renderer.max_bytes:,} (--max-policy-bytes; the API server stores "
                "objects up to 1.5 MiB)"
            )
            return Rejection(policy.id, "policy", why)
        return record.pack() if self._pack else record

    def known(self, key: str, version: int, policy_id: str, path: str) -> Record | None:
        """The record already made from this input, if any (then nothing is validated).

        Only under the id and at the path the input names: a cache that says otherwise is
        wrong, and costs this entry a validation, never its file.
        """
        held = self._held.get(key)
        if held is not None:
            # Sources digest the version with the input: a hit has it already.
            same = held.version == version and held.id == policy_id and held.path == path
            return held if same else None
        state = self._tree.get(key)
        if (
            state is None
            or state.policy_id != policy_id
            or state.path != path
            or state.digest is None
            or state.header is None
        ):
            return None
        self.skipped += 1
        return Record(policy_id, path, version, state.digest, state.header, key)

"""Where desired state comes from. The seam between the control plane and the pure core.

Sits at the start of a pass. A ``Source`` returns a ``DesiredState``: every valid policy, one
``Rejection`` per problem with the others, and the control-plane version the state reflects.
This module holds the interface and the file source (``file://PATH``, read through ``reading``
within ``limits``); the gRPC source plugs in behind the same interface
(``reconcile.sources.open_source`` picks by URL scheme).

Desired-state file format (YAML or JSON)::

    version: 7                # optional: the control-plane version this file reflects
    policies:
      - id: pol-123           # required, the control plane's id
        namespace: shop       # omit for a CiliumClusterwideNetworkPolicy
        name: allow-dns
        region: eu-west-1     # optional; with --region, other regions are skipped
        version: 7            # optional integer
        policy: {...}         # the CiliumNetworkPolicy: full object, {spec|specs}, or a bare spec
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from reconciler.desired.limits import InputLimitError, Limits
from reconciler.desired.policy import DesiredPolicy, Rejection, many_policies, parse_policy
from reconciler.desired.reading import load_document
from reconciler.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True, slots=True)
class DesiredState:
    """The complete desired set at one control-plane version."""

    policies: tuple[DesiredPolicy, ...]
    rejections: tuple[Rejection, ...]
    version: int

    @property
    def rejected_ids(self) -> frozenset[str]:
        """Ids of rejected policies, whose existing files must be kept."""
        return frozenset(r.policy_id for r in self.rejections)


class Source(Protocol):
    """Gives the complete desired state for one region."""

    def desired(self) -> DesiredState:
        """Read the whole desired set now."""
        ...

    def close(self) -> None:
        """Release connections, if any."""
        ...


def build_state(
    entries: object,
    *,
    region: str | None,
    version: object = None,
    limits: Limits | None = None,
    where: str = "the desired state",
) -> DesiredState:
    """Validate raw entries into a ``DesiredState``, filtering by ``region``.

    The state as a whole is refused (``ConfigError``) when it is not a list or has more entries
    than ``limits.policies``: a pass on a partial or misread state would delete every policy
    it does not hold. One bad entry is only that entry's rejection.
    """
    limits = limits or Limits()
    if not isinstance(entries, list):
        msg = f"{where}: 'policies' must be a list, got {type(entries).__name__}"
        raise ConfigError(msg)
    if len(entries) > limits.policies:
        msg = (
            f"{where}: {len(entries):,} policies, over the limit of {limits.policies:,} "
            "(--max-policies); nothing was changed"
        )
        raise InputLimitError(msg)
    policies: list[DesiredPolicy] = []
    rejections: list[Rejection] = []
    with many_policies():
        for index, entry in enumerate(entries):
            if region is not None and isinstance(entry, Mapping):
                entry_region = entry.get("region")
                # Only a well-formed other region is skipped; anything else is validated, and
                # rejected by its id, rather than silently left out.
                if isinstance(entry_region, str) and entry_region != region:
                    continue
            parsed = parse_policy(entry, position=f"policies[{index}]")
            if isinstance(parsed, DesiredPolicy):
                policies.append(parsed)
            else:
                rejections.extend(parsed)
    highest = max((p.version for p in policies), default=0)
    if isinstance(version, int) and not isinstance(version, bool) and version >= 0:
        highest = max(highest, version)
    elif version is not None:
        rejections.append(Rejection("version", "version", "must be a non-negative integer"))
    return DesiredState(tuple(policies), tuple(rejections), highest)


class FileSource:
    """Desired state from a YAML or JSON file, re-read on every call."""

    def __init__(
        self, path: Path, *, region: str | None = None, limits: Limits | None = None
    ) -> None:
        """Remember where the file is; nothing is read until ``desired``."""
        self.path = path
        self.region = region
        self.limits = limits or Limits()

    def close(self) -> None:
        """Nothing to release: the file is opened per read."""

    def desired(self) -> DesiredState:
        """Read and validate the file."""
        document = load_document(self.path, max_bytes=self.limits.state_bytes)
        if not isinstance(document, Mapping) or "policies" not in document:
            msg = f"{self.path}: expected a mapping with a top-level 'policies:' list"
            raise ConfigError(msg)
        unknown = sorted(set(document) - {"policies", "version"})
        if unknown:
            listed = ", ".join(repr(str(key)) for key in unknown)
            msg = f"{self.path}: unknown top-level field(s) {listed}"
            raise ConfigError(msg)
        return build_state(
            document["policies"],
            region=self.region,
            version=document.get("version"),
            limits=self.limits,
            where=str(self.path),
        )

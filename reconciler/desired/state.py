"""Where desired state comes from. The seam between the control plane and the pure core.

Sits at the start of a pass. A ``Source`` returns a ``DesiredState``: every valid policy, one
``Rejection`` per problem with the others, and the control-plane version the state reflects.
This module holds the interface and the file source (``file://PATH``); the gRPC source plugs in
behind the same interface (``open_source`` picks by URL scheme).

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

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from reconciler.desired.policy import DesiredPolicy, Rejection, many_policies, parse_policy
from reconciler.errors import ConfigError, SourceUnavailableError

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


def build_state(entries: object, *, region: str | None, version: object = None) -> DesiredState:
    """Validate raw entries into a ``DesiredState``, filtering by ``region``."""
    if not isinstance(entries, list):
        return DesiredState((), (Rejection("policies", "policies", "must be a list"),), 0)
    policies: list[DesiredPolicy] = []
    rejections: list[Rejection] = []
    with many_policies():
        for index, entry in enumerate(entries):
            if region is not None and isinstance(entry, Mapping):
                entry_region = entry.get("region")
                if entry_region is not None and entry_region != region:
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

    def __init__(self, path: Path, *, region: str | None = None) -> None:
        """Remember where the file is; nothing is read until ``desired``."""
        self.path = path
        self.region = region

    def close(self) -> None:
        """Nothing to release: the file is opened per read."""

    def desired(self) -> DesiredState:
        """Read and validate the file."""
        document = load_document(self.path)
        if not isinstance(document, Mapping) or "policies" not in document:
            msg = f"{self.path}: expected a mapping with a top-level 'policies:' list"
            raise ConfigError(msg)
        unknown = sorted(set(document) - {"policies", "version"})
        if unknown:
            msg = f"{self.path}: unknown top-level field(s) {', '.join(map(str, unknown))}"
            raise ConfigError(msg)
        return build_state(
            document["policies"], region=self.region, version=document.get("version")
        )


def load_document(path: Path) -> object:
    """Parse a YAML or JSON file into plain Python values."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        msg = f"{path}: desired-state file not found"
        raise ConfigError(msg) from exc
    except OSError as exc:
        msg = f"{path}: cannot read: {exc.strerror}"
        raise SourceUnavailableError(msg) from exc
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except ValueError as exc:
            msg = f"{path}: invalid JSON: {exc}"
            raise ConfigError(msg) from exc
    try:
        # The safe loader builds plain dicts and lists, and uses libyaml when it is installed.
        return YAML(typ="safe").load(text)
    except YAMLError as exc:
        msg = f"{path}: invalid YAML: {exc}"
        raise ConfigError(msg) from exc

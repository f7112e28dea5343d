"""Where desired state comes from. The seam between the control plane and the pure core.

Sits at the start of a pass. A ``Source`` returns a ``DesiredState``: every valid policy as a
``Record`` (admitted as it is read, through the pass's ``Admit``), one ``Rejection`` per problem
with the others, and the control-plane version the state reflects. This module holds the
interface, the ``Intake`` every source feeds, and the file source (``file://PATH``, read through
``reading`` within ``limits``); the gRPC source plugs in behind the same interface
(``reconcile.sources.open_source`` picks by URL scheme).

A JSON file is read entry by entry (``reading.stream_json_object``): an entry whose exact text
was admitted before (``Admit.known``) is not validated again, and no entry's parsed value
outlives its admission. A YAML file is parsed whole; for 100,000 policies, use JSON.

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

from reconciler.desired.limits import InputLimitError, Limits
from reconciler.desired.names import CLUSTER_FOLDER
from reconciler.desired.reading import (
    decode,
    parse_json,
    parse_yaml,
    read_bytes,
    stream_json_object,
)
from reconciler.desired.record import Rejection, many_policies
from reconciler.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from reconciler.desired.policy import DesiredPolicy
    from reconciler.desired.record import Admit, Record


@dataclass(frozen=True, slots=True)
class DesiredState:
    """The complete desired set at one control-plane version."""

    policies: tuple[Record, ...]
    rejections: tuple[Rejection, ...]
    version: int

    @property
    def rejected_ids(self) -> frozenset[str]:
        """Ids of rejected policies, whose existing files must be kept."""
        return frozenset(r.policy_id for r in self.rejections)


class Source(Protocol):
    """Gives the complete desired state for one region."""

    def desired(self, admit: Admit) -> DesiredState:
        """Read the whole desired set now, each policy admitted through ``admit``."""
        ...

    def close(self) -> None:
        """Release connections, if any."""
        ...


class Intake:
    """Collects one reading of the desired state: records, rejections, the highest version.

    The state as a whole is refused (``InputLimitError``) once it holds more entries than
    ``limits.policies``: a pass on a partial or misread state would delete every policy it does
    not hold. One bad entry is only that entry's rejection.
    """

    def __init__(
        self, admit: Admit, *, region: str | None, limits: Limits | None = None, where: str
    ) -> None:
        """Start empty; ``where`` names the input in errors."""
        self.admit = admit
        self.region = region
        self.limits = limits or Limits()
        self.where = where
        self._region = (region or "").encode()  # part of every key: a filter shapes the state
        self.records: list[Record] = []
        self.rejections: list[Rejection] = []
        self.entries = 0
        self.highest = 0

    @property
    def over(self) -> bool:
        """Whether more entries were read than the limit allows (the state will be refused)."""
        return self.entries > self.limits.policies

    def item(self, value: object, text: str, index: int, *, strict: bool = False) -> None:
        """Admit one entry of a JSON file: its exact ``text``, and its value.

        The value was read leniently unless ``strict`` (``reading.stream_json_object``). An
        entry whose exact text was admitted before (``Admit.known``) is taken as it was;
        any other is read strictly (``reading.parse_json``), validated and rendered.
        """
        if not self._count():
            return
        key = self.admit.key(b"json", self._region, text.encode())
        if strict:
            self._admit(value, index, key)
            return
        if type(value) is dict:
            known = self._known(value, key)
            if known is not None:
                self.add(known)
                return
        self._admit(parse_json(text, where=f"{self.where}: policies[{index}]"), index, key)

    def entry(self, entry: object, index: int, key: str | None) -> None:
        """Admit one raw entry already read strictly; ``key`` is its input key, if any."""
        if not self._count():
            return
        if key is not None and isinstance(entry, Mapping):
            known = self._known(entry, key)
            if known is not None:
                self.add(known)
                return
        self._admit(entry, index, key)

    def _count(self) -> bool:
        """Count one more entry; False once past the limit, where entries are only counted."""
        self.entries += 1
        if self.entries > self.limits.policies:
            self.records.clear()
            return False
        return True

    def _admit(self, entry: object, index: int, key: str | None) -> None:
        if self.region is not None and isinstance(entry, Mapping):
            entry_region = entry.get("region")
            # Only a well-formed other region is skipped; anything else is validated, and
            # rejected by its id, rather than silently left out.
            if isinstance(entry_region, str) and entry_region != self.region:
                return
        # Imported when first needed: a pass whose entries are all known never loads the
        # models (pydantic and the CiliumNetworkPolicy schema: a tenth of a second).
        from reconciler.desired.policy import parse_policy  # noqa: PLC0415

        self.policy(parse_policy(entry, position=f"policies[{index}]"), key)

    def _known(self, entry: Mapping[str, object], key: str) -> Record | None:
        """The record of an entry admitted before, by what it says without validating it."""
        version = entry.get("version", 0)
        policy_id = entry.get("id")
        path = path_of(entry)
        if type(version) is not int or version < 0 or type(policy_id) is not str or not path:
            return None
        return self.admit.known(key, version, policy_id, path)

    def policy(self, parsed: DesiredPolicy | list[Rejection], key: str | None) -> None:
        """Admit one validated policy (or record why it is not one)."""
        if isinstance(parsed, list):
            self.rejections.extend(parsed)
            return
        admitted = self.admit(parsed, key)
        if isinstance(admitted, Rejection):
            self.rejections.append(admitted)
        else:
            self.add(admitted)

    def add(self, record: Record) -> None:
        """Keep an admitted record."""
        self.records.append(record)
        self.highest = max(self.highest, record.version)

    def reject(self, rejections: Iterable[Rejection]) -> None:
        """Keep rejections found outside an entry (a bad message, a bad version)."""
        self.rejections.extend(rejections)

    def state(self, version: object = None) -> DesiredState:
        """The state read; ``version`` is the input's own (a file's top-level ``version``)."""
        if self.over:
            msg = (
                f"{self.where}: {self.entries:,} policies, over the limit of "
                f"{self.limits.policies:,} (--max-policies); nothing was changed"
            )
            raise InputLimitError(msg)
        highest = self.highest
        if isinstance(version, int) and not isinstance(version, bool) and version >= 0:
            highest = max(highest, version)
        elif version is not None:
            why = "must be a non-negative integer"
            self.rejections.append(Rejection("version", "version", why))
        return DesiredState(tuple(self.records), tuple(self.rejections), highest)


def path_of(entry: Mapping[str, object]) -> str | None:
    """The file an entry names (``DesiredPolicy.path``), read without validating the entry.

    Only to check what a cache says: None when the entry does not name it plainly.
    """
    name, namespace = entry.get("name"), entry.get("namespace")
    if name is None or namespace is None:  # only then may the policy's metadata name them
        body = entry.get("policy")
        metadata = body.get("metadata") if isinstance(body, Mapping) else None
        if isinstance(metadata, Mapping):
            name = name if name is not None else metadata.get("name")
            namespace = namespace if namespace is not None else metadata.get("namespace")
    if not isinstance(name, str) or not (namespace is None or isinstance(namespace, str)):
        return None
    return f"{namespace or CLUSTER_FOLDER}/{name}.yaml"


def build_state(  # noqa: PLR0913 - the entries, how to admit them, and the state's bounds
    entries: object,
    admit: Admit,
    *,
    region: str | None,
    version: object = None,
    limits: Limits | None = None,
    where: str = "the desired state",
) -> DesiredState:
    """Validate raw entries (a list already in memory) into a ``DesiredState``."""
    if not isinstance(entries, list):
        msg = f"{where}: 'policies' must be a list, got {type(entries).__name__}"
        raise ConfigError(msg)
    intake = Intake(admit, region=region, limits=limits, where=where)
    with many_policies():
        for index, entry in enumerate(entries):
            intake.entry(entry, index, _canonical_key(entry, admit, region))
    return intake.state(version)


def _canonical_key(entry: object, admit: Admit, region: str | None) -> str | None:
    """The input key of an entry read from YAML: of its canonical JSON form."""
    try:
        text = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        return None  # not JSON-shaped: it is validated (and rejected) every time
    canonical = text.encode("utf-8", errors="surrogatepass")
    return admit.key(b"yaml", (region or "").encode(), canonical)


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

    def desired(self, admit: Admit) -> DesiredState:
        """Read and validate the file."""
        where = str(self.path)
        data = read_bytes(self.path, max_bytes=self.limits.state_bytes, what="desired-state file")
        text = decode(data, where=where)
        del data
        if self.path.suffix != ".json":
            return self._whole(parse_yaml(text, where=where), admit)
        intake = Intake(admit, region=self.region, limits=self.limits, where=where)
        fields: dict[str, object] = {}
        index = 0
        with many_policies():
            # When nothing can be known, every entry is validated: read each strictly at once.
            members = stream_json_object(text, where=where, stream="policies", lenient=admit.knows)
            for member in members:
                if member.item:
                    intake.item(member.value, member.text, index, strict=not admit.knows)
                    index += 1
                else:
                    fields[member.key] = member.value
        self._check_fields(fields)
        return intake.state(fields.get("version"))

    def _whole(self, document: object, admit: Admit) -> DesiredState:
        if not isinstance(document, Mapping) or "policies" not in document:
            msg = f"{self.path}: expected a mapping with a top-level 'policies:' list"
            raise ConfigError(msg)
        self._check_fields(document)
        return build_state(
            document["policies"],
            admit,
            region=self.region,
            version=document.get("version"),
            limits=self.limits,
            where=str(self.path),
        )

    def _check_fields(self, document: Mapping[str, object]) -> None:
        if "policies" not in document:
            msg = f"{self.path}: expected a mapping with a top-level 'policies:' list"
            raise ConfigError(msg)
        unknown = sorted(set(document) - {"policies", "version"})
        if unknown:
            listed = ", ".join(repr(str(key)) for key in unknown)
            msg = f"{self.path}: unknown top-level field(s) {listed}"
            raise ConfigError(msg)

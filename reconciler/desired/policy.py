"""Domain types of the pure core: a desired policy, a rejection, and how raw input becomes them.

Sits at the start of the flow: a source hands raw entries (mappings from a desired-state file or
the control plane) to ``parse_policy``, which returns a validated ``DesiredPolicy`` or the list of
``Rejection`` s that say, per field, why it cannot be used. Nothing here touches disk or network.

A policy body is accepted in three shapes, as users write them:

* a full ``cilium.io/v2`` object: ``apiVersion``, ``kind``, ``metadata``, ``spec`` and/or ``specs``;
* a wrapper with only ``spec:`` and/or ``specs:``;
* a bare spec: ``endpointSelector``, ``ingress``, ... at the top.

Server-set metadata (uid, resourceVersion, managedFields, ...) and ``status`` are dropped:
they describe a live object, not a desired one.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from functools import cached_property
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

from reconciler.desired.cnp import Rule, error_path
from reconciler.desired.names import (
    API_VERSION,
    CLUSTER_FOLDER,
    DOMAIN,
    MANAGED_BY_LABEL,
)
from reconciler.desired.record import Rejection

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*",
)
# Ids and regions land in file annotations and commit messages: printable ASCII without spaces
# keeps them on one line, so nobody can forge a commit trailer or a YAML key through them.
_TOKEN = re.compile(r"[\x21-\x7e]{1,253}")
# Kubernetes allows 253 characters in a name, but the policy's file is <name>.yaml, and most file
# systems (ext4, XFS, APFS, NTFS) refuse a file name over 255 bytes.
_MAX_FILE_STEM = 255 - len(".yaml")
# Label and annotation rules of k8s.io/apimachinery, as its validation.go (IsQualifiedName,
# IsValidLabelValue) and objectmeta.go (ValidateAnnotations, whose keys are lowercased first,
# and TotalAnnotationSizeLimitB, 256 KiB) have them.
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_MAX_NAME_PART = 63
_MAX_ANNOTATIONS_BYTES = 256 * 1024
# A value echoed in a message is cut to this many characters: a 50 MB name is not repeated.
_SHOWN = 64
# kustomize reads ``kustomization.yaml`` as the folder's own file; a policy of that name would
# overwrite it.
_RESERVED_NAMES = frozenset({"kustomization"})
# ownerReferences and finalizers are not here: people set them, and silently dropping them would
# hide that they have no meaning in a Git-rendered object.
_SERVER_SET_METADATA = frozenset(
    {
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
        "generateName",
    },
)
_KEPT_METADATA = frozenset({"name", "namespace", "labels", "annotations"})
_DROPPED_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})
_OBJECT_KEYS = frozenset({"apiVersion", "kind", "metadata", "spec", "specs", "status"})


class PolicyKind(enum.StrEnum):
    """The two CRDs this tool writes."""

    NAMESPACED = "CiliumNetworkPolicy"
    CLUSTERWIDE = "CiliumClusterwideNetworkPolicy"


def shown(value: str) -> str:
    """``value`` as a message quotes it: ``repr`` (control characters escaped), cut short."""
    return repr(value) if len(value) <= _SHOWN else f"{value[:_SHOWN]!r}... ({len(value):,} chars)"


def qualified_name_problem(key: str) -> str | None:
    """Why ``key`` is not a Kubernetes qualified name (``[prefix/]name``), or None."""
    prefix, slash, name = key.rpartition("/")
    if slash and (
        not prefix or len(prefix) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(prefix)  # noqa: PLR2004 - DNS subdomain limit
    ):
        return "its prefix must be a DNS-1123 subdomain (e.g. example.com/)"
    if "/" in prefix:
        return "it may hold one '/', between a DNS prefix and the name"
    if not name or len(name) > _MAX_NAME_PART or not _QUALIFIED_NAME.fullmatch(name):
        return (
            "its name part must be 1 to 63 letters, digits, '-', '_' or '.', starting and "
            "ending with a letter or digit"
        )
    return None


def _check_token(value: str, what: str) -> str:
    if not _TOKEN.fullmatch(value):
        msg = f"{what} must be 1 to 253 printable ASCII characters without spaces"
        raise ValueError(msg)
    return value


class DesiredPolicy(BaseModel):
    """One policy the control plane wants in the repository, validated and typed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="Control-plane id; stable across renames.")
    namespace: str | None = Field(default=None, description="None for clusterwide policies.")
    name: str
    region: str | None = None
    version: Annotated[StrictInt, Field(ge=0)] = 0
    kind: PolicyKind = PolicyKind.NAMESPACED
    spec: Rule | None = None
    specs: tuple[Rule, ...] | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        return _check_token(value, "id")

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        return None if value is None else _check_token(value, "region")

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 63 or not _DNS1123_LABEL.fullmatch(value)):  # noqa: PLR2004 - DNS label limit
            msg = (
                f"{shown(value)} is not a DNS-1123 label (at most 63 lowercase letters, digits "
                "and '-', starting and ending with a letter or digit)"
            )
            raise ValueError(msg)
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if len(value) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(value):  # noqa: PLR2004 - DNS subdomain limit
            msg = (
                f"{shown(value)} is not a DNS-1123 subdomain (at most 253 lowercase letters, "
                "digits, '-' and '.', each part starting and ending with a letter or digit)"
            )
            raise ValueError(msg)
        if value in _RESERVED_NAMES:
            msg = f"{value!r} would collide with the folder's kustomization.yaml"
            raise ValueError(msg)
        if len(value) > _MAX_FILE_STEM:
            msg = (
                f"is {len(value)} characters: Kubernetes allows 253, but its file "
                f"<name>.yaml would be over the 255-byte file-name limit of the file systems "
                f"Git checks out to; at most {_MAX_FILE_STEM} characters"
            )
            raise ValueError(msg)
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key, label in value.items():
            problem = qualified_name_problem(key)
            if problem is not None:
                msg = f"label key {shown(key)} is not a qualified name: {problem}"
                raise ValueError(msg)
            if len(label) > _MAX_NAME_PART or not _LABEL_VALUE.fullmatch(label):
                msg = (
                    f"label {shown(key)} has value {shown(label)}: at most 63 letters, digits, "
                    "'-', '_' or '.', starting and ending with a letter or digit (or empty)"
                )
                raise ValueError(msg)
        return value

    @field_validator("annotations")
    @classmethod
    def _annotations(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            problem = qualified_name_problem(key.lower())
            if problem is not None:
                msg = f"annotation key {shown(key)} is not a qualified name: {problem}"
                raise ValueError(msg)
        size = sum(len(key) + len(text) for key, text in value.items())
        if size > _MAX_ANNOTATIONS_BYTES:
            msg = f"annotations total {size:,} bytes; Kubernetes allows {_MAX_ANNOTATIONS_BYTES:,}"
            raise ValueError(msg)
        return value

    @cached_property
    def memo(self) -> dict[object, str]:
        """Per-object cache for pure functions of this policy (the renderer's digest and header).

        A long-running controller keeps the same objects between passes, so a no-op pass does
        not re-render 10,000 policies. Not a field: equality and dumps ignore it.
        """
        return {}

    @property
    def folder(self) -> str:
        """The folder under the managed root: the namespace, or ``_cluster`` for clusterwide."""
        # '_' is not allowed in a namespace, so this folder can never collide with one.
        return self.namespace if self.namespace is not None else CLUSTER_FOLDER

    @cached_property
    def path(self) -> str:
        """Path of the policy's file relative to the managed root (POSIX separators)."""
        return f"{self.folder}/{self.name}.yaml"

    @property
    def display(self) -> str:
        """``namespace/name`` as people write it (``name`` alone when clusterwide)."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


def parse_policy(entry: object, *, position: str) -> DesiredPolicy | list[Rejection]:
    """Validate one raw entry.

    ``position`` (e.g. ``policies[3]``) names the entry in rejections when it has no usable id.
    """
    if not isinstance(entry, Mapping):
        return [Rejection(position, position, "must be a mapping")]
    raw_id = entry.get("id")
    policy_id = raw_id if isinstance(raw_id, str) and raw_id else position
    try:
        return _parse(entry, policy_id, raw_id)
    except Exception as exc:  # noqa: BLE001 - the trust boundary: no input may end the pass
        # A shape no check foresaw: that entry is rejected by its id, and the rest go on.
        return [Rejection(policy_id, "policy", f"cannot be read ({type(exc).__name__})")]


def _parse(
    entry: Mapping[str, Any], policy_id: str, raw_id: object
) -> DesiredPolicy | list[Rejection]:
    problems: list[Rejection] = []

    def reject(field: str, reason: str) -> None:
        problems.append(Rejection(policy_id, field, reason))

    unknown = sorted(
        map(str, set(entry) - {"id", "namespace", "name", "region", "version", "policy"})
    )
    for key in unknown:
        reject(key, "unknown field")
    if not raw_id:
        reject("id", "required and must not be empty")
    fields = _body_fields(entry.get("policy"), entry, reject)
    if problems:
        return problems
    try:
        return DesiredPolicy.model_validate(fields)
    except ValidationError as exc:
        return [Rejection(policy_id, _field(err["loc"]), _reason(err)) for err in exc.errors()]


def _body_fields(body: object, entry: Mapping[str, Any], reject: Any) -> dict[str, Any]:  # noqa: ANN401 - reject is a local closure
    """Normalise the three body shapes into ``DesiredPolicy`` fields, reporting shape errors."""
    fields: dict[str, Any] = {
        key: entry[key] for key in ("id", "namespace", "name", "region", "version") if key in entry
    }
    if not isinstance(body, Mapping) or not body:
        reject("policy", "required: the CiliumNetworkPolicy as a non-empty mapping")
        return fields
    if _OBJECT_KEYS.intersection(body):
        _object_fields(body, fields, reject)
    else:
        fields["spec"] = body
    fields.setdefault(
        "kind", PolicyKind.NAMESPACED if fields.get("namespace") else PolicyKind.CLUSTERWIDE
    )
    if fields["kind"] == PolicyKind.NAMESPACED and not fields.get("namespace"):
        reject("namespace", "required for a CiliumNetworkPolicy")
    if fields["kind"] == PolicyKind.CLUSTERWIDE and fields.get("namespace"):
        reject("namespace", "a CiliumClusterwideNetworkPolicy has no namespace")
    return fields


def _object_fields(body: Mapping[str, Any], fields: dict[str, Any], reject: Any) -> None:  # noqa: ANN401 - reject is a local closure
    """Take apiVersion, kind, metadata and spec(s) from a full or wrapper-shaped object."""
    api_version = body.get("apiVersion", API_VERSION)
    if api_version != API_VERSION:
        got = shown(api_version) if isinstance(api_version, str) else type(api_version).__name__
        reject("apiVersion", f"must be {API_VERSION!r}, got {got}")
    kind = body.get("kind")
    if kind is not None:
        if isinstance(kind, str) and kind in set(PolicyKind):
            fields["kind"] = PolicyKind(kind)
        else:
            shown_kind = shown(kind) if isinstance(kind, str) else f"a {type(kind).__name__}"
            reject("kind", f"must be one of {', '.join(PolicyKind)}, got {shown_kind}")
    for key in sorted(map(str, set(body) - _OBJECT_KEYS)):
        reject(key, "unknown field")
    _metadata_fields(body.get("metadata", {}), fields, reject)
    if "spec" not in body and "specs" not in body:
        reject("spec", "the policy needs a spec or specs")
    for key in ("spec", "specs"):
        if key in body:
            fields[key] = body[key]


def _metadata_fields(metadata: object, fields: dict[str, Any], reject: Any) -> None:  # noqa: ANN401 - reject is a local closure
    if not isinstance(metadata, Mapping):
        reject("metadata", "must be a mapping")
        return
    for key in sorted(map(str, set(metadata) - _KEPT_METADATA - _SERVER_SET_METADATA)):
        reject(f"metadata.{key}", "unknown field")
    for key in ("name", "namespace"):
        given = metadata.get(key)
        if given is None:
            continue
        if key in fields and fields[key] != given:
            reject(
                f"metadata.{key}",
                f"{_any(given)} contradicts the entry's {key} {_any(fields[key])}",
            )
        fields.setdefault(key, given)
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    if isinstance(labels, Mapping):
        fields["labels"] = {k: v for k, v in labels.items() if k != MANAGED_BY_LABEL}
    else:
        fields["labels"] = labels
    if isinstance(annotations, Mapping):
        fields["annotations"] = {
            k: v
            for k, v in annotations.items()
            if k not in _DROPPED_ANNOTATIONS and not str(k).startswith(f"{DOMAIN}/")
        }
    else:
        fields["annotations"] = annotations


def _any(value: object) -> str:
    return shown(value) if isinstance(value, str) else f"a {type(value).__name__}"


def _field(loc: tuple[int | str, ...]) -> str:
    if loc and loc[0] in {"labels", "annotations"}:
        return "metadata." + error_path(loc)
    return error_path(loc)


def _reason(err: Any) -> str:  # noqa: ANN401 - pydantic's ErrorDetails is a TypedDict
    if err["type"] == "extra_forbidden":
        return "unknown field"
    if err["type"] == "missing":
        return "required field is missing"
    message = str(err["msg"])
    return message.removeprefix("Value error, ")

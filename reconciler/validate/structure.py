"""Structure: checks that a policy document fits the CRD schema of the chosen Cilium release.

Second step of ``validate`` (documents loads -> structure checks against the CRD schema ->
semantics applies Cilium's Go rules -> lint -> repository). It answers what kube-apiserver
would answer on ``kubectl apply --validate=strict``: unknown fields, wrong types, missing
fields, enums, patterns, formats, ranges, one-of choices, duplicates in sets, and the object
metadata Kubernetes itself checks. Later layers may assume nothing from it: they run on the
same raw data and must tolerate what this layer reports.

The schemas ship inside the package (``validate/schemas``, written by ``schemas.extract``) and
are compiled once per (version, kind) by ``schema_compiler``; checking a document is then one
walk of closures over the nodes it has.
"""

from __future__ import annotations

import functools
import json
from datetime import date
from importlib import resources
from typing import TYPE_CHECKING, Any

from reconciler.validate import schema_compiler as sc
from reconciler.validate.findings import Issue, Severity, rule
from reconciler.validate.schema_values import go_pattern, show

if TYPE_CHECKING:
    from collections.abc import Mapping

    from reconciler.validate.findings import Path

VERSIONS: tuple[str, ...] = ("1.19", "1.20")
DEFAULT_VERSION = "1.20"  # the newest shipped schema
_PREFIXES = {"CiliumNetworkPolicy": "cnp", "CiliumClusterwideNetworkPolicy": "ccnp"}

UNKNOWN_FIELD = rule(
    sc.UNKNOWN_FIELD,
    "unknown-field",
    Severity.ERROR,
    "kubectl's strict validation rejects a field the CRD does not define; a typo silently drops a rule.",  # noqa: E501
    "Fix the field name (check its spelling and nesting) or remove it.",
)
WRONG_TYPE = rule(
    sc.WRONG_TYPE,
    "wrong-type",
    Severity.ERROR,
    "The API server rejects a value of the wrong JSON type, e.g. an unquoted port number.",
    "Give the value the type the CRD expects; quote numbers meant as strings.",
)
MISSING_FIELD = rule(
    sc.MISSING_FIELD,
    "missing-field",
    Severity.ERROR,
    "The API server rejects an object that lacks a field the CRD marks as required.",
    "Add the field the message names.",
)
NOT_IN_ENUM = rule(
    sc.NOT_IN_ENUM,
    "not-in-enum",
    Severity.ERROR,
    "The CRD allows only listed values here (such as protocols); anything else is rejected.",
    "Use one of the values the message lists (they are case-sensitive).",
)
PATTERN_MISMATCH = rule(
    sc.PATTERN_MISMATCH,
    "pattern-mismatch",
    Severity.ERROR,
    "The API server rejects a string that does not match the CRD's regular expression.",
    "Change the value so it matches the pattern in the message (e.g. a valid label value).",
)
BAD_FORMAT = rule(
    sc.BAD_FORMAT,
    "bad-format",
    Severity.ERROR,
    "A value the CRD declares with a format (CIDR, date-time, 32-bit integer) must parse as one.",
    "Write the value in the named format; a CIDR is address/bits, without netmask or zone.",
)
OUT_OF_RANGE = rule(
    sc.OUT_OF_RANGE,
    "out-of-range",
    Severity.ERROR,
    "The CRD bounds this number, string length or list length; the API server enforces it.",
    "Keep the value within the bounds the message gives; split long lists into several rules.",
)
ONE_OF = rule(
    sc.ONE_OF,
    "one-of",
    Severity.ERROR,
    "Some objects need exactly one (or at least one) of several fields to mean anything.",
    "Set exactly the fields the message asks for: one selector, one kind of L7 rule...",
)
DUPLICATE_ITEM = rule(
    sc.DUPLICATE_ITEM,
    "duplicate-item",
    Severity.ERROR,
    "A list the CRD declares as a set or map must not repeat an entry; the API server rejects it.",
    "Remove the repeated entry.",
)
BAD_METADATA = rule(
    "CG110",
    "bad-metadata",
    Severity.ERROR,
    "Kubernetes rejects an object whose name, namespace, labels or annotations are malformed.",
    "Use lowercase DNS names (a-z, 0-9, '-', '.') and string label and annotation values.",
)

# ObjectMeta's fields: anything else under metadata is an unknown field to strict validation.
_META_FIELDS = frozenset(
    {
        "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
        "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
        "annotations", "ownerReferences", "finalizers", "managedFields",
    }
)  # fmt: skip
_META_FIELD_NAMES = sorted(_META_FIELDS)
_DNS_SUBDOMAIN = go_pattern(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = go_pattern(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_NAME_PART = go_pattern(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = go_pattern(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_SUBDOMAIN_MAX, _LABEL_MAX = 253, 63
_ANNOTATIONS_MAX_BYTES = 256 * 1024  # apimachinery's TotalAnnotationSizeLimitB


def check_structure(document: Mapping[str, Any], *, version: str) -> list[Issue]:
    """Every schema problem in one CNP or CCNP; ``[]`` for other kinds.

    Raises ``ValueError`` for a version not in ``VERSIONS``.
    """
    if version not in VERSIONS:
        raise ValueError(f"unknown Cilium version {version!r}; known: {', '.join(VERSIONS)}")
    kind = document.get("kind")
    if not isinstance(kind, str) or kind not in _PREFIXES:
        return []
    issues: list[Issue] = []
    _compiled(version, kind)(document if isinstance(document, dict) else dict(document), (), issues)
    return issues


def load_schema(version: str, kind: str) -> dict[str, Any]:
    """The shipped ``openAPIV3Schema`` (descriptions stripped) for a version and kind."""
    name = f"{_PREFIXES[kind]}-{version}.json"
    text = resources.files("reconciler.validate.schemas").joinpath(name).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _compiled(version: str, kind: str) -> sc.Check:
    namespaced = kind == "CiliumNetworkPolicy"
    check_metadata = _metadata_check(namespaced=namespaced)
    return sc.compile_schema(load_schema(version, kind), overrides={"metadata": check_metadata})


def _metadata_check(*, namespaced: bool) -> sc.Check:
    def check(value: Any, path: Path, out: list[Issue]) -> None:  # noqa: ANN401 - any YAML
        if not isinstance(value, dict):
            out.append(Issue(BAD_METADATA, path, f"metadata must be an object, not {show(value)}"))
            return
        out.extend(
            sc.unknown_field(str(key), (*path, str(key)), _META_FIELD_NAMES)
            for key in value
            if key not in _META_FIELDS
        )
        out.extend(_name_issues(value.get("name"), path))
        namespace = value.get("namespace")
        if namespaced and namespace is not None:
            out.extend(_namespace_issues(namespace, (*path, "namespace")))
        for field in ("labels", "annotations"):
            if value.get(field) is not None:
                out.extend(_map_issues(value[field], (*path, field), labels=field == "labels"))

    return check


def _name_issues(name: object, path: Path) -> list[Issue]:
    if name is None or name == "":
        return [Issue(BAD_METADATA, path, "metadata.name is required")]
    if not isinstance(name, str):
        return [
            Issue(
                BAD_METADATA, (*path, "name"), f"metadata.name must be a string, not {show(name)}"
            )
        ]
    if len(name) > _SUBDOMAIN_MAX or _DNS_SUBDOMAIN.search(name) is None:
        message = (
            f"metadata.name {show(name)} is not a valid DNS-1123 subdomain (lowercase letters,"
            f" digits, '-' and '.', starting and ending with a letter or digit, at most"
            f" {_SUBDOMAIN_MAX} characters)"
        )
        return [Issue(BAD_METADATA, (*path, "name"), message)]
    return []


def _namespace_issues(namespace: object, path: Path) -> list[Issue]:
    if isinstance(namespace, str) and (
        len(namespace) <= _LABEL_MAX and _DNS_LABEL.search(namespace) is not None
    ):
        return []
    message = (
        f"metadata.namespace {show(namespace)} is not a valid DNS-1123 label (lowercase letters,"
        f" digits and '-', starting and ending with a letter or digit, at most {_LABEL_MAX}"
        " characters)"
    )
    return [Issue(BAD_METADATA, path, message)]


def _map_issues(value: object, path: Path, *, labels: bool) -> list[Issue]:
    if not isinstance(value, dict):
        return [Issue(BAD_METADATA, path, f"metadata.{path[-1]} must be a map, not {show(value)}")]
    issues: list[Issue] = []
    size = 0
    for raw_key, raw_item in value.items():
        key = str(raw_key)
        # An unquoted YAML date is a string to the apiserver; null decodes to "".
        item = raw_item.isoformat() if isinstance(raw_item, date) else raw_item
        issues.extend(_entry_issues(key, "" if item is None else item, (*path, key), labels=labels))
        size += len(key.encode()) + (len(item.encode()) if isinstance(item, str) else 0)
    if not labels and size > _ANNOTATIONS_MAX_BYTES:
        message = f"annotations total {size} bytes, more than the {_ANNOTATIONS_MAX_BYTES} allowed"
        issues.append(Issue(BAD_METADATA, path, message))
    return issues


def _entry_issues(key: str, item: object, path: Path, *, labels: bool) -> list[Issue]:
    what = "label" if labels else "annotation"
    issues: list[Issue] = []
    if not _is_qualified_name(key):
        message = f"{what} key {show(key)} is not a valid qualified name ([prefix/]name)"
        issues.append(Issue(BAD_METADATA, path, message))
    if not isinstance(item, str):
        hint = f'Quote the value in YAML so it is a string: "{show(item)}".'
        message = f"{what} {key} must be a string, not {show(item)}"
        issues.append(Issue(BAD_METADATA, path, message, hint))
    elif labels and (len(item) > _LABEL_MAX or _LABEL_VALUE.search(item) is None):
        message = (
            f"label {key} value {show(item)} is not a valid label value (at most {_LABEL_MAX}"
            " characters of A-Z a-z 0-9 - _ ., starting and ending with a letter or digit)"
        )
        issues.append(Issue(BAD_METADATA, path, message))
    return issues


def _is_qualified_name(key: str) -> bool:
    prefix, slash, name = key.rpartition("/")
    if slash and (
        not prefix or len(prefix) > _SUBDOMAIN_MAX or _DNS_SUBDOMAIN.search(prefix) is None
    ):
        return False
    return len(name) <= _LABEL_MAX and _NAME_PART.search(name) is not None

"""Desired policy -> canonical file bytes. Pure and deterministic.

Sits between ``desired.policy`` and ``reconcile.plan``. The planner asks for a policy's cheap
fingerprints (``digest`` and ``header``) for every policy and for the full ``document`` only for
the files it creates or updates, so a no-op pass renders nothing.

A rendered file is::

    <header template, every line a comment>
    # cilium-gitops-checksum: sha256:<hash of every other byte of the file>
    apiVersion: cilium.io/v2
    kind: CiliumNetworkPolicy
    metadata: {name, namespace, labels, annotations (policy id, version, digest)}
    spec: ...

The checksum line makes hand edits detectable from the bytes alone (no YAML parsing); the
``digest`` annotation fingerprints the content (not the version), so a version bump with the
same content does not rewrite the file.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

from reconciler import __version__
from reconciler.desired.limits import KUBERNETES_OBJECT_BYTES
from reconciler.desired.names import (
    API_VERSION,
    DIGEST_ANNOTATION,
    ID_ANNOTATION,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    VERSION_ANNOTATION,
)
from reconciler.desired.record import Record
from reconciler.render import canonical_yaml

if TYPE_CHECKING:
    from reconciler.desired.cnp import Rule
    from reconciler.desired.policy import DesiredPolicy
    from reconciler.render.templates import Templates

# Bump when the byte layout changes: every managed file's digest changes, so the next sync
# re-renders them all in one commit instead of leaving two formats in the tree.
FORMAT = 1
_DIGEST_KEY = ("digest", FORMAT)
CHECKSUM_PREFIX = b"# cilium-gitops-checksum: sha256:"
CHECKSUM_LINE = re.compile(rb"^# cilium-gitops-checksum: sha256:([0-9a-f]{64})\n", re.MULTILINE)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def header_digest(header: str) -> str:
    """The fingerprint of a file's header comment, as records and tree snapshots hold it."""
    return _sha256(header.encode())


def file_checksum(without_checksum_line: bytes) -> str:
    """The checksum stored in a file: over every byte except the checksum line itself."""
    return _sha256(without_checksum_line)


class Renderer:
    """Renders policies with one set of templates."""

    def __init__(self, templates: Templates, *, max_bytes: int = KUBERNETES_OBJECT_BYTES) -> None:
        """Keep the templates and the size limit; rendering itself holds no state.

        ``max_bytes`` is the largest file the planner writes (``--max-policy-bytes``); the
        renderer only carries it, so every caller that plans uses the same one.
        """
        self._templates = templates
        self.max_bytes = max_bytes

    def header(self, policy: DesiredPolicy) -> str:
        """The comment block above the document, ending in a newline (cached on the policy)."""
        key = ("header", self._templates.header.template)
        cached = policy.memo.get(key)
        if cached is None:
            cached = policy.memo[key] = self._header(policy)
        return cached

    def _header(self, policy: DesiredPolicy) -> str:
        text = self._templates.header.substitute(
            policy_id=policy.id,
            kind=policy.kind.value,
            namespace=policy.namespace or "",
            name=policy.name,
            display=policy.display,
        )
        return text if text.endswith("\n") else text + "\n"

    def digest(self, policy: DesiredPolicy) -> str:
        """Fingerprint of the rendered content, independent of the control-plane version."""
        return self._cached_digest(policy, None)

    def _cached_digest(self, policy: DesiredPolicy, manifest: dict[str, Any] | None) -> str:
        cached = policy.memo.get(_DIGEST_KEY)
        if cached is None:
            built = self._manifest(policy) if manifest is None else manifest
            cached = policy.memo[_DIGEST_KEY] = self._digest(built)
        return cached

    @property
    def identity(self) -> bytes:
        """What, besides a policy, shapes its file: the format, the header template, the tool.

        An admission salts input digests with it, so a file rendered by another version of the
        tool or with another header is never taken for what this renderer would write.
        """
        return "\0".join(
            (__version__, str(FORMAT), self._templates.header.template, str(self.max_bytes))
        ).encode()

    def record(self, policy: DesiredPolicy, input_digest: str | None = None) -> Record:
        """The policy as the planner keeps it: path, fingerprints and the rendered file."""
        body = self.document(policy)
        return Record(
            policy.id,
            policy.path,
            policy.version,
            self.digest(policy),
            header_digest(self.header(policy)),
            input_digest,
            body,
        )

    def document(self, policy: DesiredPolicy) -> bytes:
        """The whole file: header, checksum line, YAML document."""
        manifest = self._manifest(policy)
        annotations = manifest["metadata"]["annotations"]
        annotations[DIGEST_ANNOTATION] = "sha256:" + self._cached_digest(policy, manifest)
        annotations[VERSION_ANNOTATION] = str(policy.version)
        manifest["metadata"]["annotations"] = dict(sorted(annotations.items()))
        header = self.header(policy).encode()
        body = canonical_yaml.dump(manifest).encode()
        checksum = file_checksum(header + body)
        return header + CHECKSUM_PREFIX + checksum.encode() + b"\n" + body

    @staticmethod
    def _digest(manifest: dict[str, Any]) -> str:
        annotations = manifest["metadata"]["annotations"]
        core = {
            **manifest,
            "metadata": {
                **manifest["metadata"],
                "annotations": {
                    k: v
                    for k, v in annotations.items()
                    if k not in {DIGEST_ANNOTATION, VERSION_ANNOTATION}
                },
            },
        }
        canonical = json.dumps(
            {"format": FORMAT, "manifest": core},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return _sha256(canonical.encode())

    @staticmethod
    def _manifest(policy: DesiredPolicy) -> dict[str, Any]:
        """The object as it is written, keys in their final order (digest/version added later)."""
        metadata: dict[str, Any] = {"name": policy.name}
        if policy.namespace is not None:
            metadata["namespace"] = policy.namespace
        metadata["labels"] = dict(
            sorted({**policy.labels, MANAGED_BY_LABEL: MANAGED_BY_VALUE}.items()),
        )
        metadata["annotations"] = dict(
            sorted({**policy.annotations, ID_ANNOTATION: policy.id}.items()),
        )
        manifest: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": policy.kind.value,
            "metadata": metadata,
        }
        if policy.spec is not None:
            manifest["spec"] = _dump(policy.spec)
        if policy.specs is not None:
            manifest["specs"] = [_dump(rule) for rule in policy.specs]
        return manifest


def _dump(rule: Rule) -> dict[str, Any]:
    # exclude_unset keeps what the user wrote, including meaningful empties such as
    # ``ingress: [{}]``; exclude_none drops explicit nulls, which Kubernetes treats as absent.
    return rule.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)

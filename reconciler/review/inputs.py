"""Reading the two sides of a review: file contents in, policies keyed by identity out.

First step of ``compare`` (inputs -> flows -> diff -> risks -> formats). The caller hands over
file contents by path (from two commits, two folders, or a test's literals), so this module
never touches a disk or git. Files are read as ``validate`` reads them (same loader, so the
same duplicate-key and ``kind: List`` rules); documents other than CiliumNetworkPolicy and
CiliumClusterwideNetworkPolicy, such as ``kustomization.yaml``, are skipped. Policies are keyed
by (kind, namespace, name), what the cluster keys them by, so moving a policy to another file
is not a change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reconciler.errors import InvalidInputError
from reconciler.review.flows import PolicyRef, reference
from reconciler.validate.documents import MAX_FILE_BYTES, SUFFIXES, UnreadableError, parse

if TYPE_CHECKING:
    from collections.abc import Mapping


class ReviewInputError(InvalidInputError):
    """A file of one side cannot be reviewed: not UTF-8, not YAML, or a policy is ambiguous.

    ``line`` and ``column`` are 1-based, 0 when unknown.
    """

    def __init__(self, path: str, reason: str, line: int = 0, column: int = 0) -> None:
        """Keep the file and position apart from the reason, for reports that show columns."""
        where = f"{path}:{line}:{column}" if line else path
        super().__init__(f"{where}: {reason}")
        self.path = path
        self.reason = reason
        self.line = line
        self.column = column


@dataclass(frozen=True, slots=True)
class Policy:
    """One policy of one side, and the file it was found in."""

    ref: PolicyRef
    file: str
    data: Mapping[str, Any]


def is_reviewed(path: str) -> bool:
    """Whether a file is read at all: YAML and JSON files, as ``validate`` walks folders."""
    return path.endswith(SUFFIXES)


def load(files: Mapping[str, bytes]) -> dict[PolicyRef, Policy]:
    """Every policy in ``files`` (path -> contents), by identity; raises ``ReviewInputError``."""
    found: dict[PolicyRef, Policy] = {}
    for path in sorted(files):
        if not is_reviewed(path):
            continue
        for data in _documents(path, files[path]):
            ref = reference(data)
            if not ref.name:
                raise ReviewInputError(path, f"a {ref.kind} without metadata.name")
            if ref in found:
                other = found[ref]
                # The same document twice in one file (Cilium's connectivity-check-proxy.yaml
                # does it) leaves nothing to choose between: keep one. Anything else is ambiguous.
                if other.file == path and other.data == data:
                    continue
                raise ReviewInputError(path, f"{ref.display} is also defined in {other.file}")
            found[ref] = Policy(ref, path, data)
    return found


def _documents(path: str, content: bytes) -> list[dict[str, Any]]:
    if len(content) > MAX_FILE_BYTES:
        raise ReviewInputError(path, f"{len(content)} bytes: larger than any policy file")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReviewInputError(path, f"not UTF-8 text (byte {exc.start})") from exc
    try:
        loaded = parse(text)
    except UnreadableError as exc:
        raise ReviewInputError(path, str(exc), exc.line, exc.column) from exc
    return [policy.data for policy in loaded.policies]


def content(policy: Policy) -> dict[str, Any]:
    """What a change to the policy is judged on: the document without its ``status``."""
    return {key: value for key, value in policy.data.items() if key != "status"}

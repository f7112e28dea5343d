"""Policy documents found in file contents, and the engine built from them.

Where the commands and the review enter ``verdicts``: they hand over file contents by path (one
revision's tree, a folder, a test's literals) and get the rules of every
CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy and Kubernetes NetworkPolicy in them, as
Cilium enforces all three together. Files are read as ``validate`` reads them (the same YAML
readers, ``kind: List`` unwrapped); only ``.yaml``, ``.yml`` and ``.json`` files are read, and
a policy defined twice (same kind, namespace and name) in different files is an error, as the
cluster would keep only one of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconciler.errors import InvalidInputError
from reconciler.validate.documents import MAX_FILE_BYTES, SUFFIXES, UnreadableError, documents_of
from reconciler.verdicts.engine import Engine, Options
from reconciler.verdicts.netpol import read_network_policy
from reconciler.verdicts.rules import CCNP, CNP, KNP, read_policy

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from reconciler.verdicts.rules import Rule

_API = {CNP: "cilium.io/v2", CCNP: "cilium.io/v2", KNP: "networking.k8s.io/v1"}


class SourceError(InvalidInputError):
    """A file cannot be read (not UTF-8, not YAML) or defines a policy twice."""


def documents(files: Mapping[str, bytes]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every mapping document of every YAML or JSON file, with its path, in path order."""
    for path in sorted(files):
        if not path.endswith(SUFFIXES):
            continue
        content = files[path]
        if len(content) > MAX_FILE_BYTES:
            msg = f"{path}: {len(content)} bytes, larger than any manifest"
            raise SourceError(msg)
        try:
            loaded = documents_of(content.decode("utf-8"))
        except UnicodeDecodeError as exc:
            msg = f"{path}: not UTF-8 text (byte {exc.start})"
            raise SourceError(msg) from None
        except UnreadableError as exc:
            where = f"{path}:{exc.line}:{exc.column}" if exc.line else path
            raise SourceError(f"{where}: {exc}") from None
        for document in loaded:
            if not isinstance(document, dict):
                continue
            if document.get("kind") == "List" and isinstance(document.get("items"), list):
                yield from ((path, item) for item in document["items"] if isinstance(item, dict))
            else:
                yield path, document


def is_policy(document: Mapping[str, Any]) -> bool:
    """A CNP, a CCNP or a Kubernetes NetworkPolicy of the API version Cilium reads."""
    kind = document.get("kind")
    return isinstance(kind, str) and _API.get(kind) == document.get("apiVersion")


def rules_of(files: Mapping[str, bytes]) -> list[Rule]:
    """The rules of every policy in ``files``; raises ``SourceError``."""
    found: list[Rule] = []
    seen: dict[tuple[str, str, str], str] = {}
    for path, document in documents(files):
        if not is_policy(document):
            continue
        rules = (
            read_network_policy(document, path)
            if document["kind"] == KNP
            else read_policy(document, path)
        )
        if not rules:
            continue
        ref = rules[0].policy
        key = (ref.kind, ref.namespace or "", ref.name)
        if key in seen and seen[key] != path:
            msg = f"{path}: {ref.display} is also defined in {seen[key]}"
            raise SourceError(msg)
        if key in seen:
            continue  # the same policy twice in one file: the cluster keeps one
        seen[key] = path
        found.extend(rules)
    return found


def engine_for(files: Mapping[str, bytes], options: Options | None = None) -> Engine:
    """The engine for the policies in ``files``."""
    return Engine(rules_of(files), options)

"""The repository layer: a GitOps tree as Flux will read it, beyond any one policy.

Last step of the flow (documents -> structure -> semantics -> lint -> repository), for files
found by walking a folder. Per file: is it listed by the kustomization Flux builds (its folder's
``kustomization.yaml``, and that folder by its parent's); does a file cilium-gitops manages sit
at the path its metadata gives, and is it byte for byte what cilium-gitops would write (a hand
edit is shown as a diff); files that no tool manages are noted. Across files: one
(kind, namespace, name) per tree, since the second file would silently replace the first.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ruamel.yaml.error import YAMLError

from reconciler.desired.names import (
    CLUSTER_FOLDER,
    ID_ANNOTATION,
    KUSTOMIZATION,
    VERSION_ANNOTATION,
)
from reconciler.validate.documents import yaml_loader
from reconciler.validate.findings import Issue, Severity, rule

if TYPE_CHECKING:
    from pathlib import Path

    from reconciler.render.templates import Templates
    from reconciler.render.tree import FileState
    from reconciler.validate.documents import LoadedFile, PolicyDocument
    from reconciler.validate.findings import Path as NodePath

# Given a file and a test of its content, the newest committed (commit, content) that passes.
History = Callable[["Path", Callable[[bytes], bool]], "tuple[str, bytes] | None"]

NOT_LISTED = rule(
    "CG401",
    "not-in-kustomization",
    Severity.ERROR,
    "Flux applies only what a kustomization lists: an unlisted file is silently never applied.",
    "Add the file (or its folder) to the resources of the kustomization.yaml beside it.",
)
WRONG_PATH = rule(
    "CG402",
    "path-mismatch",
    Severity.ERROR,
    "A managed file lives at <namespace>/<name>.yaml; elsewhere the next sync writes a copy.",
    "Move the file to match metadata, or fix metadata.name and metadata.namespace.",
)
HAND_EDITED = rule(
    "CG403",
    "hand-edited",
    Severity.ERROR,
    "cilium-gitops rewrites its files on the next sync, so a hand edit is silently reverted.",
    "Change the policy in the control plane, or remove the managed-by label to take it over.",
)
UNMANAGED = rule(
    "CG404",
    "unmanaged-file",
    Severity.INFO,
    "No tool owns this file: it changes only by hand, and cilium-gitops never deletes it.",
    "Nothing to do if that is intended; move it to the control plane to have it managed.",
)
DUPLICATE = rule(
    "CG405",
    "duplicate-policy",
    Severity.ERROR,
    "Two files with one kind, namespace and name: the one Flux applies last wins, silently.",
    "Rename or remove one of them.",
)


@functools.cache
def _resources(kustomization: Path) -> frozenset[str] | None:
    """The resources a kustomization lists; None when it cannot be read (cached per run)."""
    try:
        document: Any = yaml_loader().load(kustomization.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError):
        return None
    listed = document.get("resources") if isinstance(document, dict) else None
    if not isinstance(listed, list):
        return frozenset()
    return frozenset(str(item).rstrip("/").removeprefix("./") for item in listed)


def tree_root(path: Path, top: Path) -> Path | None:
    """The folder Flux would build ``path`` from, or None outside any kustomize tree.

    That is the highest of the unbroken run of folders with a ``kustomization.yaml`` above the
    file, within ``top``.

    Only policies in such a tree get the repository checks: a folder of loose examples is not a
    GitOps tree, and duplicate names there mean nothing to a cluster.
    """
    folder = path.parent
    while not (folder / KUSTOMIZATION).is_file():
        if folder in {top, folder.parent}:
            return None
        folder = folder.parent
    while folder != top and (folder.parent / KUSTOMIZATION).is_file():
        folder = folder.parent
    return folder


def listing_issue(path: Path, root: Path) -> str | None:
    """Why Flux would not apply ``path`` through the kustomizations from ``root`` down, if so."""
    folder = path.parent
    while not (folder / KUSTOMIZATION).is_file():
        folder = folder.parent  # tree_root guarantees one at or below root
    child = path
    while True:
        listed = _resources(folder / KUSTOMIZATION)
        where = folder.relative_to(root).as_posix()
        where = f"{where}/{KUSTOMIZATION}" if where != "." else KUSTOMIZATION
        if listed is None:
            return f"{where} cannot be read, so nothing in it is applied"
        entry = child.relative_to(folder).as_posix()
        if entry not in listed:
            return f"{entry} is not listed in the resources of {where}"
        if folder == root:
            return None
        child, folder = folder, folder.parent


def check_file(
    path: Path, shown: str, loaded: LoadedFile, *, root: Path, history: History | None = None
) -> list[tuple[int | None, Issue]]:
    """Repository issues of one file in the tree at ``root`` (see ``tree_root``).

    Each is (document index, or None for the whole file, issue). ``history`` reads the file's
    committed versions, to show a hand edit as the edit itself.
    """
    found: list[tuple[int | None, Issue]] = []
    if not loaded.policies:  # kustomization.yaml and other files are not ours to place
        return found
    reason = listing_issue(path, root)
    if reason is not None:
        found.append((None, Issue(NOT_LISTED, (), reason)))
    state = _inspect(shown, loaded.text.encode())
    if not state.managed:
        names = ", ".join(p.display or "?" for p in loaded.policies)
        found.append((None, Issue(UNMANAGED, (), f"not managed by cilium-gitops: {names}")))
        return found
    for policy in loaded.policies:
        found.extend((policy.index, issue) for issue in _placement(path, root, policy))
    if not state.intact:
        found.append((None, _hand_edit(path, shown, loaded, history)))
    return found


def _placement(path: Path, root: Path, policy: PolicyDocument) -> list[Issue]:
    folder = policy.namespace or CLUSTER_FOLDER
    expected = f"{folder}/{policy.name}.yaml"
    actual = "/".join(path.relative_to(root).parts[-2:]) if path != root else path.name
    if policy.name is None or actual == expected:
        return []
    return [
        Issue(
            WRONG_PATH,
            ("metadata", "name"),
            f"file is {actual}, but metadata says {expected}",
        )
    ]


def _hand_edit(path: Path, shown: str, loaded: LoadedFile, history: History | None) -> Issue:
    """The file's checksum does not match: show the edit, or else what a sync would write.

    In a git checkout the diff is from the newest committed version cilium-gitops wrote
    (checksum intact) to the file as it is: exactly the hand edit. Elsewhere the file is
    rendered again from its own content, which shows the lines a sync would rewrite.
    """
    written = history(path, lambda content: _inspect(shown, content).intact) if history else None
    if written is not None:
        commit, content = written
        before, label = content.decode("utf-8", "replace"), commit[:12]
        diff = _diff(before, loaded.text, f"as cilium-gitops wrote it ({label})", "as it is now")
        message = f"edited by hand since commit {label}: the next sync reverts the edit"
        return Issue(HAND_EDITED, (), message, detail=diff)
    rendered = _rerender(loaded)
    if rendered is None:
        return Issue(HAND_EDITED, (), "edited by hand: its checksum no longer matches")
    diff = _diff(loaded.text, rendered, "as committed", "as cilium-gitops renders it")
    return Issue(HAND_EDITED, (), "edited by hand: the next sync rewrites it", detail=diff)


def _diff(before: str, after: str, before_label: str, after_label: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), before_label, after_label
    )
    return "".join(lines)


def _inspect(shown: str, content: bytes) -> FileState:
    from reconciler.render.tree import inspect  # noqa: PLC0415 - loaded for a managed file only

    return inspect(shown, content)


def _rerender(loaded: LoadedFile) -> str | None:
    # pydantic only here: most validate runs never re-render a hand-edited file.
    from reconciler.desired.policy import DesiredPolicy, parse_policy  # noqa: PLC0415
    from reconciler.render.manifest import Renderer  # noqa: PLC0415

    if len(loaded.policies) != 1:
        return None
    document = loaded.policies[0].data
    metadata = document.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    version = annotations.get(VERSION_ANNOTATION, "0")
    entry = {
        "id": annotations.get(ID_ANNOTATION) or "unknown",
        "name": metadata.get("name"),
        "version": int(version) if str(version).isdigit() else 0,
        "policy": document,
    }
    if metadata.get("namespace"):
        entry["namespace"] = metadata["namespace"]
    parsed = parse_policy(entry, position=str(entry["id"]))
    if not isinstance(parsed, DesiredPolicy):
        return None
    return Renderer(_templates()).document(parsed).decode()


@functools.cache
def _templates() -> Templates:
    from reconciler.render.templates import load_templates  # noqa: PLC0415 - see _rerender

    # The shipped templates: a repository rendered with custom ones shows a header diff.
    return load_templates()


# (file, (document index, path of the policy in its document), kind, namespace, name)
Listed = tuple[str, tuple[int, "NodePath"], str, "str | None", str]


def duplicates(policies: list[Listed]) -> list[tuple[str, tuple[int, NodePath], Issue]]:
    """(file, where, issue) for every policy whose kind, namespace and name came before."""
    first: dict[tuple[str, str | None, str], str] = {}
    found: list[tuple[str, tuple[int, NodePath], Issue]] = []
    for file, where, kind, namespace, name in policies:
        key = (kind, namespace, name)
        if key in first:
            shown = f"{namespace}/{name}" if namespace else name
            message = f"{kind} {shown} is also defined in {first[key]}"
            found.append((file, where, Issue(DUPLICATE, ("metadata", "name"), message)))
        else:
            first[key] = file
    return found

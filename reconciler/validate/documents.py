"""Reading the files ``validate`` checks: YAML or JSON, one or many documents each.

First step of the flow (documents -> structure -> semantics -> lint -> repository): a file
becomes ``PolicyDocument`` values (the plain data of each CiliumNetworkPolicy or
CiliumClusterwideNetworkPolicy in it) and a ``Positions`` that places a path inside a document
at a line and column. Both come from the first of three readers that takes the text: plain
block YAML line by line (``yaml_block``), libyaml's events (``yaml_events``), and ruamel's full
loader for unusual YAML and for errors; with ruamel, positions are worked out only when a file
has findings.
Files that cannot be read or parsed raise ``UnreadableError`` with the position of the problem.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

from reconciler.desired.limits import InputLimitError, check_document
from reconciler.desired.reading import file_kind
from reconciler.validate import yaml_block, yaml_events

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from reconciler.validate.findings import Path as NodePath

API_VERSION = "cilium.io/v2"
KINDS = frozenset({"CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy"})
SUFFIXES = (".yaml", ".yml", ".json")
# A policy file is a few kilobytes; anything this large is not one, and reading it whole
# would let one stray file exhaust a CI runner's memory.
MAX_FILE_BYTES = 8 * 1024 * 1024
_OPEN = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


class UnreadableError(Exception):
    """The file could not be read or parsed; ``line``/``column`` are 1-based, 0 when unknown."""

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        """Keep the position next to the message."""
        super().__init__(message)
        self.line = line
        self.column = column


class SkippedError(UnreadableError):
    """The path is not a file to read (a FIFO, a device, a socket, a link out of the tree).

    It is reported and passed over; unlike an unreadable file, it does not stop the run.
    """


@dataclass(frozen=True, slots=True)
class PolicyDocument:
    """One CNP or CCNP found in a file."""

    index: int  # which document of the file, from 0
    data: dict[str, Any]
    base: NodePath = ()  # where the policy sits in its document: ("items", 2) inside a List

    @property
    def kind(self) -> str:
        """CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy."""
        return str(self.data["kind"])

    @property
    def name(self) -> str | None:
        """``metadata.name`` when it is a string."""
        value = _metadata(self.data).get("name")
        return value if isinstance(value, str) else None

    @property
    def namespace(self) -> str | None:
        """``metadata.namespace`` when it is a string (never for a clusterwide policy)."""
        value = _metadata(self.data).get("namespace")
        return value if isinstance(value, str) and value else None

    @property
    def display(self) -> str | None:
        """``namespace/name`` as findings name the policy, or the name alone."""
        if self.name is None:
            return None
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


def _metadata(data: dict[str, Any]) -> dict[str, Any]:
    metadata = data.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


@functools.cache
def yaml_loader() -> YAML:
    """The loader every reading in ``validate`` uses, one per process.

    Making one globs for plug-ins, which costs more than loading a small file.
    """
    # The safe loader (C-accelerated when ruamel.yaml.clib is installed) rejects duplicate keys,
    # which Kubernetes would otherwise resolve silently to the last one.
    return YAML(typ="safe", pure=False)


@dataclass(frozen=True, slots=True)
class LoadedFile:
    """A file's text and the policies in it (other kinds of document are skipped)."""

    text: str
    policies: tuple[PolicyDocument, ...]
    documents: int  # every document in the file, policies or not
    marks: list[yaml_events.Marks] | None = None  # from the fast reader; None after ruamel

    def positions(self) -> Positions:
        """Where each node of each document is."""
        return Positions(self.text, self.marks)


def read(path: str | os.PathLike[str], *, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file; a FIFO, device or socket raises ``SkippedError``, unread.

    Opened without blocking (a FIFO would otherwise wait for a writer forever) and sized from
    the open file, which also halves the cost of stat() then read_bytes() on a large tree.
    """
    try:
        handle = os.open(path, _OPEN)
    except OSError as exc:
        try:
            kind = file_kind(os.stat(path).st_mode)  # noqa: PTH116 - str paths
        except OSError:
            kind = None
        if kind is not None:  # a socket cannot even be opened (ENXIO)
            raise SkippedError(f"{kind}, not a regular file: not read") from None
        raise UnreadableError(f"cannot read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(handle)
        kind = file_kind(info.st_mode)
        if kind is not None:
            msg = f"{kind}, not a regular file: not read"
            raise SkippedError(msg)
        if info.st_size > max_bytes:
            msg = f"{info.st_size} bytes: larger than any policy file ({max_bytes} bytes at most)"
            raise UnreadableError(msg)
        data = os.read(handle, info.st_size + 1)
    except OSError as exc:
        raise UnreadableError(f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(handle)
    if len(data) > max_bytes:  # it grew since fstat
        msg = f"grew past {max_bytes} bytes while being read"
        raise UnreadableError(msg)
    return data


def load(path: str | os.PathLike[str]) -> LoadedFile:
    """Read and parse one file; raises ``UnreadableError`` (``SkippedError`` for no file)."""
    try:
        text = read(path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableError(f"not UTF-8 text (byte {exc.start})") from None
    return parse(text)


def parse(text: str) -> LoadedFile:
    """Parse text holding one or many YAML (or JSON) documents."""
    marks: list[yaml_events.Marks] | None
    try:
        documents, marks = yaml_block.load_all(text)
    except yaml_events.Unusual:
        try:
            documents, marks = yaml_events.load_all(text)
        except yaml_events.Unusual:
            documents, marks = _load_all(text), None
        else:
            if "*" in text:  # the events reader follows aliases too: check what they built
                _check_expansion(documents)
    policies: list[PolicyDocument] = []
    for index, document in enumerate(documents):
        if is_policy(document):
            policies.append(PolicyDocument(index, document))
        elif isinstance(document, dict) and document.get("kind") == "List":
            # kubectl's v1 List: the Cilium examples ship several policies this way.
            items = document.get("items")
            policies.extend(
                PolicyDocument(index, item, ("items", position))
                for position, item in enumerate(items if isinstance(items, list) else [])
                if is_policy(item)
            )
    count = sum(1 for d in documents if d is not None)
    return LoadedFile(text, tuple(policies), count, marks)


def _load_all(text: str) -> list[Any]:
    """The reference loader: slower, but handles every YAML feature and places every error.

    The only reader that takes anchors: its documents are checked for aliases that explode,
    and for depth, before any layer walks them (``desired.limits``).
    """
    try:
        documents = list(yaml_loader().load_all(text))
        _check_expansion(documents)
    except RecursionError:
        raise UnreadableError("invalid YAML: nested too deeply") from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = exc.problem or exc.context or "invalid YAML"
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        raise UnreadableError(f"invalid YAML: {reason}", line, column) from None
    except YAMLError as exc:
        raise UnreadableError(f"invalid YAML: {exc}") from None
    return documents


def _check_expansion(documents: list[Any]) -> None:
    """Refuse documents whose aliases explode or that nest too deep (``desired.limits``)."""
    try:
        for index, document in enumerate(documents):
            check_document(document, where=f"document {index + 1}")
    except InputLimitError as exc:
        raise UnreadableError(str(exc)) from None


def is_policy(document: object) -> bool:
    """A Cilium network policy object (of the API version this tool knows)."""
    return (
        isinstance(document, dict)
        and document.get("kind") in KINDS
        and document.get("apiVersion") == API_VERSION
    )


def documents_of(text: str) -> list[Any]:
    """Every document of a YAML or JSON text, of any kind, through the readers ``parse`` uses.

    For ``verdicts``, which also reads Kubernetes NetworkPolicies and workloads.
    """
    try:
        return yaml_block.load_all(text)[0]
    except yaml_events.Unusual:
        try:
            return yaml_events.load_all(text)[0]
        except yaml_events.Unusual:
            return _load_all(text)


def items(value: object) -> Iterator[tuple[int, dict[str, Any]]]:
    """The mappings of a list with their indexes; anything else has none.

    Every layer walks raw documents with this: a node of the wrong type is skipped here and
    reported by ``structure``.
    """
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict):  # what YAML and JSON loaders build (ruamel's too)
                yield index, item


def rules_of(document: Mapping[str, Any]) -> Iterator[tuple[NodePath, dict[str, Any]]]:
    """Each rule of a policy (``spec`` and every item of ``specs``) with its path."""
    spec = document.get("spec")
    if isinstance(spec, dict):
        yield ("spec",), spec
    for index, item in items(document.get("specs")):
        yield ("specs", index), item


class Positions:
    """Lines and columns of nodes, by document index and path."""

    def __init__(self, text: str, marks: list[yaml_events.Marks] | None = None) -> None:
        """Use the fast reader's marks, or compose the text (parsed before, so it succeeds)."""
        self._marks = marks
        self._roots: list[Node] = [] if marks is not None else list(yaml_loader().compose_all(text))

    def locate(self, index: int, path: NodePath) -> tuple[int, int]:
        """1-based (line, column) of the node at ``path``, or of its nearest existing ancestor.

        For a mapping key the key itself is the position: that is the line a reviewer edits.
        """
        if self._marks is not None:
            if index >= len(self._marks):
                return (0, 0)
            marks = self._marks[index]
            for end in range(len(path), -1, -1):
                mark = marks.get(path[:end])
                if mark is not None:
                    return mark
            return (0, 0)
        if index >= len(self._roots):
            return (0, 0)
        node = self._roots[index]
        mark = node.start_mark
        for part in path:
            found = _child(node, part)
            if found is None:
                break
            key_node, node = found
            mark = (key_node or node).start_mark
        return (mark.line + 1, mark.column + 1)


def _child(node: Node, part: str | int) -> tuple[Node | None, Node] | None:
    if isinstance(node, MappingNode) and isinstance(part, str):
        for key, value in node.value:
            if key.value == part:
                return key, value
    if isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return None, node.value[part]
    return None


def walk(paths: list[Path]) -> Iterator[Path]:
    """Every policy-like file under the given files and folders, sorted, hidden folders skipped.

    A file named explicitly is always checked, whatever its suffix; inside folders only
    ``.yaml``, ``.yml`` and ``.json`` files are. Symlinks inside folders are not followed: one
    to a file of the tree is passed over (that file is checked itself), one that leads out of
    the tree is yielded so that it is reported, never read. FIFOs, devices and sockets are
    yielded too, to be reported (``load`` never opens them for reading).
    """
    for path in paths:
        if not path.is_dir():
            yield path
            continue
        root = os.path.realpath(path)
        found: list[Path] = []
        for folder, folders, files in os.walk(path):
            folders[:] = sorted(f for f in folders if not f.startswith("."))
            found.extend(
                Path(folder, name)
                for name in files
                if name.endswith(SUFFIXES) and not _link_inside(folder, name, root)
            )
        yield from sorted(found)


def _link_inside(folder: str, name: str, root: str) -> bool:
    """Whether ``folder/name`` is a symlink to somewhere inside ``root`` (passed over)."""
    path = os.path.join(folder, name)  # noqa: PTH118 - os.walk gives str
    if not os.path.islink(path):  # noqa: PTH114 - as above
        return False
    target = os.path.realpath(path)
    return target == root or target.startswith(root + os.sep)

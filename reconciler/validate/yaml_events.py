"""Fast YAML reading for ``documents``: plain values and node positions from libyaml's events.

Loading dominates ``validate`` (a policy file takes far longer to load with ruamel's safe
loader than to check), and most of that time goes to building and resolving node objects in
Python. Here libyaml's parser (ruamel.yaml.clib's ``CParser``) yields events, and one small
loop builds the dicts, lists and scalars, resolving plain scalars with ruamel's own YAML 1.2
resolver table and constructors, so the values are the ones ruamel would give.

The second of three readers: ``yaml_block`` reads the common files faster, line by line, and
leaves the rest to this one (it also takes the resolver table from here). Anything out of the
ordinary (an explicit tag, a merge key, a ``%YAML`` directive, a duplicate or non-scalar key, a
syntax error) raises ``Unusual``, and the caller loads the text with ruamel instead: that path
stays the reference and gives the positioned errors.
"""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING, Any, NamedTuple

from ruamel.yaml import YAML
from ruamel.yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from ruamel.yaml.nodes import ScalarNode

# None without ruamel.yaml.clib (PyPy): every text then takes ruamel's pure loader.
CParser: Any = getattr(importlib.import_module("ruamel.yaml.cyaml"), "CParser", None)

if TYPE_CHECKING:
    from collections.abc import Callable

_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"


class Unusual(Exception):  # noqa: N818 - a signal to fall back, not an error to report
    """The text needs the full loader (or is not valid YAML): load it with ruamel."""


@functools.cache
def _resolution() -> tuple[dict[str, list[tuple[str, Any]]], dict[str, Callable[..., Any]]]:
    loader = YAML(typ="safe", pure=False)
    resolver: Any = loader.resolver
    constructor: Any = loader.constructor
    constructors: dict[str, Callable[..., Any]] = {
        tag: functools.partial(function, constructor)
        for tag, function in constructor.yaml_constructors.items()
        if isinstance(tag, str)
    }
    table: dict[str, list[tuple[str, Any]]] = {
        first: [(tag, _compiled(regexp)) for tag, regexp in candidates]
        for first, candidates in resolver.versioned_resolver.items()
    }
    return table, constructors


def _compiled(regexp: Any) -> Any:  # noqa: ANN401 - a pattern, or ruamel's lazy wrapper of one
    # ruamel wraps its patterns in a LazyEval that forwards every attribute in Python code:
    # a third of the cost of resolving a scalar.
    lazy = getattr(regexp, "lazy_self", None)
    return lazy() if lazy is not None else regexp


def resolve_plain(value: str) -> Any:  # noqa: ANN401 - a YAML scalar: str, int, bool, None, date...
    """A plain scalar as ruamel resolves it (most are strings whose first character says so)."""
    table, constructors = _resolution()
    candidates = table.get(value[:1])
    if candidates is None:
        return value
    return resolve(value, candidates, constructors)


def resolve(
    value: str,
    candidates: list[tuple[str, Any]],
    constructors: dict[str, Callable[..., Any]],
) -> Any:  # noqa: ANN401 - a YAML scalar
    """A plain scalar whose first character has ``candidates`` (from ``RESOLVERS``)."""
    for tag, regexp in candidates:
        if regexp.match(value):
            if tag == _STR:
                return value
            if tag == _MERGE:
                raise Unusual
            construct = constructors.get(tag)
            if construct is None:
                raise Unusual
            return construct(ScalarNode(tag, value))
    return value


Marks = dict[tuple[str | int, ...], tuple[int, int]]
RESOLVERS, CONSTRUCTORS = _resolution()


def load_all(text: str) -> tuple[list[Any], list[Marks]]:
    """Every document of ``text`` as plain values, and where each node of each document is.

    A node's place is its 1-based (line, column) by path; a mapping value is placed at its key,
    the line a reviewer edits. Recording them costs a few percent of the load, less than
    parsing again for the files that have findings. Raises ``Unusual`` to ask for ruamel.
    """
    if CParser is None:  # pragma: no cover
        raise Unusual
    parser = CParser(text)
    get = parser.get_event
    documents: list[Any] = []
    places: list[Marks] = []
    try:
        get()  # the stream's start
        while type(event := get()) is DocumentStartEvent:
            _plain_document(event)
            node = get()
            marks: Marks = {(): (node.start_mark.line + 1, node.start_mark.column + 1)}
            documents.append(_value(get, node, _Document({}, marks), ()))
            places.append(marks)
            get()  # the document's end
    except Unusual:
        raise
    except Exception as exc:  # libyaml's scanner and parser errors: ruamel reports them better
        raise Unusual from exc
    finally:
        parser.dispose()
    return documents, places


def _plain_document(event: Any) -> None:  # noqa: ANN401 - a libyaml event
    # A %YAML or %TAG directive changes how scalars resolve: ruamel's resolver knows how.
    if event.version or event.tags:
        raise Unusual


class _Document(NamedTuple):
    anchors: dict[str, Any]
    marks: Marks


def _value(
    get: Callable[[], Any],
    event: Any,  # noqa: ANN401 - a libyaml event
    document: _Document,
    path: tuple[str | int, ...],
) -> Any:  # noqa: ANN401 - any YAML value
    """The value that starts with ``event``, reading the events of its children with ``get``."""
    kind = type(event)
    if kind is ScalarEvent:
        value: Any = event.value
        # Inlined resolve_plain: this line runs for every scalar of every file.
        if event.implicit[0] and (candidates := RESOLVERS.get(value[:1])) is not None:
            value = resolve(value, candidates, CONSTRUCTORS)
    elif kind is MappingStartEvent:
        value = {}
        while type(key_event := get()) is not MappingEndEvent:
            key = _key(key_event, value)
            here = (*path, key)
            mark = key_event.start_mark
            document.marks[here] = (mark.line + 1, mark.column + 1)
            value[key] = _value(get, get(), document, here)
    elif kind is SequenceStartEvent:
        value = []
        while type(item_event := get()) is not SequenceEndEvent:
            here = (*path, len(value))
            mark = item_event.start_mark
            document.marks[here] = (mark.line + 1, mark.column + 1)
            value.append(_value(get, item_event, document, here))
    elif kind is AliasEvent and event.anchor in document.anchors:
        return document.anchors[event.anchor]
    else:
        raise Unusual
    if event.tag is not None:
        raise Unusual
    if event.anchor is not None:
        # Registered once complete: an alias inside its own anchor is recursion, left to ruamel.
        document.anchors[event.anchor] = value
    return value


def _key(event: Any, mapping: dict[Any, Any]) -> Any:  # noqa: ANN401 - a YAML scalar
    # Keys must be plain scalars (a mapping or list cannot be a dict key) and unique: the safe
    # loader rejects a duplicate, and ruamel says where.
    if type(event) is not ScalarEvent or event.tag is not None or event.anchor is not None:
        raise Unusual
    key = resolve_plain(event.value) if event.implicit[0] else event.value
    if key in mapping or not isinstance(key, str | int):
        raise Unusual
    return key

"""The first YAML reader ``documents`` tries: plain block YAML, line by line, in pure Python.

Files in a GitOps tree are nearly all the same simple block YAML (what ``kubectl``, kustomize
and YAML dumpers write): mappings and sequences by indentation, one-line plain and quoted
scalars, comments, ``{}`` and ``[]``, documents split by ``---``. This reader takes that subset
line by line and builds the values and node positions in one pass, without libyaml's Python
event objects, which cost most of ``yaml_events``' time.

It gives exactly what ``yaml_events`` (and ruamel's safe loader) give: plain scalars are
resolved with the same table and constructors, and a node is placed where libyaml's event for
it starts. Anything it is not sure of raises ``yaml_events.Unusual``, and ``documents`` goes on
to ``yaml_events`` and then ruamel, which stay the reference: tabs and odd characters, anchors,
aliases, tags, flow collections with content, block and multi-line scalars, escapes other than
the one-character ones, ``?`` keys, directives, ``...``, empty documents, duplicate or
non-string keys, and any line whose indentation does not continue the structure exactly.
"""

from __future__ import annotations

import re
from typing import Any

from reconciler.validate.yaml_events import (
    CONSTRUCTORS,
    RESOLVERS,
    Marks,
    Unusual,
    resolve,
    resolve_plain,
)

# Tab, CR, NEL and the other characters libyaml reads as line breaks, white space or errors,
# a BOM, and what YAML calls non-printable: each changes how a line reads, so none is guessed.
_ODD = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")
# What cannot start a plain scalar (or starts a feature this reader leaves to libyaml);
# "-", "?" and ":" can, when a non-space follows them.
_NOT_PLAIN = frozenset("-?:,[]{}#&*!|>'\"%@`")
_SINGLE = re.compile(r"'((?:[^']|'')*)'")
# Only the escapes that stand for one character: \x, \u, \U and line continuations are left to
# libyaml, which also knows which code points they may not name.
_DOUBLE = re.compile(r'"((?:[^"\\]|\\[0abtnvfre "/\\N_LP])*)"')
_ESCAPE = re.compile(r"\\(.)")
_ESCAPES = {
    "0": "\0",
    "a": "\a",
    "b": "\b",
    "t": "\t",
    "n": "\n",
    "v": "\v",
    "f": "\f",
    "r": "\r",
    "e": "\x1b",
    " ": " ",
    '"': '"',
    "/": "/",
    "\\": "\\",
    "N": "\x85",
    "_": "\xa0",
    "L": "\u2028",
    "P": "\u2029",
}
# libyaml refuses a simple key longer than this (1024); a margin keeps the count of
# characters against its count from mattering.
_LONGEST_KEY = 1000
_DOCUMENT_MARKERS = ("---", "...")


# One match a line, the whole line: the common shape ("- key: value", indentation, a plain
# key, a one-line value with no comment and nothing to unescape) in groups, anything else in
# the last group for the general path. Each text line gives exactly one match (a line cannot
# hold "\n", and every line start matches), so the matches count the lines.
_LINE = re.compile(
    r"""^(?:
    (\ *)(-\ +)?                                      # indentation, a "-" and its spaces
    ([A-Za-z_/][A-Za-z0-9_./-]*(?::[A-Za-z0-9_./-]+)*)  # a plain key ("k8s:app" is one)
    :(?:\ +(
        [^\s\-?:,\[\]{}\#&*!|>'"%@`][^:\#\n\ ]*(?:\ +[^:\#\n\ ]+)*  # plain: no ":", "#"
        |'[^'\n]*'|"[^"\\\n]*"|\{\}|\[\]              # quoted: no quote, no escape
    ))?\ *
    |(.*))$""",
    re.MULTILINE | re.VERBOSE,
)


def load_all(text: str) -> tuple[list[Any], list[Marks]]:
    """Every document of ``text`` as plain values, and where each node of each document is.

    The same as ``yaml_events.load_all`` for the texts it reads; raises ``Unusual`` for the
    others.
    """
    if _ODD.search(text) is not None:
        raise Unusual
    reader = _Reader()
    entry = reader.entry
    for number, (indent, dash, key, value, other) in enumerate(_LINE.findall(text), 1):
        if key:
            entry(number, len(indent), dash, key, value)
            continue
        content = other.lstrip(" ")
        if not content or content[0] == "#":
            continue
        column = len(other) - len(content)
        if column == 0 and content.startswith(_DOCUMENT_MARKERS):
            reader.marker(content)
        else:
            reader.line(number, column, content.rstrip(" "))
    return reader.finish()


# An open block collection: (column, value, path, indentless). An indentless list ("key:" then
# "- item" at the key's column) ends at the first line of that column that is not an item,
# where the mapping around it goes on. A tuple, not a class: a file opens a dozen.
_Frame = tuple[int, Any, tuple[str | int, ...], bool]


class _Reader:
    """Builds the documents from content lines (comments and blank lines already skipped)."""

    def __init__(self) -> None:
        self.documents: list[Any] = []
        self.places: list[Marks] = []
        self.stack: list[_Frame] = []
        self.marks: Marks = {}
        self.explicit = False  # a "---" opened the document being read
        # The last node when it had nothing after its "key:" or "-": None, unless the next line
        # opens a block inside it. (frame, key or index, path)
        self.pending: tuple[_Frame, str | int, tuple[str | int, ...]] | None = None

    def marker(self, content: str) -> None:
        """A line that starts with "---" or "..." at column 0."""
        rest = content[3:]
        if content[0] == "." or (rest and rest[0] != " "):
            raise Unusual  # "...", or a scalar that starts with "---"
        rest = rest.lstrip(" ")
        if rest and rest[0] != "#":
            raise Unusual  # content after "---" on its line
        if self.stack:
            self._end_document()
        elif self.explicit:
            raise Unusual  # an empty document: libyaml places its null in its own way
        self.explicit = True

    def finish(self) -> tuple[list[Any], list[Marks]]:
        """The documents read; raises ``Unusual`` for a text with none or ending in an empty one."""
        if not self.stack:
            raise Unusual
        self._end_document()
        return self.documents, self.places

    def _end_document(self) -> None:
        self.documents.append(self.stack[0][1])
        self.places.append(self.marks)
        self.stack = []
        self.marks = {}
        self.pending = None
        self.explicit = False

    def entry(self, number: int, column: int, dash: str, key: str, value: str) -> None:
        """A line of the common shape: ``[- ]key: [value]``, as ``_LINE`` splits it."""
        stack = self.stack
        if self.pending is None and stack:
            frame = stack[-1]
            # Most lines go on the collection of the line before: no need to work it out.
            if frame[0] != column or (type(frame[1]) is list) is not (dash != ""):
                frame = self._frame(number, column, dash=dash != "")
        else:
            frame = self._frame(number, column, dash=dash != "")
        marks = self.marks
        if dash:
            path = (*frame[2], len(frame[1]))
            column += len(dash)
            marks[path] = (number, column + 1)
            mapping: dict[str, Any] = {}
            frame[1].append(mapping)
            frame = (column, mapping, path, False)
            stack.append(frame)
        else:
            mapping = frame[1]
        if (
            key in mapping
            or (key[0] in RESOLVERS and type(resolve_plain(key)) is not str)
            or len(key) > _LONGEST_KEY
        ):
            raise Unusual  # a duplicate key, one that is not a string, or one libyaml refuses
        path = (*frame[2], key)
        marks[path] = (number, column + 1)
        if not value:
            mapping[key] = None
            self.pending = (frame, key, path)
            return
        first = value[0]
        if first in "'\"":
            mapping[key] = value[1:-1]
        elif first == "{":
            mapping[key] = {}
        elif first == "[":
            mapping[key] = []
        elif (candidates := RESOLVERS.get(first)) is not None:
            mapping[key] = resolve(value, candidates, CONSTRUCTORS)
        else:
            mapping[key] = value

    def line(self, number: int, column: int, content: str) -> None:
        """Any other content line: ``column`` is where ``content`` starts (0-based)."""
        pending = self.pending
        if pending is not None and content[0] in "{[" and column > pending[0][0]:
            # "key:" or "-", then "{}" or "[]" alone on the next line
            self.pending = None
            parent, at, path = pending
            parent[1][at] = _scalar(content)
            if type(at) is int:
                self.marks[path] = (number, column + 1)
            return
        dash = content[0] == "-" and (len(content) == 1 or content[1] == " ")
        frame = self._frame(number, column, dash=dash)
        while dash:
            # A sequence item: what follows "-" on this line, if anything, is its value.
            items: list[Any] = frame[1]
            index = len(items)
            path = (*frame[2], index)
            rest = content[1:].lstrip(" ")
            if not rest or rest[0] == "#":
                items.append(None)
                # libyaml places an empty item where its "-" ends.
                self.marks[path] = (number, column + 2)
                self.pending = (frame, index, path)
                return
            column += len(content) - len(rest)
            content = rest
            self.marks[path] = (number, column + 1)
            dash = content[0] == "-" and (len(content) == 1 or content[1] == " ")
            if not dash and _key(content) is None:
                items.append(_scalar(content))
                return
            # A collection that starts on its "-" line ("- - x", "- key: x").
            items.append([] if dash else {})
            frame = (column, items[index], path, False)
            self.stack.append(frame)
        self._entry(number, column, content, frame)

    def _frame(self, number: int, column: int, *, dash: bool) -> _Frame:
        """The collection a line at ``column`` belongs to, opened or closed as its column says."""
        pending = self.pending
        if pending is not None:
            self.pending = None
            parent, at, path = pending
            inside = column > parent[0]
            if inside or (dash and column == parent[0] and type(at) is str):
                value: dict[str, Any] | list[Any] = [] if dash else {}
                frame = (column, value, path, not inside)
                parent[1][at] = value
                if type(at) is int:
                    self.marks[path] = (number, column + 1)
                self.stack.append(frame)
                return frame
        stack = self.stack
        if not stack:
            frame = (column, [] if dash else {}, (), False)
            self.marks[()] = (number, column + 1)
            stack.append(frame)
            return frame
        frame = stack[-1]
        while column < frame[0] or (frame[3] and column == frame[0] and not dash):
            stack.pop()
            if not stack:
                raise Unusual  # less indented than the document's root
            frame = stack[-1]
        if column != frame[0] or dash is not (type(frame[1]) is list):
            raise Unusual
        return frame

    def _entry(self, number: int, column: int, content: str, frame: _Frame) -> None:
        # "key: value" or "key:" in the mapping of ``frame``, starting at ``column``.
        found = _key(content)
        if found is None:
            raise Unusual  # a scalar line inside a mapping: a multi-line scalar or an error
        key, rest = found
        mapping: dict[str, Any] = frame[1]
        if key in mapping:
            raise Unusual  # ruamel reports duplicate keys, with their position
        path = (*frame[2], key)
        self.marks[path] = (number, column + 1)
        if not rest or rest[0] == "#":
            mapping[key] = None
            self.pending = (frame, key, path)
        else:
            mapping[key] = _scalar(rest)


def _key(content: str) -> tuple[str, str] | None:
    """A line's key and what follows its ":" (spaces skipped), or None if it holds no key."""
    first = content[0]
    if first in "'\"":
        key, end = _quoted(content)
        rest = content[end:].lstrip(" ")
        if rest[:1] != ":":
            return None
        rest = rest[1:]
        if (rest and rest[0] != " ") or end > _LONGEST_KEY:
            raise Unusual
        return key, rest.lstrip(" ")
    if first in _NOT_PLAIN and (first not in "-?:" or len(content) == 1 or content[1] == " "):
        return None
    colon = content.find(": ")
    if colon < 0:
        if content[-1] != ":":
            return None
        colon = len(content) - 1
    comment = content.find(" #")
    if 0 <= comment < colon:
        return None
    if colon > _LONGEST_KEY:
        raise Unusual
    key = resolve_plain(content[:colon].rstrip(" "))
    if type(key) is not str:
        raise Unusual  # a key that is a number, a boolean, null...: left to the other readers
    return key, content[colon + 1 :].lstrip(" ")


def _scalar(content: str) -> Any:  # noqa: ANN401 - a YAML scalar: str, int, float, bool, date
    """The value written on the rest of a line (neither empty nor a comment)."""
    first = content[0]
    if first in "'\"":
        value, end = _quoted(content)
        _end_of_node(content, end)
        return value
    if first in _NOT_PLAIN:
        if first in "{[" and content[1:2] == ("}" if first == "{" else "]"):
            _end_of_node(content, 2)
            return {} if first == "{" else []
        if first not in "-?:" or len(content) == 1 or content[1] == " ":
            raise Unusual
    comment = content.find(" #")
    if comment >= 0:
        content = content[:comment].rstrip(" ")
    if ": " in content or content[-1] == ":":
        raise Unusual  # "a: b: c" is an error, which ruamel reports
    return resolve_plain(content)


def _end_of_node(content: str, end: int) -> None:
    # After a quoted scalar or "{}" only a comment may follow on the line, after a space.
    if end < len(content) and (content[end] != " " or content[end:].lstrip(" ")[0] != "#"):
        raise Unusual


def _quoted(content: str) -> tuple[str, int]:
    """A quoted scalar that starts ``content`` and ends on its line, and where it ends."""
    if content[0] == "'":
        match = _SINGLE.match(content)
        if match is None:
            raise Unusual  # a quoted scalar over several lines
        return match[1].replace("''", "'"), match.end()
    match = _DOUBLE.match(content)
    if match is None:
        raise Unusual
    body = match[1]
    if "\\" in body:
        body = _ESCAPE.sub(lambda escape: _ESCAPES[escape[1]], body)
    return body, match.end()

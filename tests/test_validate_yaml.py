"""The fast YAML readers give exactly what ruamel's safe loader gives, and place nodes alike.

Two readers come before ruamel: ``yaml_block`` (plain block YAML, line by line) and
``yaml_events`` (libyaml's events). Each either reads a text as the next would or hands it on
with ``Unusual``; ruamel's loader is the reference for values, its composed nodes for marks.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from conftest import EXAMPLES
from hypothesis import example, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from reconciler.validate import documents, yaml_block, yaml_events
from reconciler.validate.documents import Positions, UnreadableError, parse, yaml_loader

REFERENCE = YAML(typ="safe", pure=True)


def reference(text: str) -> list[Any]:
    return list(REFERENCE.load_all(text))


def reference_positions(text: str) -> Positions:
    """Where ruamel's composed nodes put paths (the reader's fallback, used as the oracle)."""
    positions = Positions.__new__(Positions)
    positions._marks = None
    positions._roots = list(yaml_loader().compose_all(text))
    return positions


def paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            if isinstance(key, str):
                found.extend(paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(paths(child, (*prefix, index)))
    return found


SCALAR_TEXTS = [
    "a: 1",
    "a: -0x1F",
    "a: 0o17",
    "a: 010",
    "a: 1_000",
    "a: 1.5e3",
    "a: .inf",
    "a: -.Inf",
    "a: .nan",
    "a: true",
    "a: False",
    "a: TRUE",
    "a: yes",
    "a: no",
    "a: on",
    "a: ~",
    "a: null",
    "a:",
    "a: ''",
    'a: "80"',
    "a: 2001-12-14",
    "a: 2001-12-14t21:59:43.10-05:00",
    "a: 0b101",
    "a: +12",
    "a: 1.",
    "a: -",
    "a: =",
    "a: <<",
    "a: '0.0.0.0/0'",
    "a: 0.0.0.0/0",
    "a: 10.0.0.0",
    "a: |\n  x\n  y\n",
    "a: >-\n  folded\n  text\n",
    "a: [1, 'x', ~, {b: c}]",
]


@pytest.mark.parametrize("text", SCALAR_TEXTS)
def test_scalars_resolve_as_ruamel_resolves_them(text: str) -> None:
    """Every scalar style and implicit type gives ruamel's value, type included."""
    try:
        fast, _ = yaml_events.load_all(text)
    except yaml_events.Unusual:
        return  # the caller then uses ruamel itself
    expected = reference(text)
    assert fast == expected
    assert [type(v) for v in fast[0].values()] == [type(v) for v in expected[0].values()]


@pytest.mark.parametrize(
    "text",
    [
        "a: !!str 5",  # explicit tag
        "base: &b {x: 1}\nother:\n  <<: *b\n",  # merge key
        "%YAML 1.1\n---\na: yes\n",  # another YAML version
        "a: 1\na: 2\n",  # duplicate key
        "? [1, 2]\n: x\n",  # a key that is a list
        "a: [1, 2\n",  # a syntax error
    ],
)
def test_unusual_yaml_is_left_to_ruamel(text: str) -> None:
    """What the reader does not handle it hands to ruamel rather than guess."""
    with pytest.raises(yaml_events.Unusual):
        yaml_events.load_all(text)


def test_errors_still_carry_ruamel_positions() -> None:
    """A duplicate key and a syntax error are reported with the line ruamel finds."""
    with pytest.raises(UnreadableError) as duplicate:
        parse("kind: A\nmetadata:\n  name: x\n  name: y\n")
    assert duplicate.value.line == 4
    with pytest.raises(UnreadableError) as broken:
        parse("a: [1, 2\n")
    assert broken.value.line > 0


def test_anchors_and_aliases_share_values() -> None:
    """An alias gives the anchored value, as the safe loader does."""
    text = "a: &x {p: 1}\nb: *x\nc: &s s\nd: *s\n"
    assert yaml_events.load_all(text)[0] == reference(text)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=True)
    | st.text(max_size=12)
    | st.dates().map(dt.date.isoformat),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(min_size=1, max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(value=json_values, flow=st.booleans())
@example(value={"t": "true", "n": "null", "o": "0o7", "d": "2001-12-14"}, flow=False)
def test_dumped_values_load_back_as_ruamel_loads_them(value: Any, flow: bool) -> None:
    """Any value dumped to YAML (block or flow style) reads back as ruamel reads it."""
    dumper = YAML(typ="safe", pure=True)
    dumper.default_flow_style = flow
    stream = io.StringIO()
    dumper.dump_all([value, {"second": value}], stream)
    text = stream.getvalue()
    try:
        fast, marks = yaml_events.load_all(text)
    except yaml_events.Unusual:
        return
    assert fast == reference(text)
    oracle = reference_positions(text)
    for index, document in enumerate(fast):
        for path in paths(document)[1:]:
            assert marks[index].get(path) == oracle.locate(index, path)


CORPUS = sorted(EXAMPLES.rglob("*.yaml"))


def test_the_cilium_corpus_reads_and_places_as_ruamel_does() -> None:
    """Every real policy file gives ruamel's values, and every node ruamel's line and column."""
    for file in CORPUS:
        text = file.read_text(encoding="utf-8")
        values, marks = yaml_events.load_all(text)
        assert values == reference(text), file
        oracle = reference_positions(text)
        for index, document in enumerate(reference(text)):
            for path in paths(document)[1:]:
                assert marks[index][path] == oracle.locate(index, path), (file, path)


# --- the block reader against what documents.parse read before it ------------------------------


def before(text: str) -> tuple[list[Any], list[yaml_events.Marks] | None]:
    """What ``documents.parse`` read from ``text`` without the block reader (may raise)."""
    try:
        return yaml_events.load_all(text)
    except yaml_events.Unusual:
        return documents._load_all(text), None


def typed(value: Any) -> Any:
    """``value`` with every scalar's type spelt out: 1, 1.0 and True are equal, these are not."""
    if isinstance(value, dict):
        return [("dict", typed(k), typed(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [typed(item) for item in value]
    return (type(value).__name__, repr(value))


def block_reads_as_before(text: str) -> bool:
    """If the block reader takes ``text``, it gives the values and marks read before; else False.

    Before, a text libyaml or ruamel cannot read was an error: the block reader must not read
    it either (``before`` raises, failing the test).
    """
    try:
        values, marks = yaml_block.load_all(text)
    except yaml_events.Unusual:
        return False
    expected, expected_marks = before(text)
    assert typed(values) == typed(expected), text
    if expected_marks is not None:
        assert marks == expected_marks, text
    oracle = reference_positions(text)
    for index, document in enumerate(values):
        assert set(marks[index]) == set(paths(document)), text
        for path in paths(document):
            assert marks[index][path] == oracle.locate(index, path), (text, path)
    return True


# --- the block reader: the same texts as above, then its own --------------------------------


@pytest.mark.parametrize("text", SCALAR_TEXTS)
def test_block_reader_resolves_scalars_as_ruamel_does(text: str) -> None:
    """Every scalar it takes gives ruamel's value, type included (the rest it leaves)."""
    try:
        fast, _ = yaml_block.load_all(text)
    except yaml_events.Unusual:
        return
    expected = reference(text)
    assert typed(fast) == typed(expected)


@settings(max_examples=300, deadline=None)
@given(value=json_values)
@example(value={"t": "true", "n": "null", "o": "0o7", "d": "2001-12-14"})
def test_block_reader_reads_dumped_values_as_before(value: Any) -> None:
    """Any value dumped in block style reads back as before, or is left to the other readers."""
    dumper = YAML(typ="safe", pure=True)
    dumper.default_flow_style = False
    stream = io.StringIO()
    dumper.dump_all([value, {"second": value}], stream)
    block_reads_as_before(stream.getvalue())


def test_block_reader_takes_the_cilium_corpus_but_two_files() -> None:
    """Every file it takes reads as before; it leaves only the two with a scalar over lines."""
    left = {
        file.relative_to(EXAMPLES).as_posix()
        for file in CORPUS
        if not block_reads_as_before(file.read_text(encoding="utf-8"))
    }
    assert left == {
        "kubernetes/connectivity-check/connectivity-debug-tools.yaml",  # a plain scalar
        "policies/host/lock-down-dev-vms-remote-node.yaml",  # a double-quoted one
    }


# (text, the marks of its only document): the places libyaml gives, written out.
PLACED = [
    ("-\n- x\n", {(): (1, 1), (0,): (1, 2), (1,): (2, 3)}),
    ("- # c\n-   \n", {(): (1, 1), (0,): (1, 2), (1,): (2, 2)}),
    (
        "- - x\n  - y\n- z",
        {(): (1, 1), (0,): (1, 3), (0, 0): (1, 5), (0, 1): (2, 5), (1,): (3, 3)},
    ),
    ("- -\n", {(): (1, 1), (0,): (1, 3), (0, 0): (1, 4)}),
    ("-   a: 1\n    b: 2\n", {(): (1, 1), (0,): (1, 5), (0, "a"): (1, 5), (0, "b"): (2, 5)}),
    (
        "a:\n- x\n-\n  b: 1\n",
        {(): (1, 1), ("a",): (1, 1), ("a", 0): (2, 3), ("a", 1): (4, 3), ("a", 1, "b"): (4, 3)},
    ),
    (
        "- a:\n  - x\n  b: 1\n",
        {(): (1, 1), (0,): (1, 3), (0, "a"): (1, 3), (0, "a", 0): (2, 5), (0, "b"): (3, 3)},
    ),
    ("a:\n  {}\nb:\n-\n  []\n", {(): (1, 1), ("a",): (1, 1), ("b",): (3, 1), ("b", 0): (5, 3)}),
    ("# c\n---\n  a: 1\n  b:\n", {(): (3, 3), ("a",): (3, 3), ("b",): (4, 3)}),
    (
        "'q': 1\n\"d\" : 2\nk8s:app: x\na b: c\n",
        {(): (1, 1), ("q",): (1, 1), ("d",): (2, 1), ("k8s:app",): (3, 1), ("a b",): (4, 1)},
    ),
]


@pytest.mark.parametrize(("text", "marks"), PLACED)
def test_block_reader_places_nodes_where_libyaml_does(text: str, marks: yaml_events.Marks) -> None:
    """Empty items at the end of their "-", compact collections at their first key or "-"."""
    assert block_reads_as_before(text)
    assert yaml_block.load_all(text)[1] == [marks]


WRITTEN_BY_TOOLS = [
    # ruamel's and PyYAML's dumpers (the bench's files): indentless lists, quoted numbers
    (
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: api\n"
        "  namespace: shop\nspec:\n  endpointSelector: {}\n  egress:\n  - toPorts:\n"
        "    - ports:\n      - port: '53'\n        protocol: UDP\n      rules:\n        dns:\n"
        "        - matchPattern: '*'\n  ingress:\n  - {}\n"
    ),
    # kubectl and hand-written: indented lists, double quotes, comments, several documents
    (
        '---\n# the API\napiVersion: "cilium.io/v2"\nkind: CiliumNetworkPolicy\nmetadata:\n'
        '  name: "api"   # trailing comment\nspec:\n  endpointSelector:\n    matchLabels:\n'
        '      app: api\n      "k8s:io.kubernetes.pod.namespace": shop\n  ingress:\n'
        "    - fromEndpoints:\n        - matchLabels:\n            {}\n\n      toPorts:\n"
        '        - ports:\n            - port: "8080"\n              protocol: TCP\n'
        "          rules:\n            http:\n              - method: GET\n"
        '                path: "/api/v1/.*"\n---\napiVersion: v1\nkind: List\nitems: []\n'
    ),
    # ports as numbers, CIDRs, booleans, an empty value, a date-like name
    (
        "spec:\n  egress:\n  - toCIDR:\n    - 10.0.0.0/8\n    - ::/0\n    toPorts:\n"
        "    - ports:\n      - port: 443\n        endPort: 8443\n  enableDefaultDeny:\n"
        "    egress: false\n    ingress: true\n  description:\n  labels:\n  - key: 2001-12-14\n"
    ),
]


@pytest.mark.parametrize("text", WRITTEN_BY_TOOLS)
def test_block_reader_takes_policy_files_as_tools_write_them(text: str) -> None:
    """The common files take the fast path, not the fallback: what makes validate fast."""
    assert block_reads_as_before(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\n\tb: 2\n",  # a tab
        "a: 1\r\nb: 2\r\n",  # CR LF
        "\ufeffa: 1\n",  # a BOM
        "a: &x 1\nb: *x\n",  # an anchor and an alias
        "a: !!str 1\n",  # a tag
        "a: [1, 2]\n",  # a flow list with content
        "a: {b: 1}\n",  # a flow mapping with content
        "a: |\n  text\n",  # a block scalar
        "a: >-\n  text\n",
        "a: one\n  two\n",  # a plain scalar over two lines
        "a: 'one\n  two'\n",  # a quoted one
        'a: "\\x41"\n',  # an escape of more than one character
        "? a\n: b\n",  # an explicit key
        "%YAML 1.2\n---\na: 1\n",  # a directive
        "a: 1\n...\n",  # a document end
        "a: 1\n---\n",  # an empty document
        "---\n---\na: 1\n",
        "",  # no document
        "# only a comment\n",
        "just a scalar\n",
        "1: one\n",  # a key that is not a string
        "true: yes\n",
        "a: 1\na: 2\n",  # a duplicate key
        "a: 1\n  b: 2\n",  # deeper than its mapping
        "a:\n    b: 1\n  c: 2\n",  # between two levels
        "  a: 1\nb: 2\n",  # left of the document's root
        "a: 1\n- b\n",  # an item among keys
        "- a\nb: 1\n",  # a key among items
        "a: b: c\n",  # a mapping value where none may be
        "a: - b\n",  # an item where none may be
        "a: -\n",
        "a: 'b' c\n",  # something after a quoted scalar
        "a: 'b'#c\n",  # a comment without a space before it
        "a: @b\n",  # characters that start no token
        "<<: {}\n",  # a merge key
        "x" * 1001 + ": 1\n",  # a key longer than libyaml takes
        "--- a: 1\n",  # content on the "---" line
    ],
)
def test_block_reader_leaves_the_rest_to_the_other_readers(text: str) -> None:
    """Anything outside the simple subset, valid YAML or not, goes on to libyaml and ruamel."""
    with pytest.raises(yaml_events.Unusual):
        yaml_block.load_all(text)


def test_documents_use_the_block_reader_and_fall_back() -> None:
    """parse() reads common files with the block reader and the rest as before, marks included."""
    simple = parse("apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: a\n")
    assert simple.marks == [{(): (1, 1), ("apiVersion",): (1, 1), ("kind",): (2, 1),
                             ("metadata",): (3, 1), ("metadata", "name"): (4, 3)}]  # fmt: skip
    flow = parse("apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: a}\n")
    assert flow.policies[0].data == simple.policies[0].data
    assert flow.positions().locate(0, ("metadata", "name")) == (3, 12)
    anchored = parse("kind: CiliumNetworkPolicy\napiVersion: &v cilium.io/v2\nx: *v\n")
    assert anchored.policies[0].data["x"] == "cilium.io/v2"


# --- generated block YAML: written with every layout choice, then damaged line by line --------

# Scalars that mean something to YAML, or look like they do.
TRICKY = [
    "", " ", "a b", " lead", "trail ", "80", "0o17", "0x1F", "1_000", "1e3", "1.5", ".5", ".inf",
    "-.Inf", ".nan", "+12", "-1", "010", "0b101", "true", "False", "yes", "no", "on", "null",
    "Null", "~", "2001-12-14", "2001-12-14t21:59:43.10-05:00", "-", "- x", "--", "---", "...",
    "?", "? x", "?x", ":", ": x", ":x", "::/0", "10.0.0.0/8", "a:b", "a: b", "a:", "#", "# x",
    "a #b", "a#b", "'", "''", "it's", '"', 'say "hi"', "\\", "back\\slash", "{}", "[]",
    "{a}", "[a]", "a,b", "a]", "*", "*a", "&a", "!a", "|", ">", "%", "@a", "`a", "<<", "=",
    "é", "中文", "\xa0", "nbsp\xa0", "😀", "k8s:io.kubernetes.pod.namespace", "/api/v1/.*",
]  # fmt: skip
scalar_text = st.sampled_from(TRICKY) | st.text(
    st.sampled_from("ab09 -?:,[]{}#&*!|>'\"%@`~.+/=\\é\xa0"), min_size=1, max_size=6
)
scalars = (
    scalar_text
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, width=32)
    | st.booleans()
    | st.none()
)
trees = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(scalar_text, children, max_size=3)
    ),
    max_leaves=12,
)


class Writer:
    """Writes a value as block YAML, drawing each layout choice (and some mistakes) as it goes."""

    def __init__(self, data: st.DataObject) -> None:
        self.draw = data.draw
        self.lines: list[str] = []

    def scalar(self, value: Any) -> str:
        if not isinstance(value, str):
            text = {True: "true", False: "false", None: self.draw(st.sampled_from(["~", "null"]))}
            return text[value] if value is None or isinstance(value, bool) else repr(value)
        style = self.draw(st.sampled_from(["plain", "single", "double"]))
        if style == "single" and "\n" not in value:
            return "'" + value.replace("'", "''") + "'"
        if style == "double":
            escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            return f'"{escaped}"'
        return value  # as it is, even where it needs quotes: then the text is not what was meant

    def line(self, text: str) -> None:
        if self.draw(st.integers(0, 9)) == 0:
            self.lines.append(" " * self.draw(st.integers(0, 6)) + "# note")
        if self.draw(st.integers(0, 9)) == 0:
            self.lines.append("")
        comment = "  # c" if self.draw(st.integers(0, 7)) == 0 else ""
        trailing = " " * self.draw(st.sampled_from([0, 0, 0, 1, 2]))
        self.lines.append(text + comment + trailing)

    def node(self, value: Any, column: int, head: str) -> None:
        """``value`` after ``head`` ("key:" or "-" at its column, or "" for a document)."""
        step = self.draw(st.integers(1, 4))
        if isinstance(value, dict | list) and not value:
            if head and self.draw(st.booleans()):
                self.line(f"{head}\n{' ' * (column + step)}{'{}' if value == {} else '[]'}")
            else:
                self.line(f"{head} {'{}' if value == {} else '[]'}".lstrip())
            return
        if isinstance(value, dict):
            if head:
                self.line(head)
                column += step
            for key, item in value.items():
                self.node(item, column, " " * column + self.scalar(key) + ":")
            return
        if isinstance(value, list):
            if head:
                self.line(head)
                # an indentless list under a key, or one indented below it
                column += 0 if head.endswith(":") and self.draw(st.booleans()) else step
            for item in value:
                dash = " " * column + "-" + " " * self.draw(st.integers(1, 3))
                self.item(item, len(dash), dash)
            return
        if head:
            self.line(f"{head} {self.scalar(value)}" if value is not None or head.endswith("-")
                      else head + self.draw(st.sampled_from(["", " ~"])))  # fmt: skip
        else:
            self.line(self.scalar(value))

    def item(self, item: Any, column: int, dash: str) -> None:
        if isinstance(item, dict) and item and self.draw(st.booleans()):
            first, *rest = item.items()  # "- key: value", the rest below the key
            self.node(first[1], column, dash + self.scalar(first[0]) + ":")
            for key, value in rest:
                self.node(value, column, " " * column + self.scalar(key) + ":")
        elif isinstance(item, list) and item and self.draw(st.booleans()):
            self.item(item[0], column + 2, dash + "- ")  # "- - x"
            for value in item[1:]:
                self.item(value, column + 2, " " * column + "- ")
        elif item is None and self.draw(st.booleans()):
            self.line(dash.rstrip())
        else:
            self.node(item, column, dash.rstrip())


# Documents are collections, as policy files are (a lone scalar is left to the other readers).
roots = st.dictionaries(scalar_text, trees, min_size=1, max_size=4) | st.lists(
    trees, min_size=1, max_size=3
)


def written(data: st.DataObject) -> str:
    documents = data.draw(st.lists(roots, min_size=1, max_size=2))
    writer = Writer(data)
    for index, document in enumerate(documents):
        if index or data.draw(st.booleans()):
            writer.lines.append("---")
        writer.node(document, data.draw(st.sampled_from([0, 0, 0, 2])), "")
    return "\n".join(writer.lines) + data.draw(st.sampled_from(["\n", "", "\n\n"]))


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_written_block_yaml_reads_as_before(data: st.DataObject) -> None:
    """Any layout of any value: read as before, or left to the other readers."""
    block_reads_as_before(written(data))


DAMAGE = [
    "x", "- x", "  - x", "x: y", "  x: y", "- x: y", "- - x", "---", "...", "? x", ": x", "x: |",
    "\tx: 1", "x: y: z", "  # c", "'x", '"x', "{x: 1}", "[1, 2]", "&a x", "*a", "-", "x:", "",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_damaged_block_yaml_is_read_as_before_or_left_alone(data: st.DataObject) -> None:
    """Lines moved, dropped, repeated or replaced: where libyaml fails, so does the reader."""
    lines = written(data).split("\n")
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(lines) - 1))
        change = data.draw(st.sampled_from(["shift", "drop", "repeat", "insert"]))
        if change == "shift":
            shift = data.draw(st.sampled_from([-2, -1, 1, 2]))
            kept = lines[at].lstrip(" ")
            lines[at] = " " * max(0, len(lines[at]) - len(kept) + shift) + kept
        elif change == "drop" and len(lines) > 1:
            del lines[at]
        elif change == "repeat":
            lines.insert(at, lines[at])
        else:
            indent = " " * data.draw(st.integers(0, 4))
            lines.insert(at, indent + data.draw(st.sampled_from(DAMAGE)))
    block_reads_as_before("\n".join(lines))

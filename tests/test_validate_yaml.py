"""The fast YAML reader gives exactly what ruamel's safe loader gives, and places nodes alike."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from conftest import EXAMPLES
from hypothesis import example, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from reconciler.validate import yaml_events
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


CORPUS = sorted(EXAMPLES.rglob("*.yaml")) if EXAMPLES.is_dir() else []


@pytest.mark.skipif(not CORPUS, reason=f"the Cilium examples are not at {EXAMPLES}")
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

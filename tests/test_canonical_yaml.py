"""The emitter's output reads back as the same data in YAML 1.1 (PyYAML, libyaml) and 1.2."""

from __future__ import annotations

import io
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from reconciler.render.canonical_yaml import dump

LOOKALIKES = [
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "Yes",
    "NO",
    "true",
    "False",
    "null",
    "Null",
    "~",
    "",
    "0123",
    "1e3",
    "8080",
    "-1",
    "+1",
    "0x1F",
    "0o17",
    "1_000",
    ".inf",
    "-.inf",
    ".nan",
    "1.5",
    "12:30",
    "12:30:45",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "=",
    "<<",
    "*alias",
    "&anchor",
    "!tag",
    "%directive",
    "@at",
    "`tick",
    "- dash",
    "? key",
    ": colon",
    "key: value",
    "a #comment",
    "#comment",
    "trailing ",
    " leading",
    "multi\nline",
    "tab\there",
    'quote"s',
    "back\\slash",
    "unicode é ✓",
    "\u2028",
    "\x85",
    "\ufeff",
    "{}",
    "[]",
    "{a: 1}",
    "[1, 2]",
    "|",
    ">",
    "'single'",
    "...",
    "---",
    "k8s:io.kubernetes.pod.namespace",
    "/.*",
    "GET",
    "reserved:",
    "x: ",
    "a\x00b",
]


def _pyyaml(text: str) -> Any:
    loader = yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader
    return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader, chosen for libyaml


def _ruamel(text: str) -> Any:
    loader = YAML(typ="safe", pure=True)
    return loader.load(io.StringIO(text))


def test_lookalike_strings_stay_strings() -> None:
    document = {"values": LOOKALIKES, "keyed": {s: s for s in LOOKALIKES if s}}
    text = dump(document)
    assert _pyyaml(text) == document
    assert yaml.safe_load(text) == document
    assert _ruamel(text) == document


def test_format_is_kubectl_style() -> None:
    document = {
        "apiVersion": "cilium.io/v2",
        "spec": {
            "endpointSelector": {},
            "ingress": [{}, {"toPorts": [{"ports": [{"port": "53", "protocol": "UDP"}]}]}],
            "egress": [],
            "enabled": True,
            "count": 3,
        },
    }
    assert dump(document) == (
        "apiVersion: cilium.io/v2\n"
        "spec:\n"
        "  endpointSelector: {}\n"
        "  ingress:\n"
        "  - {}\n"
        "  - toPorts:\n"
        "    - ports:\n"
        '      - port: "53"\n'
        "        protocol: UDP\n"
        "  egress: []\n"
        "  enabled: true\n"
        "  count: 3\n"
    )


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.text(max_size=12)
    | st.sampled_from(LOOKALIKES)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.sampled_from(LOOKALIKES), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=10), json_values, max_size=5))
def test_round_trip_in_both_yaml_versions(document: dict[str, Any]) -> None:
    text = dump(document)
    assert text.endswith("\n")
    assert not text.endswith("\n\n")
    assert "\r" not in text
    assert _pyyaml(text) == document
    assert _ruamel(text) == document
    assert dump(document) == text

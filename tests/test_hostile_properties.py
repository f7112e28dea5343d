"""Properties of the trust boundary (hypothesis). Issue 15.

* The desired-state parser never raises, whatever it is given: an entry becomes a policy or
  the rejections that name it, and every rejection is plain text.
* The readers give back exactly what was written: JSON and YAML documents of any JSON values.
* Any accepted policy renders to one YAML document that a YAML 1.1 reader (PyYAML, as kubectl
  and Flux read) and a YAML 1.2 reader (ruamel) both read back as exactly the accepted object,
  free text full of YAML syntax, escapes and Unicode separators included.
"""

from __future__ import annotations

import io
import json
from typing import Any

import yaml as pyyaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from reconciler.desired.policy import DesiredPolicy, parse_policy
from reconciler.desired.reading import parse_json, parse_yaml
from reconciler.desired.record import Rejection
from reconciler.render.manifest import Renderer
from reconciler.render.templates import load_templates
from reconciler.render.tree import inspect

# Any text a control plane could send: every code point but surrogates (no UTF-8 file or JSON
# reader passes one on), control characters and separators included.
ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
NAMES = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,12}[a-z0-9])?", fullmatch=True)
QUALIFIED = st.from_regex(
    r"([a-z0-9]{1,8}(\.[a-z0-9]{1,8})?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,10}[A-Za-z0-9])?",
    fullmatch=True,
)
LABEL_VALUES = st.from_regex(r"(([A-Za-z0-9][-A-Za-z0-9_.]{0,10})?[A-Za-z0-9])?", fullmatch=True)
JSON_SCALARS = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | ANY_TEXT
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=20,
)
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- the parser never raises -----------------------------------------------------------------

FIELD_NAMES = st.sampled_from(
    ["id", "namespace", "name", "region", "version", "policy", "kind", "spec", "metadata",
     "ingress", "egress", "endpointSelector", "toPorts", "ports", "port", "labels"]
)  # fmt: skip
ENTRY_LIKE = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(FIELD_NAMES | ANY_TEXT, inner, max_size=5)
    ),
    max_leaves=25,
)


@SETTINGS
@given(ENTRY_LIKE)
def test_the_parser_never_raises_and_names_every_problem(entry: Any) -> None:
    """Anything at all becomes a policy, or rejections of plain text naming the entry."""
    result = parse_policy(entry, position="policies[0]")
    if isinstance(result, DesiredPolicy):
        return
    assert result
    for rejection in result:
        assert isinstance(rejection, Rejection)
        assert all(
            isinstance(part, str)
            for part in (rejection.policy_id, rejection.field, rejection.reason)
        )


# -- the readers give back what was written --------------------------------------------------


@SETTINGS
@given(JSON_VALUES)
def test_json_reads_back_exactly(value: Any) -> None:
    assert parse_json(json.dumps(value), where="x") == value


@SETTINGS
@given(JSON_VALUES)
def test_yaml_reads_back_exactly(value: Any) -> None:
    """Written by a YAML 1.2 emitter (ruamel's, non-ASCII escaped) and read by ours: the same
    values. (PyYAML writes YAML 1.1, where ``0E0`` is a string that YAML 1.2 reads as a float,
    and writes a raw NEL that YAML reads as a line break: why our files use our own emitter.)
    """
    emitter = YAML(typ="safe", pure=True)
    emitter.allow_unicode = False
    emitter.default_flow_style = False
    # No folding: ruamel folds a long double-quoted scalar after an escape into a plain line
    # break, which every reader (libyaml, ruamel, PyYAML) reads as a space. Its bug, not ours.
    emitter.width = 1 << 16
    stream = io.StringIO()
    emitter.dump(value, stream)
    assert parse_yaml(stream.getvalue(), where="x") == value


# -- accepted policies render to one document both YAML versions read alike ----------------

PORT_RULES = st.fixed_dictionaries(
    {"ports": st.lists(st.fixed_dictionaries({"port": st.sampled_from(["80", "8080", "http"])}),
                       min_size=1, max_size=2)},
    optional={
        "rules": st.fixed_dictionaries(
            {
                "http": st.lists(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "method": ANY_TEXT,
                            "path": ANY_TEXT,
                            "host": ANY_TEXT,
                            "headers": st.lists(ANY_TEXT, max_size=2),
                        },
                    ),
                    max_size=2,
                )
            }
        )
    },
)  # fmt: skip
SPECS = st.fixed_dictionaries(
    {
        "endpointSelector": st.fixed_dictionaries(
            {}, optional={"matchLabels": st.dictionaries(QUALIFIED, LABEL_VALUES, max_size=3)}
        ),
        "ingress": st.lists(
            st.fixed_dictionaries({}, optional={"toPorts": st.lists(PORT_RULES, max_size=2)}),
            max_size=2,
        ),
    },
    optional={"description": ANY_TEXT},
)
POLICIES = st.fixed_dictionaries(
    {
        "apiVersion": st.just("cilium.io/v2"),
        "kind": st.just("CiliumNetworkPolicy"),
        "metadata": st.fixed_dictionaries(
            {
                "labels": st.dictionaries(QUALIFIED, LABEL_VALUES, max_size=3),
                "annotations": st.dictionaries(QUALIFIED, ANY_TEXT, max_size=3),
            }
        ),
        "spec": SPECS,
    }
)


def _yaml11(text: str) -> Any:
    documents = list(pyyaml.safe_load_all(text))
    assert len(documents) == 1
    return documents[0]


def _yaml12(text: str) -> Any:
    documents = list(YAML(typ="safe", pure=True).load_all(text))
    assert len(documents) == 1
    return documents[0]


@SETTINGS
@given(NAMES, POLICIES)
def test_an_accepted_policy_reads_back_alike_in_yaml_1_1_and_1_2(name: str, body: Any) -> None:
    """One document; spec, labels and annotations exactly as accepted; the file is intact."""
    accepted = parse_policy(
        {"id": f"p-{name}", "namespace": "shop", "name": name, "policy": body}, position="p"
    )
    assert isinstance(accepted, DesiredPolicy), accepted
    content = Renderer(load_templates()).document(accepted)
    text = content.decode("utf-8")
    spec = (
        accepted.spec.model_dump(mode="json", by_alias=True, exclude_unset=True)
        if (accepted.spec is not None)
        else None
    )
    for read in (_yaml11, _yaml12):
        document = read(text)
        assert document["spec"] == spec
        labels = document["metadata"]["labels"]
        assert labels == {**accepted.labels, "app.kubernetes.io/managed-by": "cilium-gitops"}
        annotations = document["metadata"]["annotations"]
        assert {k: v for k, v in annotations.items() if not k.startswith("cilium-gitops.io/")} == (
            accepted.annotations
        )
    state = inspect("shop/x.yaml", content)
    assert state.managed
    assert state.intact
    assert state.policy_id == accepted.id

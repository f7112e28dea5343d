"""Review output: golden text/JSON/Markdown of a representative change, and safe escaping.

The case lives in tests/data/review/pr/: ``before/`` and ``after/`` are two states of a GitOps
tree (a port change, a new world ingress, L7 and a deny rule removed, a default deny deleted, a
selector widened, a policy moved to another file, a clusterwide policy added). After a
deliberate change to a format, regenerate the expected files and review their diff:

    UPDATE_GOLDEN=1 pytest tests/test_review_formats.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import EXAMPLES, assert_golden

from reconciler.review import compare, render
from reconciler.review.output import FORMATS

CASE = Path(__file__).parent / "data" / "review" / "pr"
SUFFIX = {"text": "txt", "json": "json", "markdown": "md"}


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def representative() -> Any:
    return compare(tree(CASE / "before"), tree(CASE / "after"))


@pytest.mark.parametrize("fmt", FORMATS)
def test_golden(fmt: str) -> None:
    """Each format of the representative change matches its golden file byte for byte."""
    assert_golden(CASE / f"expected.{SUFFIX[fmt]}", render(representative(), fmt) + "\n")  # type: ignore[arg-type]


def test_representative_case_covers_every_risk() -> None:
    """The golden case exercises every risk check and every kind of change."""
    review = representative()
    assert sorted({r.code for r in review.risks}) == [
        "auth-removed",
        "default-deny-lost",
        "deny-removed",
        "ingress-from-world",
        "l7-removed",
        "selector-widened",
    ]
    assert {p.change for p in review.policies} == {"created", "updated", "deleted"}
    assert {f.change for f in review.flows} == {"added", "removed", "changed"}


def test_json_is_the_same_facts() -> None:
    """The JSON form parses, carries a version, and groups flows by namespace."""
    document = json.loads(render(representative(), "json"))
    assert document["version"] == 1
    assert document["summary"] == {
        "created": 1,
        "updated": 3,
        "deleted": 2,
        "added": 5,
        "removed": 4,
        "changed": 2,
        "risks": 6,
    }
    assert [group["namespace"] for group in document["namespaces"]] == ["kube-system", "shop"]
    frontend = next(p for p in document["policies"] if p["name"] == "frontend")
    assert frontend["fields"][:2] == [
        {
            "op": "removed",
            "path": "spec.egress[0].authentication.mode",
            "old": "required",
            "new": None,
        },
        {
            "op": "changed",
            "path": "spec.ingress[0].toPorts[0].ports[0].port",
            "old": "80",
            "new": "8080",
        },
    ]


def test_auth_removed_in_every_format() -> None:
    """Mutual auth dropped from a rule is a risk row naming the policy and rule in each format."""
    examples = EXAMPLES / "kubernetes" / "servicemesh"
    before = (examples / "cnp-with-mutual-auth.yaml").read_bytes()
    doc = yaml.safe_load(before)
    del doc["spec"]["ingress"][0]["authentication"]
    review = compare({"echo.yaml": before}, {"echo.yaml": yaml.safe_dump(doc).encode()})
    why = (
        "ingress to app=echo from endpoints same namespace: app=pod-worker on TCP/3000 no longer "
        "requires mutual authentication (was auth required)"
    )
    text = render(review, "text").splitlines()
    assert f"  ! auth-removed: CNP mutual-auth-echo spec.ingress[0]: {why}" in text
    assert (
        "    ~ allow ingress app=echo <- same namespace: app=pod-worker on TCP/3000 "
        "[HTTP GET /headers; auth required -> HTTP GET /headers]"
    ) in text
    [risk] = json.loads(render(review, "json"))["risks"]
    assert risk == {
        "code": "auth-removed",
        "namespace": "",
        "policy": {"kind": "CiliumNetworkPolicy", "namespace": None, "name": "mutual-auth-echo"},
        "rule": "spec.ingress[0]",
        "message": why,
    }
    markdown = render(review, "markdown").splitlines()
    assert f"| `auth-removed` | `CNP mutual-auth-echo` | `spec.ingress[0]` | `{why}` |" in markdown


def test_unknown_format_is_refused() -> None:
    """A format name outside FORMATS raises ValueError naming the choices."""
    with pytest.raises(ValueError, match="expected one of text, json, markdown"):
        render(representative(), "yaml")  # type: ignore[arg-type]


def test_no_change_in_every_format() -> None:
    """An empty review says so in each format."""
    review = compare({}, {})
    assert render(review, "text") == "No policy changes."
    assert json.loads(render(review, "json"))["policies"] == []
    assert render(review, "markdown").endswith(
        "No CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy changed."
    )


# -- hostile input -----------------------------------------------------------------------------

NASTY = 'x"]; click n0 call alert()%%<b>|[y]{z}`#35;'


def hostile() -> Any:
    """A policy whose labels, paths and file name try to break out of every context."""
    doc = {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "evil", "namespace": "shop"},
        "spec": {
            "endpointSelector": {"matchLabels": {"app": NASTY}},
            "ingress": [
                {
                    "fromEndpoints": [{"matchLabels": {"role": "a|b\n## heading\x1b[31m"}}],
                    "toPorts": [
                        {
                            "ports": [{"port": "80", "protocol": "TCP"}],
                            "rules": {"http": [{"method": "GET", "path": "/a|b```c`<script>"}]},
                        }
                    ],
                },
                {"fromEntities": ["world"]},
            ],
        },
    }
    return compare({}, {"shop/<img src=x>.yaml": yaml.safe_dump(doc).encode()})


def unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def test_markdown_tables_keep_their_columns() -> None:
    """Pipes in values are escaped, so every row has the cells of its header (4 or 8)."""
    text = render(hostile(), "markdown")
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert len(rows) == 7  # a risk table with one row and the flows of namespace shop (two)
    assert all(unescaped_pipes(line) in {5, 9} for line in rows), rows


def test_markdown_mermaid_labels_are_inert() -> None:
    """Inside the graph, quotes, brackets, angle brackets, pipes and %% become #NN; entities."""
    text = render(hostile(), "markdown")
    graph = text.split("```mermaid\n", 1)[1].split("\n```", 1)[0].splitlines()
    node = re.compile(r'  n\d+\["[A-Za-z0-9 .,:/=_\-+*?!@^$~\'#;]*"\]')
    edge = re.compile(r'  n\d+ -\.?->\|"[A-Za-z0-9 .,:/=_\-+*?!@^$~\'#;]*"\| n\d+')
    style = re.compile(r"  linkStyle \d+ stroke:#[0-9a-f]{6},stroke-width:2px,color:#[0-9a-f]{6}")
    assert graph[0] == "flowchart LR"
    for line in graph[1:]:
        assert node.fullmatch(line) or edge.fullmatch(line) or style.fullmatch(line), line
    assert (
        '"shop: app=x#34;#93;#59; click n0 call alert#40;#41;#37;#37;#60;b#62;#124;'
        '#91;y#93;#123;z#125;#96;#35;35#59;"'
    ) in text
    # The input's own "#35;" shows as those four characters, not read as an entity for "#".


def test_markdown_code_and_html_contexts() -> None:
    """Backtick runs get a longer fence; file names in <summary> are HTML-escaped."""
    text = render(hostile(), "markdown")
    assert (
        "<summary>created <code>CNP shop/evil</code> in <code>shop/&lt;img src=x&gt;.yaml</code>"
        in text
    )
    assert "````diff" in text  # the field diff holds ``` so its fence is four backticks
    assert "<img" not in text
    # The L7 cell holds a run of three backticks, so its code span opens with four.
    assert "`````" not in text
    assert "````HTTP GET /a\\|b```c`<script>````" in text


def test_text_shows_control_characters() -> None:
    """Escape sequences and newlines in values cannot reach the terminal or forge lines."""
    text = render(hostile(), "text")
    assert "\x1b" not in text
    assert "\\x1b[31m" in text
    assert "\n## heading" not in text

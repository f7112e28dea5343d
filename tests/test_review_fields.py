"""Field-level diff: one line per changed leaf, at the path a reviewer reads in the file."""

from __future__ import annotations

from reconciler.review.fields import ABSENT, diff


def lines(before: object, after: object) -> list[str]:
    return [str(change) for change in diff(before, after)]


def test_changed_scalar_shows_old_and_new_as_json() -> None:
    """A port changed from "80" to "8080" is one line with both values quoted."""
    before = {"spec": {"ingress": [{"toPorts": [{"ports": [{"port": "80"}]}]}]}}
    after = {"spec": {"ingress": [{"toPorts": [{"ports": [{"port": "8080"}]}]}]}}
    assert lines(before, after) == ['spec.ingress[0].toPorts[0].ports[0].port: "80" -> "8080"']


def test_added_and_removed_leaves_and_list_items() -> None:
    """New keys and list items are + lines per leaf; dropped ones are - lines."""
    before = {"a": [1, 2], "b": {"c": True}}
    after = {"a": [1], "d": {"e": [{"f": None}]}}
    assert lines(before, after) == [
        "- a[1]: 2",
        "- b.c: true",
        "+ d.e[0].f: null",
    ]


def test_empty_containers_are_leaves() -> None:
    """``{}`` and ``[]`` mean something in a policy, so they show instead of vanishing."""
    assert lines(
        {"ingress": [{"fromEndpoints": [{"matchLabels": {"a": "b"}}]}]}, {"ingress": [{}]}
    ) == [
        '- ingress[0].fromEndpoints[0].matchLabels.a: "b"',
        "+ ingress[0]: {}",
    ]
    assert lines(ABSENT, {"egress": []}) == ["+ egress: []"]


def test_type_changes_are_changes() -> None:
    """A string turned number, or a boolean turned number, is a change though Python says equal."""
    assert lines({"port": "80"}, {"port": 80}) == ['port: "80" -> 80']
    assert lines({"x": True}, {"x": 1}) == ["x: true -> 1"]
    assert lines({"x": "a"}, {"x": ["a"]}) == ['- x: "a"', '+ x[0]: "a"']


def test_keys_that_are_not_identifiers_are_quoted() -> None:
    """Label keys with dots and slashes stay one path segment; an emptied map shows as {}."""
    assert lines({"m": {}}, {"m": {"app.kubernetes.io/name": "web"}}) == [
        "- m: {}",
        '+ m["app.kubernetes.io/name"]: "web"',
    ]


def test_identical_values_have_no_diff_and_whole_documents_flatten() -> None:
    """Equal documents give nothing; an absent side lists every leaf of the other."""
    doc = {"kind": "CiliumNetworkPolicy", "spec": {"endpointSelector": {}}}
    assert diff(doc, dict(doc)) == []
    assert lines(doc, ABSENT) == ['- kind: "CiliumNetworkPolicy"', "- spec.endpointSelector: {}"]
    assert [c.op for c in diff(ABSENT, doc)] == ["added", "added"]


def test_values_are_ascii_escaped() -> None:
    """Invisible and bidirectional characters show as escapes, never raw."""
    assert lines({"d": "a"}, {"d": "a\u202eb\n"}) == ['d: "a" -> "a\\u202eb\\n"']

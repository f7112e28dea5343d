"""`validate` building blocks: lint warnings on raw policies, and YAML positions of findings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from conftest import entry

from reconciler.desired.policy import DesiredPolicy, parse_policy
from reconciler.render.manifest import Renderer
from reconciler.render.tree import kustomization
from reconciler.validate import lint, repository
from reconciler.validate.documents import UnreadableError, load, parse

if TYPE_CHECKING:
    from pathlib import Path

    from reconciler.render.templates import Templates

SELECT = {"matchLabels": {"app": "api"}}


def policy(spec: dict[str, Any], namespace: str = "shop", name: str = "api") -> dict[str, Any]:
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def lint_rules(spec: dict[str, Any]) -> list[str]:
    issues, facts = lint.check(policy(spec))
    return sorted(i.rule for i in (*issues, *facts.dns_issues))


DNS = {
    "toEndpoints": [{"matchLabels": {"k8s:k8s-app": "kube-dns"}}],
    "toPorts": [
        {"ports": [{"port": "53", "protocol": "UDP"}], "rules": {"dns": [{"matchPattern": "*"}]}}
    ],
}
TCP_80 = {"ports": [{"port": "80", "protocol": "TCP"}]}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        # CG301: egress restricted, no DNS; passes once DNS is allowed.
        ({"endpointSelector": SELECT, "egress": [{"toEntities": ["cluster"]}]}, ["CG301"]),
        ({"endpointSelector": SELECT, "egress": [{"toEntities": ["cluster"]}, DNS]}, []),
        # CG302: toFQDNs without a DNS rule; passes with one.
        (
            {"endpointSelector": SELECT, "egress": [{"toFQDNs": [{"matchName": "a.example"}]}]},
            ["CG301", "CG302"],
        ),
        (
            {
                "endpointSelector": SELECT,
                "egress": [{"toFQDNs": [{"matchName": "a.example"}]}, DNS],
            },
            [],
        ),
        # CG303: ingress from world, all, 0.0.0.0/0; a named CIDR passes.
        ({"endpointSelector": SELECT, "ingress": [{"fromEntities": ["world"]}]}, ["CG303"]),
        ({"endpointSelector": SELECT, "ingress": [{"fromCIDR": ["0.0.0.0/0"]}]}, ["CG303"]),
        ({"endpointSelector": SELECT, "ingress": [{"fromCIDRSet": [{"cidr": "::/0"}]}]}, ["CG303"]),
        ({"endpointSelector": SELECT, "ingress": [{"fromCIDR": ["10.0.0.0/8"]}]}, []),
        # CG304: an empty selector with an allow rule; a default-deny policy passes.
        ({"endpointSelector": {}, "ingress": [{"fromEntities": ["cluster"]}]}, ["CG304"]),
        ({"endpointSelector": {}, "ingress": [{}], "egress": [{}]}, []),
        # ...and so does DNS for every pod, the usual companion of a default deny, but not
        # DNS plus anything else.
        ({"endpointSelector": {}, "egress": [DNS]}, []),
        (
            {
                "endpointSelector": {},
                "egress": [DNS, {"toEntities": ["world"], "toPorts": [TCP_80]}],
            },
            ["CG304"],
        ),
        # CG305: a port without protocol.
        (
            {"endpointSelector": SELECT, "ingress": [{"toPorts": [{"ports": [{"port": "80"}]}]}]},
            ["CG305"],
        ),
        ({"endpointSelector": SELECT, "ingress": [{"toPorts": [TCP_80]}]}, []),
        # CG306: an HTTP rule that matches everything.
        (
            {
                "endpointSelector": SELECT,
                "ingress": [{"toPorts": [{**TCP_80, "rules": {"http": [{}]}}]}],
            },
            ["CG306"],
        ),
        (
            {
                "endpointSelector": SELECT,
                "ingress": [{"toPorts": [{**TCP_80, "rules": {"http": [{"method": "GET"}]}}]}],
            },
            [],
        ),
    ],
)
def test_each_lint_rule_fails_and_passes(spec: dict[str, Any], expected: list[str]) -> None:
    """Each warning fires on its case and is silent once the policy is fixed."""
    assert lint_rules(spec) == expected


def test_positions_point_at_keys_items_and_list_members() -> None:
    """A path inside a document maps to the line and column a reviewer edits."""
    text = (
        "kind: ConfigMap\n"
        "---\n"
        "apiVersion: cilium.io/v2\n"
        "kind: CiliumNetworkPolicy\n"
        "metadata: {name: api, namespace: shop}\n"
        "spec:\n"
        "  ingress:\n"
        "  - toPorts:\n"
        "    - ports:\n"
        '      - port: "99999"\n'
        "---\n"
        "apiVersion: v1\n"
        "kind: List\n"
        "items:\n"
        "- apiVersion: cilium.io/v2\n"
        "  kind: CiliumClusterwideNetworkPolicy\n"
        "  metadata:\n"
        "    name: host\n"
    )
    loaded = parse(text)
    assert loaded.documents == 3
    first, listed = loaded.policies
    assert (first.index, first.display) == (1, "shop/api")
    assert (listed.index, listed.base, listed.display) == (2, ("items", 0), "host")
    positions = loaded.positions()
    port = ("spec", "ingress", 0, "toPorts", 0, "ports", 0, "port")
    assert positions.locate(1, port) == (10, 9)
    # A missing field is placed at its nearest existing parent.
    assert positions.locate(1, ("spec", "egress")) == (6, 1)
    assert positions.locate(2, (*listed.base, "metadata", "name")) == (18, 5)


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("a: [1\n", 2, "expected ',' or ']'"),
        ("a: 1\na: 2\n", 2, "duplicate key"),
    ],
)
def test_unparsable_yaml_names_its_position(text: str, line: int, reason: str) -> None:
    """Invalid YAML and duplicate keys are errors with the line they are on."""
    with pytest.raises(UnreadableError, match=reason) as caught:
        parse(text)
    assert caught.value.line == line


def test_repository_checks_of_one_file(tmp_path: Path, templates: Templates) -> None:
    """Unlisted files, misplaced and hand-edited managed files, and unmanaged files."""
    parsed = parse_policy(entry("shop", "cart"), position="test")
    assert isinstance(parsed, DesiredPolicy)
    managed = Renderer(templates).document(parsed)
    (tmp_path / "shop").mkdir()
    (tmp_path / "kustomization.yaml").write_bytes(kustomization(["shop"]))
    (tmp_path / "shop/kustomization.yaml").write_bytes(kustomization(["cart.yaml", "moved.yaml"]))
    cases = {
        "cart.yaml": managed,
        "moved.yaml": managed,
        "edited.yaml": managed.replace(b'port: "8080"', b'port: "9090"'),
        "other.yaml": b"apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\n"
        b"metadata: {name: other, namespace: shop}\nspec: {endpointSelector: {}}\n",
    }
    found: dict[str, list[str]] = {}
    for name, content in cases.items():
        path = tmp_path / "shop" / name
        path.write_bytes(content)
        issues = repository.check_file(path, name, load(path), root=tmp_path)
        found[name] = sorted(issue.rule for _, issue in issues)
        if name == "edited.yaml":
            (hand,) = [issue for _, issue in issues if issue.rule == repository.HAND_EDITED]
            assert "+# cilium-gitops-checksum" in hand.detail  # the diff shows the rewrite
    assert found == {
        "cart.yaml": [],
        "moved.yaml": ["CG402"],
        "edited.yaml": ["CG401", "CG402", "CG403"],
        "other.yaml": ["CG401", "CG404"],
    }


def test_duplicates_name_the_first_file() -> None:
    """The second policy with one kind, namespace and name is reported, naming the first."""
    listed: list[repository.Listed] = [
        ("a.yaml", (0, ()), "CiliumNetworkPolicy", "shop", "api"),
        ("b.yaml", (0, ()), "CiliumNetworkPolicy", "bank", "api"),
        ("c.yaml", (1, ()), "CiliumNetworkPolicy", "shop", "api"),
    ]
    ((file, where, issue),) = repository.duplicates(listed)
    assert (file, where) == ("c.yaml", (1, ()))
    assert issue.message == "CiliumNetworkPolicy shop/api is also defined in a.yaml"

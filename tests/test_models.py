"""Validation of desired policies: every problem names the policy and the field."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from reconciler.desired.policy import DesiredPolicy, PolicyKind, parse_policy

if TYPE_CHECKING:
    from reconciler.desired.record import Rejection

SPEC = {"endpointSelector": {"matchLabels": {"app": "web"}}, "ingress": [{}]}


def parse(**fields: Any) -> DesiredPolicy | list[Rejection]:
    base: dict[str, Any] = {"id": "p-1", "namespace": "shop", "name": "web", "policy": SPEC}
    base.update(fields)
    return parse_policy({k: v for k, v in base.items() if v is not None}, position="policies[0]")


def rejected(result: DesiredPolicy | list[Rejection]) -> list[tuple[str, str, str]]:
    assert isinstance(result, list), f"expected rejections, got {result!r}"
    return [(r.policy_id, r.field, r.reason) for r in result]


def test_three_body_forms_give_the_same_policy() -> None:
    bare = parse()
    wrapped = parse(policy={"spec": SPEC})
    full = parse(
        policy={
            "apiVersion": "cilium.io/v2",
            "kind": "CiliumNetworkPolicy",
            "metadata": {
                "name": "web",
                "namespace": "shop",
                "resourceVersion": "123",
                "uid": "abc",
                "creationTimestamp": "2026-01-01T00:00:00Z",
                "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration": "{}",
                },
            },
            "spec": SPEC,
            "status": {"conditions": []},
        }
    )
    assert isinstance(bare, DesiredPolicy)
    assert bare == wrapped == full
    assert bare.path == "shop/web.yaml"


def test_specs_list_is_accepted() -> None:
    result = parse(policy={"specs": [SPEC, SPEC]})
    assert isinstance(result, DesiredPolicy)
    assert result.specs is not None
    assert len(result.specs) == 2


def test_clusterwide_policy_goes_to_cluster_folder() -> None:
    result = parse(
        namespace=None,
        policy={
            "apiVersion": "cilium.io/v2",
            "kind": "CiliumClusterwideNetworkPolicy",
            "spec": SPEC,
        },
    )
    assert isinstance(result, DesiredPolicy)
    assert result.kind is PolicyKind.CLUSTERWIDE
    assert result.path == "_cluster/web.yaml"


@pytest.mark.parametrize(
    ("fields", "field", "reason_part"),
    [
        ({"namespace": "Shop"}, "namespace", "not a DNS-1123 label"),
        ({"namespace": "a" * 64}, "namespace", "not a DNS-1123 label"),
        ({"namespace": "../etc"}, "namespace", "not a DNS-1123 label"),
        ({"name": "../../x"}, "name", "not a DNS-1123 subdomain"),
        ({"name": "/etc/passwd"}, "name", "not a DNS-1123 subdomain"),
        ({"name": "a" * 254}, "name", "not a DNS-1123 subdomain"),
        ({"name": "kustomization"}, "name", "collide"),
        ({"version": "7"}, "version", "integer"),
        ({"version": -1}, "version", "greater than or equal to 0"),
        ({"policy": {}}, "policy", "non-empty mapping"),
        ({"policy": "allow all"}, "policy", "non-empty mapping"),
        ({"colour": "blue"}, "colour", "unknown field"),
        (
            {"policy": {"endpointSelector": {}, "ingress": [{"toPort": []}]}},
            "spec.ingress[0].toPort",
            "unknown field",
        ),
        (
            {
                "policy": {
                    "spec": {
                        "endpointSelector": {},
                        "egress": [{"toPorts": [{"ports": [{"port": "53", "protocol": "UDPP"}]}]}],
                    }
                }
            },
            "spec.egress[0].toPorts[0].ports[0].protocol",
            "",
        ),
        (
            {"policy": {"apiVersion": "cilium.io/v1", "spec": SPEC}},
            "apiVersion",
            "must be 'cilium.io/v2'",
        ),
        (
            {"policy": {"metadata": {"name": "other"}, "spec": SPEC}},
            "metadata.name",
            "contradicts",
        ),
        ({"policy": {"kind": "NetworkPolicy", "spec": SPEC}}, "kind", "must be one of"),
        (
            {"policy": {"metadata": {"finalizers": ["x"]}, "spec": SPEC}},
            "metadata.finalizers",
            "unknown field",
        ),
    ],
)
def test_errors_name_policy_and_field(fields: dict[str, Any], field: str, reason_part: str) -> None:
    problems = rejected(parse(**fields))
    assert any(
        pid == "p-1" and f == field and reason_part in reason for pid, f, reason in problems
    ), problems


def test_missing_id_is_named_by_position() -> None:
    problems = rejected(
        parse_policy({"namespace": "shop", "name": "web", "policy": SPEC}, position="policies[4]")
    )
    assert ("policies[4]", "id", "required and must not be empty") in problems


def test_non_mapping_entry() -> None:
    assert rejected(parse_policy(["x"], position="policies[2]")) == [
        ("policies[2]", "policies[2]", "must be a mapping")
    ]


def test_namespaced_policy_needs_namespace() -> None:
    problems = rejected(parse(namespace=None, policy={"kind": "CiliumNetworkPolicy", "spec": SPEC}))
    assert ("p-1", "namespace", "required for a CiliumNetworkPolicy") in problems


def test_user_labels_and_annotations_are_kept_ours_are_dropped() -> None:
    result = parse(
        policy={
            "metadata": {
                "labels": {"team": "shop", "app.kubernetes.io/managed-by": "helm"},
                "annotations": {"owner": "alice", "cilium-gitops.io/digest": "sha256:forged"},
            },
            "spec": SPEC,
        }
    )
    assert isinstance(result, DesiredPolicy)
    assert result.labels == {"team": "shop"}
    assert result.annotations == {"owner": "alice"}

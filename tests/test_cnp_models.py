"""The typed CiliumNetworkPolicy model: CRD coverage, Go-struct key order, precise rejections."""

from __future__ import annotations

import typing
from typing import Any

import pytest
import yaml
from conftest import CILIUM
from pydantic import BaseModel, ValidationError

from reconciler.desired.cnp import Rule, error_path
from reconciler.desired.policy import DesiredPolicy, parse_policy
from reconciler.desired.record import Rejection

CRDS = [CILIUM / release / "ciliumnetworkpolicies.yaml" for release in ("crds", "v1.19.4/crds")] + [
    CILIUM / release / "ciliumclusterwidenetworkpolicies.yaml"
    for release in ("crds", "v1.19.4/crds")
]
PRESENT = CRDS


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The model classes an annotation such as ``tuple[EgressRule, ...] | None`` holds."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += _models_in(arg)
    return found


def _aliases(model: type[BaseModel]) -> dict[str, Any]:
    return {info.alias or name: info.annotation for name, info in model.model_fields.items()}


def _walk(schema: dict[str, Any], model: type[BaseModel], path: str, seen: set[str]) -> list[str]:
    """Every CRD property under ``schema`` the model lacks, as a path; marks what it visits."""
    missing: list[str] = []
    fields = _aliases(model)
    for key, sub in schema.get("properties", {}).items():
        where = f"{path}.{key}"
        seen.add(f"{model.__name__}.{key}")
        if key not in fields:
            missing.append(where)
            continue
        item = sub.get("items", sub) if sub.get("type") == "array" else sub
        if "properties" in item:
            for child in _models_in(fields[key]):
                missing += _walk(item, child, where, seen)
    return missing


@pytest.mark.parametrize("crd", PRESENT, ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_model_covers_every_crd_property(crd: Any) -> None:
    document = yaml.safe_load(crd.read_text())
    spec = document["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert _walk(spec, Rule, "spec", set()) == []


def test_model_invents_no_fields() -> None:
    """Every field of the model is a property in at least one of the CRDs (no made-up keys)."""
    seen: set[str] = set()
    for crd in PRESENT:
        document = yaml.safe_load(crd.read_text())
        spec = document["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
        _walk(spec, Rule, "spec", seen)
    declared: set[str] = set()
    stack: list[type[BaseModel]] = [Rule]
    visited: set[type[BaseModel]] = set()
    while stack:
        model = stack.pop()
        if model in visited:
            continue
        visited.add(model)
        for alias, annotation in _aliases(model).items():
            declared.add(f"{model.__name__}.{alias}")
            stack += _models_in(annotation)
    assert declared - seen == set()


def _dump(spec: dict[str, Any]) -> dict[str, Any]:
    return Rule.model_validate(spec).model_dump(
        mode="json", by_alias=True, exclude_unset=True, exclude_none=True
    )


def _reversed_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _reversed_keys(value[k]) for k in sorted(value, reverse=True)}
    if isinstance(value, list):
        return [_reversed_keys(v) for v in value]
    return value


FULL = {
    "endpointSelector": {"matchLabels": {"app": "web"}},
    "ingress": [
        {
            "fromEndpoints": [{"matchLabels": {"app": "lb"}}],
            "fromCIDRSet": [{"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}],
            "fromEntities": ["cluster"],
            "toPorts": [
                {
                    "ports": [{"port": "443", "endPort": 444, "protocol": "TCP"}],
                    "terminatingTLS": {"secret": {"name": "tls", "namespace": "web"}},
                    "serverNames": ["web.example.com"],
                    "rules": {"http": [{"method": "GET", "path": "/", "headers": ["X-A: b"]}]},
                }
            ],
            "icmps": [{"fields": [{"type": 8, "family": "IPv4"}]}],
            "authentication": {"mode": "required"},
        }
    ],
    "egress": [
        {
            "toEndpoints": [
                {"matchExpressions": [{"key": "app", "operator": "In", "values": ["db"]}]}
            ],
            "toServices": [{"k8sService": {"serviceName": "db", "namespace": "data"}}],
            "toFQDNs": [{"matchPattern": "*.example.com"}],
            "toPorts": [
                {
                    "ports": [{"port": "53", "protocol": "UDP"}],
                    "rules": {"dns": [{"matchName": "a.b"}]},
                }
            ],
        }
    ],
    "egressDeny": [{"toCIDR": ["192.0.2.0/24"], "toPorts": [{"ports": [{"port": "25"}]}]}],
    "labels": [{"key": "team", "value": "shop", "source": "user"}],
    "enableDefaultDeny": {"ingress": True, "egress": False},
    "description": "everything at once",
    "log": {"value": "web"},
}


def test_keys_come_out_in_go_struct_order_whatever_the_input_order() -> None:
    dumped = _dump(_reversed_keys(FULL))
    assert list(dumped) == [
        "endpointSelector", "ingress", "egress", "egressDeny", "labels", "enableDefaultDeny",
        "description", "log",
    ]  # fmt: skip
    assert list(dumped["ingress"][0]) == [
        "fromEndpoints", "fromCIDRSet", "fromEntities", "toPorts", "icmps", "authentication",
    ]  # fmt: skip
    assert list(dumped["ingress"][0]["toPorts"][0]) == [
        "ports", "terminatingTLS", "serverNames", "rules",
    ]  # fmt: skip
    assert list(dumped["ingress"][0]["toPorts"][0]["ports"][0]) == ["port", "endPort", "protocol"]
    assert list(dumped["egress"][0]) == ["toEndpoints", "toServices", "toFQDNs", "toPorts"]
    assert list(dumped["egress"][0]["toEndpoints"][0]["matchExpressions"][0]) == [
        "key", "operator", "values",
    ]  # fmt: skip
    assert list(dumped["labels"][0]) == ["key", "value", "source"]
    # Same content as written, only reordered.
    assert dumped == FULL


def test_label_maps_are_sorted_and_icmp_types_keep_their_type() -> None:
    dumped = _dump(
        {
            "endpointSelector": {"matchLabels": {"zone": "a", "app": "web", "k8s:team": "x"}},
            "ingress": [
                {"toPorts": [{"ports": [{"port": "8080"}]}], "icmps": [{"fields": [{"type": 0}]}]}
            ],
        }
    )
    assert list(dumped["endpointSelector"]["matchLabels"]) == ["app", "k8s:team", "zone"]
    assert dumped["ingress"][0]["toPorts"][0]["ports"][0]["port"] == "8080"
    # ICMP types stay what they were: the CRD takes an int or a name.
    assert dumped["ingress"][0]["icmps"][0]["fields"][0]["type"] == 0


@pytest.mark.parametrize("port", [8080, 0o123, 0])
def test_a_port_given_as_a_number_is_refused_not_converted(port: int) -> None:
    """The CRD's port is a string: the API server refuses a number, and so do we (no coercion).

    YAML 1.1 (kubectl, Flux) reads an unquoted 0123 as 83 and YAML 1.2 as 123: only quoting says
    which the author meant.
    """
    spec = {"endpointSelector": {}, "ingress": [{"toPorts": [{"ports": [{"port": port}]}]}]}
    found = parse_policy({"id": "p", "namespace": "s", "name": "n", "policy": spec}, position="p")
    assert found == [
        Rejection(
            "p",
            "spec.ingress[0].toPorts[0].ports[0].port",
            'must be a string: quote it ("8080", not 8080); the CRD\'s type is string, and YAML '
            "readers disagree on numbers such as 0123",
        )
    ]


@pytest.mark.parametrize("value", ["yes", "true", 1, "on"])
def test_a_boolean_field_takes_only_a_boolean(value: object) -> None:
    """``enableDefaultDeny.ingress: "yes"`` is refused; lax pydantic would read it as true."""
    spec = {"endpointSelector": {}, "enableDefaultDeny": {"ingress": value}, "ingress": [{}]}
    found = parse_policy({"id": "p", "namespace": "s", "name": "n", "policy": spec}, position="p")
    assert found == [
        Rejection("p", "spec.enableDefaultDeny.ingress", "Input should be a valid boolean")
    ]


def test_meaningful_empties_survive() -> None:
    dumped = _dump({"endpointSelector": {}, "ingress": [{}], "egress": []})
    assert dumped == {"endpointSelector": {}, "ingress": [{}], "egress": []}


BAD = [
    (
        {"endpointSelector": {}, "ingress": [{"toPorts": [{"ports": [{"port": "70000"}]}]}]},
        "spec.ingress[0].toPorts[0].ports[0].port",
        "'70000' is not a port number (0-65535) or a port name",
    ),
    (
        {
            "endpointSelector": {},
            "ingress": [{"toPorts": [{"ports": [{"port": "1", "endPort": 70000}]}]}],
        },
        "spec.ingress[0].toPorts[0].ports[0].endPort",
        "less than or equal to 65535",
    ),
    (
        {"endpointSelector": {}, "egress": [{"icmps": [{"fields": [{"type": "Ping"}]}]}]},
        "spec.egress[0].icmps[0].fields[0].type",
        "'Ping' is not an ICMP type",
    ),
    (
        {"endpointSelector": {}, "egress": [{"toEntities": ["internet"]}]},
        "spec.egress[0].toEntities[0]",
        "Input should be 'all', 'world'",
    ),
    (
        {"endpointSelector": {}, "nodeSelector": {}, "ingress": [{}]},
        "spec",
        (
            "exactly one of endpointSelector, nodeSelector is required "
            "(got endpointSelector and nodeSelector)"
        ),
    ),
    (
        {"ingress": [{}]},
        "spec",
        "exactly one of endpointSelector, nodeSelector is required (got none)",
    ),
    (
        {"endpointSelector": {}},
        "spec",
        "at least one of ingress, ingressDeny, egress, egressDeny is required",
    ),
    (
        {"endpointSelector": {}, "egress": [{"toCIDR": ["10.0.0.0/33"]}]},
        "spec.egress[0].toCIDR[0]",
        "'10.0.0.0/33' is not a CIDR",
    ),
    (
        {
            "endpointSelector": {"matchExpressions": [{"key": "app", "operator": "In"}]},
            "ingress": [{}],
        },
        "spec.endpointSelector.matchExpressions[0]",
        "operator In needs a non-empty values list",
    ),
    (
        {
            "endpointSelector": {},
            "egress": [{"toFQDNs": [{"matchName": "a.b", "matchPattern": "*.b"}]}],
        },
        "spec.egress[0].toFQDNs[0]",
        "exactly one of matchName, matchPattern",
    ),
    (
        {
            "endpointSelector": {},
            "egress": [{"toPorts": [{"rules": {"http": [{}], "dns": [{"matchName": "x"}]}}]}],
        },
        "spec.egress[0].toPorts[0].rules",
        "exactly one of http, kafka, dns, l7proto is required (got http and dns)",
    ),
    (
        {"endpointSelector": {"matchLabels": {"app": "has space"}}, "ingress": [{}]},
        "spec.endpointSelector.matchLabels.app",
        "'has space' is not a valid label value",
    ),
    (
        {
            "endpointSelector": {},
            "ingressDeny": [{"toPorts": [{"ports": [{"port": "80"}], "rules": {"http": [{}]}}]}],
        },
        "spec.ingressDeny[0].toPorts[0].rules",
        "unknown field",
    ),
]


@pytest.mark.parametrize(
    ("spec", "field", "reason"), BAD, ids=[b[1] + ":" + b[2][:20] for b in BAD]
)
def test_bad_specs_are_rejected_with_path_and_reason(
    spec: dict[str, Any], field: str, reason: str
) -> None:
    result = parse_policy(
        {"id": "p-9", "namespace": "shop", "name": "web", "policy": spec}, position="x"
    )
    assert isinstance(result, list), result
    assert result[0] == Rejection("p-9", field, result[0].reason)
    assert reason in result[0].reason


def test_every_problem_in_a_policy_is_reported_at_once() -> None:
    spec = {
        "endpointSelector": {},
        "ingress": [{"toPort": []}, {"fromEntities": ["nowhere"]}],
        "egress": [{"toPorts": [{"ports": [{"protocol": "TCPP"}]}]}],
    }
    result = parse_policy(
        {"id": "p-1", "namespace": "a", "name": "b", "policy": spec}, position="x"
    )
    assert isinstance(result, list)
    assert [r.field for r in result] == [
        "spec.ingress[0].toPort",
        "spec.ingress[1].fromEntities[0]",
        "spec.egress[0].toPorts[0].ports[0].protocol",
    ]


def test_error_path_drops_validator_steps() -> None:
    assert error_path(("spec", "ingress", 0, "toPort")) == "spec.ingress[0].toPort"
    assert error_path(("specs", 1, "egress", 2, "icmps", 0, "fields", 0, "type", "int")) == (
        "specs[1].egress[2].icmps[0].fields[0].type"
    )
    assert error_path(("spec", "function-after[_check(), str]")) == "spec"


def test_models_are_immutable() -> None:
    rule = Rule.model_validate({"endpointSelector": {}, "ingress": [{}]})
    with pytest.raises(ValidationError):
        rule.description = "changed"  # type: ignore[misc]


def test_every_kind_of_peer_round_trips_through_desired_policy() -> None:
    raw = {"id": "p", "namespace": "a", "name": "b", "policy": FULL}
    parsed = parse_policy(raw, position="x")
    assert isinstance(parsed, DesiredPolicy)
    assert parsed.spec is not None
    assert parsed.spec.egress is not None
    assert parsed.spec.egress[0].to_fqdns is not None
    assert parsed.spec.egress[0].to_fqdns[0].match_pattern == "*.example.com"

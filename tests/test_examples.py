"""Every policy of the Cilium repository's examples goes through parse -> render -> parse intact."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import yaml
from conftest import EXAMPLES

from reconciler.desired.policy import DesiredPolicy, parse_policy
from reconciler.render.manifest import Renderer

if TYPE_CHECKING:
    from pathlib import Path

    from reconciler.render.templates import Templates

FILES = sorted(EXAMPLES.rglob("*.yaml")) + sorted(EXAMPLES.rglob("*.yml"))
KINDS = {"CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy"}
# Examples that neither CRD accepts: the API server would prune the field without a word, so we
# reject the policy and name it.
INVALID = {"auth.yaml": "spec.egress[0].auth"}


def policies_in(path: Path) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    found: list[dict[str, Any]] = []
    for doc in docs:
        items = doc.get("items", [doc]) if doc.get("kind") == "List" else [doc]
        found += [d for d in items if d.get("kind") in KINDS]
    return found


def test_all_example_policies_are_seen() -> None:
    assert sum(len(policies_in(f)) for f in FILES) == 104


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_example_round_trip(path: Path, templates: Templates) -> None:
    renderer = Renderer(templates)
    for index, obj in enumerate(policies_in(path)):
        meta = obj.get("metadata", {})
        raw = {
            "id": f"{path.stem}-{index}",
            "name": meta.get("name", f"example-{index}"),
            "policy": obj,
        }
        if obj["kind"] == "CiliumNetworkPolicy":
            raw["namespace"] = meta.get("namespace", "default")
        parsed = parse_policy(raw, position=path.name)
        if path.name in INVALID:
            assert isinstance(parsed, list)
            assert [(r.field, r.reason) for r in parsed] == [(INVALID[path.name], "unknown field")]
            continue
        assert isinstance(parsed, DesiredPolicy), [str(r) for r in parsed]  # type: ignore[union-attr]
        document = yaml.safe_load(renderer.document(parsed))
        for key in ("spec", "specs"):
            if key in obj:
                assert document[key] == _ports_as_strings(obj[key])
        again = parse_policy({**raw, "policy": document}, position=path.name)
        assert again == parsed


def _ports_as_strings(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: str(v) if k == "port" else _ports_as_strings(v)
            for k, v in value.items()
            if v is not None
        }
    if isinstance(value, list):
        return [_ports_as_strings(v) for v in value]
    return value

"""``cilium-gitops replay``: Hubble lines into distinct flows, and what a change does to them.

The flow lines follow ``api/v1/flow/flow.proto`` as ``hubble observe -o jsonpb`` prints them
(``{"flow": {...}}``, enums by name) and as ``-o json`` of older CLIs prints them (the flow
itself, enums as numbers).
"""

from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner
from conftest import ROOT, git

from reconciler.commands import replay as replay_command
from reconciler.commands.cli import cli
from reconciler.verdicts.hubble import HubbleError, observed, tally

if TYPE_CHECKING:
    from pathlib import Path

POLICIES = ROOT / "sample-repo" / "infrastructure" / "network-policies"
SHOP = ["k8s:io.kubernetes.pod.namespace=shop", "k8s:io.cilium.k8s.policy.cluster=default"]


def _flow(
    source: list[str],
    destination: list[str],
    port: int,
    *,
    direction: str = "INGRESS",
    verdict: str = "FORWARDED",
    l7: dict[str, Any] | None = None,
    ip: tuple[str, str] = ("10.0.1.5", "10.0.2.7"),
    names: list[str] | None = None,
    reply: bool = False,
) -> str:
    flow: dict[str, Any] = {
        "time": "2026-01-01T00:00:00Z",
        "verdict": verdict,
        "IP": {"source": ip[0], "destination": ip[1], "ipVersion": "IPv4"},
        "l4": {"TCP": {"source_port": 40000, "destination_port": port}},
        "source": _endpoint(source),
        "destination": _endpoint(destination),
        "Type": "L7" if l7 else "L3_L4",
        "traffic_direction": direction,
        "is_reply": reply,
    }
    if l7:
        flow["l7"] = l7
    if names:
        flow["destination_names"] = names
    if verdict == "DROPPED":
        flow["drop_reason_desc"] = "POLICY_DENIED"
    return json.dumps({"flow": flow, "node_name": "node-a"})


def _endpoint(labels: list[str]) -> dict[str, Any]:
    """As Hubble reports an endpoint: pods with their namespace, the world without one."""
    prefix = "k8s:io.kubernetes.pod.namespace="
    found: dict[str, Any] = {"labels": labels}
    namespace = next((label[len(prefix) :] for label in labels if label.startswith(prefix)), None)
    if namespace:
        found["namespace"] = namespace
    return found


STOREFRONT = ["k8s:app=storefront", *SHOP]
CATALOG = ["k8s:app=catalog", *SHOP]


def test_jsonpb_and_json_lines_are_the_same_flow() -> None:
    """-o jsonpb wraps the flow and names enums; -o json may print it bare with numbers."""
    jsonpb = json.loads(_flow(STOREFRONT, CATALOG, 8080))
    bare = dict(jsonpb["flow"], verdict=1, traffic_direction=1)
    assert observed(jsonpb) == observed(bare)
    # encoding/json nests a oneof under its Go field name.
    nested = dict(bare, l4={"Protocol": bare["l4"]})
    assert observed(nested) == observed(bare)
    found = observed(bare)
    assert found is not None
    assert (found.protocol, found.port, found.direction, found.verdict) == (
        "TCP",
        8080,
        "ingress",
        "FORWARDED",
    )


def test_replies_responses_and_non_flows_are_skipped() -> None:
    """A reply, an L7 response or an event without L4 says nothing new about policy."""
    lines = [
        _flow(STOREFRONT, CATALOG, 8080),
        _flow(CATALOG, STOREFRONT, 40000, reply=True),
        _flow(STOREFRONT, CATALOG, 8080, l7={"type": "RESPONSE", "http": {"code": 200}}),
        json.dumps({"node_status": {}}),
        "",
    ]
    counts, skipped = tally(lines)
    assert sum(counts.values()) == 1
    assert skipped == 3


def test_pods_of_one_identity_are_one_flow_and_world_addresses_are_not() -> None:
    """Two replicas are one identity; two outside addresses are two flows (for CIDR rules)."""
    world = ["reserved:world"]
    lines = [
        _flow(STOREFRONT, CATALOG, 8080),
        _flow(STOREFRONT, CATALOG, 8080, ip=("10.0.1.6", "10.0.2.8")),
        _flow(STOREFRONT, world, 443, direction="EGRESS", ip=("10.0.1.5", "1.1.1.1")),
        _flow(STOREFRONT, world, 443, direction="EGRESS", ip=("10.0.1.5", "8.8.8.8")),
    ]
    counts, _ = tally(lines)
    assert sorted(counts.values()) == [1, 1, 2]


def test_a_line_that_is_not_json_is_reported() -> None:
    """Bad input names its line number."""
    with pytest.raises(HubbleError, match="line 2: not JSON"):
        tally([_flow(STOREFRONT, CATALOG, 8080), "{nope"])


def _replay(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["replay", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    """A day of traffic, in short: the storefront reads the catalog, the world knocks."""
    path = tmp_path / "flows.json"
    lines = [_flow(STOREFRONT, CATALOG, 8080) for _ in range(5)]
    lines += [
        _flow(
            STOREFRONT,
            CATALOG,
            8080,
            l7={"type": "REQUEST", "http": {"method": "GET", "url": "http://catalog:8080/items"}},
        ),
        _flow(
            ["reserved:world"],
            STOREFRONT,
            8080,
            verdict="DROPPED",
            ip=("203.0.113.9", "10.0.1.5"),
        ),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def changed(tmp_path: Path) -> Path:
    """The sample's policies without the catalog's allow rule, plus the world let in."""
    after = tmp_path / "after"
    shutil.copytree(POLICIES, after)
    (after / "shop" / "allow-get-only.yaml").unlink()
    (after / "shop" / "public.yaml").write_text(
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\n"
        "metadata: {name: public, namespace: shop}\n"
        "spec:\n  endpointSelector: {matchLabels: {app: storefront}}\n"
        "  ingress:\n  - fromEntities: [world]\n"
    )
    return after


def test_replay_lists_newly_denied_flows_with_counts_and_the_rule_that_allowed_them(
    flows: Path, changed: Path
) -> None:
    """Newly denied first, grouped by namespace, seen N times, before and after reasons."""
    code, out, _ = _replay("--flows", str(flows), str(POLICIES), str(changed))
    assert code == 0
    assert "2 newly denied (6 seen), 1 newly allowed (1 seen)" in out.splitlines()[0]
    assert "Newly denied in shop:" in out
    assert "shop/storefront -> shop/catalog TCP/8080  (seen 5 times)" in out
    assert "before: ingress: allowed by shop/allow-get-only spec.ingress[0].toPorts[0]" in out
    assert "after:  ingress: default deny: shop/default-deny-ingress" in out
    assert out.index("Newly denied") < out.index("Newly allowed")
    assert "world 203.0.113.9 -> shop/storefront TCP/8080  (seen 1 time)" in out


def test_fail_on_new_denies_and_json(flows: Path, changed: Path) -> None:
    """--fail-on-new-denies exits 1; JSON lists every change with both verdicts."""
    code, out, _ = _replay(
        "--flows",
        str(flows),
        str(POLICIES),
        str(changed),
        "--format",
        "json",
        "--fail-on-new-denies",
    )
    assert code == 1
    document = json.loads(out)
    assert document["summary"]["newly denied"] == 2
    first = document["changes"][0]
    assert first["change"] == "newly denied"
    assert first["count"] == 5
    assert first["before"]["ingress"]["policy"]["name"] == "allow-get-only"
    assert first["after"]["decision"] == "deny"


def test_markdown_escapes_what_came_from_the_flows(tmp_path: Path, changed: Path) -> None:
    """A label with a pipe or a newline stays in its table cell."""
    path = tmp_path / "flows.json"
    evil = ["k8s:app=cat|alog\n|x", "k8s:io.kubernetes.pod.namespace=elsewhere"]
    path.write_text(_flow(STOREFRONT, evil, 8080) + "\n")
    policies = tmp_path / "p"
    shutil.copytree(POLICIES, policies)
    (changed / "shop" / "deny.yaml").write_text(
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\n"
        "metadata: {name: deny, namespace: shop}\n"
        "spec:\n  endpointSelector: {}\n  egressDeny:\n  - toEntities: [all]\n"
    )
    code, out, _ = _replay(
        "--flows", str(path), str(policies), str(changed), "--format", "markdown"
    )
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith("| `")]
    assert len(rows) == 1
    assert "\\|" in rows[0]
    assert "\n|x" not in out


def test_one_revision_measures_the_model_against_hubble(flows: Path) -> None:
    """With BASE alone: agreement with the recorded verdicts, and each disagreement."""
    code, out, _ = _replay("--flows", str(flows), str(POLICIES))
    assert code == 0
    assert "agrees with Hubble on 7 of 7 policy verdicts (100.0%)" in out.splitlines()[0]
    lying = flows.parent / "lying.json"
    lying.write_text(_flow(STOREFRONT, CATALOG, 9999) + "\n")
    _, out, _ = _replay("--flows", str(lying), str(POLICIES))
    assert "on 0 of 1 policy verdicts" in out
    assert "Hubble: FORWARDED at ingress; model: deny: default deny" in out


def test_revisions_of_a_repository(tmp_path: Path, flows: Path, changed: Path) -> None:
    """BASE and HEAD may be git revisions of --repo; the policy folder is --path."""
    repo = tmp_path / "repo"
    target = repo / "infrastructure" / "network-policies"
    shutil.copytree(POLICIES, target)
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "base", cwd=repo)
    shutil.rmtree(target)
    shutil.copytree(changed, target)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "head", cwd=repo)
    code, out, _ = _replay("--flows", str(flows), "--repo", str(repo), "main~1", "main")
    assert code == 0
    assert "2 newly denied" in out
    code, _, err = _replay("--flows", str(flows), "--repo", str(repo), "nope", "main")
    assert code == 2
    assert "unknown revision" in err


def test_large_files_are_read_by_several_processes_with_the_same_result(flows: Path) -> None:
    """Split at any byte, the shares of a file tally the same flows as one pass."""
    data = flows.read_bytes() * 50
    big = flows.parent / "big.json"
    big.write_bytes(data)
    whole = replay_command.tally_range(str(big), 0, len(data))
    parts = [
        replay_command.tally_range(str(big), a, b)
        for a, b in ((0, 777), (777, 5000), (5000, len(data)))
    ]
    total = parts[0][0] + parts[1][0] + parts[2][0]
    assert total == whole[0]
    assert sum(p[1] for p in parts) == whole[1]

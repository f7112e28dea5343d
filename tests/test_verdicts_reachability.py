"""The review's "What can now reach what": workloads found in a repository, pairs a change flips."""

from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner
from conftest import ROOT, git

from reconciler.commands.cli import cli
from reconciler.review import compare, render
from reconciler.verdicts.reachability import reachability
from reconciler.verdicts.workloads import workloads

if TYPE_CHECKING:
    from pathlib import Path

SAMPLE = ROOT / "sample-repo"
PUBLIC = b"""apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: allow-public-storefront, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: storefront}}
  ingress:
  - fromEntities: [world]
    toPorts: [{ports: [{port: "8080", protocol: TCP}]}]
"""
GET_ONLY = "infrastructure/network-policies/shop/allow-get-only.yaml"


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".github" not in p.parts
    }


@pytest.fixture(scope="module")
def before() -> dict[str, bytes]:
    """The sample repository as shipped."""
    return _tree(SAMPLE)


@pytest.fixture(scope="module")
def after(before: dict[str, bytes]) -> dict[str, bytes]:
    """The storefront opened to the world, the catalog's allow rule dropped."""
    changed = {k: v for k, v in before.items() if k != GET_ONLY}
    changed["infrastructure/network-policies/shop/allow-public-storefront.yaml"] = PUBLIC
    return changed


def test_workloads_of_the_sample_repository(before: dict[str, bytes]) -> None:
    """Deployments, a StatefulSet and a CronJob, namespaced by their kustomization."""
    found = {w.name: w for w in workloads(before)}
    assert sorted(found) == [
        "cilium-gitops/cilium-gitops",  # the service itself (infrastructure/cilium-gitops)
        "payments/ledger-db",
        "shop/catalog",
        "shop/order-sync",
        "shop/storefront",
    ]
    assert found["shop/order-sync"].kind == "CronJob"
    storefront = found["shop/storefront"].endpoint
    assert storefront.named_port("http") == (8080, "TCP")
    identity = storefront.own_identity()
    assert identity.get("k8s.io.cilium.k8s.policy.serviceaccount") == "storefront"
    assert identity.get("k8s.io.cilium.k8s.namespace.labels.team") == "shop"
    assert found["payments/ledger-db"].ports == ((5432, "TCP"),)


def test_only_kustomize_built_folders_count_and_host_network_pods_are_nodes() -> None:
    """A manifest outside any kustomization is not deployed; hostNetwork pods are the node."""
    pod = b"apiVersion: v1\nkind: Pod\nmetadata: {name: agent, namespace: ops}\n"
    pod += b"spec: {hostNetwork: true, containers: [{name: a, image: x}]}\n"
    files = {
        "apps/kustomization.yaml": b"resources: [agent.yaml]\n",
        "apps/agent.yaml": pod,
        "apps/broken.yaml": b"{{ .Values.helm }}: [",
        "scratch/agent.yaml": pod.replace(b"agent", b"stray"),
    }
    found = workloads(files)
    assert [w.name for w in found] == ["ops/agent"]
    assert found[0].endpoint.is_node


def test_a_change_flips_pairs_and_world_reachability_comes_first(
    before: dict[str, bytes], after: dict[str, bytes]
) -> None:
    """New reachability from the world first, then the pair the change newly denies."""
    result = reachability(before, after)
    assert result.workloads == 5  # the sample's four, and cilium-gitops itself
    changes = [(c.change, c.source.name, c.destination.name, c.port_text) for c in result.changes]
    assert changes == [
        ("now allowed", "world", "shop/storefront", "TCP/8080"),
        ("now denied", "shop/storefront", "shop/catalog", "TCP/8080"),
    ]
    denied = result.changes[1]
    assert denied.before.ingress.policy is not None
    assert denied.before.ingress.policy.name == "allow-get-only"
    assert denied.after.ingress.cause == "default-deny"


def test_a_lost_default_deny_shows_on_every_port(before: dict[str, bytes]) -> None:
    """Without payments' default deny, everything reaches the ledger, on any port."""
    removed = {k: v for k, v in before.items() if "payments/default-deny-ingress" not in k}
    result = reachability(before, removed)
    targets = {
        (c.source.name, c.port_text)
        for c in result.changes
        if c.destination.name == "payments/ledger-db"
    }
    assert ("world", "TCP/5432") in targets
    assert ("shop/order-sync", "other TCP ports") in targets
    assert all(c.change == "now allowed" for c in result.changes)


def test_no_policy_change_asks_nothing(before: dict[str, bytes]) -> None:
    """Only pairs a changed policy can touch are asked."""
    result = reachability(before, dict(before))
    assert (result.asked, result.changes) == (0, ())


def test_the_review_shows_the_section_in_every_format(
    before: dict[str, bytes], after: dict[str, bytes]
) -> None:
    """Text, JSON and Markdown carry "What can now reach what"; reasons on each side."""
    prefix = "infrastructure/network-policies/"
    policies = {k[len(prefix) :]: v for k, v in before.items() if k.startswith(prefix)}
    policies_after = {k[len(prefix) :]: v for k, v in after.items() if k.startswith(prefix)}
    review = compare(policies, policies_after, trees=(before, after))
    text = render(review, "text")
    assert "What can now reach what: 2 pair-port changes (1 now allowed, 1 now denied)" in text
    assert "  now allowed: world -> shop/storefront TCP/8080" in text
    document = json.loads(render(review, "json"))
    assert document["reachability"]["changes"][0]["from"] == "world"
    markdown = render(review, "markdown")
    assert "#### What can now reach what" in markdown
    assert "| 🟢 now allowed | `world` | `shop/storefront` | `TCP/8080` |" in markdown
    assert markdown.index("What can now reach what") < markdown.index("#### Connectivity")


def test_without_workloads_or_changes_the_section_is_left_out() -> None:
    """A policies-only folder with nothing flipping end to end adds nothing to the comment."""
    policy = PUBLIC.replace(b"[world]", b"[cluster]")
    review = compare({}, {"p.yaml": policy}, trees=({}, {"p.yaml": policy}))
    assert review.reach is not None
    assert "What can now reach what" not in render(review, "markdown")


def test_diff_reads_whole_revisions_for_the_section(tmp_path: Path) -> None:
    """cilium-gitops diff BASE HEAD: the workloads come from the whole tree of each revision."""
    repo = tmp_path / "repo"
    shutil.copytree(SAMPLE, repo, ignore=shutil.ignore_patterns(".github"))
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "base", cwd=repo)
    (repo / GET_ONLY).unlink()
    (repo / "infrastructure/network-policies/shop/allow-public-storefront.yaml").write_bytes(PUBLIC)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "head", cwd=repo)
    result = CliRunner().invoke(
        cli, ["diff", "--repo", str(repo), "main~1", "main", "--format", "markdown"]
    )
    assert result.exit_code == 0, result.output
    assert "| 🔴 now denied | `shop/storefront` | `shop/catalog` | `TCP/8080` |" in result.output

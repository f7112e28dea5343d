"""``kubectl kustomize`` (what Flux's kustomize-controller runs) builds every tree we render."""

from __future__ import annotations

import shutil
import subprocess
from typing import TYPE_CHECKING

import pytest
import yaml
from admitting import read
from conftest import ROOT, entry, write_state

from reconciler.desired.state import FileSource
from reconciler.reconcile.passes import render_only
from reconciler.verdicts.workloads import workloads

if TYPE_CHECKING:
    from pathlib import Path


KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl is not installed: cannot check that kustomize builds the tree"
)


def build(root: Path) -> list[dict[str, object]]:
    assert KUBECTL is not None
    result = subprocess.run(
        [KUBECTL, "kustomize", str(root)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d is not None]


def test_rendered_tree_builds(tmp_path: Path) -> None:
    entries = [
        entry("shop", "web"),
        entry("shop", "api"),
        entry("payments", "db"),
        entry(None, "host"),
    ]
    state = read(FileSource(write_state(tmp_path / "d.json", entries)))
    out = tmp_path / "tree"
    render_only(state, out)
    (out / "shop" / "break-glass.yaml").write_text(
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\n"
        "metadata:\n  name: break-glass\n  namespace: shop\nspec:\n  endpointSelector: {}\n"
    )
    render_only(state, out)
    objects = build(out)
    names = sorted(
        (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects
    )  # type: ignore[index, union-attr]
    assert names == [
        ("CiliumClusterwideNetworkPolicy", None, "host"),
        ("CiliumNetworkPolicy", "payments", "db"),
        ("CiliumNetworkPolicy", "shop", "api"),
        ("CiliumNetworkPolicy", "shop", "break-glass"),
        ("CiliumNetworkPolicy", "shop", "web"),
    ]


def test_empty_tree_still_builds(tmp_path: Path) -> None:
    out = tmp_path / "tree"
    state = read(FileSource(write_state(tmp_path / "d.json", [entry("shop", "web")])))
    render_only(state, out)
    empty = read(FileSource(write_state(tmp_path / "e.json", [])))
    render_only(empty, out)
    assert sorted(p.name for p in out.iterdir()) == ["kustomization.yaml"]
    assert build(out) == []


def test_sample_repository_builds() -> None:
    sample = ROOT / "sample-repo" / "infrastructure" / "network-policies"
    objects = build(sample)
    assert len(objects) >= 6
    assert all(o["apiVersion"] == "cilium.io/v2" for o in objects)


def test_workloads_are_namespaced_as_kustomize_builds_them() -> None:
    """verdicts.workloads finds the workloads kustomize builds, in the namespaces it gives them."""
    apps = ROOT / "sample-repo" / "apps"
    built = {
        f"{o['metadata']['namespace']}/{o['metadata']['name']}"  # type: ignore[index]
        for o in build(apps)
        if o["kind"] in {"Deployment", "StatefulSet", "CronJob", "DaemonSet", "Job", "Pod"}
    }
    files = {p.relative_to(apps).as_posix(): p.read_bytes() for p in apps.rglob("*.yaml")}
    assert {w.name for w in workloads(files)} == built

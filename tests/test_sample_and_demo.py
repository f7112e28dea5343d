"""The sample repository is golden output, and ``cilium-gitops demo`` runs its three passes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from click.testing import CliRunner
from conftest import DEFAULT_PATH, ROOT, git

from reconciler.cli import cli
from reconciler.sources import FileSource
from reconciler.sync import render_only

if TYPE_CHECKING:
    from pathlib import Path

    from reconciler.templates import Templates

SAMPLE = ROOT / "sample-repo"


def test_sample_policies_are_what_the_tool_renders(tmp_path: Path, templates: Templates) -> None:
    state = FileSource(SAMPLE / "desired-state.yaml").desired()
    assert state.rejections == ()
    out = tmp_path / "out"
    render_only(state, out, templates)
    committed = SAMPLE / DEFAULT_PATH
    rendered = {
        p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()
    }
    expected = {
        p.relative_to(committed).as_posix(): p.read_bytes()
        for p in committed.rglob("*")
        if p.is_file()
    }
    assert rendered == expected, (
        "sample-repo is stale: run cilium-gitops render --control-plane "
        "file://sample-repo/desired-state.yaml --out sample-repo/infrastructure/network-policies"
    )
    wanted = {
        "shop/default-deny-ingress.yaml",
        "shop/allow-dns-egress.yaml",
        "shop/allow-monitoring-scrape.yaml",
        "shop/allow-get-only.yaml",
        "payments/default-deny-ingress.yaml",
        "payments/allow-dns-egress.yaml",
    }
    assert wanted <= set(rendered)


def test_demo_makes_two_commits_then_none_then_a_live_one(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["demo", "--dir", str(tmp_path / "demo")], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    remote = tmp_path / "demo" / "remote.git"
    subjects = git("log", "--format=%s", "main", cwd=remote).splitlines()
    assert subjects == [
        "network-policies: 0 created, 1 updated, 0 deleted",  # the live edit, via the stream
        "network-policies: 0 created, 1 updated, 1 deleted",
        "network-policies: 6 created, 0 updated, 0 deleted",
        "Flux repository layout: clusters and Cilium",
    ]
    out = result.output
    assert str(tmp_path / "demo") in out
    assert out.count("no commit: the repository already matches") == 1
    assert "control plane:  grpc://127.0.0.1:" in out
    live = git("show", f"main:{DEFAULT_PATH}/shop/default-deny-ingress.yaml", cwd=remote)
    assert "live edit" in live
    files = git("ls-tree", "-r", "--name-only", "main", cwd=remote).split()
    assert f"{DEFAULT_PATH}/payments/allow-dns-egress.yaml" not in files
    assert "clusters/production/infrastructure.yaml" in files

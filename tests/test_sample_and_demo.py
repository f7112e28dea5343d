"""The sample repository is golden output, and ``cilium-gitops demo`` runs its five steps."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from admitting import read
from click.testing import CliRunner, Result
from conftest import DEFAULT_PATH, ROOT, git

from reconciler.commands.cli import cli
from reconciler.desired.state import FileSource
from reconciler.reconcile.passes import render_only

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    """One demo run (about five seconds) shared by the tests that read what it left."""
    folder = tmp_path_factory.mktemp("demo") / "demo"
    result = CliRunner().invoke(cli, ["demo", "--dir", str(folder)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result, folder


SAMPLE = ROOT / "sample-repo"


def test_sample_policies_are_what_the_tool_renders(tmp_path: Path) -> None:
    state = read(FileSource(SAMPLE / "desired-state.yaml"))
    assert state.rejections == ()
    out = tmp_path / "out"
    render_only(state, out)
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


def test_demo_makes_two_commits_then_none_then_a_live_one(demo: tuple[Result, Path]) -> None:
    result, folder = demo
    remote = folder / "remote.git"
    subjects = git("log", "--format=%s", "main", cwd=remote).splitlines()
    assert subjects == [
        "network-policies: 0 created, 1 updated, 0 deleted",  # the live edit, via the stream
        "network-policies: 0 created, 1 updated, 1 deleted",
        "network-policies: 6 created, 0 updated, 0 deleted",
        "Flux repository layout: clusters and Cilium",
    ]
    out = result.output
    assert str(folder) in out
    assert out.count("no commit: the repository already matches") == 1
    assert "control plane:  grpc://127.0.0.1:" in out
    live = git("show", f"main:{DEFAULT_PATH}/shop/default-deny-ingress.yaml", cwd=remote)
    assert "live edit" in live
    files = git("ls-tree", "-r", "--name-only", "main", cwd=remote).split()
    assert f"{DEFAULT_PATH}/payments/allow-dns-egress.yaml" not in files
    assert "clusters/production/infrastructure.yaml" in files


def test_demo_proposes_a_signed_pull_request_with_its_description(
    demo: tuple[Result, Path],
) -> None:
    result, folder = demo
    remote = folder / "remote.git"
    branch = "cilium-gitops/eu-west-1"
    # One commit on top of main, which the proposal did not move.
    ahead = git("rev-list", f"main..{branch}", cwd=remote).split()
    assert len(ahead) == 1
    assert git("rev-parse", f"{branch}^", cwd=remote) == git("rev-parse", "main", cwd=remote)
    new_file = f"{DEFAULT_PATH}/shop/allow-public-storefront.yaml"
    assert new_file in git("ls-tree", "-r", "--name-only", branch, cwd=remote).split()
    assert new_file not in git("ls-tree", "-r", "--name-only", "main", cwd=remote).split()
    signers = folder / "signing" / "allowed_signers"
    if signers.exists():  # the demo signs when ssh-keygen is installed
        git("-c", f"gpg.ssh.allowedSignersFile={signers}", "verify-commit", branch, cwd=remote)
        assert "git verify-commit: good signature" in result.output
    note = git("notes", "--ref", f"cilium-gitops/{branch}", "show", branch, cwd=remote)
    title, _, body = note.partition("\n\n")
    assert title.startswith("Network policies for eu-west-1: 1 created, 0 updated, 0 deleted")
    assert title.endswith("1 risk flagged")
    assert "`ingress-from-world`" in body  # what is risky
    assert "| 🟢 added | allow | ingress | `app=storefront` | `entity world` | `TCP/443` |" in body
    # End to end, with the sample's workloads: the world now reaches the storefront.
    assert "#### What can now reach what" in body
    assert "| 🟢 now allowed | `world` | `shop/storefront` | `TCP/443` |" in body
    version = git(
        "log", "-1", "--format=%(trailers:key=Control-Plane-Version,valueonly)", branch, cwd=remote
    )
    assert f"| Control-plane version | `{version.strip()}` |" in body
    assert (folder / "pull-request" / "body.md").read_text() == body

"""A hand edit of a managed file (CG403) is shown as the edit itself when the tree is in git."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from click.testing import CliRunner
from conftest import entry, git

from reconciler.commands.cli import cli
from reconciler.desired.policy import DesiredPolicy, parse_policy
from reconciler.render.manifest import Renderer
from reconciler.render.tree import kustomization

if TYPE_CHECKING:
    from pathlib import Path

    from reconciler.render.templates import Templates


def managed_repo(tmp_path: Path, templates: Templates) -> Path:
    """A git repository whose tree holds one policy as cilium-gitops rendered it."""
    parsed = parse_policy(entry("shop", "cart"), position="test")
    assert isinstance(parsed, DesiredPolicy)
    repo = tmp_path / "fleet"
    (repo / "shop").mkdir(parents=True)
    (repo / "kustomization.yaml").write_bytes(kustomization(["shop"]))
    (repo / "shop/kustomization.yaml").write_bytes(kustomization(["cart.yaml"]))
    (repo / "shop/cart.yaml").write_bytes(Renderer(templates).document(parsed))
    git("init", "--quiet", "-b", "main", str(repo), cwd=tmp_path)
    git("add", "-A", cwd=repo)
    git("commit", "--quiet", "-m", "rendered by cilium-gitops", cwd=repo)
    return repo


def hand_edit_detail(repo: Path) -> tuple[str, str]:
    result = CliRunner().invoke(cli, ["validate", "--format", "json", str(repo)])
    assert result.exit_code == 1, result.output
    (finding,) = [f for f in json.loads(result.stdout)["findings"] if f["rule"] == "CG403"]
    return finding["message"], finding["detail"]


def test_uncommitted_and_committed_hand_edits_show_the_edit(
    tmp_path: Path, templates: Templates
) -> None:
    repo = managed_repo(tmp_path, templates)
    written = git("rev-parse", "HEAD", cwd=repo).strip()
    cart = repo / "shop/cart.yaml"
    cart.write_text(cart.read_text().replace('port: "8080"', 'port: "9090"'))

    for state in ("uncommitted", "committed"):
        if state == "committed":
            git("commit", "--quiet", "-am", "hotfix by hand", cwd=repo)
        message, detail = hand_edit_detail(repo)
        assert message == (
            f"edited by hand since commit {written[:12]}: the next sync reverts the edit"
        )
        changed = [
            line
            for line in detail.splitlines()
            if line.startswith(("-", "+")) and not line.startswith(("---", "+++"))
        ]
        assert changed == ['-      - port: "8080"', '+      - port: "9090"']
        assert f"--- as cilium-gitops wrote it ({written[:12]})" in detail


def test_outside_git_the_rewrite_is_shown(tmp_path: Path, templates: Templates) -> None:
    repo = managed_repo(tmp_path, templates)
    cart = repo / "shop/cart.yaml"
    cart.write_text(cart.read_text().replace('port: "8080"', 'port: "9090"'))
    git("update-ref", "-d", "HEAD", cwd=repo)  # no commit of the file left to compare with
    message, detail = hand_edit_detail(repo)
    assert message == "edited by hand: the next sync rewrites it"
    assert "cilium-gitops-checksum" in detail

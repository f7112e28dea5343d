"""`cilium-gitops history`: from a policy's file to the commits and control-plane versions."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from conftest import entry, git, write_state
from test_cli import run, sync_args

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import Remote


def sync(state: Path, remote: Remote, workdir: Path) -> None:
    result = run(*sync_args(state, remote, workdir, "--region", "eu-west-1"))
    assert result.exit_code == 0, result.output


def test_history_lists_each_change_with_its_control_plane_version(
    remote: Remote, tmp_path: Path
) -> None:
    """Created, changed, deleted: three commits, newest first, each with its version."""
    state, work = tmp_path / "desired.json", tmp_path / "work"
    other = entry("shop", "cart", version=1, region="eu-west-1")
    api = {"region": "eu-west-1"}
    sync(
        write_state(state, [entry("shop", "api", version=3, **api), other], version=3), remote, work
    )
    sync(
        write_state(state, [entry("shop", "api", port="9090", version=5, **api), other], version=5),
        remote,
        work,
    )
    sync(write_state(state, [other], version=7), remote, work)
    clone = remote.clone(tmp_path / "audit")

    result = run("history", "shop/api", "--repo", str(clone), "--output", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["file"] == "infrastructure/network-policies/shop/api.yaml"
    assert [c["versions"] for c in report["changes"]] == [[7], [5], [3]]
    assert {c["region"] for c in report["changes"]} == {"eu-west-1"}
    newest = git("log", "-1", "--format=%H", cwd=clone).strip()
    assert report["changes"][0]["commit"] == newest

    text = run("history", "infrastructure/network-policies/shop/api.yaml", "--repo", str(clone))
    assert "3 commit(s)" in text.output
    assert "control-plane version 5, region eu-west-1" in text.output
    untouched = run("history", "shop/cart", "--repo", str(clone), "--output", "json")
    assert len(json.loads(untouched.output)["changes"]) == 1  # only its creation


def test_history_refuses_names_that_are_not_policies(tmp_path: Path) -> None:
    """A name that could climb out of the managed folder is a usage error, not a path."""
    result = run("history", "../../etc/passwd", "--repo", str(tmp_path))
    assert result.exit_code == 2
    assert "is not namespace/name" in result.output
    not_a_repo = run("history", "shop/api", "--repo", str(tmp_path))
    assert not_a_repo.exit_code == 2
    assert "not in a git repository" in not_a_repo.output

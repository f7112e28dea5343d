"""The ``cilium-gitops`` command as a user runs it: options, env, config, output, exit codes."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner, Result
from conftest import DEFAULT_PATH, Remote, entry, write_state

from reconciler.commands.cli import cli

if TYPE_CHECKING:
    from pathlib import Path

GOOD = [entry("shop", "cart", version=2), entry("shop", "catalog", version=3)]
TYPO = {
    "id": "shop-typo",
    "namespace": "shop",
    "name": "typo",
    "policy": {"endpointSelector": {}, "ingress": [{"toPort": [{"ports": [{"port": "80"}]}]}]},
}


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def sync_args(state: Path, remote: Remote, workdir: Path, *extra: str) -> list[str]:
    return [
        "sync",
        "--control-plane",
        f"file://{state}",
        "--repo",
        remote.url,
        "--workdir",
        str(workdir),
        *extra,
    ]


def test_sync_prints_commit_and_summary(remote: Remote, tmp_path: Path) -> None:
    state = write_state(tmp_path / "desired.json", GOOD)
    result = run(*sync_args(state, remote, tmp_path / "work"))
    assert result.exit_code == 0, result.stderr
    head = remote.commits()[0]
    assert f"committed {head[:12]} to main of {remote.url}: 2 created, 0 updated, 0 deleted" in (
        result.stdout
    )
    assert "create  shop/cart.yaml  [shop-cart] missing" in result.stdout

    again = run(*sync_args(state, remote, tmp_path / "work"))
    assert again.exit_code == 0
    assert "up to date" in again.stdout
    assert remote.commits() == [head]


def test_rejected_policy_is_reported_and_the_rest_committed(remote: Remote, tmp_path: Path) -> None:
    state = write_state(tmp_path / "desired.json", [*GOOD, TYPO])
    result = run(*sync_args(state, remote, tmp_path / "work"))
    assert result.exit_code == 3
    assert result.stderr.splitlines() == [
        "rejected: shop-typo: spec.ingress[0].toPort: unknown field"
    ]
    files = remote.files(DEFAULT_PATH)
    assert f"{DEFAULT_PATH}/shop/cart.yaml" in files
    assert f"{DEFAULT_PATH}/shop/typo.yaml" not in files


def test_dry_run_prints_plan_and_pushes_nothing(remote: Remote, tmp_path: Path) -> None:
    state = write_state(tmp_path / "desired.json", GOOD)
    result = run(*sync_args(state, remote, tmp_path / "work", "--dry-run"))
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "create  shop/cart.yaml  [shop-cart] missing",
        "create  shop/catalog.yaml  [shop-catalog] missing",
        "write   kustomization.yaml",
        "write   shop/kustomization.yaml",
        "plan: 2 created, 0 updated, 0 deleted, 0 unchanged",
        "dry run: nothing written; 2 created, 0 updated, 0 deleted",
    ]
    assert remote_message(remote) == ""


def test_json_output(remote: Remote, tmp_path: Path) -> None:
    state = write_state(tmp_path / "desired.json", [*GOOD, TYPO])
    result = run(*sync_args(state, remote, tmp_path / "work", "--output", "json"))
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    assert report["commit"] == remote.commits()[0]
    assert report["counts"] == {"create": 2, "update": 0, "delete": 0, "unchanged": 0}
    assert report["version"] == 3
    assert report["rejections"] == [
        {"policy_id": "shop-typo", "field": "spec.ingress[0].toPort", "reason": "unknown field"}
    ]


def test_options_from_environment(remote: Remote, tmp_path: Path) -> None:
    state = write_state(tmp_path / "desired.json", GOOD)
    env = {
        "CILIUM_GITOPS_CONTROL_PLANE": f"file://{state}",
        "CILIUM_GITOPS_REPO": remote.url,
        "CILIUM_GITOPS_WORKDIR": str(tmp_path / "work"),
        "CILIUM_GITOPS_PATH": "deploy/policies",
    }
    result = run("sync", env=env)
    assert result.exit_code == 0, result.stderr
    assert "deploy/policies/shop/cart.yaml" in remote.files()


def test_options_from_config_file_and_command_line_wins(remote: Remote, tmp_path: Path) -> None:
    state = write_state(tmp_path / "desired.json", GOOD)
    config = tmp_path / "cilium-gitops.yaml"
    config.write_text(
        f"control-plane: file://{state}\nrepo: {remote.url}\nworkdir: {tmp_path / 'work'}\n"
        "path: from/config\nbranch: main\n"
    )
    result = run("--config", str(config), "sync", "--path", "from/cli")
    assert result.exit_code == 0, result.stderr
    assert "from/cli/shop/cart.yaml" in remote.files()
    assert not any(f.startswith("from/config") for f in remote.files())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sync", "--repo", "file:///nowhere"], "Missing option '--control-plane'"),
        (
            ["sync", "--control-plane", "ftp://x", "--repo", "file:///nowhere"],
            "unsupported --control-plane scheme 'ftp'",
        ),
        (
            ["sync", "--control-plane", "file:///does/not/exist.yaml", "--repo", "file:///x"],
            "desired-state file not found",
        ),
        (
            ["sync", "--control-plane", "file:///x", "--repo", "file:///x", "--author", "bob"],
            "--author must look like 'Name <email>'",
        ),
    ],
)
def test_bad_usage_exits_2(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_config_file_with_unknown_key_or_secret_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("repo: file:///x\nrepository: typo\n")
    result = run("--config", str(config), "sync")
    assert result.exit_code == 2
    assert "unknown option 'repository'" in result.stderr
    config.write_text("git-token: hunter2\n")
    result = run("--config", str(config), "sync")
    assert result.exit_code == 2
    assert "hunter2" not in result.stderr + result.stdout


def test_a_password_in_the_url_and_a_token_file_is_a_usage_error(tmp_path: Path) -> None:
    """Two credentials for one remote: refused (exit 2), and neither is printed."""
    state = write_state(tmp_path / "desired.json", GOOD)
    token_file = tmp_path / "token"
    token_file.write_text("s3cr3t-token-value\n")
    result = run(
        "sync",
        "--control-plane",
        str(state),
        "--repo",
        "http://user:p4ssw0rd@127.0.0.1:9/fleet.git",
        "--workdir",
        str(tmp_path / "work"),
        "--git-token-file",
        str(token_file),
    )
    assert result.exit_code == 2
    assert "keep one of them" in result.stderr
    everything = result.stdout + result.stderr
    assert "p4ssw0rd" not in everything
    assert "s3cr3t-token-value" not in everything


def test_runtime_failure_exits_1_without_leaking_credentials(tmp_path: Path) -> None:
    state = write_state(tmp_path / "desired.json", GOOD)
    token_file = tmp_path / "token"
    token_file.write_text("s3cr3t-token-value\n")
    result = run(
        "sync",
        "--control-plane",
        str(state),
        "--repo",
        "http://user@127.0.0.1:9/fleet.git",
        "--workdir",
        str(tmp_path / "work"),
        "--git-token-file",
        str(token_file),
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("error: git fetch failed")
    everything = result.stdout + result.stderr
    assert "p4ssw0rd" not in everything
    assert "s3cr3t-token-value" not in everything
    config = (tmp_path / "work" / ".git" / "config").read_text()
    assert "s3cr3t-token-value" not in config


def test_render_writes_tree_without_git(tmp_path: Path) -> None:
    state = write_state(tmp_path / "desired.json", [*GOOD, TYPO])
    out = tmp_path / "out"
    result = run("render", "--control-plane", f"file://{state}", "--out", str(out))
    assert result.exit_code == 3
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "kustomization.yaml",
        "shop/cart.yaml",
        "shop/catalog.yaml",
        "shop/kustomization.yaml",
    ]
    before = {p: p.read_bytes() for p in out.rglob("*.yaml")}
    again = run("render", "--control-plane", f"file://{state}", "--out", str(out))
    assert "plan: 0 created, 0 updated, 0 deleted, 2 unchanged" in again.stdout
    assert {p: p.read_bytes() for p in out.rglob("*.yaml")} == before


def test_region_filter(remote: Remote, tmp_path: Path) -> None:
    entries = [
        entry("shop", "cart", region="eu-west-1"),
        entry("shop", "catalog", region="us-east-1"),
    ]
    state = write_state(tmp_path / "desired.json", entries)
    result = run(*sync_args(state, remote, tmp_path / "work", "--region", "eu-west-1"))
    assert result.exit_code == 0
    files = remote.files(DEFAULT_PATH)
    assert f"{DEFAULT_PATH}/shop/cart.yaml" in files
    assert f"{DEFAULT_PATH}/shop/catalog.yaml" not in files
    assert "Control-Plane-Region: eu-west-1" in remote_message(remote)


def remote_message(remote: Remote) -> str:
    from conftest import git  # noqa: PLC0415

    if not git("branch", "--list", cwd=remote.path):
        return ""
    return git("log", "-1", "--format=%B", "main", cwd=remote.path)

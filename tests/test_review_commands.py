"""`cilium-gitops diff` between two pushed commits, and `explain` of a policy in a clone."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from conftest import entry, write_state
from test_cli import run, sync_args

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import Remote


def sync(state: Path, remote: Remote, workdir: Path) -> None:
    result = run(*sync_args(state, remote, workdir))
    assert result.exit_code == 0, result.output


def test_diff_between_two_commits_shows_flows_fields_and_risks(
    remote: Remote, tmp_path: Path
) -> None:
    """A port change and a new ingress from the world, as the second commit's reviewer sees them."""
    state, work = tmp_path / "desired.json", tmp_path / "work"
    sync(write_state(state, [entry("shop", "api", port="80")]), remote, work)
    opened = entry("shop", "api", port="8080")
    opened["policy"]["ingress"].append({"fromEntities": ["world"]})  # type: ignore[index]
    sync(write_state(state, [opened]), remote, work)
    clone = remote.clone(tmp_path / "review")

    result = run("diff", "HEAD~1", "HEAD", "--repo", str(clone), "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    (policy,) = report["policies"]
    assert policy["change"] == "updated"
    ports = [f for f in policy["fields"] if f["path"] == "spec.ingress[0].toPorts[0].ports[0].port"]
    assert [(f["old"], f["new"]) for f in ports] == [("80", "8080")]
    (shop,) = report["namespaces"]
    assert {(f["peer"]["kind"], f["port"]) for f in shop["removed"]} == {("endpoints", "80")}
    added = {(f["peer"]["kind"], f["peer"]["text"], f["port"]) for f in shop["added"]}
    assert ("endpoints", "app=frontend", "8080") in {(k, t.split(": ")[-1], p) for k, t, p in added}
    assert any(kind == "entity" and "world" in text for kind, text, _ in added)
    assert report["summary"]["risks"] >= 1

    risky = run("diff", "HEAD~1", "HEAD", "--repo", str(clone), "--fail-on-risk")
    assert risky.exit_code == 1
    assert "world" in risky.output
    markdown = run("diff", "HEAD~1", "HEAD", "--repo", str(clone), "--format", "markdown")
    assert "```mermaid" in markdown.output
    same = run("diff", "HEAD", "HEAD", "--repo", str(clone), "--format", "json")
    assert json.loads(same.output)["policies"] == []


def test_explain_a_policy_by_name_in_a_clone(remote: Remote, tmp_path: Path) -> None:
    """explain namespace/name finds the file in the managed folder and says what it allows."""
    sync(
        write_state(tmp_path / "desired.json", [entry("shop", "api", port="80")]),
        remote,
        tmp_path / "work",
    )
    clone = remote.clone(tmp_path / "read")
    result = run("explain", "shop/api", "--repo", str(clone))
    assert result.exit_code == 0, result.output
    assert "TCP port 80" in result.output
    assert "app=frontend" in result.output
    missing = run("explain", "shop/nothing", "--repo", str(clone))
    assert missing.exit_code == 2

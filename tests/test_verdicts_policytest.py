"""``cilium-gitops test``: PolicyTest files read, run and printed four ways; exit codes for CI."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

import pytest
import yaml
from click.testing import CliRunner
from conftest import ROOT

from reconciler.commands.cli import cli
from reconciler.verdicts.policytest import PolicyTestError, read_test

if TYPE_CHECKING:
    from pathlib import Path

POLICIES = ROOT / "sample-repo" / "infrastructure" / "network-policies"
TESTS = ROOT / "sample-repo" / "tests" / "network-policies"
# The service's own network policy, which tests/network-policies/cilium-gitops.yaml checks.
SERVICE = ROOT / "sample-repo" / "infrastructure" / "cilium-gitops"

TEST = {
    "apiVersion": "cilium-gitops/v1alpha1",
    "kind": "PolicyTest",
    "metadata": {"name": "storefront"},
    "spec": {
        "endpoints": {
            "frontend": {"namespace": "shop", "labels": {"app": "storefront"}},
            "api": {"namespace": "shop", "labels": {"app": "catalog"}, "ports": {"http": 8080}},
            "one": {"ip": "1.1.1.1", "names": ["one.one.one.one"]},
        },
        "flows": [
            {"from": "frontend", "to": "api", "port": 8080, "expect": "allow"},
            {
                "from": "frontend",
                "to": "api",
                "port": "http",
                "http": {"method": "POST"},
                "expect": "allow",
            },
        ],
    },
}


def _write(tmp_path: Path, document: dict[str, object]) -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["test", *args])
    return result.exit_code, result.stdout, result.stderr


def test_the_sample_repository_tests_pass() -> None:
    """The shipped PolicyTests pass against the shipped policies (CI runs the same command)."""
    code, out, _ = _run(str(TESTS), "--policies", str(POLICIES), "--policies", str(SERVICE))
    assert code == 0, out
    assert "0 failed" in out.splitlines()[-1]
    assert "FAIL" not in out


def test_a_wrong_expectation_fails_with_the_verdict_and_its_reason(tmp_path: Path) -> None:
    """Exit 1, FAIL on the flow, and the rule that decided: here Envoy's 403 on POST."""
    code, out, _ = _run(str(_write(tmp_path, TEST)), "--policies", str(POLICIES))
    assert code == 1
    assert "PASS storefront: frontend -> api TCP/8080: allow (expected allow)" in out
    assert "FAIL storefront: frontend -> api TCP/8080 POST /: deny (expected allow)" in out
    assert "shop/allow-get-only spec.ingress[0].toPorts[0] do not match POST /" in out
    assert out.splitlines()[-1] == "1 passed, 1 failed (2 flows in 1 test)"


def test_json_has_one_object_per_flow(tmp_path: Path) -> None:
    """--format json: test, from, to, port, protocol, expect, verdict, reason for each flow."""
    code, out, _ = _run(
        str(_write(tmp_path, TEST)), "--policies", str(POLICIES), "--format", "json"
    )
    assert code == 1
    flows = json.loads(out)
    assert [f["verdict"] for f in flows] == ["allow", "deny"]
    second = flows[1]
    assert {k: second[k] for k in ("test", "from", "to", "port", "protocol", "expect")} == {
        "test": "storefront",
        "from": "frontend",
        "to": "api",
        "port": 8080,
        "protocol": "TCP",
        "expect": "allow",
    }
    assert second["port_name"] == "http"
    assert second["ingress"]["cause"] == "l7-denied"
    assert second["ingress"]["policy"]["name"] == "allow-get-only"
    assert "Envoy answers 403" in second["reason"]


def test_junit_and_github_formats(tmp_path: Path) -> None:
    """JUnit: one testcase per flow, the failure carries the reason; GitHub: one error command."""
    path = _write(tmp_path, TEST)
    _, out, _ = _run(str(path), "--policies", str(POLICIES), "--format", "junit")
    root = ET.fromstring(out.split("\n", 1)[1])  # noqa: S314 - our own output
    assert root.get("tests") == "2"
    assert root.get("failures") == "1"
    failures = root.findall(".//failure")
    assert len(failures) == 1
    assert "do not match POST" in (failures[0].text or "")
    _, out, _ = _run(str(path), "--policies", str(POLICIES), "--format", "github")
    lines = out.splitlines()
    assert lines[0].startswith(f"::error file={path},title=storefront%3A deny%2C expected allow::")
    assert lines[-1] == "1 passed, 1 failed (2 flows in 1 test)"


def test_control_characters_from_test_files_are_escaped(tmp_path: Path) -> None:
    """An endpoint key cannot drive the terminal or forge a GitHub command."""
    document = yaml.safe_load(yaml.safe_dump(TEST))
    document["spec"]["endpoints"]["evil\x1b[31m\n::error::x"] = {"ip": "1.2.3.4"}
    document["spec"]["flows"] = [
        {"from": "frontend", "to": "evil\x1b[31m\n::error::x", "port": 443, "expect": "deny"}
    ]
    path = _write(tmp_path, document)
    _, out, _ = _run(str(path), "--policies", str(POLICIES))
    assert "\x1b" not in out
    assert "\\x1b[31m\\x0a::error::x" in out
    _, out, _ = _run(str(path), "--policies", str(POLICIES), "--format", "github")
    assert out.count("\n::") == 0
    assert "%0A::error::x" in out


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t["spec"]["flows"][0].update({"to": "nobody"}), "unknown endpoint 'nobody'"),
        (lambda t: t["spec"]["flows"][0].update({"port": 70000}), "is not a port number"),
        (lambda t: t["spec"]["flows"][0].update({"port": "grpc"}), "api has no port named 'grpc'"),
        (
            lambda t: t["spec"]["flows"][0].update({"expect": "maybe"}),
            "expect must be allow or deny",
        ),
        (lambda t: t["spec"]["endpoints"]["api"].update({"label": {}}), "unknown field 'label'"),
        (lambda t: t.update({"apiVersion": "v1"}), "apiVersion must be cilium-gitops/v1alpha1"),
        (lambda t: t["spec"]["endpoints"]["one"].update({"ip": "1.2.3"}), "is not an IP address"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(tmp_path: Path, edit: object, message: str) -> None:
    """Exit 2, and the message names the file, the test and what is wrong."""
    document = yaml.safe_load(yaml.safe_dump(TEST))
    edit(document)  # type: ignore[operator]
    code, _, err = _run(str(_write(tmp_path, document)), "--policies", str(POLICIES))
    assert code == 2
    assert message in err
    assert "t.yaml" in err


def test_no_policy_test_in_the_paths_is_bad_input(tmp_path: Path) -> None:
    """A folder without PolicyTest documents is a mistake in the CI step, not a pass."""
    (tmp_path / "x.yaml").write_text("kind: ConfigMap\n")
    code, _, err = _run(str(tmp_path), "--policies", str(POLICIES))
    assert code == 2
    assert "no PolicyTest document" in err


def test_icmp_and_extended_protocols_are_read() -> None:
    """ICMP flows take a type by number or name; ICMPv6 names come from the IPv6 table."""
    document = yaml.safe_load(yaml.safe_dump(TEST))
    document["spec"]["flows"] = [
        {
            "from": "frontend",
            "to": "api",
            "protocol": "ICMP",
            "icmp": {"type": "EchoRequest"},
            "expect": "deny",
        },
        {
            "from": "frontend",
            "to": "api",
            "protocol": "ICMPv6",
            "icmp": {"type": "EchoRequest"},
            "expect": "deny",
        },
    ]
    test = read_test(document, "t.yaml")
    assert [c.flow.probe.port for c in test.cases] == [8, 128]
    document["spec"]["flows"][0]["icmp"] = {"type": "Nope"}
    with pytest.raises(PolicyTestError, match="not an IPv4 ICMP type name"):
        read_test(document, "t.yaml")


def test_agent_settings_change_the_verdicts() -> None:
    """--policy-enforcement always and --no-allow-localhost, as the cluster may run Cilium."""
    code, out, _ = _run(str(TESTS), "--policies", str(POLICIES), "--policy-enforcement", "always")
    assert code == 1
    assert "FAIL shop: storefront -> cdn TCP/443: deny (expected allow)" in out
    assert "storefront is always in default deny" in out
    code, out, _ = _run(str(TESTS), "--policies", str(POLICIES), "--no-allow-localhost")
    assert code == 1
    assert "FAIL shop: node -> catalog TCP/8080: deny (expected allow)" in out


def test_the_cluster_of_the_test_labels_every_pod() -> None:
    """spec.cluster is io.cilium.k8s.policy.cluster of every pod (default "default"); the
    ``cluster`` entity selects the pods of the subject's own cluster."""
    document = yaml.safe_load(yaml.safe_dump(TEST))
    document["spec"]["cluster"] = "east"
    document["spec"]["endpoints"]["west"] = {"namespace": "shop", "labels": {}, "cluster": "west"}
    test = read_test(document, "t.yaml")
    identities = {c.flow.source.name: c.flow.source.own_identity() for c in test.cases}
    assert identities["frontend"].get("k8s.io.cilium.k8s.policy.cluster") == "east"
    document["spec"]["flows"] = [{"from": "west", "to": "api", "port": 80, "expect": "deny"}]
    west = read_test(document, "t.yaml").cases[0].flow.source
    assert west.own_identity().get("k8s.io.cilium.k8s.policy.cluster") == "west"
    document["spec"]["cluster_name"] = "x"
    with pytest.raises(PolicyTestError, match=r"unknown field spec\.cluster_name"):
        read_test(document, "t.yaml")

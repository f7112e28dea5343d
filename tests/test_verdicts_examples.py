"""The enforcement model on Cilium's own example policies, with the results Cilium documents.

The policies are the vendored examples (``conftest.EXAMPLES``, verbatim from cilium/cilium);
the expected verdicts come from the pages that use them: the Star Wars demo of
``Documentation/gettingstarted/demo.rst`` (the tiefighter lands, the xwing does not, the
exhaust port is off limits), the probes of ``examples/kubernetes/connectivity-check`` (a
client whose probe starts with ``!`` must fail to connect), ``layer3.rst`` and
``kubernetes.rst``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

import pytest
import yaml
from conftest import CILIUM, EXAMPLES
from verdicts_helpers import ask, decision, engine_of, pod, world

from reconciler.verdicts import identity
from reconciler.verdicts.engine import Engine
from reconciler.verdicts.policy_files import rules_of
from reconciler.verdicts.ports import Probe
from reconciler.verdicts.verdict import Flow
from reconciler.verdicts.workloads import workloads

if TYPE_CHECKING:
    from pathlib import Path

MINIKUBE = EXAMPLES / "minikube"
TIEFIGHTER = pod("tiefighter", org="empire", **{"class": "tiefighter"})
XWING = pod("xwing", org="alliance", **{"class": "xwing"})
DEATHSTAR = pod("deathstar", org="empire", **{"class": "deathstar"})


def test_star_wars_l3_l4_policy() -> None:
    """demo.rst "Apply an L3/L4 Policy": the tiefighter (org=empire) lands, the xwing hangs."""
    eng = engine_of(MINIKUBE / "sw_l3_l4_policy.yaml")
    assert decision(eng, TIEFIGHTER, DEATHSTAR, 80, http=("POST", "/v1/request-landing")) == "allow"
    verdict = ask(eng, XWING, DEATHSTAR, 80)
    assert verdict.decision == "deny"
    assert verdict.ingress.policy is not None
    assert verdict.ingress.policy.name == "rule1"


def test_star_wars_l7_policy() -> None:
    """demo.rst "Apply and Test HTTP-aware L7 Policy": landing is allowed, the exhaust port is
    "Access denied" (Envoy's 403), and the xwing still cannot connect."""
    eng = engine_of(MINIKUBE / "sw_l3_l4_l7_policy.yaml")
    assert decision(eng, TIEFIGHTER, DEATHSTAR, 80, http=("POST", "/v1/request-landing")) == "allow"
    verdict = ask(eng, TIEFIGHTER, DEATHSTAR, 80, http=("PUT", "/v1/exhaust-port"))
    assert verdict.decision == "deny"
    assert verdict.ingress.cause == "l7-denied"
    assert "403" in verdict.reason
    assert decision(eng, XWING, DEATHSTAR, 80) == "deny"


def test_star_wars_default_deny_for_the_empire() -> None:
    """sw_deny_policy.yaml: ``ingress: [{}]`` denies everything to org=empire pods."""
    eng = engine_of(MINIKUBE / "sw_deny_policy.yaml")
    assert decision(eng, XWING, DEATHSTAR, 80) == "deny"
    assert decision(eng, TIEFIGHTER, DEATHSTAR, 80) == "deny"


def test_egress_deny_example() -> None:
    """layer3.rst "Simple Egress Deny": frontend may not reach backend, whatever else it allows."""
    eng = engine_of(EXAMPLES / "policies/l3/egress-deny/egress-deny.yaml")
    frontend = pod("frontend", role="frontend")
    assert decision(eng, frontend, pod("backend", role="backend")) == "deny"
    assert decision(eng, frontend, pod("db", role="db")) == "allow"
    assert decision(eng, frontend, world("1.1.1.1"), 443) == "allow"


def test_isolated_namespaces_example() -> None:
    """kubernetes.rst "Namespaces": isolate-ns1 lets pods of ns1 reach each other, not ns2's."""
    eng = engine_of(EXAMPLES / "policies/kubernetes/namespace/isolate-namespaces.yaml")
    assert decision(eng, pod("a", "ns1"), pod("b", "ns1")) == "allow"
    assert decision(eng, pod("a", "ns2"), pod("b", "ns1")) == "deny"
    assert decision(eng, pod("a", "ns1"), pod("b", "ns2")) == "deny"


def test_clusterwide_example_reaches_every_namespace() -> None:
    """clusterscope-policy.yaml: luke, in any namespace, may reach leia, in any namespace."""
    eng = engine_of(EXAMPLES / "policies/kubernetes/clusterwide/clusterscope-policy.yaml")
    assert decision(eng, pod("luke", "a", name="luke"), pod("leia", "b", name="leia")) == "allow"
    assert decision(eng, pod("han", "b", name="han"), pod("leia", "b", name="leia")) == "deny"


# -- the connectivity check: each client's probe says what must happen ------------------------

CHECK = EXAMPLES / "kubernetes/connectivity-check/connectivity-check.yaml"


def _probes(path: Path) -> dict[str, str]:
    """Each client Deployment's readiness probe command, as one string."""
    found: dict[str, str] = {}
    for doc in yaml.safe_load_all(path.read_text()):
        if isinstance(doc, dict) and doc.get("kind") == "Deployment":
            container = doc["spec"]["template"]["spec"]["containers"][0]
            command = container.get("readinessProbe", {}).get("exec", {}).get("command", [])
            found[doc["metadata"]["name"]] = " ".join(command)
    return found


def _target(
    command: str, endpoints: dict[str, identity.Endpoint]
) -> tuple[identity.Endpoint, int] | None:
    """Where a curl probe goes: an echo Deployment's port, or an address outside."""
    match = re.search(r"(echo-[ab])(?:-host)?(?:-headless)?:(\d+)", command)
    if match:
        return endpoints[f"default/{match.group(1)}"], int(match.group(2))
    if "1.1.1.1" in command or "one.one.one.one" in command:
        return identity.address(
            "1.1.1.1", ipaddress.ip_address("1.1.1.1"), ["one.one.one.one"]
        ), 443
    google = re.search(r"(www\.google\.com|google\.com)", command)
    if google:
        return identity.address(
            "google", ipaddress.ip_address("142.250.0.1"), [google.group(1)]
        ), 443
    return None


def test_connectivity_check_clients_get_what_their_probes_expect() -> None:
    """connectivity-check.yaml: a probe ``! curl ...`` must fail, any other probe must pass."""
    files = {CHECK.name: CHECK.read_bytes()}
    found = {
        w.name: w.endpoint for w in workloads({**files, "kustomization.yaml": b"resources: []"})
    }
    eng = Engine(rules_of(files))
    checked = 0
    for name, command in _probes(CHECK).items():
        target = _target(command, found)
        source = found.get(f"default/{name}")
        if target is None or source is None or source.kind != "pod" or not command:
            continue  # echo servers and host-network clients
        destination, port = target
        expected = "deny" if command.lstrip().startswith("!") or " ! " in command else "allow"
        verdict = eng.evaluate(Flow(source, destination, Probe("TCP", port)))
        assert verdict.decision == expected, (name, command, verdict.reason)
        checked += 1
    assert checked >= 4


# -- every example reads --------------------------------------------------------------------

_NOT_MODELLED = {
    "examples/policies/l3/requires/requires.yaml": "fromRequires",
    "examples/policies/l3/service/service.yaml": "toServices",
}


@pytest.mark.parametrize(
    "path", sorted(p for p in CILIUM.rglob("*.yaml") if "crds" not in p.parts), ids=str
)
def test_every_example_reads_and_says_what_it_cannot_model(path: Path) -> None:
    """Every vendored example becomes rules; only fields the model cannot know are flagged."""
    rules = rules_of({path.name: path.read_bytes()})
    assert rules
    relative = path.relative_to(CILIUM).as_posix()
    flagged = [e.peers.unknown for r in rules for e in r.entries if e.peers.unknown]
    assert all(r.unknown is None for r in rules)
    expected = _NOT_MODELLED.get(relative)
    if expected is None:
        assert flagged == []
    else:
        assert any(expected in text for text in flagged)

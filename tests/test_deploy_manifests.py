"""The Kustomize manifests under ``deploy/`` and their copy in the sample repository (issue 18).

``kubectl kustomize`` builds the base, the monitoring component, the example overlay and the
sample repository's copy (which builds the very same objects); the built objects are checked
for what the service needs and what a restricted namespace demands: probes on the endpoints a
running service answers, the metrics port the ServiceMonitor scrapes, a config file of real
options, Secrets mounted where the config says, the network policy naming the config's hosts,
a grace period that covers a pass, and memory sized from the benchmark.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
import yaml
from conftest import ROOT
from deploy_support import (
    BASE,
    DEPLOY,
    EXAMPLE,
    MONITORING,
    SAMPLE_SERVICE,
    kustomize,
    needs_kubectl,
    one,
    running_service,
)

from reconciler.commands.options import load_config
from reconciler.commands.run import run_service

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = needs_kubectl

# What Kubernetes' restricted Pod Security Standard and our own rules never allow.
FORBIDDEN_POD_FIELDS = {"hostNetwork", "hostPID", "hostIPC", "hostUsers"}
# controller.run waits this long for the watch thread after the last pass (seconds).
WATCH_JOIN = 10
# The keys `flux create secret git` writes (SSH), and the control plane's token.
SECRET_KEYS = {
    "cilium-gitops-git": {"identity", "known_hosts"},
    "cilium-gitops-control-plane": {"token"},
}


@pytest.fixture(scope="module")
def built() -> list[dict[str, Any]]:
    return kustomize(EXAMPLE)


def _pod(objects: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = one(objects, "Deployment", "cilium-gitops")["spec"]["template"]["spec"]
    return spec


def _container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (container,) = _pod(objects)["containers"]
    return dict(container)


def _config(objects: list[dict[str, Any]], tmp_path: Path) -> dict[str, object]:
    config_map = one(objects, "ConfigMap", "cilium-gitops-config")
    path = tmp_path / "config.yaml"
    path.write_text(config_map["data"]["config.yaml"], encoding="utf-8")
    return load_config(path, {p.name for p in run_service.params if p.name})


def test_every_folder_builds() -> None:
    """The base, the component, every overlay and the sample repository's copy all build."""
    overlays = sorted(p.parent for p in (DEPLOY / "overlays").glob("*/kustomization.yaml"))
    assert EXAMPLE in overlays
    for folder in (
        BASE,
        MONITORING,
        *overlays,
        SAMPLE_SERVICE,
        ROOT / "sample-repo" / "clusters" / "production",
    ):
        assert kustomize(folder)


def test_the_sample_repository_runs_a_copy_of_the_example(built: list[dict[str, Any]]) -> None:
    """Verbatim copies of base/ and the component, the overlay's files, the same objects."""
    pairs = [(BASE, SAMPLE_SERVICE / "base"), (MONITORING, SAMPLE_SERVICE / "monitoring")]
    for source, copy in pairs:
        files = {p.relative_to(source): p.read_bytes() for p in source.rglob("*") if p.is_file()}
        copied = {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()}
        assert files == copied, f"refresh the copy: rm -r {copy} && cp -r {source} {copy}"
    for name in ("config.yaml", "networkpolicy.yaml"):
        assert (SAMPLE_SERVICE / name).read_bytes() == (EXAMPLE / name).read_bytes()
    test = ROOT / "sample-repo" / "tests" / "network-policies" / "cilium-gitops.yaml"
    assert test.read_bytes() == (EXAMPLE / "policy-test.yaml").read_bytes()
    assert kustomize(SAMPLE_SERVICE) == built
    flux = yaml.safe_load_all(
        (ROOT / "sample-repo/clusters/production/infrastructure.yaml").read_text()
    )
    (kustomization,) = [d for d in flux if d["metadata"]["name"] == "cilium-gitops"]
    assert kustomization["spec"]["path"] == "./infrastructure/cilium-gitops"
    assert {"name": "cilium"} in kustomization["spec"]["dependsOn"]


def test_the_pod_is_restricted(built: list[dict[str, Any]]) -> None:
    """The pod meets the restricted Pod Security Standard, which its namespace enforces."""
    pod = _pod(built)
    container = _container(built)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert not FORBIDDEN_POD_FIELDS & set(pod)
    assert all("hostPath" not in volume for volume in pod["volumes"])
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["runAsNonRoot"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert not context.get("privileged", False)
    namespace = one(built, "Namespace", "cilium-gitops")["metadata"]["labels"]
    assert namespace["pod-security.kubernetes.io/enforce"] == "restricted"
    account = one(built, "ServiceAccount", "cilium-gitops")
    assert account["automountServiceAccountToken"] is False
    kinds = {o["kind"] for o in built}
    assert not kinds & {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
    assert one(built, "Deployment", "cilium-gitops")["spec"]["replicas"] == 1


def test_probes_and_ports_reach_what_a_running_service_serves(
    built: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Probes use the port the service listens on; a real ``run`` answers each path with 200."""
    container = _container(built)
    env = {e["name"]: e["value"] for e in container["env"]}
    port = int(env["CILIUM_GITOPS_HTTP_ADDRESS"].rpartition(":")[2])
    (named,) = container["ports"]
    assert (named["name"], named["containerPort"]) == ("http", port)
    probes = {
        kind: container[kind]["httpGet"]
        for kind in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert all(probe["port"] in {"http", port} for probe in probes.values())
    assert probes["livenessProbe"]["path"] == "/healthz"
    assert probes["readinessProbe"]["path"] == "/readyz"
    with running_service(tmp_path) as service:
        for probe in probes.values():
            assert service.get(probe["path"])[0] == 200
        assert service.get("/nothing-here")[0] == 404
        assert service.get("/metrics")[0] == 200


def test_the_service_monitor_scrapes_the_metrics_port(built: list[dict[str, Any]]) -> None:
    """ServiceMonitor -> Service port by name -> the container's port; not-ready pods too."""
    service = one(built, "Service", "cilium-gitops")
    monitor = one(built, "ServiceMonitor", "cilium-gitops")
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    (port,) = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
    assert port["targetPort"] == "http"
    labels = service["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    pod_labels = one(built, "Deployment", "cilium-gitops")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["publishNotReadyAddresses"] is True
    rule = one(built, "PrometheusRule", "cilium-gitops")
    assert monitor["metadata"]["labels"]["release"] == rule["metadata"]["labels"]["release"]


def test_the_config_holds_run_options_and_the_secrets_are_mounted_where_it_says(
    built: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Config keys and variables are run options; the files it names are mounted Secret keys."""
    config = _config(built, tmp_path)  # refuses an unknown option or a secret
    container = _container(built)
    options = {f"CILIUM_GITOPS_{p.name.upper()}" for p in run_service.params if p.name}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert set(env) <= options | {"CILIUM_GITOPS_CONFIG"}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in _pod(built)["volumes"]}
    config_mount = mounts[env["CILIUM_GITOPS_CONFIG"].rpartition("/")[0]]
    assert volumes[config_mount["name"]]["configMap"]["name"].startswith("cilium-gitops-config")
    for option in ("ssh_key", "known_hosts", "token_file"):
        folder, _, key = str(config[option]).rpartition("/")
        mount = mounts[folder]
        assert mount["readOnly"] is True
        secret = volumes[mount["name"]]["secret"]
        assert key in SECRET_KEYS[secret["secretName"]]
        assert secret["defaultMode"] == 0o440  # root-owned, group-readable: ssh takes the key
    assert _pod(built)["securityContext"]["fsGroup"] == _pod(built)["securityContext"]["runAsGroup"]


def _endpoint(url: str) -> tuple[str, int]:
    """Host and port of a --repo or --control-plane URL (scp-like git@host:path too)."""
    scp = re.fullmatch(r"[\w.-]+@([\w.-]+):(?!//).*", url)
    if scp:
        return scp[1], 22
    parts = urlsplit(url)
    defaults = {"ssh": 22, "https": 443, "http": 80, "git": 9418, "grpcs": 443, "grpc": 80}
    assert parts.hostname is not None
    return parts.hostname, parts.port or defaults[parts.scheme]


def test_the_network_policy_allows_the_configs_hosts_and_nothing_more(
    built: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Out: DNS and config.yaml's Git host and control plane; in: Prometheus on the metrics port."""
    config = _config(built, tmp_path)
    policy = one(built, "CiliumNetworkPolicy", "cilium-gitops")["spec"]
    container = _container(built)
    pod_labels = one(built, "Deployment", "cilium-gitops")["spec"]["template"]["metadata"]["labels"]
    assert policy["endpointSelector"]["matchLabels"].items() <= pod_labels.items()
    allowed = set()
    for rule in policy["egress"]:
        ports = {(int(p["port"]), p["protocol"]) for item in rule["toPorts"] for p in item["ports"]}
        if "toFQDNs" in rule:
            allowed |= {(f["matchName"], port) for f in rule["toFQDNs"] for port, _ in ports}
        else:
            assert rule["toEndpoints"][0]["matchLabels"]["k8s:k8s-app"] == "kube-dns"
            assert ports == {(53, "UDP"), (53, "TCP")}
    wanted = {_endpoint(str(config["repo"])), _endpoint(str(config["control_plane"]))}
    assert allowed == wanted
    (ingress,) = policy["ingress"]
    ports = [p for item in ingress["toPorts"] for p in item["ports"]]
    assert ports == [{"port": str(container["ports"][0]["containerPort"]), "protocol": "TCP"}]
    deny = one(built, "CiliumNetworkPolicy", "default-deny")["spec"]
    assert deny == {"endpointSelector": {}, "ingress": [{}], "egress": [{}]}


def test_the_grace_period_covers_a_pass_that_must_finish(built: list[dict[str, Any]]) -> None:
    """The grace period covers a fetch and a push at --git-timeout each, and the watch closing."""
    (timeout,) = [p.default for p in run_service.params if p.name == "git_timeout"]
    grace = _pod(built)["terminationGracePeriodSeconds"]
    assert grace >= 2 * float(timeout) + WATCH_JOIN
    assert grace <= 300  # and no slower to replace than that


def test_memory_is_sized_from_the_benchmark(built: list[dict[str, Any]]) -> None:
    """The request covers the benchmark's peak at 10,000 policies; the limit is above it."""
    table = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    peak = re.search(r"\| \(d\) peak memory of a cold sync \| 10,000 \| (\d+) MiB", table)
    assert peak is not None
    resources = _container(built)["resources"]
    units = {"Mi": 1, "Gi": 1024}
    request, limit = (
        int(value[:-2]) * units[value[-2:]]
        for value in (resources["requests"]["memory"], resources["limits"]["memory"])
    )
    assert request >= int(peak[1])
    assert limit >= 2 * request
    assert {"cpu", "memory"} <= resources["requests"].keys() & resources["limits"].keys()


def test_the_overlay_sets_the_image_and_the_config(built: list[dict[str, Any]]) -> None:
    """The overlay's images: entry matches the base's image, and its config replaces the base's."""
    image = _container(built)["image"]
    assert image == "registry.example.com/platform/cilium-gitops:0.1.0"
    config = one(built, "ConfigMap", "cilium-gitops-config")["data"]["config.yaml"]
    assert config == (EXAMPLE / "config.yaml").read_text(encoding="utf-8")
    base_config = one(kustomize(BASE), "ConfigMap", "cilium-gitops-config")["data"]["config.yaml"]
    assert base_config == (BASE / "config.yaml").read_text(encoding="utf-8")

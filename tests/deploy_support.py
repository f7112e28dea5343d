"""What the deployment tests share: the manifests under ``deploy/`` as Kustomize builds them, and
``cilium-gitops run`` serving its HTTP face against a real control plane and remote (issue 18)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from conftest import ROOT, entry, wait_for
from fault_support import REGION, Service

from reconciler.controlplane.server import ReferenceControlPlane, start
from reconciler.gitops import init_bare

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

DEPLOY = ROOT / "deploy"
BASE = DEPLOY / "base"
MONITORING = DEPLOY / "components" / "monitoring"
EXAMPLE = DEPLOY / "overlays" / "example"
SAMPLE_SERVICE = ROOT / "sample-repo" / "infrastructure" / "cilium-gitops"
RULES = MONITORING / "prometheusrule.yaml"
DASHBOARD = MONITORING / "dashboards" / "cilium-gitops.json"

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl is not installed: cannot build the Kustomize overlays"
)


def kustomize(folder: Path) -> list[dict[str, Any]]:
    """The objects ``kubectl kustomize`` builds from ``folder`` (what Flux applies)."""
    assert KUBECTL is not None
    result = subprocess.run(
        [KUBECTL, "kustomize", str(folder)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d is not None]


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    """The single object of ``kind`` (and ``name``, or a generated name starting with it)."""
    found = [
        o
        for o in objects
        if o["kind"] == kind and (name is None or o["metadata"]["name"].startswith(name))
    ]
    assert len(found) == 1, f"{len(found)} {kind} objects named {name}"
    return found[0]


@contextlib.contextmanager
def running_service(folder: Path, extra: tuple[str, ...] = ()) -> Iterator[Service]:
    """``cilium-gitops run`` on a free port, after its first pass, with git isolated from the
    user's configuration; stopped with SIGTERM (and its exit code checked) on the way out."""
    servicer = ReferenceControlPlane()
    servicer.load([entry("shop", "api", region=REGION), entry("shop", "cart", region=REGION)])
    server = start(servicer)
    remote = folder / "remote.git"
    url = init_bare(remote, "main")
    home = folder / "home"
    home.mkdir()
    env = {
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    service = Service(
        server.url, url, folder / "work", folder / "log", extra=extra, env=env
    ).start()
    try:
        wait_for(lambda: service.get("/readyz")[0] == 200, timeout=60, what="the first pass")
        yield service
    finally:
        code = service.stop()
        server.stop()
        assert code == 0

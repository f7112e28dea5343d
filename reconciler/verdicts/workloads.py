"""The workloads of a repository: every pod template Kustomize would build, as an endpoint.

The first step of the review's reachability (workloads -> reachability): in every folder that
Kustomize builds (one with a ``kustomization.yaml``, and everything below it) the
Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs and bare Pods become
endpoints, with what Cilium derives a pod's identity from: the pod template's labels, its
namespace (the object's, else the nearest ``kustomization.yaml``'s ``namespace``, else
``default``), its service account, the labels of its Namespace object when the repository
has one, and its named container ports. A pod with ``hostNetwork: true`` has its node's
identity, so it is the node's host endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from posixpath import dirname
from typing import TYPE_CHECKING, Any

from reconciler.verdicts import identity as ident
from reconciler.verdicts.policy_files import SourceError, documents
from reconciler.verdicts.rules import listed, mapping

if TYPE_CHECKING:
    from collections.abc import Mapping

    from reconciler.verdicts.identity import Endpoint

_TEMPLATES = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
_KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")


@dataclass(frozen=True, slots=True)
class Workload:
    """A workload and the endpoint its pods are."""

    kind: str
    name: str  # namespace/name
    file: str
    endpoint: Endpoint

    @property
    def ports(self) -> tuple[tuple[int, str], ...]:
        """Its container ports: (number, protocol)."""
        return tuple(sorted({(number, protocol) for _, number, protocol in self.endpoint.ports}))


def built_folders(files: Mapping[str, bytes]) -> dict[str, str | None]:
    """Folders Kustomize builds (``""`` is the root), with the ``namespace`` each sets."""
    found: dict[str, str | None] = {}
    for path in files:
        folder, _, name = path.rpartition("/")
        if name in _KUSTOMIZATIONS:
            found[folder] = None
    for path, document in _readable({p: c for p, c in files.items() if _is_kustomization(p)}):
        namespace = document.get("namespace")
        found[dirname(path)] = namespace if isinstance(namespace, str) and namespace else None
    return found


def _is_kustomization(path: str) -> bool:
    return path.rpartition("/")[2] in _KUSTOMIZATIONS[:2]


def _scope(path: str, folders: Mapping[str, str | None]) -> tuple[bool, str | None]:
    """Whether a file is built by Kustomize, and the namespace its nearest kustomization sets."""
    folder = dirname(path)
    while True:
        if folder in folders:
            return True, folders[folder]
        if not folder:
            return False, None
        folder = dirname(folder)


def workloads(files: Mapping[str, bytes]) -> list[Workload]:
    """Every workload in the Kustomize-built folders of ``files``, by name."""
    folders = built_folders(files)
    scoped = {p: c for p, c in files.items() if _scope(p, folders)[0]}
    found: dict[str, Workload] = {}
    namespaces: dict[str, dict[str, str]] = {}
    candidates: list[tuple[str, dict[str, Any], str]] = []
    for path, document in _readable(scoped):
        kind = document.get("kind")
        metadata = mapping(document.get("metadata"))
        if kind == "Namespace" and isinstance(metadata.get("name"), str):
            labels = mapping(metadata.get("labels"))
            namespaces[metadata["name"]] = {str(k): str(v) for k, v in labels.items()}
            continue
        if kind in _TEMPLATES or kind == "Pod":
            default = _scope(path, folders)[1] or "default"
            candidates.append((path, document, str(metadata.get("namespace") or default)))
    for path, document, namespace in candidates:
        made = _workload(path, document, namespace, namespaces.get(namespace, {}))
        if made is not None:
            found.setdefault(made.name, made)
    return [found[name] for name in sorted(found)]


def _readable(files: Mapping[str, bytes]) -> list[tuple[str, dict[str, Any]]]:
    """The documents of every file that parses: a Helm template or a patch is no reason to stop."""
    found: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(files):
        try:
            found.extend(documents({path: files[path]}))
        except SourceError:
            continue
    return found


def _workload(
    path: str, document: dict[str, Any], namespace: str, namespace_labels: dict[str, str]
) -> Workload | None:
    kind = str(document["kind"])
    name = str(mapping(document.get("metadata")).get("name") or "")
    template: Any = document
    for key in _TEMPLATES.get(kind, ()):
        template = mapping(template).get(key)
    template = mapping(template)
    labels = mapping(mapping(template.get("metadata")).get("labels"))
    spec = mapping(template.get("spec"))
    display = f"{namespace}/{name}"
    if spec.get("hostNetwork") is True:
        return Workload(kind, display, path, ident.entity(display, "host"))
    ports = [
        (
            str(port.get("name") or "").lower(),
            port["containerPort"],
            str(port.get("protocol") or "TCP"),
        )
        for container in listed(spec.get("containers"))
        for port in listed(mapping(container).get("ports"))
        if isinstance(port, dict) and isinstance(port.get("containerPort"), int)
    ]
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    endpoint = ident.pod(
        display,
        namespace=namespace,
        labels={str(k): str(v) for k, v in labels.items()},
        service_account=str(account),
        namespace_labels=namespace_labels,
        ports=ports,
    )
    return Workload(kind, display, path, endpoint)

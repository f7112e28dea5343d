"""Helpers shared by the verdicts tests: engines from YAML text, endpoints, one-line questions."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

import yaml

from reconciler.verdicts import identity
from reconciler.verdicts.engine import Engine, Options
from reconciler.verdicts.l7 import HttpRequest
from reconciler.verdicts.policy_files import rules_of
from reconciler.verdicts.ports import Probe
from reconciler.verdicts.verdict import Flow

if TYPE_CHECKING:
    from pathlib import Path

    from reconciler.verdicts.identity import Endpoint
    from reconciler.verdicts.verdict import Verdict


def engine(*documents: str, options: Options | None = None) -> Engine:
    """An engine over policies given as YAML text (each may hold several documents)."""
    files = {f"p{i}.yaml": text.encode() for i, text in enumerate(documents)}
    return Engine(rules_of(files), options)


def engine_of(*paths: Path, options: Options | None = None) -> Engine:
    """An engine over policy files."""
    return Engine(rules_of({p.as_posix(): p.read_bytes() for p in paths}), options)


def pod(pod_name: str, namespace: str = "default", **labels: str) -> Endpoint:
    """A pod of ``namespace`` with ``labels`` (keyword names use _ for -, as in k8s_app)."""
    return identity.pod(
        f"{namespace}/{pod_name}",
        namespace=namespace,
        labels={k.replace("_", "-"): v for k, v in labels.items()},
    )


def world(ip: str, *names: str) -> Endpoint:
    """An address outside the cluster, with the names it was resolved from."""
    return identity.address(ip, ipaddress.ip_address(ip), names)


def ask(
    eng: Engine,
    source: Endpoint,
    destination: Endpoint,
    port: int = 80,
    protocol: str = "TCP",
    *,
    http: tuple[str, str] | None = None,
    dns: str | None = None,
) -> Verdict:
    """The verdict of one flow."""
    request = HttpRequest(http[0], http[1]) if http is not None else None
    return eng.evaluate(Flow(source, destination, Probe(protocol, port), request, dns))


def decision(
    eng: Engine, source: Endpoint, destination: Endpoint, port: int = 80, **kw: object
) -> str:
    """Just allow, deny or undecided."""
    return ask(eng, source, destination, port, **kw).decision  # type: ignore[arg-type]


def load(text: str) -> list[dict[str, object]]:
    """YAML documents, for tests that edit a policy before evaluating it."""
    return [d for d in yaml.safe_load_all(text) if d]

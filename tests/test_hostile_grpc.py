"""Hostile control-plane messages, over real gRPC: in a list (``sync``) and in a watch (``run``).

Each bad message is rejected by its id and field and the others go on; a message too large for
the receive limit fails the list with a clear error and deletes nothing; the running service
outlives every one of them, logs each rejection once, counts them, and commits the next valid
event. Issue 15.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest
from conftest import DEFAULT_PATH, Remote, entry, git, wait_for
from hostile_support import CLI, assert_well_behaved, rejection_lines, run_cli

from reconciler.controlplane.server import ReferenceControlPlane, RunningServer, start
from reconciler.scrub import printable

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

REGION = "eu-west-1"
VALID_BODY: dict[str, Any] = {
    "endpointSelector": {"matchLabels": {"app": "api"}},
    "ingress": [{"fromEndpoints": [{"matchLabels": {"app": "web"}}]}],
}


def message(policy_id: str, policy: Any, **fields: Any) -> dict[str, Any]:
    """An entry of the reference server: ``policy`` as bytes goes on the wire as it is."""
    return {"id": policy_id, "namespace": "hostile", "name": "p", "policy": policy, **fields}


# name: (the entry, the field the rejection names, a piece of the reason)
MESSAGES: dict[str, tuple[dict[str, Any], str, str]] = {
    "not-json": (message("g-not-json", b"{not json"), "policy", "invalid JSON"),
    "duplicate-keys": (
        message("g-dup", b'{"endpointSelector": {}, "ingress": [], "ingress": [{}]}'),
        "policy",
        "duplicate key 'ingress'",
    ),
    "nan": (message("g-nan", b'{"endpointSelector": {}, "x": NaN}'), "policy", "NaN is not JSON"),
    "not-utf-8": (message("g-latin1", b'{"description": "caf\xe9"}'), "policy", "not UTF-8"),
    "lone-surrogate": (
        message("g-surrogate", b'{"description": "\\udc00", "endpointSelector": {}}'),
        "policy",
        "lone UTF-16 surrogate",
    ),
    "a-list": (message("g-list", b"[1, 2]"), "policy", "required"),
    "deep": (message("g-deep", b"[" * 100_000 + b"]" * 100_000), "policy", "nested too deeply"),
    "kind-a-list": (
        message("g-kind", {"kind": ["x"], "spec": VALID_BODY}),
        "kind",
        "got a list",
    ),
    "no-name": (message("g-no-name", VALID_BODY, name=""), "k8s_name", "required field"),
    "namespace-newline": (
        message("g-ns", VALID_BODY, namespace="a\nb"),
        "namespace",
        "DNS-1123 label",
    ),
    "id-forges-a-line": (message("g-a\nrejected: forged", VALID_BODY), "id", "printable ASCII"),
    "port-a-number": (
        message("g-port", {**VALID_BODY, "ingress": [{"toPorts": [{"ports": [{"port": 80}]}]}]}),
        "spec.ingress[0].toPorts[0].ports[0].port",
        "must be a string",
    ),
    # Over gRPC's default 4 MiB receive limit: received (the client reads up to 64 MiB), then
    # rejected by its rendered size, instead of failing every list and watch.
    "five-mib": (
        message("g-5mib", {**VALID_BODY, "description": "x" * (5 * 1024 * 1024)}),
        "policy",
        "the rendered file is",
    ),
    "json-too-large-to-render": (
        message("g-10mib", b'{"description": "' + b"y" * (10 * 1024 * 1024) + b'"}'),
        "policy",
        "bytes of JSON: its file would be over the limit",
    ),
}


@pytest.fixture(scope="module")
def served() -> Iterator[RunningServer]:
    servicer = ReferenceControlPlane()
    names = iter(f"p{n}" for n in range(100))
    entries = [{**spec, "name": spec["name"] and next(names)} for spec, _, _ in MESSAGES.values()]
    entries.append(entry("shop", "api", region=REGION))
    servicer.load(entries)
    running = start(servicer)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def listed(served: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    base = tmp_path_factory.mktemp("grpc-list")
    remote = base / "remote.git"
    git("init", "--quiet", "--bare", "-b", "main", str(remote), cwd=base)
    run = run_cli(
        "sync",
        "--control-plane",
        served.url,
        "--region",
        REGION,
        "--repo",
        remote.as_uri(),
        "--workdir",
        str(base / "work"),
    )
    return run, remote


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_each_bad_message_is_rejected_by_its_id_and_field(
    name: str, listed: tuple[Any, Path]
) -> None:
    """One line per problem, naming the id and the field; the rest of the list goes on."""
    run, _ = listed
    spec, field, reason = MESSAGES[name]
    prefix = f"rejected: {printable(spec['id'])}: {field}: "
    lines = [line for line in rejection_lines(run.stderr) if line.startswith(prefix)]
    assert lines, f"no {prefix!r} in:\n{run.stderr[-3000:]}"
    assert any(reason in line for line in lines), lines


def test_the_valid_policy_of_the_list_is_committed(listed: tuple[Any, Path]) -> None:
    """Exit 3, no traceback, memory bounded, the valid policy committed alone, nothing forged."""
    run, remote = listed
    assert_well_behaved(run, codes=(3,))
    files = git("ls-tree", "-r", "--name-only", "main", cwd=remote).split()
    assert [f for f in files if not f.endswith("kustomization.yaml")] == [
        f"{DEFAULT_PATH}/shop/api.yaml"
    ]
    assert all(line.startswith("rejected: ") for line in run.stderr.splitlines())


def test_a_message_over_the_receive_limit_fails_clearly_and_deletes_nothing(
    served: RunningServer, listed: tuple[Any, Path], tmp_path: Path
) -> None:
    """--max-message-bytes 1 MiB, a 5 MiB message: exit 1 naming the limit; main unchanged."""
    _, remote = listed
    before = git("rev-parse", "main", cwd=remote)
    run = run_cli(
        "sync",
        "--control-plane",
        served.url,
        "--region",
        REGION,
        "--repo",
        remote.as_uri(),
        "--workdir",
        str(tmp_path / "work"),
        "--max-message-bytes",
        str(1024 * 1024),
    )
    assert_well_behaved(run, codes=(1,))
    assert "RESOURCE_EXHAUSTED" in run.stderr
    assert git("rev-parse", "main", cwd=remote) == before


# -- the running service ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return str(response.read().decode())


def test_the_service_outlives_every_bad_event_and_commits_the_next_good_one(
    remote: Remote, tmp_path: Path
) -> None:
    """Bad events stream in after the first sync; the service logs each once, counts them in
    cilium_gitops_rejected_policies, stays up, and the valid event after them is committed."""
    servicer = ReferenceControlPlane()
    servicer.load([entry("shop", "api", region=REGION)])
    server = start(servicer)
    http = _free_port()
    process = subprocess.Popen(
        [
            str(CLI),
            "run",
            "--control-plane",
            server.url,
            "--region",
            REGION,
            "--repo",
            remote.url,
            "--workdir",
            str(tmp_path / "work"),
            "--batch-window",
            "0.2",
            "--http-address",
            f"127.0.0.1:{http}",
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ},
    )
    try:
        wait_for(
            lambda: git("for-each-ref", "refs/heads/main", cwd=remote.path) != "",
            timeout=30,
            what="the first sync",
        )
        bad = [spec for spec, _, _ in MESSAGES.values()]
        names = iter(f"w{n}" for n in range(100))
        bad = [{**spec, "name": spec["name"] and next(names)} for spec in bad]
        servicer.load([entry("shop", "api", region=REGION), *bad])
        servicer.load([entry("shop", "api", region=REGION), *bad, entry("shop", "db")])
        wait_for(
            lambda: f"{DEFAULT_PATH}/shop/db.yaml" in remote.files(),
            timeout=30,
            what="the valid event after the bad ones",
        )
        assert process.poll() is None, "the service stopped"
        # Counted once the pass that pushed is done (a moment after the push itself).
        wait_for(
            lambda: f"cilium_gitops_rejected_policies {float(len(bad))}" in _get(http, "/metrics"),
            timeout=10,
            what="the rejections counted",
        )
        status = json.loads(_get(http, "/status"))
        assert {r["policy"] for r in status["rejected"]} == {spec["id"] for spec in bad}
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
        server.stop()
    assert process.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr
    logged = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    rejected = [r["message"] for r in logged if r["message"].startswith("rejected: ")]
    # Once per problem, although two passes saw every one of them.
    assert len(rejected) == len(set(rejected)) == len(bad)
    assert not [line for line in stderr.splitlines() if line.startswith("rejected: forged")]

"""The gRPC control plane, over real gRPC on 127.0.0.1: the reference server and the client."""

from __future__ import annotations

import select
import shutil
import signal
import subprocess
import sys
import threading
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from admitting import read
from click.testing import CliRunner
from conftest import DEFAULT_PATH, ROOT, Remote, entry, git, wait_for, write_state

from reconciler.commands.cli import cli
from reconciler.controlplane.client import GrpcSource
from reconciler.controlplane.endpoint import Endpoint
from reconciler.controlplane.gen import cluster_pb2 as pb
from reconciler.controlplane.gen import cluster_pb2_grpc as pb_grpc
from reconciler.controlplane.server import ReferenceControlPlane, RunningServer, start
from reconciler.errors import ConfigError, SourceUnavailableError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

TOKEN = "s3cr3t-token-value"  # noqa: S105 - a test server's token
EU = [
    {**entry("shop", "cart", version=1), "region": "eu-west-1"},
    {**entry("shop", "catalog", version=1), "region": "eu-west-1"},
    {**entry("shop", "us-only", version=1), "region": "us-east-1"},
]


@pytest.fixture
def server() -> Iterator[RunningServer]:
    running = start(ReferenceControlPlane(token=TOKEN))
    running.servicer.load(EU)
    yield running
    running.stop()


def source(
    server: RunningServer, token: str | None = TOKEN, region: str = "eu-west-1"
) -> GrpcSource:
    return GrpcSource(Endpoint(f"127.0.0.1:{server.port}", tls=False, token=token), region=region)


def test_generated_stubs_are_current() -> None:
    """CI fails when the .proto changed and the committed stubs were not regenerated."""
    check = subprocess.run(
        [sys.executable, "-m", "reconciler.controlplane.codegen", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr


def test_list_gives_the_region_at_its_version(server: RunningServer) -> None:
    with source(server) as src:
        state = read(src)
    assert sorted(p.id for p in state.policies) == ["shop-cart", "shop-catalog"]
    assert state.version == 2  # the newest version among the listed policies
    assert state.rejections == ()


def test_wrong_token_is_a_configuration_error_not_a_retry(server: RunningServer) -> None:
    with source(server, token="wrong") as src, pytest.raises(ConfigError, match="UNAUTHENTICATED"):  # noqa: S106 - a wrong token on purpose
        read(src)


def test_unreachable_control_plane_is_retryable(server: RunningServer) -> None:
    port = server.port
    server.stop()
    src = GrpcSource(Endpoint(f"127.0.0.1:{port}", tls=False, token=TOKEN), region="eu-west-1")
    with src, pytest.raises(SourceUnavailableError, match="UNAVAILABLE"):
        read(src)


class CorruptingControlPlane(ReferenceControlPlane):
    """Sends one policy with a body that is not JSON, as a faulty control plane would."""

    def ListDesiredCiliumNetworkPolicies(  # noqa: N802 - the gRPC method name
        self, request: Any, context: Any
    ) -> Iterator[pb.CiliumNetworkPolicyState]:
        for state in super().ListDesiredCiliumNetworkPolicies(request, context):
            if state.apply.cilium_network_policy_id == "shop-broken":
                state.apply.policy = b"{not json"
            yield state


def test_incomplete_messages_are_rejected_by_field_and_the_rest_kept() -> None:
    running = start(CorruptingControlPlane())
    try:
        broken = {**entry("shop", "broken"), "id": "shop-broken"}
        running.servicer.load([*EU, {"id": "no-name", "namespace": "shop", "policy": {}}, broken])
        src = GrpcSource(Endpoint(f"127.0.0.1:{running.port}", tls=False), region="eu-west-1")
        with src:
            state = read(src)
    finally:
        running.stop()
    assert sorted(p.id for p in state.policies) == ["shop-cart", "shop-catalog"]
    problems = {(r.policy_id, r.field) for r in state.rejections}
    assert problems == {("no-name", "k8s_name"), ("shop-broken", "policy")}


def test_watch_streams_changes_after_the_cursor_including_deletes(server: RunningServer) -> None:
    server.servicer.load([EU[0], {**EU[2]}])  # catalog deleted: version 4
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = pb_grpc.ClusterServiceStub(channel)
        request = pb.WatchCiliumNetworkPoliciesRequest(region="eu-west-1", version_last_seen=1)
        stream = stub.WatchCiliumNetworkPolicies(
            request, metadata=(("authorization", f"Bearer {TOKEN}"),)
        )
        first = next(stream)
        second = next(stream)
        stream.cancel()
    # Version 3 is the us-east-1 policy: not sent to eu-west-1.
    assert (first.version, first.WhichOneof("state"), first.apply.k8s_name) == (
        2,
        "apply",
        "catalog",
    )
    assert (second.version, second.WhichOneof("state")) == (4, "delete")
    assert second.delete.cilium_network_policy_id == "shop-catalog"


def test_watch_from_a_forgotten_version_is_out_of_range() -> None:
    running = start(ReferenceControlPlane(history_limit=2))
    try:
        running.servicer.load(EU)
        running.servicer.load(EU[:1])
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = pb_grpc.ClusterServiceStub(channel)
            request = pb.WatchCiliumNetworkPoliciesRequest(region="eu-west-1", version_last_seen=0)
            with pytest.raises(grpc.RpcError) as caught:
                next(stub.WatchCiliumNetworkPolicies(request))
        assert caught.value.code() is grpc.StatusCode.OUT_OF_RANGE
    finally:
        running.stop()


def test_get_answers_not_found_for_a_removed_policy(server: RunningServer) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = pb_grpc.ClusterServiceStub(channel)
        auth = (("authorization", f"Bearer {TOKEN}"),)
        found = stub.GetDesiredCiliumNetworkPolicyState(
            pb.GetDesiredCiliumNetworkPolicyStateRequest(cilium_network_policy_id="shop-cart"),
            metadata=auth,
        )
        assert found.apply.k8s_name == "cart"
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetDesiredCiliumNetworkPolicyState(
                pb.GetDesiredCiliumNetworkPolicyStateRequest(cilium_network_policy_id="gone"),
                metadata=auth,
            )
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND


def test_cli_sync_from_a_grpc_control_plane(
    server: RunningServer, remote: Remote, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    args = [
        "sync",
        "--control-plane",
        server.url,
        "--region",
        "eu-west-1",
        "--token-file",
        str(token_file),
    ]
    args += ["--repo", remote.url, "--workdir", str(tmp_path / "work")]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "2 created, 0 updated, 0 deleted" in result.stdout
    assert sorted(remote.files(f"{DEFAULT_PATH}/shop")) == [
        f"{DEFAULT_PATH}/shop/cart.yaml",
        f"{DEFAULT_PATH}/shop/catalog.yaml",
        f"{DEFAULT_PATH}/shop/kustomization.yaml",
    ]
    # The trailer records the control-plane version the commit reflects.
    assert "Control-Plane-Version: 2" in git("log", "-1", "--format=%B", "main", cwd=remote.path)


def test_cli_wrong_token_exits_2_without_echoing_it(
    server: RunningServer, remote: Remote, tmp_path: Path
) -> None:
    args = ["sync", "--control-plane", server.url, "--region", "eu-west-1"]
    args += ["--repo", remote.url, "--workdir", str(tmp_path / "work")]
    result = CliRunner().invoke(
        cli, args, env={"CILIUM_GITOPS_TOKEN": "nope-not-it"}, catch_exceptions=False
    )
    assert result.exit_code == 2
    assert "UNAUTHENTICATED" in result.stderr
    assert "nope-not-it" not in result.output
    assert not (tmp_path / "work").exists()


def test_reference_server_process_streams_file_edits_and_stops_on_sigterm(
    remote: Remote, tmp_path: Path
) -> None:
    """``control-plane serve`` as a user runs it: serve, pick up an edit, stop cleanly."""
    state_file = write_state(tmp_path / "state.json", [entry("shop", "cart", port="80")])
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "control-plane", "serve", "--state", str(state_file)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready, _, _ = select.select([process.stderr], [], [], 20)
        assert ready, "the server did not report its address"
        assert process.stderr is not None
        line = process.stderr.readline()
        url = line.split()[2]
        assert url.startswith("grpc://127.0.0.1:"), line
        args = ["sync", "--control-plane", url, "--region", "eu-west-1", "--repo", remote.url]
        args += ["--workdir", str(tmp_path / "work")]
        first = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert first.exit_code == 0, first.output
        write_state(state_file, [entry("shop", "cart", port="8443"), entry("shop", "api")])
        src = GrpcSource(Endpoint(url.removeprefix("grpc://"), tls=False), region="eu-west-1")
        with src:
            wait_for(lambda: len(read(src).policies) == 2, timeout=20, what="the edit served")
        second = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert "1 created, 1 updated, 0 deleted" in second.stdout
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made here (no network, no fixtures on disk)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: cannot make a test certificate")
    key, cert = tmp_path / "server.key", tmp_path / "server.crt"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return key, cert


def test_grpcs_with_a_ca_bundle(
    certificate: tuple[Path, Path], remote: Remote, tmp_path: Path
) -> None:
    key, cert = certificate
    running = start(ReferenceControlPlane(), tls=(key.read_bytes(), cert.read_bytes()))
    try:
        running.servicer.load(EU)
        url = f"grpcs://127.0.0.1:{running.port}"
        args = ["sync", "--control-plane", url, "--region", "eu-west-1", "--ca-file", str(cert)]
        args += ["--repo", remote.url, "--workdir", str(tmp_path / "work")]
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "2 created" in result.stdout
        # Without the CA the certificate is not trusted: a runtime failure, nothing written.
        untrusted = ["sync", "--control-plane", url, "--region", "eu-west-1"]
        untrusted += ["--repo", remote.url, "--workdir", str(tmp_path / "other")]
        refused = CliRunner().invoke(cli, untrusted, catch_exceptions=False)
        assert refused.exit_code == 1
        assert "UNAVAILABLE" in refused.stderr
        # Plaintext to a TLS server fails too, and TLS files without grpcs:// are a usage error.
        plain = [*args[:2], url.replace("grpcs", "grpc"), *args[3:]]
        misused = CliRunner().invoke(cli, plain, catch_exceptions=False)
        assert misused.exit_code == 2
        assert "need a grpcs:// control plane" in misused.stderr
    finally:
        running.stop()


def test_a_control_plane_without_list_and_without_deletes_is_resynced_by_asking(
    remote: Remote, tmp_path: Path
) -> None:
    """Older control planes: List is UNIMPLEMENTED and removals only answer NOT_FOUND."""
    running = start(ReferenceControlPlane(legacy=True))
    try:
        running.servicer.load(EU)
        args = ["sync", "--control-plane", running.url, "--region", "eu-west-1"]
        args += ["--repo", remote.url, "--workdir", str(tmp_path / "work")]
        first = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert first.exit_code == 0, first.output
        assert "2 created" in first.stdout
        running.servicer.load([EU[0], EU[2]])  # catalog removed: no delete event is sent
        second = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert second.exit_code == 0, second.output
        assert "delete  shop/catalog.yaml  [shop-catalog] orphaned" in second.stdout
        assert f"{DEFAULT_PATH}/shop/catalog.yaml" not in remote.files(DEFAULT_PATH)
    finally:
        running.stop()


def test_a_large_load_is_published_in_consistent_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Watches are woken after each chunk of a load, not once at its end (a burst of 100,000
    starts streaming while the rest is encoded), and at every wake-up the listed set and the
    history agree: a list taken mid-load is a consistent version."""
    monkeypatch.setattr("reconciler.controlplane.server._PUBLISH_EVERY", 10)
    servicer = ReferenceControlPlane()
    servicer.load([entry("shop", "old")])
    seen: list[tuple[int, int]] = []  # (version, policies listed) at each wake-up

    class Spy(threading.Condition):
        def notify_all(self) -> None:
            seen.append((servicer.version, len(servicer._current)))
            super().notify_all()

    servicer._changed = Spy()
    version = servicer.load([entry("shop", f"p{k}") for k in range(35)])
    assert version == 1 + 1 + 35  # the first load, the delete of "old", 35 applies
    # The delete, then chunks of 10, 10, 10 and 5, each a version the set matches.
    assert seen == [(2, 0), (12, 10), (22, 20), (32, 30), (37, 35)]

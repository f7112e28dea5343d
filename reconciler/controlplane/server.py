"""The reference control plane: serves the ``ctrl.v1.ClusterService`` contract from a state file.

Sits outside the reconcile flow, on the other side of the wire: it is what the demo, the tests
and a user's local trial talk to over real gRPC. It keeps the current desired policies and a
history of changes, each with a new, increasing version; ``load`` diffs a new desired set against
the current one and appends apply and delete events. Watches stream the history after the
client's cursor and then wait for more; ``ListDesiredCiliumNetworkPolicies`` sends the current
set and ends.

Entries are passed through as the file has them (``policy`` becomes JSON bytes): validating
them is the client's job, exactly as with a real control plane.

Each change is encoded once, when it is recorded, and every watch sends those very bytes (the
watch method's handler passes them through unserialised): a watch does no protobuf work per
event, only grpcio's own per-message round trip, which is what limits how fast one stream goes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import grpc

from reconciler.controlplane.gen import cluster_pb2 as pb
from reconciler.desired.limits import Limits
from reconciler.desired.reading import load_document

if TYPE_CHECKING:
    from pathlib import Path

# How often a waiting watch wakes to notice a cancelled client or a stopping server (seconds).
_POLL = 0.25
# Changes a load publishes at a time (``ReferenceControlPlane.load``).
_PUBLISH_EVERY = 1000


@dataclass(frozen=True, slots=True)
class _Policy:
    entry: Mapping[str, Any]
    region: str | None
    version: int
    canonical: str


@dataclass(frozen=True, slots=True)
class _Change:
    version: int
    region: str | None
    encoded: bytes  # the CiliumNetworkPolicyState as sent


class ReferenceControlPlane:
    """The servicer: current state, history, and the three RPCs (served by ``start``)."""

    def __init__(
        self,
        *,
        token: str | None = None,
        history_limit: int | None = None,
        legacy: bool = False,
    ) -> None:
        """``history_limit``: keep only that many events; older cursors get OUT_OF_RANGE.

        ``legacy`` behaves like older control planes: no List extension (UNIMPLEMENTED) and no
        delete events; a removed policy only answers NOT_FOUND.
        """
        self._token = token
        self._history_limit = history_limit
        self._legacy = legacy
        self._changed = threading.Condition()
        self._loading = threading.Lock()
        self._current: dict[str, _Policy] = {}
        self._history: list[_Change] = []
        self._version = 0
        self._stopping = False

    # -- state ----------------------------------------------------------------------------

    @property
    def version(self) -> int:
        """The newest version handed out."""
        return self._version

    def load(self, entries: Sequence[Mapping[str, Any]]) -> int:
        """Make ``entries`` the desired set: one event per difference; returns the version."""
        wanted: dict[str, Mapping[str, Any]] = {}
        for entry in entries:
            if isinstance(entry, Mapping) and isinstance(entry.get("id"), str) and entry["id"]:
                wanted[entry["id"]] = entry
        with self._loading:  # one load at a time: only a load changes _current
            with self._changed:
                for policy_id in sorted(self._current.keys() - wanted.keys()):
                    gone = self._current.pop(policy_id)
                    if not self._legacy:
                        self._record(_delete(policy_id, gone.entry), gone.region)
                self._changed.notify_all()
            # Published a chunk at a time, as a control plane publishes while it works: watches
            # stream the first changes of 100,000 while the rest are encoded. After each chunk
            # the set and the history agree, so a list at any point is a consistent version.
            chunk: list[tuple[str, Mapping[str, Any], str]] = []
            for policy_id, entry in wanted.items():
                canonical = json.dumps(entry, sort_keys=True, default=str)
                known = self._current.get(policy_id)
                if known is None or known.canonical != canonical:
                    chunk.append((policy_id, entry, canonical))
                if len(chunk) >= _PUBLISH_EVERY:
                    self._publish(chunk)
                    chunk = []
            self._publish(chunk)
            return self._version

    def _publish(self, chunk: list[tuple[str, Mapping[str, Any], str]]) -> None:
        encoded = []
        for policy_id, entry, canonical in chunk:
            region = entry.get("region") if isinstance(entry.get("region"), str) else None
            encoded.append((policy_id, entry, canonical, region, _apply(policy_id, entry)))
        with self._changed:
            for policy_id, entry, canonical, region, state in encoded:
                self._record(state, region)
                self._current[policy_id] = _Policy(entry, region, self._version, canonical)
            self._changed.notify_all()

    def load_file(self, path: Path) -> int:
        """``load`` the ``policies:`` of a desired-state file (the file source's format)."""
        document = load_document(path, max_bytes=Limits().state_bytes)
        policies = document.get("policies") if isinstance(document, Mapping) else None
        return self.load(policies if isinstance(policies, list) else [])

    def stop(self) -> None:
        """Wake every watch so it ends; used on server shutdown."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()

    def resume(self) -> None:
        """Let watches run again after ``stop`` (a server restarted with the same state)."""
        with self._changed:
            self._stopping = False

    def _record(self, state: pb.CiliumNetworkPolicyState, region: str | None) -> None:
        self._version += 1
        state.version = self._version
        self._history.append(_Change(self._version, region, state.SerializeToString()))
        if self._history_limit is not None and len(self._history) > self._history_limit:
            del self._history[: len(self._history) - self._history_limit]

    # -- RPCs -----------------------------------------------------------------------------

    def WatchCiliumNetworkPolicies(  # noqa: N802 - the gRPC method name
        self, request: pb.WatchCiliumNetworkPoliciesRequest, context: grpc.ServicerContext
    ) -> Iterator[bytes]:
        """Stream every change after the cursor (encoded messages), then wait for more."""
        self._authorise(context)
        region = _region(request.region, context)
        cursor = request.version_last_seen
        with self._changed:
            oldest = self._history[0].version if self._history else self._version + 1
            if cursor + 1 < oldest and cursor < self._version:
                _abort(
                    context,
                    grpc.StatusCode.OUT_OF_RANGE,
                    f"version {cursor} is older than the history kept (oldest {oldest})",
                )
        while context.is_active():
            with self._changed:
                pending = [
                    c.encoded
                    for c in self._history
                    if c.version > cursor and c.region in {None, region}
                ]
                newest = self._version
                if not pending:
                    if self._stopping:
                        return
                    self._changed.wait(_POLL)
                    continue
            yield from pending
            cursor = max(newest, cursor)

    def GetDesiredCiliumNetworkPolicyState(  # noqa: N802 - the gRPC method name
        self,
        request: pb.GetDesiredCiliumNetworkPolicyStateRequest,
        context: grpc.ServicerContext,
    ) -> pb.CiliumNetworkPolicyState:
        """The current state of one policy, or NOT_FOUND."""
        self._authorise(context)
        with self._changed:
            known = self._current.get(request.cilium_network_policy_id)
        if known is None:
            _abort(context, grpc.StatusCode.NOT_FOUND, "no such policy")
        state = _apply(request.cilium_network_policy_id, known.entry)
        state.version = known.version
        return state

    def ListDesiredCiliumNetworkPolicies(  # noqa: N802 - the gRPC method name
        self, request: pb.ListDesiredCiliumNetworkPoliciesRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.CiliumNetworkPolicyState]:
        """Every current policy of the region, then the end of the stream."""
        self._authorise(context)
        if self._legacy:
            _abort(context, grpc.StatusCode.UNIMPLEMENTED, "method not implemented")
        region = _region(request.region, context)
        with self._changed:
            current = sorted(self._current.items(), key=lambda item: item[1].version)
        for policy_id, known in current:
            if known.region in {None, region}:
                state = _apply(policy_id, known.entry)
                state.version = known.version
                yield state

    def _authorise(self, context: grpc.ServicerContext) -> None:
        if self._token is None:
            return
        metadata = dict(context.invocation_metadata())
        if metadata.get("authorization") != f"Bearer {self._token}":
            _abort(context, grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")


def _abort(context: grpc.ServicerContext, code: grpc.StatusCode, details: str) -> NoReturn:
    context.abort(code, details)
    # ServicerContext.abort raises; this line only tells the type checker so.
    raise RuntimeError(details)  # pragma: no cover


def _region(region: str, context: grpc.ServicerContext) -> str:
    if not region:
        _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "region is required")
    return region


def _apply(policy_id: str, entry: Mapping[str, Any]) -> pb.CiliumNetworkPolicyState:
    # bytes go out as they are: how tests play a control plane that sends broken JSON.
    policy = entry.get("policy")
    body = (
        policy
        if isinstance(policy, bytes)
        else json.dumps(policy, sort_keys=True, default=str).encode()
    )
    return pb.CiliumNetworkPolicyState(
        apply=pb.ApplyCiliumNetworkPolicy(
            k8s_namespace=str(entry.get("namespace") or ""),
            k8s_name=str(entry.get("name") or ""),
            cilium_network_policy_id=policy_id,
            policy=body,
        )
    )


def _delete(policy_id: str, entry: Mapping[str, Any]) -> pb.CiliumNetworkPolicyState:
    return pb.CiliumNetworkPolicyState(
        delete=pb.DeleteCiliumNetworkPolicy(
            k8s_namespace=str(entry.get("namespace") or ""),
            k8s_name=str(entry.get("name") or ""),
            cilium_network_policy_id=policy_id,
        )
    )


_SERVICE = pb.DESCRIPTOR.services_by_name["ClusterService"].full_name


def _handlers(servicer: ReferenceControlPlane) -> dict[str, grpc.RpcMethodHandler]:
    """The generated stubs' handlers, but the watch's messages are sent as already encoded."""
    encode = pb.CiliumNetworkPolicyState.SerializeToString
    return {
        "WatchCiliumNetworkPolicies": grpc.unary_stream_rpc_method_handler(
            servicer.WatchCiliumNetworkPolicies,
            request_deserializer=pb.WatchCiliumNetworkPoliciesRequest.FromString,
            response_serializer=None,  # bytes go out as they are
        ),
        "GetDesiredCiliumNetworkPolicyState": grpc.unary_unary_rpc_method_handler(
            servicer.GetDesiredCiliumNetworkPolicyState,
            request_deserializer=pb.GetDesiredCiliumNetworkPolicyStateRequest.FromString,
            response_serializer=encode,
        ),
        "ListDesiredCiliumNetworkPolicies": grpc.unary_stream_rpc_method_handler(
            servicer.ListDesiredCiliumNetworkPolicies,
            request_deserializer=pb.ListDesiredCiliumNetworkPoliciesRequest.FromString,
            response_serializer=encode,
        ),
    }


@dataclass
class RunningServer:
    """A started server: its servicer, its port, and how to stop it."""

    servicer: ReferenceControlPlane
    server: grpc.Server
    port: int

    @property
    def url(self) -> str:
        """The ``--control-plane`` URL that reaches it."""
        return f"grpc://127.0.0.1:{self.port}"

    def stop(self, grace: float = 1.0) -> None:
        """End every stream and stop listening."""
        self.servicer.stop()
        self.server.stop(grace).wait()


def start(
    servicer: ReferenceControlPlane,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    tls: tuple[bytes, bytes] | None = None,
) -> RunningServer:
    """Serve ``servicer`` in background threads on ``host:port`` (0: a free port).

    ``tls`` is a PEM (private key, certificate chain) pair: the server then speaks TLS only.
    """
    servicer.resume()
    # Clients' keepalive pings are welcome as often as every second (a test's watch checks a
    # silent stream that fast); grpc-core's default would answer them with GOAWAY.
    options = [
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 1000),
        ("grpc.http2.max_ping_strikes", 0),
    ]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), options=options)
    handlers = _handlers(servicer)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(_SERVICE, handlers),))
    server.add_registered_method_handlers(_SERVICE, handlers)
    address = f"{host}:{port}"
    if tls is None:
        bound = server.add_insecure_port(address)
    else:
        bound = server.add_secure_port(address, grpc.ssl_server_credentials([tls]))
    server.start()
    return RunningServer(servicer, server, bound)

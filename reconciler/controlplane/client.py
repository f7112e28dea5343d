"""The gRPC edge: the only module that talks to a control plane over the wire.

Sits where ``desired.state.FileSource`` sits for files: ``GrpcSource.desired(admit)`` returns a
``DesiredState`` for a resync, read with the ``ListDesiredCiliumNetworkPolicies`` extension. Every
wire message becomes a raw entry for ``desired.policy.parse_policy`` (unless ``admit`` knows its
exact bytes already), then a record; a message missing one of its required fields is rejected
with the field and the id, and the others go on. Every gRPC failure is
translated into this package's errors, by what the loop should do: a wrong token or region is a
``ConfigError`` (a person must act: no retry storm), an unreachable server a
``SourceUnavailableError`` (back off and retry).
"""

from __future__ import annotations

import queue
import threading
import time
from functools import partial
from typing import TYPE_CHECKING, Any

import grpc
import grpc.experimental

from reconciler.closing import Closing
from reconciler.controlplane.endpoint import Deadlines
from reconciler.controlplane.gen import cluster_pb2 as pb
from reconciler.controlplane.gen import cluster_pb2_grpc as pb_grpc
from reconciler.desired.events import Applied, Deleted, DesiredSet, Event, Received, coalesce
from reconciler.desired.limits import InputLimitError, Limits
from reconciler.desired.names import CLUSTER_FOLDER
from reconciler.desired.policy import DesiredPolicy, PolicyKind, parse_policy
from reconciler.desired.reading import parse_json
from reconciler.desired.record import Rejection, many_policies
from reconciler.desired.state import DesiredState, Intake
from reconciler.errors import ConfigError, CursorExpiredError, SourceUnavailableError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Self

    from reconciler.controlplane.endpoint import Endpoint
    from reconciler.desired.record import Admit

_STALLING = frozenset(
    {
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.INVALID_ARGUMENT,
    }
)
# JSON escapes can make a policy's JSON longer than its YAML file (six bytes for "\u00e9"), but
# not more than this many times longer.
_JSON_PER_RENDERED_BYTE = 6
# Without the List extension, the replayed history counts as complete once the watch has been
# quiet this long (seconds); the server sends its history at once, then waits.
_QUIET = 0.5
# Server streams are read on the calling thread instead of through grpcio's polling thread: it
# doubles the rate at which watch events are taken off the wire (measured in bench/stream.py).
_CHANNEL_OPTIONS = ((grpc.experimental.ChannelOptions.SingleThreadedUnaryStream, 1),)


class GrpcSource(Closing):
    """Desired state from a control plane speaking ``ctrl.v1.ClusterService``."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        region: str | None,
        limits: Limits | None = None,
        deadlines: Deadlines | None = None,
    ) -> None:
        """Open a channel (lazily connected); ``region`` is required by the contract."""
        if not region:
            msg = "a grpc:// control plane needs --region"
            raise ConfigError(msg)
        self.endpoint = endpoint
        self.region = region
        self.limits = limits or Limits()
        self.deadlines = deadlines or Deadlines()
        keepalive_ms = int(self.deadlines.keepalive * 1000)
        options = (
            *_CHANNEL_OPTIONS,
            # Far above one policy's limit: an oversized policy is read, then rejected by its
            # id; the 4 MiB default would fail the whole list or watch instead.
            ("grpc.max_receive_message_length", self.limits.message_bytes),
            # A watch waits for events as long as there are none; pings tell an idle stream
            # from a dead one (a peer gone without a FIN, a proxy that stopped forwarding).
            ("grpc.keepalive_time_ms", keepalive_ms),
            ("grpc.keepalive_timeout_ms", min(20_000, keepalive_ms)),
            # The ping in flight may be a bandwidth probe rather than keepalive's (which is
            # then skipped); its own timeout (60 s by default) must be as short.
            ("grpc.http2.ping_timeout_ms", min(20_000, keepalive_ms)),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0),
        )
        if endpoint.tls:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=endpoint.ca,
                private_key=endpoint.client_key,
                certificate_chain=endpoint.client_cert,
            )
            channel = grpc.secure_channel(endpoint.target, credentials, options=options)
        else:
            channel = grpc.insecure_channel(endpoint.target, options=options)
        self._channel = channel
        self._closed = False
        self._stub = pb_grpc.ClusterServiceStub(channel)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        """Close the channel and its connections; a watch in progress then ends quietly."""
        self._closed = True
        self._channel.close()

    @property
    def _metadata(self) -> tuple[tuple[str, str], ...]:
        token = self.endpoint.token
        return (("authorization", f"Bearer {token}"),) if token else ()

    def desired(self, admit: Admit) -> DesiredState:
        """The complete desired set of the region, at the newest version listed."""
        request = pb.ListDesiredCiliumNetworkPoliciesRequest(region=self.region)
        intake = Intake(admit, region=None, limits=self.limits, where="control plane")
        highest = count = 0
        stream = self._stub.ListDesiredCiliumNetworkPolicies(request, metadata=self._metadata)
        # A list of 100,000 policies takes seconds, one that stopped moving is cut: the deadline
        # is on progress, not on the whole call.
        idle = _Watchdog(stream.cancel, self.deadlines.call)
        try:
            # Each message is validated as it arrives, so the wire form of 100,000 policies is
            # never held at once.
            with idle, many_policies():
                for state in stream:
                    idle.poke()
                    count += 1
                    if count > self.limits.policies:
                        stream.cancel()
                        msg = (
                            f"control plane: listing desired policies: more than "
                            f"{self.limits.policies:,} (--max-policies); nothing was changed"
                        )
                        raise InputLimitError(msg)
                    highest = max(highest, state.version)
                    key = message_key(state, admit)
                    known = admit.known(key, state.version, *_names(state))
                    if known is not None:
                        intake.add(known)
                    else:
                        intake.policy(policy_from_state(state, limits=self.limits), key)
        except grpc.RpcError as exc:
            if (
                not count
                and isinstance(exc, grpc.Call)
                and exc.code() is grpc.StatusCode.UNIMPLEMENTED
            ):
                return self._desired_without_list(admit)
            if idle.fired:
                msg = (
                    f"control plane: listing desired policies: nothing arrived for "
                    f"{self.deadlines.call:g} s (--control-plane-timeout); cut, to be tried again"
                )
                raise SourceUnavailableError(msg) from None
            raise _translate(exc, "listing desired policies") from None
        return intake.state(highest)

    def _desired_without_list(self, admit: Admit) -> DesiredState:
        """For control planes without the List extension: replay the watch, then ask each.

        The watch from version 0 replays the history (until it goes quiet); then every policy
        it mentioned is asked for with ``GetDesiredCiliumNetworkPolicyState``, because some
        control planes never send deletes and only answer NOT_FOUND for a removed policy.
        """
        replayed = DesiredSet(DesiredState((), (), 0))
        for event in coalesce(list(self._replay()), admit):
            replayed.apply(event)
        history = replayed.state()
        ids = [p.id for p in history.policies] + sorted(history.rejected_ids)
        intake = Intake(admit, region=None, limits=self.limits, where="control plane")
        for policy_id in ids:
            request = pb.GetDesiredCiliumNetworkPolicyStateRequest(
                cilium_network_policy_id=policy_id
            )
            try:
                state = self._stub.GetDesiredCiliumNetworkPolicyState(
                    request, metadata=self._metadata, timeout=self.deadlines.call
                )
            except grpc.RpcError as exc:
                if isinstance(exc, grpc.Call) and exc.code() is grpc.StatusCode.NOT_FOUND:
                    continue  # removed: its file goes
                raise _translate(exc, f"getting policy {policy_id}") from None
            key = message_key(state, admit)
            intake.policy(policy_from_state(state, limits=self.limits), key)
        return intake.state(history.version)

    def _replay(self) -> Iterator[Event]:
        """The watch from version 0, until no event has come for ``_QUIET`` seconds."""
        request = pb.WatchCiliumNetworkPoliciesRequest(region=self.region, version_last_seen=0)
        call = self._stub.WatchCiliumNetworkPolicies(request, metadata=self._metadata)
        arrived: queue.Queue[pb.CiliumNetworkPolicyState | Exception | None] = queue.Queue()

        def pump() -> None:
            try:
                for state in call:
                    arrived.put(state)
            except grpc.RpcError as exc:
                arrived.put(exc)
            arrived.put(None)

        thread = threading.Thread(target=pump, name="cilium-gitops-replay", daemon=True)
        thread.start()
        try:
            while True:
                try:
                    item = arrived.get(timeout=_QUIET)
                except queue.Empty:
                    return  # caught up: the history has been replayed
                if item is None:
                    return
                if isinstance(item, grpc.RpcError):
                    raise _translate(item, "replaying the watch") from None
                if isinstance(item, Exception):  # pragma: no cover - only RpcError is put
                    raise item
                yield event_from_state(item, limits=self.limits)
        finally:
            call.cancel()
            thread.join(timeout=10)

    def watch(self, cursor: int) -> Iterator[Event]:
        """Every change after ``cursor``, as it happens; ends only on an error or ``close``."""
        request = pb.WatchCiliumNetworkPoliciesRequest(region=self.region, version_last_seen=cursor)
        try:
            for state in self._stub.WatchCiliumNetworkPolicies(request, metadata=self._metadata):
                yield event_from_state(state, limits=self.limits)
        except grpc.RpcError as exc:
            if (
                self._closed
                and isinstance(exc, grpc.Call)
                and exc.code() is grpc.StatusCode.CANCELLED
            ):
                return
            raise _translate(exc, f"watching from version {cursor}") from None


def event_from_state(state: pb.CiliumNetworkPolicyState, *, limits: Limits | None = None) -> Event:
    """A wire message as a ``Received`` (validated later, see ``events``) or ``Deleted`` event."""
    if state.WhichOneof("state") == "delete":
        gone = state.delete
        return Deleted(
            state.version, gone.cilium_network_policy_id, gone.k8s_namespace, gone.k8s_name
        )
    policy_id = state.apply.cilium_network_policy_id or f"version {state.version}"
    return Received(state.version, policy_id, partial(_applied, state, policy_id, limits))


def _applied(
    state: pb.CiliumNetworkPolicyState, policy_id: str, limits: Limits | None, admit: Admit
) -> Applied:
    parsed = policy_from_state(state, limits=limits)
    if isinstance(parsed, DesiredPolicy):
        admitted = admit(parsed, message_key(state, admit))
        if isinstance(admitted, Rejection):
            return Applied(state.version, policy_id, None, (admitted,))
        return Applied(state.version, policy_id, admitted)
    return Applied(state.version, policy_id, None, tuple(parsed))


def _names(state: pb.CiliumNetworkPolicyState) -> tuple[str, str]:
    """The id and the file path an apply message names, read without validating it."""
    apply = state.apply
    folder = apply.k8s_namespace or CLUSTER_FOLDER
    return apply.cilium_network_policy_id, f"{folder}/{apply.k8s_name}.yaml"


def message_key(state: pb.CiliumNetworkPolicyState, admit: Admit) -> str:
    """The input key of an apply message: what its policy is rendered from.

    The version is part of it: a held record is reused only at the version it was made at,
    so its file's version annotation is the one the control plane lists.
    """
    apply = state.apply
    return admit.key(
        b"grpc",
        apply.cilium_network_policy_id.encode(),
        apply.k8s_namespace.encode(),
        apply.k8s_name.encode(),
        str(state.version).encode(),
        apply.policy,
    )


def policy_from_state(
    state: pb.CiliumNetworkPolicyState, *, limits: Limits | None = None
) -> DesiredPolicy | list[Rejection]:
    """An apply message as a validated policy, or the rejections that name what is wrong.

    Never raises: whatever a message holds, it becomes a policy or its rejections, so one bad
    message cannot stop a list, a watch or the worker that validates its events.
    """
    policy_id = state.apply.cilium_network_policy_id or f"version {state.version}"
    try:
        return _policy_from_state(state, policy_id, limits or Limits())
    except Exception as exc:  # noqa: BLE001 - the trust boundary, as in desired.policy
        return [Rejection(policy_id, "policy", f"cannot be read ({type(exc).__name__})")]


def _policy_from_state(
    state: pb.CiliumNetworkPolicyState, policy_id: str, limits: Limits
) -> DesiredPolicy | list[Rejection]:
    apply = state.apply
    missing = [
        field
        for field, value in (
            ("cilium_network_policy_id", apply.cilium_network_policy_id),
            ("k8s_name", apply.k8s_name),
            ("policy", apply.policy),
        )
        if not value
    ]
    if missing:
        return [Rejection(policy_id, field, "required field is missing") for field in missing]
    # A policy whose JSON is this large cannot render under the limit: refused unparsed.
    if len(apply.policy) > _JSON_PER_RENDERED_BYTE * limits.policy_bytes:
        size = len(apply.policy)
        why = f"{size:,} bytes of JSON: its file would be over the limit of {limits.policy_bytes:,}"
        return [Rejection(policy_id, "policy", why)]
    try:
        body: Any = parse_json(apply.policy, where="policy")
    except ConfigError as exc:
        return [Rejection(policy_id, "policy", str(exc).removeprefix("policy: "))]
    entry: dict[str, Any] = {
        "id": apply.cilium_network_policy_id,
        "name": apply.k8s_name,
        "version": state.version,
        "policy": body,
    }
    if apply.k8s_namespace:
        entry["namespace"] = apply.k8s_namespace
    elif not (isinstance(body, dict) and body.get("kind") == PolicyKind.CLUSTERWIDE.value):
        # Only a clusterwide policy may come without a namespace.
        return [Rejection(policy_id, "k8s_namespace", "required field is missing")]
    return parse_policy(entry, position=policy_id)


class _Watchdog:
    """Calls ``cancel`` once ``poke`` has not been called for ``seconds``; ``fired`` says so."""

    def __init__(self, cancel: Callable[[], object], seconds: float) -> None:
        self._cancel = cancel
        self._seconds = seconds
        self._last = time.monotonic()
        self._done = threading.Event()
        self.fired = False
        self._thread = threading.Thread(target=self._watch, name="cilium-gitops-deadline")

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join(timeout=5)

    def poke(self) -> None:
        self._last = time.monotonic()

    def _watch(self) -> None:
        while not self._done.wait(max(0.05, self._last + self._seconds - time.monotonic())):
            if time.monotonic() - self._last >= self._seconds:
                self.fired = True
                self._cancel()
                return


def _translate(exc: grpc.RpcError, doing: str) -> Exception:
    code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
    details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
    message = f"control plane: {doing}: {code.name}: {details}"
    if code in _STALLING:
        return ConfigError(message)
    if code is grpc.StatusCode.OUT_OF_RANGE:
        return CursorExpiredError(message)
    return SourceUnavailableError(message)

"""The desired set a service holds: patched by watch events, equal to a fresh list."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import pytest
from admitting import admission, read, record
from conftest import entry, wait_for
from hypothesis import example, given, settings
from hypothesis import strategies as st

from reconciler.controlplane.client import GrpcSource
from reconciler.controlplane.endpoint import Endpoint
from reconciler.controlplane.server import ReferenceControlPlane, start
from reconciler.desired.events import (
    Applied,
    Deleted,
    DesiredSet,
    Event,
    Received,
    coalesce,
    validate_ahead,
)
from reconciler.desired.record import Admit, Record, Rejection
from reconciler.desired.state import DesiredState
from reconciler.errors import CursorExpiredError

if TYPE_CHECKING:
    from reconciler.controlplane.server import RunningServer


def policy(namespace: str, name: str, **kwargs: object) -> Record:
    return record(entry(namespace, name, **kwargs))  # type: ignore[arg-type]


CART = policy("shop", "cart")
API = policy("shop", "api")


def test_events_patch_the_set_and_old_or_duplicate_events_change_nothing() -> None:
    held = DesiredSet(DesiredState((CART,), (), 5))
    assert not held.apply(Applied(5, API.id, API))  # not newer than what we hold
    assert held.apply(Applied(6, API.id, API))
    assert not held.apply(Applied(7, API.id, API))  # the same content again
    assert held.version == 7
    assert {p.id for p in held.state().policies} == {CART.id, API.id}
    # Unchanged policies stay the same objects, so the next pass plans only the delta.
    assert next(p for p in held.state().policies if p.id == CART.id) is CART


def test_delete_by_id_by_name_and_of_unknown_is_idempotent() -> None:
    held = DesiredSet(DesiredState((CART, API), (), 1))
    assert held.apply(Deleted(2, CART.id, "shop", "cart"))
    # An old control plane sends namespace and name only.
    assert held.apply(Deleted(3, "", "shop", "api"))
    assert not held.apply(Deleted(4, "nope", "shop", "nope"))
    assert held.state() == DesiredState((), (), 4)


def test_an_invalid_update_holds_the_policy_and_a_valid_one_releases_it() -> None:
    held = DesiredSet(DesiredState((CART,), (), 1))
    problem = Rejection(CART.id, "spec.ingress[0].toPort", "unknown field")
    assert held.apply(Applied(2, CART.id, None, (problem,)))
    state = held.state()
    assert state.policies == ()
    assert state.rejected_ids == {CART.id}  # its file is kept as it is
    assert held.apply(Applied(3, CART.id, CART))
    assert held.state() == DesiredState((CART,), (), 3)


def received(event: Applied, calls: list[int]) -> Received:
    """``event`` as it comes off the wire; ``calls`` records each validation."""

    def validate(admit: Admit) -> Applied:
        del admit  # already admitted
        calls.append(event.version)
        return event

    return Received(event.version, event.policy_id, validate)


def test_a_batch_validates_only_the_last_event_of_each_policy() -> None:
    calls: list[int] = []
    api_8081 = policy("shop", "api", port="8081", version=3)
    batch: list[Event] = [
        received(Applied(2, API.id, API), calls),
        received(Applied(3, CART.id, CART), calls),
        received(Applied(4, API.id, api_8081), calls),
        Deleted(5, "", "shop", "cart"),  # no id: found by name, so kept where it is
    ]
    taken = coalesce(batch, admission())
    assert calls == [3, 4]  # the superseded version 2 was never validated
    assert [e.version for e in taken] == [3, 4, 5]
    held = DesiredSet(DesiredState((CART,), (), 1))
    for event in taken:
        held.apply(event)
    assert held.version == 5
    assert held.state().policies == (api_8081,)


# A few ids that share names, so that deletes by name and renames meet in one batch.
_VARIANTS = [
    policy("shop", name, policy_id=pid, port=port)
    for pid in ("a", "b")
    for name in ("cart", "api")
    for port in ("80", "81")
]
_operation = st.one_of(
    st.tuples(st.just("apply"), st.sampled_from(_VARIANTS)),
    st.tuples(st.just("reject"), st.sampled_from(["a", "b"])),
    st.tuples(st.just("delete"), st.sampled_from(["a", "b", "c"])),
    st.tuples(st.just("delete-by-name"), st.sampled_from(["cart", "api"])),
)


def _event(version: int, operation: tuple[str, object]) -> Applied | Deleted:
    kind, what = operation
    if kind == "apply":
        assert isinstance(what, Record)
        return Applied(version, what.id, what)
    assert isinstance(what, str)
    if kind == "reject":
        return Applied(version, what, None, (Rejection(what, "spec", "bad"),))
    if kind == "delete":
        return Deleted(version, what, "shop", "cart")
    return Deleted(version, "", "shop", what)


@settings(max_examples=300, deadline=None)
@given(
    start=st.lists(st.sampled_from(_VARIANTS), max_size=3, unique_by=lambda p: p.id),
    operations=st.lists(_operation, max_size=12),
    ahead=st.integers(min_value=0, max_value=12),
)
# Two ids under one name, then a delete by that name: it must see both before a is renamed.
@example(
    start=[],
    operations=[
        ("apply", _VARIANTS[0]),
        ("apply", _VARIANTS[4]),
        ("delete-by-name", "cart"),
        ("apply", _VARIANTS[2]),
    ],
    ahead=0,
)
def test_coalescing_a_batch_ends_where_applying_every_event_does(
    start: list[Record], operations: list[tuple[str, object]], ahead: int
) -> None:
    """Also when the first ``ahead`` events were validated while the batch's window ran."""
    events = [_event(version, op) for version, op in enumerate(operations, start=2)]
    one_by_one = DesiredSet(DesiredState(tuple(start), (), 1))
    for event in events:
        one_by_one.apply(event)
    coalesced = DesiredSet(DesiredState(tuple(start), (), 1))
    batch: list[Event] = [received(e, []) if isinstance(e, Applied) else e for e in events]
    assert validate_ahead(batch, 0, ahead, admission()) == min(ahead, len(batch))
    for event in coalesce(batch, admission()):
        coalesced.apply(event)
    mine, theirs = coalesced.state(), one_by_one.state()
    # The order of what is held is not part of the state: plans and reports sort it.
    assert sorted(mine.policies, key=lambda p: p.id) == sorted(theirs.policies, key=lambda p: p.id)
    assert set(mine.rejections) == set(theirs.rejections)
    assert mine.version == theirs.version


@pytest.fixture
def server() -> RunningServer:
    running = start(ReferenceControlPlane())
    running.servicer.load([entry("shop", "cart"), entry("shop", "api")])
    yield running  # type: ignore[misc]
    running.stop()


def test_watch_then_events_equal_a_fresh_list(server: RunningServer) -> None:
    """Resync, then follow the stream: the held set ends where a new resync would."""
    src = GrpcSource(Endpoint(f"127.0.0.1:{server.port}", tls=False), region="eu-west-1")
    with src:
        held = DesiredSet(read(src))
        received: list[Event] = []

        def follow() -> None:
            for event in src.watch(held.version):
                received.append(event)  # noqa: PERF402 - appends as events arrive

        thread = threading.Thread(target=follow, daemon=True)
        thread.start()
        server.servicer.load([entry("shop", "cart", port="9090"), entry("shop", "db")])
        wait_for(lambda: len(received) >= 3, timeout=10, what="three events")
        for event in coalesce(received, admission()):
            held.apply(event)
        fresh = read(src)
        kinds = sorted(type(e).__name__ for e in received)
    server.stop()
    thread.join(timeout=10)
    assert kinds == ["Deleted", "Received", "Received"]
    assert sorted(held.state().policies, key=lambda p: p.id) == sorted(
        fresh.policies, key=lambda p: p.id
    )
    assert held.version == server.servicer.version


def test_watch_from_a_forgotten_cursor_asks_for_a_resync() -> None:
    running = start(ReferenceControlPlane(history_limit=1))
    running.servicer.load([entry("shop", "cart"), entry("shop", "api")])
    src = GrpcSource(Endpoint(f"127.0.0.1:{running.port}", tls=False), region="eu-west-1")
    try:
        with src, pytest.raises(CursorExpiredError, match="OUT_OF_RANGE"):
            next(iter(src.watch(0)))
    finally:
        running.stop()

"""``run`` under faults: it never exits after start-up, says why it is stalled, and recovers.

A declined push, the deletion guard and a refused control-plane token each stall the service:
``/status`` says so with the reason and since when, ``cilium_gitops_stalled{reason}`` is 1,
``/readyz`` fails, the log says it once, and once a person fixes the cause the next retry
recovers without a restart. A remote outage ends in one commit; two replicas racing on one
remote stay up and end on the rendering of the final state. Issue 20.
"""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING, Any

from conftest import DEFAULT_PATH, Remote, entry, git, wait_for
from fault_support import (
    REGION,
    Daemon,
    Service,
    assert_history_sound,
    rendered,
    tree_at,
)

from reconciler.controlplane.server import ReferenceControlPlane, start
from reconciler.gitops import init_bare

if TYPE_CHECKING:
    from pathlib import Path


RIGHT, ROTATED = "tok-right", "tok-rotated"  # test tokens, not secrets


def policies(*names: str, port: str = "8080") -> list[dict[str, Any]]:
    return [entry("shop", name, region=REGION, port=port) for name in names]


def hook(remote: Path, script: str) -> Path:
    path = remote / "hooks" / "pre-receive"
    path.write_text("#!/bin/sh\n" + script, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_a_declined_push_stalls_the_service_and_fixing_it_recovers(
    remote: Remote, tmp_path: Path
) -> None:
    """Stalled (push-refused) with the hook's words; alive, not ready; recovered unrestarted."""
    servicer = ReferenceControlPlane()
    servicer.load(policies("api"))
    server = start(servicer)
    declining = hook(
        remote.path, "echo x >> \"$GIT_DIR/attempts\"\necho 'frozen for the release' >&2\nexit 1\n"
    )
    attempts = remote.path / "attempts"
    service = Service(
        server.url,
        remote.url,
        tmp_path / "work",
        tmp_path / "log",
        extra=["--stalled-retry-interval", "1"],
    ).start()
    try:
        service.wait_serving()
        wait_for(lambda: service.status().get("stalled") is not None, timeout=30, what="stall")
        stalled = service.status()["stalled"]
        assert stalled["reason"] == "push-refused"
        assert "frozen for the release" in stalled["message"]
        assert stalled["since"].endswith("Z")
        assert service.get("/readyz")[0] == 503
        assert service.metric('cilium_gitops_stalled{reason="push-refused"}') == 1.0
        assert service.metric('cilium_gitops_stalled{reason="deletion-guard"}') == 0.0
        # Retries come every second; the condition is logged once all the same.
        wait_for(
            lambda: attempts.exists() and len(attempts.read_text().splitlines()) >= 3,
            timeout=30,
            what="three retries",
        )
        assert service.alive()
        declining.unlink()
        wait_for(lambda: service.status().get("stalled") is None, timeout=30, what="recovery")
        assert service.get("/readyz")[0] == 200
        assert f"{DEFAULT_PATH}/shop/api.yaml" in remote.files()
        assert service.metric('cilium_gitops_stalled{reason="push-refused"}') == 0.0
    finally:
        code = service.stop()
        server.stop()
    assert code == 0
    stalls = [r for r in service.logged() if "stalled (push-refused)" in r["message"]]
    assert len(stalls) == 1
    assert any("recovered from push-refused" in r["message"] for r in service.logged())


def test_the_deletion_guard_stalls_until_the_control_plane_is_right(
    remote: Remote, tmp_path: Path
) -> None:
    """The control plane empties by mistake: nothing deleted, stalled (deletion-guard); it
    answers right again: recovered on the next retry, no restart."""
    servicer = ReferenceControlPlane()
    servicer.load(policies("api", "db", "cart"))
    server = start(servicer)
    service = Service(
        server.url,
        remote.url,
        tmp_path / "work",
        tmp_path / "log",
        extra=["--stalled-retry-interval", "1", "--resync-interval", "1"],
    ).start()
    try:
        service.wait_serving()
        wait_for(lambda: service.get("/readyz")[0] == 200, timeout=30, what="the first sync")
        before = remote.commits()
        servicer.load([])
        wait_for(
            lambda: (service.status().get("stalled") or {}).get("reason") == "deletion-guard",
            timeout=30,
            what="the guard",
        )
        assert remote.commits() == before
        assert service.metric("cilium_gitops_deletion_guard_tripped") == 1.0
        servicer.load(policies("api", "db", "cart", "web"))
        wait_for(lambda: service.status().get("stalled") is None, timeout=30, what="recovery")
        wait_for(lambda: f"{DEFAULT_PATH}/shop/web.yaml" in remote.files(), timeout=30, what="web")
        assert service.alive()
    finally:
        assert service.stop() == 0
        server.stop()


def test_a_refused_token_after_start_up_stalls_instead_of_exiting(
    remote: Remote, tmp_path: Path
) -> None:
    """The control plane starts refusing the token (rotated wrong): stalled (configuration),
    still serving; the token accepted again: recovered."""
    servicer = ReferenceControlPlane(token=RIGHT)
    servicer.load(policies("api"))
    server = start(servicer)
    service = Service(
        server.url,
        remote.url,
        tmp_path / "work",
        tmp_path / "log",
        extra=["--stalled-retry-interval", "1", "--resync-interval", "1"],
        env={"CILIUM_GITOPS_TOKEN": RIGHT},
    ).start()
    try:
        wait_for(lambda: service.get("/readyz")[0] == 200, timeout=30, what="the first sync")
        servicer._token = ROTATED  # the control plane now wants another token
        wait_for(
            lambda: (service.status().get("stalled") or {}).get("reason") == "configuration",
            timeout=30,
            what="the stall",
        )
        assert service.alive()
        assert "UNAUTHENTICATED" in service.status()["stalled"]["message"]
        servicer._token = RIGHT
        wait_for(lambda: service.status().get("stalled") is None, timeout=30, what="recovery")
        assert service.alive()
    finally:
        assert service.stop() == 0
        server.stop()


def test_events_during_a_remote_outage_land_as_one_commit(tmp_path: Path) -> None:
    """The remote goes down, 20 events arrive over several batches, it comes back: one commit
    holds them all (the pass after the outage starts from the remote's head again)."""
    served = tmp_path / "served"
    served.mkdir()
    bare = served / "fleet.git"
    init_bare(bare, "main")
    daemon = Daemon(served)
    daemon.up()
    servicer = ReferenceControlPlane()
    servicer.load(policies("api"))
    server = start(servicer)
    service = Service(
        server.url, f"{daemon.url}/fleet.git", tmp_path / "work", tmp_path / "log"
    ).start()
    try:
        wait_for(lambda: service.get("/readyz")[0] == 200, timeout=30, what="the first sync")
        before = git("rev-list", "--count", "main", cwd=bare).strip()
        daemon.down()
        for n in range(20):
            servicer.load(policies("api", *(f"p{k}" for k in range(n + 1))))
            wait_for(
                lambda n=n: (service.metric("cilium_gitops_events_received_total") or 0) >= n + 1,
                timeout=30,
                what=f"event {n + 1}",
            )
        daemon.up()
        final = policies("api", *(f"p{k}" for k in range(20)))
        wait_for(
            lambda: tree_at(bare) == rendered(final, tmp_path / "want"),
            timeout=60,
            what="the tree after the outage",
        )
        assert int(git("rev-list", "--count", "main", cwd=bare)) == int(before) + 1
        assert service.alive()
    finally:
        assert service.stop() == 0
        server.stop()
        daemon.down()
    assert_history_sound(bare)


# Every push is held a moment on the server, so two replicas' pushes overlap and race.
SLOW_RECEIVE = "sleep 0.3\nexit 0\n"


def test_two_replicas_racing_stay_up_and_end_on_the_final_state(tmp_path: Path) -> None:
    """A burst of events to two replicas on one remote, every push slowed to force races:
    both stay up, the tree is the rendering of the final state, history is sound."""
    remote = tmp_path / "remote.git"
    init_bare(remote, "main")
    hook(remote, SLOW_RECEIVE)
    servicer = ReferenceControlPlane()
    servicer.load(policies("api"))
    server = start(servicer)
    replicas = [
        Service(server.url, remote.as_uri(), tmp_path / f"work-{n}", tmp_path / f"log-{n}").start()
        for n in (1, 2)
    ]
    try:
        for replica in replicas:
            wait_for(lambda r=replica: r.get("/readyz")[0] == 200, timeout=30, what="readiness")
        final: list[dict[str, Any]] = []
        for step in range(12):
            final = policies("api", *(f"p{k}" for k in range(step + 1)), port=str(9000 + step))
            servicer.load(final)
            if step % 4 == 3:  # bursts of four, then the replicas catch up
                wait_for(
                    lambda f=final: tree_at(remote) == rendered(f, tmp_path / "want"),
                    timeout=60,
                    what="the replicas to converge",
                )
        wait_for(
            lambda: tree_at(remote) == rendered(final, tmp_path / "want"),
            timeout=60,
            what="the final state",
        )
        assert all(replica.alive() for replica in replicas)
        races = sum(
            replica.metric("cilium_gitops_push_retries_total") or 0.0 for replica in replicas
        )
        assert races >= 1, "no push ever raced: the test proves nothing"
    finally:
        for replica in replicas:
            assert replica.stop() == 0
        server.stop()
    assert_history_sound(remote)

"""Streaming benchmark: the long-running service against the reference control plane.

    .venv/bin/python bench/stream.py              # N = 10,000 (a few minutes)
    .venv/bin/python bench/stream.py --n 2000     # quicker
    .venv/bin/python bench/stream.py --n 100000 --only e   # issue 16's (e) (about 8 minutes)

Each figure is printed beside a baseline measured in the same run:

(e) N apply events streamed by the reference server (its own process, as a control plane is),
    from the moment its state file holds them to the last pushed commit, against a cold sync of
    the same N policies (empty repository to pushed commit); target: all pushed in 5 commits or
    fewer, ratio <= 1.5. Beside it, the service process's peak memory (VmHWM) once a resync
    after the burst is done, and what it then holds (VmRSS); target: peak <= 300 MiB at 100,000;
(f) one event to a pushed commit, median over 50 events, against raw
    ``git add FILE && git commit && git push``; target <= batch window + 1.5 x baseline;
(g) events per second our client takes off the wire when nothing is pushed, from the reference
    server run as its own process; target >= 20,000. Beside it, in the same run and against the
    same server: a default grpcio client (stub, parsing each message) and a plain grpcio client
    that parses nothing and reads on the calling thread (the server's send rate as the cheapest
    client sees it); the CPU each process spends per event; and, for information only, how fast
    our client drains events the server has already sent (the server then out of the way).

    .venv/bin/python bench/stream.py --only g     # (g) alone, about 15 seconds
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import grpc  # noqa: E402
import grpc.experimental  # noqa: E402
from run import Bench, generate  # noqa: E402

from reconciler.controlplane.client import GrpcSource  # noqa: E402
from reconciler.controlplane.endpoint import Endpoint  # noqa: E402
from reconciler.controlplane.gen import cluster_pb2 as pb  # noqa: E402
from reconciler.controlplane.gen import cluster_pb2_grpc as pb_grpc  # noqa: E402
from reconciler.controlplane.server import ReferenceControlPlane, start  # noqa: E402
from reconciler.desired.events import Applied, coalesce  # noqa: E402
from reconciler.gitops import GitSettings, Workspace, init_bare  # noqa: E402
from reconciler.reconcile.passes import PassOptions  # noqa: E402
from reconciler.render.templates import load_templates  # noqa: E402
from reconciler.service.controller import Controller  # noqa: E402
from reconciler.service.run_settings import RunSettings  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

WINDOW = 1.0
_WATCH = "/ctrl.v1.ClusterService/WatchCiliumNetworkPolicies"
# The plain client reads on the calling thread, as ours does (client._CHANNEL_OPTIONS).
_ON_CALLING_THREAD = ((grpc.experimental.ChannelOptions.SingleThreadedUnaryStream, 1),)


def wait(condition: Any, timeout: float = 600.0, poll: float = 0.001) -> None:
    """Until ``condition()``; polls every ``poll`` seconds (1 ms: no latency of its own)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(poll)


class Pushed:
    """The ``Control-Plane-Version`` of the newest commit on a bare remote's ``main``.

    (e) waits on the remote, not on the service's ``/metrics``: polling the service every few
    milliseconds for a minute is tens of thousands of requests, each a thread in the process
    under test, and at 100,000 events it made the burst a third slower than the service is.
    """

    def __init__(self, remote: Path) -> None:
        self.ref = remote / "refs" / "heads" / "main"
        self.remote = remote
        self.head = ""
        self.seen = 0

    def version(self) -> int:
        try:
            head = self.ref.read_text().strip()
        except FileNotFoundError:
            return 0
        if head != self.head:
            self.head = head
            trailer = "%(trailers:key=Control-Plane-Version,valueonly)"
            out = subprocess.run(
                ["git", "-C", str(self.remote), "log", "-1", f"--format={trailer}", head],
                check=True, capture_output=True, text=True,
            ).stdout.split()  # fmt: skip
            self.seen = max([int(v) for v in out if v.isdigit()], default=0)
        return self.seen


def listening(command: list[str]) -> tuple[subprocess.Popen[str], str]:
    """A gRPC server process started with ``command``, and the HOST:PORT it says it listens on.

    The reference server and bench/feeder both print ``listening on grpc://HOST:PORT ...`` on
    stderr once they listen.
    """
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    return process, process.stderr.readline().split()[2].removeprefix("grpc://")


def serve(state: Path) -> tuple[subprocess.Popen[str], str]:
    """``cilium-gitops control-plane serve`` on ``state`` as its own process, and its target."""
    return listening(
        [sys.executable, "-m", "reconciler", "control-plane", "serve", "--state", str(state)]
    )


class Service:
    """The long-running service (``cilium-gitops run``'s controller) on a fresh bare remote."""

    def __init__(self, base: Path, name: str, target: str) -> None:
        folder = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=base))
        url = init_bare(folder / "remote.git", "main")
        self.stop = threading.Event()
        source = GrpcSource(Endpoint(target, tls=False), region="bench")
        settings = RunSettings(batch_window=WINDOW, resync_interval=3600)
        self.workspace = Workspace(folder / "work", GitSettings(url=url))
        self.controller = Controller(
            source, self.workspace, load_templates(), PassOptions(), settings, stop=self.stop
        )
        self.thread = threading.Thread(target=self.controller.run, daemon=True)

    def __enter__(self) -> Controller:
        self.thread.start()
        wait(self.controller.status.ready.is_set)
        return self.controller

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=60)
        self.workspace.close()


@dataclass
class Burst:
    """(e) and the service's memory: one burst of N apply events into a running service."""

    seconds: float  # from the control plane's new state to the last pushed commit
    commits: int  # commits the burst took (the first resync's, of an empty state, included)
    peak_mib: float  # the service process's VmHWM once a resync after the burst is done
    rss_mib: float  # its VmRSS then: what it holds in steady state


def _metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        for line in answer.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


def _status(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=10) as answer:
        return dict(json.loads(answer.read()))


def _memory(pid: int) -> tuple[float, float]:
    """VmHWM and VmRSS of ``pid`` in MiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in {"VmHWM", "VmRSS"}:
            found[key] = int(value.split()[0]) / 1024
    return found["VmHWM"], found["VmRSS"]


def stream_burst(base: Path, entries: list[dict[str, Any]], *, resync: float = 20.0) -> Burst:
    """(e): the burst into ``cilium-gitops run`` (its own process, as in a pod), then a resync.

    The reference server runs as its own process too, as a control plane does; the clock starts
    when the new state file is in place, so the server's reading and diffing of it count
    against us. After the last commit, the service's next resync (every ``resync`` seconds)
    lists all N again; its memory is read once that resync is done.
    """
    for entry in entries:
        entry["region"] = "bench"
    state = base / "burst.json"
    state.write_text(json.dumps({"policies": []}))
    server, target = serve(state)
    folder = Path(tempfile.mkdtemp(prefix="burst-", dir=base))
    url = init_bare(folder / "remote.git", "main")
    command = [
        sys.executable, "-m", "reconciler", "run", "--control-plane", f"grpc://{target}",
        "--region", "bench", "--repo", url, "--workdir", str(folder / "work"),
        "--batch-window", str(WINDOW), "--resync-interval", str(resync),
        "--http-address", "127.0.0.1:0",
    ]  # fmt: skip
    service = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        port = _http_port(service)
        wait(lambda: _status(port)["ready"])
        staged = base / "burst.json.new"
        staged.write_text(json.dumps({"policies": entries}))
        started = time.perf_counter()
        staged.replace(state)
        n = len(entries)
        pushed = Pushed(folder / "remote.git")
        wait(lambda: pushed.version() >= n, timeout=1800, poll=0.01)
        seconds = time.perf_counter() - started
        commits = int(_metric(port, "cilium_gitops_commits_pushed_total"))
        resyncs = _status(port)["resyncs"]
        wait(lambda: _status(port)["resyncs"] > resyncs, timeout=1800)
        # The resync's pass ends shortly after its listing: wait until the service rests.
        wait_idle(service.pid)
        peak, rss = _memory(service.pid)
        return Burst(seconds, commits, peak, rss)
    finally:
        service.terminate()
        service.wait(timeout=60)
        server.terminate()
        server.wait(timeout=30)


def _http_port(service: subprocess.Popen[str]) -> int:
    """The port ``run --http-address 127.0.0.1:0`` says it serves on (read from its log)."""
    assert service.stderr is not None
    for line in service.stderr:
        found = re.search(r"http: /healthz.* on port (\d+)", line)
        if found:
            port = int(found.group(1))
            threading.Thread(target=service.stderr.read, daemon=True).start()  # keep draining
            return port
    msg = "the service ended before serving http"
    raise RuntimeError(msg)


def one_event(base: Path, entries: list[dict[str, Any]]) -> float:
    """(f): median seconds from one published event to its pushed commit, over 50 events.

    The server runs in this process here so that the clock can start the moment it publishes;
    one event costs it next to nothing.
    """
    for entry in entries:
        entry["region"] = "bench"
    server = start(ReferenceControlPlane())
    try:
        with Service(base, "one", f"127.0.0.1:{server.port}") as controller:
            version = server.servicer.load(entries)  # the 10,000 policies, not timed
            wait(lambda: controller.status.version >= version and controller.status.commits > 0)
            latencies = []
            for k in range(50):
                policy = {**entries[k]["policy"], "description": f"e{k}"}
                entries[k] = {**entries[k], "policy": policy}
                before = controller.status.commits
                # The clock starts when the control plane publishes the event (the reference
                # server's own diff of N entries is not the service's time).
                server.servicer.load(entries)
                started = time.perf_counter()
                wait(lambda before=before: controller.status.commits > before)
                latencies.append(time.perf_counter() - started)
    finally:
        server.stop()
    return statistics.median(latencies)


@dataclass
class Consumption:
    """(g): events per second and CPU microseconds per event, best of the rounds."""

    rate: float = 0.0  # our client: the watch to the n-th event
    validated_rate: float = 0.0  # the same, plus coalesce (each event validated)
    stub_rate: float = 0.0  # a default grpcio client, parsing each message, nothing validated
    plain_rate: float = 0.0  # a grpcio client that parses nothing: the server's send rate
    drain_rate: float = 0.0  # our client draining events already sent (for information)
    feeder_rate: float | None = None  # our client against the grpc-js feeder (None: no node)
    feeder_plain_rate: float | None = None  # the plain client against the feeder
    client_cpu: float = float("inf")  # our client process, every thread, per event
    plain_cpu: float = float("inf")
    server_cpu: float | None = None  # the server process per event, during our client's run


def process_cpu(pid: int) -> float | None:
    """CPU seconds the process has used (every thread), or None where /proc is not there."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def take(events: Iterator[Any], n: int) -> list[Any]:
    taken = []
    for event in events:
        taken.append(event)
        if len(taken) == n:
            break
    return taken


def timed(
    watch: Callable[[Any], Iterator[Any]], request: Any, n: int
) -> tuple[list[Any], float, float]:
    """The first ``n`` messages of ``watch(request)``, seconds, CPU seconds of this process."""
    cpu, started = time.process_time(), time.perf_counter()
    taken = take(watch(request), n)
    return taken, time.perf_counter() - started, time.process_time() - cpu


def consume_rate(base: Path, n: int, rounds: int = 3) -> Consumption:
    """(g): our client's watch against the reference server process, with the baselines.

    The watch validates nothing as events arrive: the worker validates the last event of each
    policy when it takes a batch (``events.coalesce``). ``validated_rate`` adds that work, for
    a burst of ``n`` different policies, where nothing is coalesced away. The server runs in
    its own process, as a real control plane would: in this process it would share the GIL
    with the client and halve both.
    """
    state = base / "consume.json"
    state.write_text(json.dumps({"policies": generate(n)}))
    process, target = serve(state)
    best = Consumption()
    try:
        endpoint = Endpoint(target, tls=False)
        request = pb.WatchCiliumNetworkPoliciesRequest(region="any")
        encoded = request.SerializeToString()
        for _ in range(rounds):  # best of the rounds: these machines are shared
            with GrpcSource(endpoint, region="any") as source:
                before = process_cpu(process.pid)
                events, watched, used = timed(source.watch, 0, n)
                after = process_cpu(process.pid)
                started = time.perf_counter()
                taken = coalesce(events)
                both = watched + time.perf_counter() - started
            assert len(taken) == n
            assert all(isinstance(e, Applied) and e.policy is not None for e in taken)
            best.rate = max(best.rate, n / watched)
            best.validated_rate = max(best.validated_rate, n / both)
            best.client_cpu = min(best.client_cpu, used * 1e6 / n)
            if before is not None and after is not None:
                server = (after - before) * 1e6 / n
                best.server_cpu = (
                    server if best.server_cpu is None else min(best.server_cpu, server)
                )
            with grpc.insecure_channel(target) as channel:
                stub = pb_grpc.ClusterServiceStub(channel)  # type: ignore[no-untyped-call]
                _, seconds, _ = timed(stub.WatchCiliumNetworkPolicies, request, n)
                best.stub_rate = max(best.stub_rate, n / seconds)
            with grpc.insecure_channel(target, options=_ON_CALLING_THREAD) as channel:
                # No serialiser either way: the request goes as encoded, the messages stay bytes.
                _, seconds, used = timed(channel.unary_stream(_WATCH), encoded, n)
                best.plain_rate = max(best.plain_rate, n / seconds)
                best.plain_cpu = min(best.plain_cpu, used * 1e6 / n)
            best.drain_rate = max(best.drain_rate, drain(endpoint, process.pid, n))
    finally:
        process.terminate()
        process.wait(timeout=30)
    fed = feeder_rates(base, n, rounds)
    if fed is not None:
        best.feeder_rate, best.feeder_plain_rate = fed
    return best


FEEDER = ROOT / "bench" / "feeder"


def feeder_rates(base: Path, n: int, rounds: int = 3) -> tuple[float, float] | None:
    """(g) against bench/feeder (grpc-js): our client's and the plain client's best rates.

    None when node or the feeder's packages (``npm ci --prefix bench/feeder``) are not there.
    """
    node = shutil.which("node")
    if node is None or not (FEEDER / "node_modules" / "@grpc" / "grpc-js").is_dir():
        return None
    messages = base / "feeder.bin"
    with messages.open("wb") as out:
        for version, entry in enumerate(generate(n), start=1):
            apply = pb.ApplyCiliumNetworkPolicy(
                k8s_namespace=entry["namespace"],
                k8s_name=entry["name"],
                cilium_network_policy_id=entry["id"],
                policy=json.dumps(entry["policy"]).encode(),
            )
            encoded = pb.CiliumNetworkPolicyState(apply=apply, version=version).SerializeToString()
            out.write(len(encoded).to_bytes(4, "big") + encoded)
    process, target = listening([node, str(FEEDER / "server.js"), str(messages)])
    try:
        ours = plain = 0.0
        for _ in range(rounds):
            with GrpcSource(Endpoint(target, tls=False), region="any") as source:
                _, seconds, _ = timed(source.watch, 0, n)
                ours = max(ours, n / seconds)
            with grpc.insecure_channel(target, options=_ON_CALLING_THREAD) as channel:
                _, seconds, _ = timed(channel.unary_stream(_WATCH), b"", n)
                plain = max(plain, n / seconds)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return ours, plain


def drain(endpoint: Endpoint, pid: int, n: int) -> float:
    """Our client's rate over events the server has already sent (for information, not (g)).

    The first event opens the stream; once the server process has gone idle (it has sent all
    that flow control lets it), the clock runs over the other ``n - 1`` events: the client's
    own cost, with the reference server's per-message round trip out of the way.
    """
    with GrpcSource(endpoint, region="any") as source:
        events = source.watch(0)
        next(events)
        wait_idle(pid)
        started = time.perf_counter()
        rest = take(events, n - 1)
        rate = (n - 1) / (time.perf_counter() - started)
    assert len(rest) == n - 1
    return rate


def wait_idle(pid: int) -> None:
    """Until the process has used no CPU for 0.2 s (at once where /proc is not there)."""
    last = process_cpu(pid)
    quiet = 0
    while last is not None and quiet < 4:
        time.sleep(0.05)
        now = process_cpu(pid)
        quiet = quiet + 1 if now == last else 0
        last = now


def cold_sync(bench: Bench) -> float:
    prepared = bench.fresh("cold")
    started = time.perf_counter()
    bench.ours_cold(prepared)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of (e), best taken")
    parser.add_argument(
        "--only", default="efg", help="the figures to measure, e.g. g or ef (default: efg)"
    )
    args = parser.parse_args()
    figures = set(args.only)
    if not figures or not figures <= set("efg"):
        parser.error("--only takes letters among e, f and g")
    for key, value in (("NAME", "bench"), ("EMAIL", "bench@example.com")):
        os.environ.setdefault(f"GIT_AUTHOR_{key}", value)
        os.environ.setdefault(f"GIT_COMMITTER_{key}", value)
    r: dict[str, Any] = {"n": args.n}
    print(f"N = {args.n:,} apply events, batch window {WINDOW:.1f} s")
    with tempfile.TemporaryDirectory(prefix="cilium-gitops-stream-") as tmp:
        base = Path(tmp)
        if figures & set("ef"):
            # (e) best of the rounds on each side, taken in turn: one slow moment of a shared
            # machine would otherwise decide the ratio. (f) compares medians: ours of 50
            # events, raw git's of as many commits.
            bench = Bench(base, args.n, 50)
            bursts = []
            colds = []
            for _ in range(args.rounds):
                colds.append(cold_sync(bench))
                bursts.append(stream_burst(base, generate(args.n)))
            r["cold"] = min(colds)
            r["cold_spread"] = max(colds) / min(colds)
            r["burst"] = min(b.seconds for b in bursts)
            r["burst_spread"] = max(b.seconds for b in bursts) / r["burst"]
            r["commits"] = max(b.commits for b in bursts)  # the worst round's
            r["service_peak_mib"] = max(b.peak_mib for b in bursts)
            r["service_rss_mib"] = max(b.rss_mib for b in bursts)
            if "f" in figures:
                r["one"] = one_event(base, generate(args.n))
                r["raw_one"] = statistics.median(bench.baseline_one_times())
            report_burst(r)
        if "g" in figures:
            r.update(asdict(consume_rate(base, args.n)))
            report_consumption(r)
    if args.json:
        args.json.write_text(json.dumps(r, indent=2))


def report_burst(r: dict[str, Any]) -> None:
    print(
        f"  (e) burst to pushed commits  {r['burst']:8.3f} s (x{r['burst_spread']:.2f}) in "
        f"{r['commits']} commits  vs cold sync {r['cold']:8.3f} s (x{r['cold_spread']:.2f})  "
        f"ratio {r['burst'] / r['cold']:5.2f}  (target <= 1.5, <= 5 commits)\n"
        f"      the service process after the burst and a resync: peak {r['service_peak_mib']:.0f} "
        f"MiB, resident {r['service_rss_mib']:.0f} MiB  (target: peak <= 300 MiB at 100,000)"
    )
    if "one" not in r:
        return
    limit = WINDOW + 1.5 * r["raw_one"]
    verdict = "ok" if r["one"] <= limit else "over"
    print(
        f"  (f) one event, median of 50  {r['one']:8.3f} s  vs window + 1.5 x raw git "
        f"{limit:8.3f} s  (raw {r['raw_one']:.3f} s)  {verdict}"
    )


def report_consumption(r: dict[str, Any]) -> None:
    server = "?" if r["server_cpu"] is None else f"{r['server_cpu']:.0f}"
    print(
        f"  (g) client consumption       {r['rate']:8.0f} events/s  (target >= 20,000); "
        f"{r['validated_rate']:.0f}/s with each validated\n"
        f"      vs a plain grpcio client that parses nothing {r['plain_rate']:.0f}/s "
        f"(ratio {r['rate'] / r['plain_rate']:.2f}); "
        f"a default grpcio client, parsing: {r['stub_rate']:.0f}/s\n"
        f"      CPU per event: our client {r['client_cpu']:.0f} us, the plain client "
        f"{r['plain_cpu']:.0f} us, the server {server} us\n"
        f"      for information: our client draining events already sent {r['drain_rate']:.0f}/s"
    )
    if r["feeder_rate"] is None:
        print("  (g) against a grpc-js server: skipped (needs node, npm ci --prefix bench/feeder)")
        return
    print(
        f"  (g) against a grpc-js server  {r['feeder_rate']:8.0f} events/s  (target >= 20,000); "
        f"the plain client {r['feeder_plain_rate']:.0f}/s"
    )


if __name__ == "__main__":
    main()

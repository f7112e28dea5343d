"""Benchmark: cilium-gitops against raw git and libyaml, measured in the same run.

    .venv/bin/python bench/run.py                          # N = 1,000 and 10,000 (minutes)
    .venv/bin/python bench/run.py --sizes 1000,10000,100000  # issue 16's figures (~30 min)
    .venv/bin/python bench/run.py --sizes 1000 --repeats 1   # quicker

For each N (generated policies over 100 namespaces) it prints each figure beside its baseline:

(a) cold sync, empty repository to pushed commit, as ``cilium-gitops sync`` runs it (reading the
    desired-state file included), against rendering the same objects with PyYAML's
    CSafeDumper (libyaml) plus raw ``git add -A && git commit && git push``; target <= 1.3,
    and the 100k/10k cost ratio <= 11;
(b) no-op pass of the long-running service (state held in memory) over the populated
    repository, against reading every file of the tree; target <= 3 and <= 0.5 s;
(b') one-shot no-op: a new process's pass (parse the file, nothing held in memory; the
    workdir's tree cache on disk), in process and as the real ``cilium-gitops sync`` process
    beside that process's start (an interpreter importing what ``sync`` imports, then
    exiting); target <= 3x plus the start;
(c) one changed policy to a pushed commit, as the service's pass for an event runs it (no fetch
    first), against raw ``git add FILE && git commit && git push``; target <= 1.5;
(d) peak memory (VmHWM) of the ``cilium-gitops sync`` process doing the cold sync (git's own
    processes not included), beside a process that only loads the same desired state with
    ``json.loads`` and renders it with libyaml; target <= 300 MiB at 100,000.

Each timing is the best of ``--repeats`` runs, with the spread (slowest / best) of the runs;
ratios, not seconds, are the figures to compare across machines.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reconciler.desired.names import DEFAULT_PATH  # noqa: E402
from reconciler.desired.policy import DesiredPolicy, parse_policy  # noqa: E402
from reconciler.desired.record import Rejection  # noqa: E402
from reconciler.desired.state import DesiredState, FileSource  # noqa: E402
from reconciler.gitops import GitSettings, Workspace, init_bare  # noqa: E402
from reconciler.reconcile.intake import PassCache  # noqa: E402
from reconciler.reconcile.passes import PassOptions, reconcile  # noqa: E402
from reconciler.render.admission import Admission  # noqa: E402
from reconciler.render.manifest import Renderer  # noqa: E402
from reconciler.render.templates import load_templates  # noqa: E402

CLI = Path(sys.executable).with_name("cilium-gitops")
# What `cilium-gitops sync` imports before its pass starts (see commands.sync): its start.
_LOADS = (
    "import reconciler.commands.cli, reconciler.commands.sync, reconciler.gitops, "
    "reconciler.reconcile.intake, reconciler.reconcile.passes, reconciler.reconcile.sources, "
    "reconciler.render.templates"
)

if TYPE_CHECKING:
    from collections.abc import Callable

NAMESPACES = 100


def generate(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """N realistic policies: default deny, DNS egress, L4 ingress, L7 HTTP, CIDR egress."""
    rng = random.Random(seed)
    entries = []
    for i in range(n):
        ns = f"team-{i % NAMESPACES:03d}"
        app = f"app-{i // NAMESPACES:04d}"
        shape = i % 5
        spec: dict[str, Any] = {"endpointSelector": {"matchLabels": {"app": app}}}
        if shape == 0:
            spec = {"endpointSelector": {}, "ingress": [{}]}
        elif shape == 1:
            spec["egress"] = [
                {
                    "toEndpoints": [
                        {
                            "matchLabels": {
                                "k8s:io.kubernetes.pod.namespace": "kube-system",
                                "k8s:k8s-app": "kube-dns",
                            }
                        }
                    ],
                    "toPorts": [
                        {
                            "ports": [{"port": "53", "protocol": "UDP"}],
                            "rules": {"dns": [{"matchPattern": "*"}]},
                        }
                    ],
                }
            ]
        elif shape == 2:
            spec["ingress"] = [
                {
                    "fromEndpoints": [{"matchLabels": {"app": f"client-{rng.randrange(50)}"}}],
                    "toPorts": [
                        {"ports": [{"port": str(rng.choice([80, 443, 8080])), "protocol": "TCP"}]}
                    ],
                }
            ]
        elif shape == 3:
            spec["ingress"] = [
                {
                    "fromEndpoints": [{"matchLabels": {"app": "frontend"}}],
                    "toPorts": [
                        {
                            "ports": [{"port": "8080", "protocol": "TCP"}],
                            "rules": {
                                "http": [{"method": "GET", "path": f"/api/v{rng.randrange(3)}/.*"}]
                            },
                        }
                    ],
                }
            ]
        else:
            spec["egress"] = [
                {
                    "toCIDRSet": [
                        {"cidr": f"10.{rng.randrange(256)}.0.0/16", "except": ["10.0.0.0/24"]}
                    ]
                }
            ]
        spec["description"] = f"generated policy {i}"
        entries.append(
            {
                "id": f"cp-{i:06d}",
                "namespace": ns,
                "name": f"{app}-p{shape}",
                "version": i + 1,
                "policy": spec,
            }
        )
    return entries


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def timings(repeats: int, prepare: Callable[[], Any], run: Callable[[Any], Any]) -> list[float]:
    """Wall times of ``run``, ``repeats`` times; ``prepare`` (untimed) builds each input."""
    times = []
    for _ in range(repeats):
        arg = prepare()
        start = time.perf_counter()
        run(arg)
        times.append(time.perf_counter() - start)
    return times


def best(repeats: int, prepare: Callable[[], Any], run: Callable[[Any], Any]) -> float:
    """Best wall time of ``run`` over ``repeats``."""
    return min(timings(repeats, prepare, run))


def measured(
    r: dict[str, float],
    name: str,
    repeats: int,
    prepare: Callable[[], Any],
    run: Callable[[Any], Any],
) -> None:
    """Best of ``repeats`` into ``r[name]``, the spread (slowest / best) into ``name_spread``."""
    times = timings(repeats, prepare, run)
    r[name] = min(times)
    r[f"{name}_spread"] = max(times) / min(times)


class Bench:
    def __init__(self, base: Path, n: int, repeats: int) -> None:
        self.base = base
        self.n = n
        self.repeats = repeats
        self.entries = generate(n)
        self.state_file = base / f"desired-{n}.json"
        self.state_file.write_text(json.dumps({"policies": self.entries}))
        self.templates = load_templates()
        self.renderer = Renderer(self.templates)
        self.counter = 0

    def fresh(self, name: str) -> tuple[str, Path]:
        self.counter += 1
        folder = self.base / f"{name}-{self.n}-{self.counter}"
        folder.mkdir()
        url = init_bare(folder / "remote.git", "main")
        return url, folder

    # -- (a) cold sync --------------------------------------------------------------------
    def ours_cold(self, prepared: tuple[str, Path]) -> None:
        """What ``cilium-gitops sync`` does: the file is read by the pass, entry by entry."""
        url, folder = prepared
        source = FileSource(self.state_file)
        with Workspace(folder / "work", GitSettings(url=url)) as ws:
            result = reconcile(source.desired, ws, self.templates, PassOptions())
        assert result.commit is not None

    def held(self) -> DesiredState:
        """The desired state as the service holds it: admitted once, bodies packed."""
        return FileSource(self.state_file).desired(Admission(self.renderer, pack=True))

    def baseline_prepare(self) -> tuple[str, Path]:
        url, folder = self.fresh("baseline")
        git("clone", "--quiet", url, "work", cwd=folder)
        git("config", "user.name", "bench", cwd=folder / "work")
        git("config", "user.email", "bench@example.com", cwd=folder / "work")
        return url, folder

    def baseline_cold(self, prepared: tuple[str, Path]) -> None:
        _, folder = prepared
        work = folder / "work"
        root = work / DEFAULT_PATH
        dumper = yaml.CSafeDumper
        for e in self.entries:
            obj = {
                "apiVersion": "cilium.io/v2",
                "kind": "CiliumNetworkPolicy",
                "metadata": {"name": e["name"], "namespace": e["namespace"]},
                "spec": e["policy"],
            }
            target = root / e["namespace"] / f"{e['name']}.yaml"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(yaml.dump(obj, Dumper=dumper, sort_keys=False))
        git("add", "-A", cwd=work)
        git("commit", "--quiet", "-m", "baseline", cwd=work)
        git("push", "--quiet", "origin", "HEAD:main", cwd=work)

    def run(self) -> dict[str, float]:
        r: dict[str, float] = {}
        self.cold(r)
        # A populated repository for (b) and (c), ours and the baseline's.
        url, folder = self.fresh("steady")
        self.ours_cold((url, folder))
        settings = GitSettings(url=url)
        state = self.held()
        cache = PassCache()
        tree = folder / "work" / DEFAULT_PATH
        measured(r, "noop_base", self.repeats, lambda: None, lambda _: read_all(tree))
        one_shot_args = [
            str(CLI), "sync", "--control-plane", f"file://{self.state_file}", "--repo", url,
            "--workdir", str(folder / "work"), "--output", "json",
        ]  # fmt: skip
        with Workspace(folder / "work", settings) as ws:
            # The long-running controller's situation: one workspace, one cache, and the
            # desired state held in memory between passes.
            reconcile(state, ws, self.templates, PassOptions(), cache=cache)  # warm up

            def noop(_: object) -> None:
                result = reconcile(state, ws, self.templates, PassOptions(), cache=cache)
                assert result.commit is None

            def noop_one_shot(_: object) -> None:
                # A new process's pass: nothing in memory, the tree cache read from the workdir.
                source = FileSource(self.state_file)
                result = reconcile(source.desired, ws, self.templates, PassOptions())
                assert result.commit is None

            measured(r, "noop_ours", self.repeats, lambda: None, noop)
            measured(r, "noop_one_shot", self.repeats, lambda: None, noop_one_shot)
        self.processes(r, one_shot_args)
        cache = PassCache()
        with Workspace(folder / "work", settings) as ws:
            reconcile(state, ws, self.templates, PassOptions(), cache=cache)  # warm up
            ws.align()  # as the service does after a resync (controller._pass)
            changes = iter(range(10**6))
            held = list(state.policies)
            admit = Admission(self.renderer, pack=True)

            def one_change_prepare() -> Any:
                # One event: one policy replaced in the state the controller holds. Changes
                # accumulate, so each pass differs from the last by exactly one policy.
                k = next(changes)
                index = k % len(held)
                raw = dict(self.entries[index])
                raw["policy"] = {**raw["policy"], "description": f"changed {k}"}
                raw["version"] = self.n + k + 1
                parsed = parse_policy(raw, position="bench")
                assert isinstance(parsed, DesiredPolicy)
                changed = admit(parsed, None)
                assert not isinstance(changed, Rejection)
                held[index] = changed
                return DesiredState(tuple(held), (), self.n + k + 1)

            # As the controller runs a pass for events: no fetch first (the workdir is the last
            # known remote head; a remote that moved would reject the push, and the retry
            # fetches), and the tree cache kept in memory. Resyncs fetch; (b) measures those.
            event_pass = PassOptions(fetch=False, save_tree_cache=False)

            def one_change(changed_state: Any) -> None:
                result = reconcile(changed_state, ws, self.templates, event_pass, cache=cache)
                assert result.commit is not None
                assert result.plan.summary == "0 created, 1 updated, 0 deleted"

            measured(r, "one_ours", self.repeats, one_change_prepare, one_change)
        base = self.baseline_one_times()
        r["one_base"] = min(base)
        r["one_base_spread"] = max(base) / min(base)
        return r

    def cold(self, r: dict[str, float]) -> None:
        """(a), ours and the baseline's in turn, each after the disk has written back the last.

        A shared machine's disk is the noisiest part of writing 100,000 files: taking the two
        sides in turn, from the same clean page cache, keeps one slow minute from deciding.
        """
        ours, base = [], []
        for _ in range(self.repeats):
            for prepare, run, into in (
                (lambda: self.fresh("ours"), self.ours_cold, ours),
                (self.baseline_prepare, self.baseline_cold, base),
            ):
                prepared = prepare()
                os.sync()
                into.extend(timings(1, lambda prepared=prepared: prepared, run))
        r["cold_ours"], r["cold_ours_spread"] = min(ours), max(ours) / min(ours)
        r["cold_base"], r["cold_base_spread"] = min(base), max(base) / min(base)

    def processes(self, r: dict[str, float], one_shot_args: list[str]) -> None:
        """(b') as real processes."""
        # The real process, as a cron job runs it after its last pass (the tree cache of that
        # pass in the workdir), with the workdir free of the workspace above (it is locked).
        measured(
            r, "noop_process", self.repeats, lambda: None,
            lambda _: subprocess.run(one_shot_args, check=True, capture_output=True),
        )  # fmt: skip
        # A process's start: the interpreter and the modules `sync` loads, and nothing done.
        start = [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); {_LOADS}"]
        measured(
            r, "process_start", self.repeats, lambda: None,
            lambda _: subprocess.run(start, check=True, capture_output=True),
        )  # fmt: skip

    def baseline_one_times(self) -> list[float]:
        """Raw git for one changed file: add it, commit, push (each of the repeats)."""
        base = self.baseline_prepare()
        self.baseline_cold(base)
        work = base[1] / "work"
        victims = iter(self.entries)

        def raw_prepare() -> str:
            e = next(victims)
            rel = f"{DEFAULT_PATH}/{e['namespace']}/{e['name']}.yaml"
            with (work / rel).open("a") as handle:
                handle.write("# changed\n")
            return rel

        def raw_one(rel: str) -> None:
            git("add", rel, cwd=work)
            git("commit", "--quiet", "-m", "one", cwd=work)
            git("push", "--quiet", "origin", "HEAD:main", cwd=work)

        return timings(self.repeats, raw_prepare, raw_one)


def read_all(tree: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(tree):
        for name in files:
            with open(os.path.join(dirpath, name), "rb") as handle:  # noqa: PTH118, PTH123 - raw reads are the baseline
                total += len(handle.read())
    return total


def peak_memory(bench: Bench, mode: str) -> float:
    """Peak RSS (MiB) of a new process doing the cold sync (``ours``) or libyaml only.

    ``ours`` is the ``cilium-gitops sync`` command itself, run in a fresh interpreter that
    reads its own VmHWM when the command returns: git's processes are not counted, nor is the
    bench's (large) process, which ``ru_maxrss`` of a forked child would report.
    """
    url, folder = bench.fresh(f"mem-{mode}")
    argv = ["sync", "--control-plane", f"file://{bench.state_file}", "--repo", url]
    argv += ["--workdir", str(folder / "work"), "--output", "json"]
    code = f"""
import json, sys
def peak():
    return next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:"))
if {mode!r} == "ours":
    sys.path.insert(0, {str(ROOT)!r})
    from reconciler.commands.cli import cli
    try:
        cli({argv!r}, prog_name="cilium-gitops")
    except SystemExit as done:
        assert done.code == 0, done.code
else:
    import yaml
    state = json.loads(open({str(bench.state_file)!r}).read())
    out = [yaml.dump(e["policy"], Dumper=yaml.CSafeDumper) for e in state["policies"]]
print(peak(), file=sys.stderr)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    return int(out.stderr.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    os.environ.setdefault("GIT_AUTHOR_NAME", "bench")
    os.environ.setdefault("GIT_AUTHOR_EMAIL", "bench@example.com")
    os.environ.setdefault("GIT_COMMITTER_NAME", "bench")
    os.environ.setdefault("GIT_COMMITTER_EMAIL", "bench@example.com")
    results: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="cilium-gitops-bench-") as tmp:
        for n in [int(s) for s in args.sizes.split(",")]:
            base = Path(tmp) / str(n)
            base.mkdir()
            bench = Bench(base, n, args.repeats)
            r = bench.run()
            r["mem_ours_mib"] = peak_memory(bench, "ours")
            r["mem_base_mib"] = peak_memory(bench, "libyaml")
            results[n] = r
            report(n, r)
            shutil.rmtree(base, ignore_errors=True)
    scaling(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def report(n: int, r: dict[str, float]) -> None:
    def row(label: str, name: str, base: str, target: str) -> None:
        ours, theirs = r[name], r[base]
        print(
            f"  {label:<46} {ours:8.3f} s (x{r[name + '_spread']:.2f}) vs {theirs:8.3f} s "
            f"(x{r[base + '_spread']:.2f})  ratio {ours / theirs:5.2f}  ({target})"
        )

    print(f"N = {n:,} policies over {NAMESPACES} namespaces (best of runs; x: slowest / best)")
    row("(a) cold sync vs libyaml + git add/commit/push", "cold_ours", "cold_base", "<= 1.3")
    row("(b) no-op pass, service, vs reading every file", "noop_ours", "noop_base", "<= 3, 0.5 s")
    row("(b') one-shot no-op pass vs reading every file", "noop_one_shot", "noop_base", "<= 3")
    start = r["process_start"]
    print(
        f"  (b') one-shot `cilium-gitops sync` process      {r['noop_process']:8.3f} s "
        f"(x{r['noop_process_spread']:.2f}); its start {start:.3f} s; beyond the start "
        f"{(r['noop_process'] - start) / r['noop_base']:5.2f} x reading every file  (<= 3)"
    )
    row("(c) one change vs git add FILE/commit/push", "one_ours", "one_base", "<= 1.5")
    print(
        f"  (d) peak memory (VmHWM), cold sync process      {r['mem_ours_mib']:8.1f} MiB vs "
        f"{r['mem_base_mib']:8.1f} MiB (json.loads + libyaml render)  (<= 300 MiB at 100k)"
    )
    sys.stdout.flush()


def scaling(results: dict[int, dict[str, float]]) -> None:
    """The cost of each figure at the largest N over its cost at the N ten times smaller."""
    for n in sorted(results):
        small = results.get(n // 10)
        if small is None:
            continue
        print(f"cost at {n:,} / cost at {n // 10:,} (linear: 10; target for (a): <= 11)")
        for name in ("cold_ours", "cold_base", "noop_one_shot", "noop_base", "one_ours"):
            print(f"  {name:<16} {results[n][name] / small[name]:6.2f}")
        mem = results[n]["mem_ours_mib"] / small["mem_ours_mib"]
        print(f"  {'mem_ours_mib':<16} {mem:6.2f}")


if __name__ == "__main__":
    main()

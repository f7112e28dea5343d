"""Benchmark: cilium-gitops against raw git and libyaml, measured in the same run.

    .venv/bin/python bench/run.py                 # N = 1,000 and 10,000 (a few minutes)
    .venv/bin/python bench/run.py --sizes 1000    # quicker

For each N (generated policies over 100 namespaces) it prints each figure beside its baseline:

(a) cold sync, empty repository to pushed commit (reading the desired-state file included),
    against rendering the same objects with PyYAML's CSafeDumper (libyaml) plus raw
    ``git add -A && git commit && git push``; target ratio <= 1.5;
(b) no-op sync of the populated repository, against reading every file of the tree;
    target <= 0.5 s and ratio <= 3;
(c) one changed policy to a pushed commit, as the service's pass for an event runs it (no fetch
    first), against raw ``git add FILE && git commit && git push``; target ratio <= 1.5;
(d) peak memory (VmHWM) of a process doing the cold sync, beside a process that only loads the
    same desired state and renders it with libyaml.

Each timing is the best of ``--repeats`` runs; ratios, not seconds, are the figures to compare
across machines.
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
from reconciler.desired.state import DesiredState, FileSource  # noqa: E402
from reconciler.gitops import GitSettings, Workspace, init_bare  # noqa: E402
from reconciler.reconcile.passes import PassCache, PassOptions, reconcile  # noqa: E402
from reconciler.render.templates import load_templates  # noqa: E402

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


class Bench:
    def __init__(self, base: Path, n: int, repeats: int) -> None:
        self.base = base
        self.n = n
        self.repeats = repeats
        self.entries = generate(n)
        self.state_file = base / f"desired-{n}.json"
        self.state_file.write_text(json.dumps({"policies": self.entries}))
        self.templates = load_templates()
        self.counter = 0

    def fresh(self, name: str) -> tuple[str, Path]:
        self.counter += 1
        folder = self.base / f"{name}-{self.n}-{self.counter}"
        folder.mkdir()
        url = init_bare(folder / "remote.git", "main")
        return url, folder

    # -- (a) cold sync --------------------------------------------------------------------
    def ours_cold(self, prepared: tuple[str, Path]) -> None:
        url, folder = prepared
        state = FileSource(self.state_file).desired()
        with Workspace(folder / "work", GitSettings(url=url)) as ws:
            result = reconcile(state, ws, self.templates, PassOptions())
        assert result.commit is not None

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
        r["cold_ours"] = best(self.repeats, lambda: self.fresh("ours"), self.ours_cold)
        r["cold_base"] = best(self.repeats, self.baseline_prepare, self.baseline_cold)
        # A populated repository for (b) and (c), ours and the baseline's.
        url, folder = self.fresh("steady")
        self.ours_cold((url, folder))
        settings = GitSettings(url=url)
        state = FileSource(self.state_file).desired()
        cache = PassCache()
        with Workspace(folder / "work", settings) as ws:
            # The long-running controller's situation: one workspace, one scan cache, and the
            # desired state held in memory between passes.
            reconcile(state, ws, self.templates, PassOptions(), cache=cache)  # warm up

            def noop(_: object) -> None:
                result = reconcile(state, ws, self.templates, PassOptions(), cache=cache)
                assert result.commit is None

            def noop_cold_process(_: object) -> None:
                # A one-shot ``cilium-gitops sync``: parse the file, no scan cache.
                fresh_state = FileSource(self.state_file).desired()
                result = reconcile(fresh_state, ws, self.templates, PassOptions())
                assert result.commit is None

            def noop_with_read(_: object) -> None:
                fresh_state = FileSource(self.state_file).desired()
                result = reconcile(fresh_state, ws, self.templates, PassOptions(), cache=cache)
                assert result.commit is None

            r["noop_ours"] = best(self.repeats, lambda: None, noop)
            r["noop_ours_with_file"] = best(self.repeats, lambda: None, noop_with_read)
            r["noop_ours_one_shot"] = best(self.repeats, lambda: None, noop_cold_process)
            tree = folder / "work" / DEFAULT_PATH
            r["noop_base"] = best(self.repeats, lambda: None, lambda _: read_all(tree))

            changes = iter(range(10**6))
            held = list(state.policies)

            def one_change_prepare() -> Any:
                # One event: one policy replaced in the state the controller holds. Changes
                # accumulate, so each pass differs from the last by exactly one policy.
                k = next(changes)
                index = k % len(held)
                raw = dict(self.entries[index])
                raw["policy"] = {**raw["policy"], "description": f"changed {k}"}
                raw["version"] = self.n + k + 1
                changed = parse_policy(raw, position="bench")
                assert isinstance(changed, DesiredPolicy)
                held[index] = changed
                return DesiredState(tuple(held), (), self.n + k + 1)

            # As the controller runs a pass for events: no fetch first (the workdir is the last
            # known remote head; a remote that moved would reject the push, and the retry
            # fetches). Resyncs fetch; (b) measures those.
            event_pass = PassOptions(fetch=False)

            def one_change(changed_state: Any) -> None:
                result = reconcile(changed_state, ws, self.templates, event_pass, cache=cache)
                assert result.commit is not None
                assert result.plan.summary == "0 created, 1 updated, 0 deleted"

            r["one_ours"] = best(self.repeats, one_change_prepare, one_change)
        r["one_base"] = self.baseline_one()
        return r

    def baseline_one(self, summary: Callable[[list[float]], float] = min) -> float:
        """Raw git for one changed file: add it, commit, push (``summary`` of the repeats)."""
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

        return summary(timings(self.repeats, raw_prepare, raw_one))


def read_all(tree: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(tree):
        for name in files:
            with open(os.path.join(dirpath, name), "rb") as handle:  # noqa: PTH118, PTH123 - raw reads are the baseline
                total += len(handle.read())
    return total


def peak_memory(n: int, base: Path, mode: str) -> float:
    """Peak RSS (MiB) of a child process doing the cold sync (``ours``) or libyaml only."""
    code = f"""
import json, sys, yaml
sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(ROOT / "bench")!r})
from run import Bench
from pathlib import Path
b = Bench(Path({str(base)!r}), {n}, 1)
if {mode!r} == "ours":
    b.ours_cold(b.fresh("mem"))
else:
    state = json.loads(b.state_file.read_text())
    out = [yaml.dump(e["policy"], Dumper=yaml.CSafeDumper) for e in state["policies"]]
# VmHWM, not ru_maxrss: ru_maxrss survives exec, so a child forked from this (large) bench
# process would report the bench's own size.
print(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")))
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[-1]) / 1024


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
            r = Bench(base, n, args.repeats).run()
            r["mem_ours_mib"] = peak_memory(n, base, "ours")
            r["mem_base_mib"] = peak_memory(n, base, "libyaml")
            results[n] = r
            report(n, r)
            shutil.rmtree(base, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def report(n: int, r: dict[str, float]) -> None:
    def row(label: str, ours: float, base: float, target: str) -> None:
        print(
            f"  {label:<44} {ours:8.3f} s  vs {base:8.3f} s  ratio {ours / base:5.2f}  ({target})"
        )

    print(f"N = {n:,} policies over {NAMESPACES} namespaces")
    row(
        "(a) cold sync vs libyaml + git add/commit/push",
        r["cold_ours"],
        r["cold_base"],
        "target <= 1.5",
    )
    row(
        "(b) no-op sync vs reading every file",
        r["noop_ours"],
        r["noop_base"],
        "target <= 3, <= 0.5 s",
    )
    row(
        "    no-op incl. parsing the desired-state file",
        r["noop_ours_with_file"],
        r["noop_base"],
        "for information",
    )
    row(
        "    one-shot CLI no-op: parse file, no scan cache",
        r["noop_ours_one_shot"],
        r["noop_base"],
        "for information",
    )
    row("(c) one change vs git add FILE/commit/push", r["one_ours"], r["one_base"], "target <= 1.5")
    print(
        f"  (d) peak memory (VmHWM), cold sync            {r['mem_ours_mib']:8.1f} MiB vs "
        f"{r['mem_base_mib']:8.1f} MiB (load + libyaml render only)"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()

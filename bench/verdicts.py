"""Benchmark: ``cilium-gitops replay`` and ``cilium-gitops test`` beside their baselines.

    .venv/bin/python bench/verdicts.py                          # 10,000 policies, 1,000,000 lines
    .venv/bin/python bench/verdicts.py --lines 100000 --repeats 1   # quicker

It generates a 10,000-policy tree as ``bench/run.py`` does (``generate``: default deny, DNS
egress with the DNS proxy, L4 and L7 ingress, CIDR egress over 100 namespaces), a second
revision with 2% of the policies changed or deleted, and Hubble ``-o jsonpb`` lines between the
pods of those namespaces, the world and kube-dns (L3/L4, HTTP and DNS events, both observation
points, replies mixed in). Then, each timing the best of ``--repeats`` runs of a fresh process:

(a) ``cilium-gitops replay --flows FILE BEFORE AFTER`` against the baseline: a process that
    reads the same file line by line and ``json.loads`` every line, and nothing more;
(b) ``cilium-gitops test TESTS --policies BEFORE`` on PolicyTest files (one per namespace),
    against a process that only reads and parses the same policy and test files with
    PyYAML's libyaml loader.

The target for (a) is under a minute on 2 cores for 1,000,000 lines against 10,000 policies.
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
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from run import NAMESPACES, generate  # noqa: E402

CLI = str(Path(sys.executable).parent / "cilium-gitops")
APPS = 100  # app-0000 ... app-0099 in every namespace (generate's naming)


def write_tree(folder: Path, entries: list[dict[str, Any]]) -> None:
    """One CiliumNetworkPolicy file per entry, in a folder per namespace."""
    for entry in entries:
        document = {
            "apiVersion": "cilium.io/v2",
            "kind": "CiliumNetworkPolicy",
            "metadata": {"name": entry["name"], "namespace": entry["namespace"]},
            "spec": entry["policy"],
        }
        path = folder / entry["namespace"] / f"{entry['name']}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(document, sort_keys=False))


def changed(entries: list[dict[str, Any]], seed: int = 11) -> list[dict[str, Any]]:
    """The next revision: 1% of the policies deleted, 1% with another port."""
    rng = random.Random(seed)
    found = []
    for entry in entries:
        roll = rng.random()
        if roll < 0.01:
            continue
        edited = entry
        if roll < 0.02 and "ingress" in entry["policy"]:
            edited = json.loads(json.dumps(entry))
            for rule in edited["policy"]["ingress"]:
                for port_rule in rule.get("toPorts", []):
                    port_rule["ports"][0]["port"] = "9443"
        found.append(edited)
    return found


def _pod(namespace: str, app: str) -> dict[str, Any]:
    return {
        "ID": random.randrange(1, 4000),
        "identity": random.randrange(10000, 60000),
        "namespace": namespace,
        "labels": [
            f"k8s:app={app}",
            "k8s:io.cilium.k8s.policy.cluster=default",
            "k8s:io.cilium.k8s.policy.serviceaccount=default",
            f"k8s:io.kubernetes.pod.namespace={namespace}",
        ],
        "pod_name": f"{app}-{random.randrange(16**6):06x}",
        "workloads": [{"name": app, "kind": "Deployment"}],
    }


def templates(count: int, seed: int = 5) -> list[str]:
    """``count`` distinct flows as JSON lines with ``{t}`` and ``{p}`` for time and port."""
    random.seed(seed)
    world = {"identity": 2, "labels": ["reserved:world"]}
    dns = _pod("kube-system", "kube-dns")
    dns["labels"][0] = "k8s:k8s-app=kube-dns"
    found = []
    for _ in range(count):
        namespace = f"team-{random.randrange(NAMESPACES):03d}"
        source = _pod(namespace, random.choice([f"app-{random.randrange(APPS):04d}", "frontend"]))
        shape = random.random()
        flow: dict[str, Any] = {"time": "{t}", "verdict": "FORWARDED", "Type": "L3_L4"}
        if shape < 0.5:
            target = _pod(namespace, f"app-{random.randrange(APPS):04d}")
            port = random.choice([80, 443, 8080])
            flow |= {"source": source, "destination": target, "traffic_direction": "INGRESS"}
        elif shape < 0.7:
            port = 443
            address = f"10.{random.randrange(256)}.{random.randrange(4)}.{random.randrange(8)}"
            flow |= {"source": source, "destination": world, "traffic_direction": "EGRESS"}
            flow["IP"] = {"source": "10.244.1.2", "destination": address, "ipVersion": "IPv4"}
        elif shape < 0.85:
            port = 53
            name = f"svc-{random.randrange(500)}.example.com."
            flow |= {"source": source, "destination": dns, "traffic_direction": "EGRESS"}
            flow |= {"Type": "L7", "l7": {"type": "REQUEST", "dns": {"query": name}}}
        else:  # an HTTP request
            target = _pod(namespace, f"app-{random.randrange(APPS):04d}")
            port = 8080
            url = f"http://{target['pod_name']}:8080/api/v{random.randrange(4)}/items"
            flow |= {"source": source, "destination": target, "traffic_direction": "INGRESS"}
            flow |= {"Type": "L7", "l7": {"type": "REQUEST", "http": {"method": "GET", "url": url}}}
        flow.setdefault(
            "IP", {"source": "10.244.1.2", "destination": "10.244.2.3", "ipVersion": "IPv4"}
        )
        protocol = "UDP" if port == 53 else "TCP"
        flow["l4"] = {protocol: {"source_port": "{p}", "destination_port": port}}
        flow |= {"node_name": "node-a", "is_reply": False, "Summary": f"{protocol} Flags: SYN"}
        text = json.dumps({"flow": flow, "node_name": "node-a", "time": "{t}"})
        found.append(
            text.replace('"{p}"', "{p}")
            .replace("{", "{{")
            .replace("}", "}}")
            .replace("{{t}}", "{t}")
            .replace("{{p}}", "{p}")
        )
    return found


def write_flows(path: Path, lines: int, distinct: int) -> None:
    """``lines`` Hubble lines drawn from ``distinct`` flows, one in ten a reply."""
    pool = templates(distinct)
    rng = random.Random(3)
    with path.open("w") as out:
        for i in range(lines):
            line = pool[rng.randrange(distinct)].format(
                t=f"2026-01-01T00:{i // 60000 % 60:02d}:{i // 1000 % 60:02d}.{i % 1000:03d}Z",
                p=rng.randrange(32768, 61000),
            )
            if i % 10 == 9:
                line = line.replace('"is_reply": false', '"is_reply": true')
            out.write(line + "\n")


def write_tests(folder: Path) -> None:
    """One PolicyTest per namespace: the frontend to three apps, DNS, the world."""
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(NAMESPACES):
        namespace = f"team-{n:03d}"
        endpoints: dict[str, Any] = {
            "frontend": {"namespace": namespace, "labels": {"app": "frontend"}},
            "dns": {"namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
            "out": {"ip": "10.1.0.7"},
        }
        flows = []
        for a in range(3):
            endpoints[f"app{a}"] = {"namespace": namespace, "labels": {"app": f"app-{a:04d}"}}
            flows.extend(
                {"from": "frontend", "to": f"app{a}", "port": port, "expect": "deny"}
                for port in (80, 8080)
            )
            flows.append(
                {"from": f"app{a}", "to": "dns", "port": 53, "protocol": "UDP", "expect": "allow"}
            )
            flows.append({"from": f"app{a}", "to": "out", "port": 443, "expect": "allow"})
        document = {
            "apiVersion": "cilium-gitops/v1alpha1",
            "kind": "PolicyTest",
            "metadata": {"name": namespace},
            "spec": {"endpoints": endpoints, "flows": flows},
        }
        (folder / f"{namespace}.yaml").write_text(yaml.safe_dump(document))


BASELINE_JSON = """
import json, sys
with open(sys.argv[1], "rb") as handle:
    for line in handle:
        json.loads(line)
"""
BASELINE_YAML = """
import pathlib, sys, yaml
for root in sys.argv[1:]:
    for path in sorted(pathlib.Path(root).rglob("*.yaml")):
        list(yaml.load_all(path.read_bytes(), Loader=yaml.CSafeLoader))
"""


def best(repeats: int, command: list[str], expect: tuple[int, ...] = (0,)) -> float:
    """The fastest of ``repeats`` runs of a fresh process."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
        if result.returncode not in expect:
            sys.exit(f"{command[:3]} exited {result.returncode}: {result.stderr.decode()[-2000:]}")
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--policies", type=int, default=10_000)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument(
        "--distinct", type=int, default=20_000, help="distinct flows among the lines"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, help="generate here and keep it")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="cg-verdicts-"))
    try:
        run(base, args)
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)


def run(base: Path, args: argparse.Namespace) -> None:
    entries = generate(args.policies)
    before, after, tests = base / "before", base / "after", base / "tests"
    flows = base / "flows.json"
    if not before.exists():
        write_tree(before, entries)
        write_tree(after, changed(entries))
        write_tests(tests)
    if not flows.exists():
        write_flows(flows, args.lines, args.distinct)
    size = flows.stat().st_size / 2**20
    print(
        f"{args.policies:,} policies, {args.lines:,} flow lines ({size:,.0f} MiB), "
        f"{os.cpu_count()} CPUs, best of {args.repeats}"
    )
    replay = [
        CLI,
        "replay",
        "--flows",
        str(flows),
        str(before),
        str(after),
        "--format",
        "json",
        "-o",
        os.devnull,
    ]
    ours = best(args.repeats, replay)
    baseline = best(args.repeats, [sys.executable, "-c", BASELINE_JSON, str(flows)])
    verdict = "met" if ours < 60 else "MISSED"
    print(
        f"(a) replay  {ours:7.2f} s   baseline (read + json.loads) {baseline:7.2f} s   "
        f"ratio {ours / baseline:5.2f}   target < 60 s: {verdict}"
    )
    test = [CLI, "test", str(tests), "--policies", str(before), "-o", os.devnull]
    ours = best(args.repeats, test, expect=(0, 1))
    baseline = best(args.repeats, [sys.executable, "-c", BASELINE_YAML, str(before), str(tests)])
    flows_tested = NAMESPACES * 12
    print(
        f"(b) test    {ours:7.2f} s   baseline (read + libyaml)    {baseline:7.2f} s   "
        f"ratio {ours / baseline:5.2f}   ({NAMESPACES} PolicyTests, {flows_tested} flows)"
    )


if __name__ == "__main__":
    main()

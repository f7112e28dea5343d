"""Benchmark of `cilium-gitops validate` against check-jsonschema on the same files.

Writes N policy files (the shapes of bench/run.py: default deny, DNS egress, L4, L7 HTTP, CIDR),
one per file as a GitOps tree holds them, then times, in the same run:

- `check-jsonschema --schemafile cnp-1.20.json FILES...`: the common jsonschema CLI with the
  same CRD schema that cilium-gitops ships; it checks the structural layer only;
- `cilium-gitops validate --format json FILES...`: every layer (structure, Cilium's rules, lint).

Both as fresh processes, startup included; the figure is the ratio, target >= 5.
Needs `pip install -e '.[bench]'` (check-jsonschema is not a dependency of the project).

Both run as installed: pip byte-compiles a package when it installs it (check-jsonschema's
was), so this one is byte-compiled first. An editable install does not write bytecode under
PYTHONDONTWRITEBYTECODE, and every run would then compile the package from source (about
30 ms), which no installed copy does.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ruamel.yaml import YAML

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import generate

yaml = YAML(typ="safe", pure=False)
yaml.default_flow_style = False
PACKAGE = Path(__file__).resolve().parents[1] / "reconciler"
SCHEMA = PACKAGE / "validate/schemas/cnp-1.20.json"


def write_files(folder: Path, n: int) -> list[Path]:
    paths = []
    for item in generate(n):
        document = {
            "apiVersion": "cilium.io/v2",
            "kind": "CiliumNetworkPolicy",
            "metadata": {"name": item["name"], "namespace": item["namespace"]},
            "spec": item["policy"],
        }
        path = folder / item["namespace"] / f"{item['name']}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as handle:
            yaml.dump(document, handle)
        paths.append(path)
    return paths


def timed(command: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    return time.perf_counter() - started, result.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    checker = shutil.which("check-jsonschema")
    if checker is None:
        sys.exit("check-jsonschema is not installed: pip install check-jsonschema")
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(PACKAGE)], check=True)
    with tempfile.TemporaryDirectory(prefix="cilium-gitops-validate-") as tmp:
        files = [str(p) for p in write_files(Path(tmp), args.n)]
        schema = Path(tmp) / "schema.json"
        schema.write_text(SCHEMA.read_text())
        # The CRD's ^\PC*$ (log.value) is not an ECMAScript unicode-mode regex, so the default
        # variant refuses the schema; nonunicode accepts it and checks every other pattern.
        baseline, base_status = timed(
            [checker, "--regex-variant", "nonunicode", "--schemafile", str(schema), *files]
        )
        ours, our_status = timed(
            [sys.executable, "-m", "reconciler", "validate", "--format", "json", *files]
        )
    # Both must have accepted every file, or the comparison is of different work.
    assert base_status == 0, f"check-jsonschema exit {base_status}"
    assert our_status in {0, 1}, f"cilium-gitops exit {our_status}"
    ratio = baseline / ours
    print(f"N = {args.n:,} policy files")
    print(f"  check-jsonschema (structure only)   {baseline:8.2f} s")
    print(f"  cilium-gitops validate (all layers) {ours:8.2f} s")
    print(f"  ratio {ratio:5.1f}x  (target >= 5)")
    if args.json:
        args.json.write_text(json.dumps({"n": args.n, "baseline": baseline, "ours": ours}))


if __name__ == "__main__":
    main()

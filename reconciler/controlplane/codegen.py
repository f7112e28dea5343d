"""Regenerates the committed gRPC stubs from ``proto/ctrl/v1/cluster.proto`` (development only).

    .venv/bin/python -m reconciler.controlplane.codegen          # rewrite gen/
    .venv/bin/python -m reconciler.controlplane.codegen --check  # exit 1 if the stubs are stale

Needs ``grpcio-tools`` (in the ``test`` extra); the service itself only imports the output. The
generated ``_grpc`` module imports its sibling as a top-level module; it is rewritten to a
relative import so the stubs live inside this package.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTO_ROOT = HERE / "proto"
PROTO = "ctrl/v1/cluster.proto"
OUT = HERE / "gen"
_FILES = ("cluster_pb2.py", "cluster_pb2.pyi", "cluster_pb2_grpc.py")


def generate(into: Path) -> dict[str, str]:
    """Run protoc into ``into`` and return the stub files' text by name."""
    from grpc_tools import protoc  # noqa: PLC0415 - a development dependency only

    code = protoc.main(
        [
            "protoc",
            f"-I{PROTO_ROOT}",
            f"--python_out={into}",
            f"--pyi_out={into}",
            f"--grpc_python_out={into}",
            str(PROTO_ROOT / PROTO),
        ]
    )
    if code != 0:
        msg = f"protoc failed with exit code {code}"
        raise RuntimeError(msg)
    generated = into / "ctrl" / "v1"
    texts = {name: (generated / name).read_text(encoding="utf-8") for name in _FILES}
    texts["cluster_pb2_grpc.py"] = texts["cluster_pb2_grpc.py"].replace(
        "from ctrl.v1 import cluster_pb2 as", "from . import cluster_pb2 as"
    )
    return texts


def main() -> int:
    """Write or check the stubs."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if stale")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        texts = generate(Path(tmp))
    stale = [n for n in _FILES if not (OUT / n).is_file() or (OUT / n).read_text() != texts[n]]
    if args.check:
        for name in stale:
            sys.stderr.write(
                f"stale: {OUT / name}; run python -m reconciler.controlplane.codegen\n"
            )
        return 1 if stale else 0
    OUT.mkdir(exist_ok=True)
    (OUT / "__init__.py").write_text('"""Generated gRPC stubs: do not edit; see codegen.py."""\n')
    for name, text in texts.items():
        (OUT / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Writes the shipped CRD schemas from Cilium's CRD files; ``--check`` reports stale copies.

Build-time tool behind ``validate.structure`` (documents -> structure -> semantics ...): the
validator never reads a Cilium checkout at run time, it reads the JSON this writes into
``reconciler/validate/schemas/``. Run it when a Cilium release changes its CRDs::

    python -m reconciler.validate.schemas.extract --crds <cilium>/pkg/k8s/apis/cilium.io/\
client/crds/v2 --version 1.20

Exit codes: 0 written (or up to date with ``--check``), 1 stale with ``--check``, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

# Shipped file prefix for each CRD file: the prefix is what ``structure`` looks up by kind.
CRD_FILES = {
    "cnp": "ciliumnetworkpolicies.yaml",
    "ccnp": "ciliumclusterwidenetworkpolicies.yaml",
}
CRD_VERSION = "v2"  # the served version that holds the policy schema
SCHEMA_DIR = Path(__file__).resolve().parent
_VERSION = re.compile(r"\d+\.\d+")

# Keywords whose value is one schema, a list of schemas, or a map of name to schema; every other
# keyword holds data (enum, default, required...) that is copied untouched, so a field that
# happens to be called "description" survives.
_SCHEMA_ONE = frozenset({"items", "additionalProperties", "not"})
_SCHEMA_LIST = frozenset({"oneOf", "anyOf", "allOf"})
_SCHEMA_MAP = frozenset({"properties", "patternProperties", "definitions"})


class ExtractError(Exception):
    """The CRD files are missing or are not what this tool expects."""


def strip_descriptions(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema without its ``description`` keywords: a quarter of the size, same checks."""
    stripped: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "description":
            continue
        if key in _SCHEMA_ONE and isinstance(value, dict):
            stripped[key] = strip_descriptions(value)
        elif key in _SCHEMA_LIST and isinstance(value, list):
            stripped[key] = [strip_descriptions(item) for item in value]
        elif key in _SCHEMA_MAP and isinstance(value, dict):
            stripped[key] = {name: strip_descriptions(sub) for name, sub in value.items()}
        else:
            stripped[key] = value
    return stripped


def schema_of(crd_file: Path) -> dict[str, Any]:
    """The ``openAPIV3Schema`` of the CRD's v2 version, descriptions stripped."""
    try:
        crd = YAML(typ="safe").load(crd_file.read_text(encoding="utf-8"))
    except (OSError, YAMLError) as exc:
        raise ExtractError(f"{crd_file}: cannot read: {exc}") from None
    versions = crd.get("spec", {}).get("versions", []) if isinstance(crd, dict) else []
    for version in versions:
        if isinstance(version, dict) and version.get("name") == CRD_VERSION:
            schema = version.get("schema", {}).get("openAPIV3Schema")
            if isinstance(schema, dict):
                return strip_descriptions(schema)
    raise ExtractError(f"{crd_file}: no {CRD_VERSION} version with an openAPIV3Schema")


def render(schema: dict[str, Any]) -> str:
    """Compact, sorted JSON: small in the wheel and stable in diffs."""
    return json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


def expected_files(crds: Path, version: str) -> dict[str, str]:
    """File name -> content that ``crds`` yields for ``version``."""
    return {
        f"{prefix}-{version}.json": render(schema_of(crds / name))
        for prefix, name in CRD_FILES.items()
    }


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m reconciler.validate.schemas.extract",
        description="Write the CRD schemas validate ships, or check that they are up to date.",
    )
    parser.add_argument("--crds", type=Path, required=True, help="folder with the CRD YAML files")
    parser.add_argument("--version", required=True, help="Cilium minor version, e.g. 1.20")
    parser.add_argument("--out", type=Path, default=SCHEMA_DIR, help="where the JSON goes")
    parser.add_argument("--check", action="store_true", help="exit 1 if a file would change")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` compare) the schema files; returns the exit code."""
    args = _arguments(argv)
    if not _VERSION.fullmatch(args.version):
        sys.stderr.write(f"--version {args.version!r}: expected MAJOR.MINOR, e.g. 1.20\n")
        return 2
    try:
        files = expected_files(args.crds, args.version)
    except ExtractError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    stale = False
    for name, content in files.items():
        target = args.out / name
        current = target.read_text(encoding="utf-8") if target.is_file() else None
        if current == content:
            continue
        if args.check:
            sys.stderr.write(f"{target}: stale; rerun without --check to rewrite it\n")
            stale = True
        else:
            target.write_text(content, encoding="utf-8")
            sys.stdout.write(f"wrote {target}\n")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())

"""The vendored Cilium corpus (tests/data/cilium) is the one in ../shared/, byte for byte.

The corpus tests read the copy so that a clean clone runs them; this test notices when the
shared material moves on (a new Cilium commit) and the copy should be refreshed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from conftest import CILIUM, SHARED

if TYPE_CHECKING:
    from pathlib import Path


def _files(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_the_vendored_corpus_is_complete() -> None:
    files = _files(CILIUM)
    policies = [name for name in files if name.startswith("examples/")]
    assert len(policies) == 82
    assert {"LICENSE", "SOURCE.md", "crds/ciliumnetworkpolicies.yaml"} <= files.keys()


@pytest.mark.skipif(not (SHARED / "cilium").is_dir(), reason=f"no {SHARED}/cilium to compare")
def test_the_vendored_corpus_matches_shared() -> None:
    shared = _files(SHARED / "cilium")
    vendored = _files(CILIUM)
    assert sorted(shared.keys() ^ vendored.keys()) == []
    changed = [name for name in shared if shared[name] != vendored[name]]
    assert changed == []

"""Log lines: JSON for collectors, text for people."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

import pytest

from reconciler.service.logs import configure

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    # configure() points the root logger at this test's captured stderr; later tests must not
    # log into a closed stream.
    handlers, level = logging.root.handlers[:], logging.root.level
    yield
    logging.root.handlers[:] = handlers
    logging.root.setLevel(level)


def test_json_lines_when_not_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    configure(logging.INFO, json_output=True)
    logging.getLogger("cilium_gitops.test").info("pushed %s at version %d", "abc123", 7)
    line = capsys.readouterr().err.strip().splitlines()[-1]
    entry = json.loads(line)
    assert entry["level"] == "info"
    assert entry["logger"] == "cilium_gitops.test"
    assert entry["message"] == "pushed abc123 at version 7"
    assert entry["time"].endswith("Z")


def test_text_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    configure(logging.WARNING, json_output=False)
    logging.getLogger("cilium_gitops.test").warning("remote down")
    assert capsys.readouterr().err.strip().endswith("WARNING cilium_gitops.test: remote down")

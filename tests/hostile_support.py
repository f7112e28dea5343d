"""Running cilium-gitops as a user would on hostile input, and what every case must hold.

Each run is a real process (the console script, as installed), so a traceback, a hang or a memory
blow-up shows as it would to a user: the exit code is the documented one, stderr has no traceback,
the process ends within its time bound (it is killed otherwise), and its peak memory (the kernel's
own accounting, ``wait4``'s ``ru_maxrss`` of the command's process) stays under the bound.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest
from conftest import git

CLI = Path(sys.executable).parent / "cilium-gitops"
# The command runs under this small launcher: a child's peak memory (ru_maxrss) starts at its
# parent's size when forked, so measured straight from pytest (hundreds of MiB by then) it would
# be pytest's. The launcher is small, forks the command, and reports the command's own usage.
_LAUNCHER = """
import json, os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    json.dump({"maxrss_kib": usage.ru_maxrss}, out)
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""
# Issue 15: a one-shot command stays under 512 MiB whatever the input.
MAX_RSS_MIB = 512
# Every hostile case ends well within this; a hang is killed here and fails the case.
TIMEOUT = 120.0


@dataclass(frozen=True)
class Run:
    """What one process did."""

    code: int
    stdout: str
    stderr: str
    max_rss_mib: float
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = TIMEOUT
) -> Run:
    """``cilium-gitops ARGS`` in a process of its own; its exit code, output, memory and time."""
    started = time.monotonic()
    out: list[bytes] = []
    err: list[bytes] = []
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as report:
        usage_file = Path(report.name)
    with subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, str(usage_file), str(CLI), *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        readers = [
            threading.Thread(target=_drain, args=(process.stdout, out), daemon=True),
            threading.Thread(target=_drain, args=(process.stderr, err), daemon=True),
        ]
        for reader in readers:
            reader.start()
        timer = threading.Timer(timeout, os.killpg, (process.pid, signal.SIGKILL))
        timer.start()
        try:
            process.wait()
        finally:
            timer.cancel()
        for reader in readers:
            reader.join(timeout=10)
    seconds = time.monotonic() - started
    if process.returncode == -signal.SIGKILL:
        usage_file.unlink(missing_ok=True)
        pytest.fail(f"cilium-gitops {' '.join(args)} did not end within {timeout:.0f} s")
    usage = json.loads(usage_file.read_text(encoding="utf-8"))
    usage_file.unlink()
    return Run(
        code=process.returncode,
        stdout=b"".join(out).decode("utf-8", "replace"),
        stderr=b"".join(err).decode("utf-8", "replace"),
        max_rss_mib=usage["maxrss_kib"] / 1024,  # the kernel's figure, in KiB on Linux
        seconds=seconds,
    )


def _drain(stream: IO[bytes], into: list[bytes]) -> None:
    into.append(stream.read())


def assert_well_behaved(run: Run, *, codes: tuple[int, ...]) -> None:
    """A documented exit code, no traceback, and memory under the bound."""
    assert run.code in codes, f"exit {run.code}, wanted one of {codes}:\n{run.output[-3000:]}"
    assert "Traceback (most recent call last)" not in run.output, run.output[-3000:]
    assert run.max_rss_mib < MAX_RSS_MIB, f"peak memory {run.max_rss_mib:.0f} MiB"


def rejection_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("rejected: ")]


def committed_paths(remote: Path, branch: str = "main") -> list[str]:
    """Every path a commit on ``branch`` ever touched (names only)."""
    out = git("log", "--name-only", "--format=", branch, cwd=remote)
    return sorted({line for line in out.splitlines() if line})


def everything_under(folder: Path) -> set[str]:
    """Every path below ``folder`` (links not followed), relative, for "nothing written" checks."""
    found: set[str] = set()
    for current, folders, files in os.walk(folder):
        for name in [*folders, *files]:
            found.add((Path(current) / name).relative_to(folder).as_posix())
    return found

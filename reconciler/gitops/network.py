"""git's network commands with a deadline on progress: a remote that stops answering is cut.

Sits under ``workspace``, which runs every fetch, ls-remote and push through ``run_watched``.
git itself waits forever on a ``git://`` server that accepts the connection and says nothing
(and on any transport whose server stalls mid-transfer), so a cron job or CI step would never
end and the next one would pile on top. Here each command runs with ``--progress``-style
output on stderr, and a watchdog kills its process group once nothing has come from it for
``stall_seconds``: a transfer that is moving keeps printing progress (counts and throughput
update every second), one that is not is stuck. Per transport, the cut also comes from below:
``http.lowSpeedLimit``/``http.lowSpeedTime`` for HTTP(S), ``ServerAliveInterval`` for SSH
(see ``credentials``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

# Progress lines are rewritten in place with \r; they are the signs of life, not the message.
_PROGRESS_WORDS = (
    "Counting objects",
    "Compressing objects",
    "Writing objects",
    "Receiving objects",
    "Resolving deltas",
    "Enumerating objects",
    "Total ",
    "Delta compression",
)


@dataclass(frozen=True, slots=True)
class Finished:
    """How a watched command ended."""

    code: int
    stdout: str
    stderr: str  # without progress lines
    stalled: bool  # killed for making no progress


def run_watched(
    argv: Sequence[str], *, cwd: Path, env: dict[str, str], stall_seconds: float
) -> Finished:
    """Run ``argv``; kill it once neither stdout nor stderr has had a byte for ``stall_seconds``."""
    last = [time.monotonic()]
    out: list[bytes] = []
    err: list[bytes] = []
    with subprocess.Popen(  # noqa: S603 - git with an argument list, never a shell
        list(argv),
        cwd=cwd,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own group: ssh and helpers die with it
    ) as process:
        assert process.stdout is not None  # noqa: S101 - PIPE was asked for
        assert process.stderr is not None  # noqa: S101
        closed = _Closed(2)
        readers = [
            threading.Thread(target=_pump, args=(process.stdout, out, last, closed), daemon=True),
            threading.Thread(target=_pump, args=(process.stderr, err, last, closed), daemon=True),
        ]
        for reader in readers:
            reader.start()
        stalled = _watch(process, last, stall_seconds, closed)
        for reader in readers:
            reader.join(timeout=10)
    return Finished(
        code=process.returncode,
        stdout=b"".join(out).decode("utf-8", "replace"),
        stderr=_without_progress(b"".join(err).decode("utf-8", "replace")),
        stalled=stalled,
    )


class _Closed:
    """Set once every one of ``count`` pipes has reached its end (the process let go of it)."""

    def __init__(self, count: int) -> None:
        self._left = count
        self._lock = threading.Lock()
        self.event = threading.Event()

    def one(self) -> None:
        with self._lock:
            self._left -= 1
            if not self._left:
                self.event.set()


def _pump(stream: IO[bytes], into: list[bytes], last: list[float], closed: _Closed) -> None:
    try:
        while chunk := stream.read1(65536):  # type: ignore[attr-defined]
            into.append(chunk)
            last[0] = time.monotonic()
    finally:
        closed.one()


def _watch(
    process: subprocess.Popen[bytes], last: list[float], stall_seconds: float, closed: _Closed
) -> bool:
    """Wait for ``process``; kill its group when it is silent too long. True if killed.

    Waits on its pipes closing rather than polling for its exit (``Popen.wait`` with a timeout
    sleeps up to 50 ms between looks): a push is done the moment git lets go of its output.
    """
    while True:
        idle = time.monotonic() - last[0]
        if closed.event.wait(timeout=max(0.05, min(1.0, stall_seconds - idle))):
            try:
                process.wait(timeout=max(1.0, stall_seconds))
            except subprocess.TimeoutExpired:
                pass  # its pipes are closed but it lingers: cut it like a silent one
            else:
                return False
        elif process.poll() is not None:
            return False  # it ended, and something it started holds its pipes
        elif time.monotonic() - last[0] < stall_seconds:
            continue
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return True


def _without_progress(text: str) -> str:
    lines = []
    for raw in text.replace("\r", "\n").splitlines():
        line = raw.removeprefix("remote: ").strip()
        if line and not line.startswith(_PROGRESS_WORDS):
            lines.append(raw.strip())
    return "\n".join(lines)

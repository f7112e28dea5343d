"""Log output: one JSON object per line when stderr is not a terminal, plain text when it is.

Sits under the commands: ``commands.cli`` configures it once. Log collectors (Loki, Cloud Logging,
...) read the JSON form; people at a terminal read the text form. Messages are already free of
secrets: the git and gRPC edges redact before anything is raised or logged.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from reconciler.scrub import printable


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message"[, "error"]}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        """Render one record."""
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    r"""``LEVEL logger: message`` on one line: whatever the message holds is shown, not obeyed.

    An id or a name from the control plane may hold a newline (which would forge a second log
    line) or a terminal escape; ``printable`` shows them as ``\n`` and ``\x1b``. A traceback,
    ours, keeps its lines.
    """

    def __init__(self) -> None:
        """The one layout of the text form."""
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        """The record's line, its message made printable."""
        shown = logging.makeLogRecord({**record.__dict__, "message": printable(record.message)})
        return super().formatMessage(shown)


def configure(level: int, *, json_output: bool | None = None) -> None:
    """Send logs to stderr at ``level``; JSON unless stderr is a terminal (or as told)."""
    handler = logging.StreamHandler(sys.stderr)
    as_json = not sys.stderr.isatty() if json_output is None else json_output
    handler.setFormatter(JsonFormatter() if as_json else TextFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)

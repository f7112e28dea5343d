r"""What may leave the process: text without secrets, and without characters that act.

Sits on the floor beside ``errors``, under every package. Two rules hold for any text that
reaches a terminal, a log line, an error, a commit message or a report:

* ``redact``: URL user-info and every known secret value are replaced by ``***``;
* ``printable``: text that came from input (an id, a name, a path, a value, a commit subject)
  is shown, never obeyed. Control characters (a newline that would forge a second log line,
  an ANSI escape that would rewrite the terminal) and the Unicode controls that reorder or
  hide text (bidirectional overrides, line separators: "Trojan Source") become visible
  escapes such as ``\n``, ``\x1b`` or ``\u202e``.

JSON output needs neither: ``json.dumps`` escapes control characters by itself.
"""

from __future__ import annotations

import re

_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# C0, DEL and C1 controls; the bidirectional marks, embeddings, overrides and isolates; the
# zero-width characters a reviewer cannot see; the line and paragraph separators. A backslash
# stays as it is: regular expressions in policies are full of them, and a real newline can no
# longer pass for one.
_ACTIVE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove URL user-info and every known secret value from ``text``."""
    text = _URL_USERINFO.sub(r"\g<scheme>***@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"  # noqa: PLR2004 - one byte


def printable(text: object) -> str:
    r"""``text`` on one line, every character that could act shown as an escape (``\n``)."""
    value = text if isinstance(text, str) else str(text)
    return _ACTIVE.sub(_escape, value)

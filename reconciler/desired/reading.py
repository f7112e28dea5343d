"""Untrusted bytes -> plain values: the one way this package reads a file or a message.

Sits at the trust boundary, under the desired-state file source, the config file, the control
plane's messages and the reference server. Every reader here:

* reads regular files only, opened without following a link at the last step and without
  blocking (a FIFO or a device named as a file would otherwise hang the process), and refuses a
  file over its size limit before reading a byte of it;
* decodes strict UTF-8, and says at which byte it is not;
* parses JSON strictly: a duplicate key is refused (Kubernetes' own decoder, sigs.k8s.io/json,
  refuses them in strict mode; YAML's loader already does), and so are ``NaN`` and
  ``Infinity``, which are not JSON;
* parses YAML with the safe loader (plain values only, no tags that build objects), then checks
  aliases and depth (``limits.check_document``) before anything walks the value.

Every failure is an ``InputLimitError`` or ``ConfigError`` naming the input and what is wrong.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from reconciler.desired.limits import InputLimitError, check_document
from reconciler.errors import ConfigError, SourceUnavailableError

if TYPE_CHECKING:
    from collections.abc import Generator, Iterator

# An unquoted '*' starting a node is a YAML alias; inside quotes it is text. The pattern also
# matches some text (a '*' after a space in a quoted string), which only costs the alias walk.
_MAYBE_ALIAS = re.compile(r"(?:^|[\s\[{,:-])\*[^\s,\[\]{}]")
# Text that may nest deeper than limits.MAX_DEPTH: a run of flow openers, or a line indented
# that far. Only such text (or text with aliases) is walked, so a large ordinary file is not.
_MAYBE_DEEP = re.compile(r"(?:[\[{]\s*){32}|^ {128}", re.MULTILINE)
# A \\u escape of a UTF-16 surrogate: JSON and YAML both allow writing one, alone, which gives a
# string no UTF-8 file can hold (Kubernetes' decoder would turn it into U+FFFD).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]|\\U0000[dD][89a-fA-F]")
_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
    stat.S_IFLNK: "a symlink",
}


class NotRegularFileError(ConfigError):
    """A path names a FIFO, a device, a socket or a folder: it is never read."""


def file_kind(mode: int) -> str | None:
    """What a non-regular file is ("a FIFO", ...), or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def read_bytes(path: Path | str, *, max_bytes: int, what: str, follow: bool = True) -> bytes:
    """The content of the regular file ``path``, at most ``max_bytes`` long.

    Opened non-blocking (a FIFO opens at once, and is then refused for what it is). With
    ``follow=False`` a symlink at ``path`` itself is refused too.
    """
    handle = _open(path, what=what, follow=follow)
    try:
        info = os.fstat(handle)
        kind = file_kind(info.st_mode)
        if kind is not None:
            msg = f"{path}: the {what} is {kind}, not a regular file; not read"
            raise NotRegularFileError(msg)
        if info.st_size > max_bytes:
            msg = (
                f"{path}: the {what} is {info.st_size:,} bytes, over the limit of "
                f"{max_bytes:,} bytes"
            )
            raise InputLimitError(msg)
        data = _read_at_most(handle, max_bytes + 1)
    finally:
        os.close(handle)
    if len(data) > max_bytes:  # it grew between fstat and read
        msg = f"{path}: the {what} grew past the limit of {max_bytes:,} bytes while being read"
        raise InputLimitError(msg)
    return data


def _open(path: Path | str, *, what: str, follow: bool) -> int:
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if not follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        return os.open(path, flags)
    except FileNotFoundError as exc:
        msg = f"{path}: {what} not found"
        raise ConfigError(msg) from exc
    except OSError as exc:
        if not follow and Path(path).is_symlink():
            msg = f"{path}: {what} is a symlink; not followed"
            raise NotRegularFileError(msg) from None
        try:
            kind = file_kind(os.stat(path).st_mode)  # noqa: PTH116 - str or Path
        except OSError:
            kind = None
        if kind is not None:  # a socket cannot even be opened (ENXIO)
            msg = f"{path}: the {what} is {kind}, not a regular file; not read"
            raise NotRegularFileError(msg) from None
        msg = f"{path}: cannot read the {what}: {exc.strerror}"
        raise SourceUnavailableError(msg) from exc


def _read_at_most(handle: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while total < limit:
        chunk = os.read(handle, min(limit - total, 1 << 24))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def decode(data: bytes, *, where: str) -> str:
    """Strict UTF-8 (a leading byte-order mark is dropped)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        msg = f"{where}: not UTF-8 text (byte {exc.start:,})"
        raise ConfigError(msg) from None


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKeyError(key)
            seen.add(key)
    return found


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _no_surrogates(value: object, text: str, where: str) -> None:
    """Refuse a value with a lone surrogate in it; looked for only where the text escapes one."""
    if _SURROGATE_ESCAPE.search(text) is None:
        return
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                msg = f"{where}: a string holds a lone UTF-16 surrogate (\\ud800-\\udfff)"
                raise ConfigError(msg) from None
        elif isinstance(node, dict):
            stack.extend(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def parse_json(text: str | bytes, *, where: str) -> object:
    """Strict JSON: duplicate keys, ``NaN`` and ``Infinity`` refused; deep nesting refused."""
    if isinstance(text, bytes):
        text = decode(text, where=where)
    with _json_errors(where):
        value = json.loads(text, object_pairs_hook=_unique, parse_constant=_constant)
    _no_surrogates(value, text, where)
    return value


@contextlib.contextmanager
def _json_errors(where: str) -> Iterator[None]:
    """Every way strict JSON parsing fails, as our errors naming ``where``."""
    try:
        yield
    except _DuplicateKeyError as exc:
        msg = f"{where}: invalid JSON: duplicate key {exc.key!r}"
        raise ConfigError(msg) from None
    except RecursionError:
        msg = f"{where}: invalid JSON: nested too deeply"
        raise InputLimitError(msg) from None
    except ValueError as exc:  # JSONDecodeError, NaN
        msg = f"{where}: invalid JSON: {exc}"
        raise ConfigError(msg) from None


_JSON_SCALARS = (str, int, float, bool, type(None))


def _json_shaped(value: object, where: str) -> None:
    """Refuse what only a YAML tag builds (``!!binary`` bytes, ``!!set``, a timestamp)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif not isinstance(node, _JSON_SCALARS):
            msg = f"{where}: a YAML tag builds a {type(node).__name__}; only JSON values are read"
            raise ConfigError(msg)


def parse_yaml(text: str, *, where: str) -> object:
    """One YAML document as plain values (the safe loader), aliases and depth checked."""
    try:
        # The safe loader builds plain dicts and lists, rejects duplicate keys, and uses libyaml
        # when it is installed.
        value = YAML(typ="safe").load(text)
    except RecursionError:
        msg = f"{where}: invalid YAML: nested too deeply"
        raise InputLimitError(msg) from None
    except YAMLError as exc:
        msg = f"{where}: invalid YAML: {exc}"
        raise ConfigError(msg) from None
    if _MAYBE_ALIAS.search(text) is not None or _MAYBE_DEEP.search(text) is not None:
        check_document(value, where=where)
    if "!" in text:
        _json_shaped(value, where)
    _no_surrogates(value, text, where)
    return value


def load_document(path: Path, *, max_bytes: int, what: str = "desired-state file") -> object:
    """Read and parse a YAML or JSON file (by its suffix) into plain values."""
    text = decode(read_bytes(path, max_bytes=max_bytes, what=what), where=str(path))
    if path.suffix == ".json":
        return parse_json(text, where=str(path))
    return parse_yaml(text, where=str(path))


_Scan = Callable[[str, int], tuple[object, int]]
# JSON's whitespace (RFC 8259): what may stand between tokens.
_JSON_SPACE = re.compile(r"[ \t\n\r]*")


class JsonMember(NamedTuple):
    """One member of a JSON object as ``stream_json_object`` reads it."""

    key: str
    value: object
    text: str  # the value's exact text
    item: bool = False  # one element of the streamed list, not a member of its own


def stream_json_object(
    text: str, *, where: str, stream: str, lenient: bool = True
) -> Iterator[JsonMember]:
    """A JSON object's members, read one at a time.

    The list under the key ``stream`` comes as a member holding an empty list, then one
    member per element (``item=True``, its value and exact text), so a desired-state file of
    100,000 policies is never held as one tree of values: each entry is parsed, handed on, and
    dropped, and its text is there to digest. Other members come whole. The object itself is
    read as strictly as ``parse_json`` (duplicate keys, trailing text refused; a ``stream``
    value that is not a list too).

    With ``lenient``, an item's value is read leniently (json's C scanner alone: a duplicate
    key, ``NaN`` or a lone surrogate passes), at a third of the cost: a caller that acts on an
    item reads it with ``parse_json(member.text)``, unless it knows that exact text was read
    strictly before. Without, items are read as strictly as the rest.
    """
    strict = json.JSONDecoder(object_pairs_hook=_unique, parse_constant=_constant)
    scan: _Scan = strict.scan_once  # type: ignore[attr-defined]
    items: _Scan = json.JSONDecoder().scan_once if lenient else scan  # type: ignore[attr-defined]
    with _json_errors(where):
        at = yield from _members(
            text, (scan, items), stream=stream, where=where, strict=not lenient
        )
        if _skip(text, at) != len(text):
            raise json.JSONDecodeError("Extra data", text, _skip(text, at))


def _members(
    text: str, scans: tuple[_Scan, _Scan], *, stream: str, where: str, strict: bool
) -> Generator[JsonMember, None, int]:
    """The top-level object's members; returns where the object ends."""
    scan, items = scans
    at = _skip(text, _expect(text, _skip(text, 0), "{"))
    if text.startswith("}", at):
        return at + 1
    seen: set[str] = set()
    while True:
        key, at = _key(text, at, scan, where)
        if key in seen:
            raise _DuplicateKeyError(key)
        seen.add(key)
        at = _skip(text, _expect(text, _skip(text, at), ":"))
        if key == stream:
            _check_list(text, at, scan, stream=stream, where=where)
            yield JsonMember(key, [], "[]")
            at = yield from _stream_list(
                text, at + 1, items, stream=stream, where=where if strict else None
            )
        else:
            value, end = _scan_at(scan, text, at)
            _no_surrogates(value, text[at:end], where)
            yield JsonMember(key, value, text[at:end])
            at = end
        at = _skip(text, at)
        if not text.startswith(",", at):
            return _expect(text, at, "}")
        at = _skip(text, at + 1)


def _scan_at(scan: _Scan, text: str, at: int) -> tuple[object, int]:
    # scan_once says "no value here" with StopIteration, which a generator must not raise.
    try:
        return scan(text, at)
    except StopIteration:
        raise json.JSONDecodeError("Expecting value", text, at) from None


def _check_list(text: str, at: int, scan: _Scan, *, stream: str, where: str) -> None:
    if not text.startswith("[", at):
        value, _ = _scan_at(scan, text, at)
        msg = f"{where}: {stream!r} must be a list, got {type(value).__name__}"
        raise ConfigError(msg)


def _stream_list(
    text: str, at: int, scan: _Scan, *, stream: str, where: str | None
) -> Generator[JsonMember, None, int]:
    """The list's items; ``where``: they are read strictly (surrogates checked here)."""
    space = _JSON_SPACE.match
    at = _skip(text, at)
    if text.startswith("]", at):
        return at + 1
    while True:
        try:
            item, end = scan(text, at)
        except StopIteration:
            raise json.JSONDecodeError("Expecting value", text, at) from None
        raw = text[at:end]
        if where is not None:
            _no_surrogates(item, raw, where)
        yield JsonMember(stream, item, raw, item=True)
        at = space(text, end).end()  # type: ignore[union-attr]  # '*' always matches
        if text.startswith(",", at):
            at = space(text, at + 1).end()  # type: ignore[union-attr]
            continue
        return _expect(text, at, "]")


def _skip(text: str, at: int) -> int:
    match = _JSON_SPACE.match(text, at)
    return match.end() if match is not None else at


def _expect(text: str, at: int, token: str) -> int:
    if not text.startswith(token, at):
        msg = f"Expecting {token!r}"
        raise json.JSONDecodeError(msg, text, at)
    return at + 1


def _key(text: str, at: int, scan: _Scan, where: str) -> tuple[str, int]:
    if not text.startswith('"', at):
        msg = "Expecting property name enclosed in double quotes"
        raise json.JSONDecodeError(msg, text, at)
    key, end = _scan_at(scan, text, at)
    _no_surrogates(key, text[at:end], where)
    assert isinstance(key, str)  # noqa: S101 - a JSON string scans to a str
    return key, end

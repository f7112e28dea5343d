r"""Does Go's ``regexp`` (RE2 syntax) compile this pattern? For the semantics layer's HTTP rules.

Part of the ``semantics`` step (documents -> structure -> semantics -> lint -> repository):
Cilium compiles an HTTP rule's path and method with Go's ``regexp.Compile`` and rejects the
policy when that fails (``PortRuleHTTP.Validate``). Python's ``re`` is a different dialect, so
a pattern is first scanned for what RE2 lacks and translated where only the spelling differs;
then Python compiles the translation to catch the plain syntax errors both dialects share.

RE2 rejects, though Python accepts: backreferences (``\1``, ``(?P=name)``), lookahead and
lookbehind (``(?=``, ``(?!``, ``(?<=``, ``(?<!``), atomic groups ``(?>``, possessive
quantifiers (``a*+``, ``a{2}+``), conditionals ``(?(1)``, comments ``(?#``, flags other than
``imsU``, ``\Z``, ``\u``/``\N``/``\g`` escapes and repeat counts above 1000. RE2 accepts,
though Python does not: ``\z``, ``\pL``/``\p{Greek}``, ``\Q...\E``, ``\x{263a}``, POSIX
classes such as ``[[:alpha:]]``, ``(?<name>``, flags in mid-pattern such as ``a(?i)b``, and a
repeated assertion such as ``\b+``; those are translated before Python sees them.
"""

from __future__ import annotations

import functools
import re
import warnings

# Escape letters regexp/syntax knows; inside a class only the character-like ones.
_CLASS_ESCAPES = frozenset("afnrtvxdDsSwWpP")
_ESCAPES = _CLASS_ESCAPES | frozenset("AbBzQ")
_POSIX = frozenset(
    {"alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph"}
    | {"lower", "print", "punct", "space", "upper", "word", "xdigit"}
)
_REPEAT = re.compile(r"\{(\d+)(?:,(\d*))?\}")
_FLAG_GROUP = re.compile(r"\(\?[imsU]*(?:-[imsU]*)?([:)])")
_NAMED_GROUP = re.compile(r"\(\?P?<(\w+)>")
_UNICODE_CLASS = re.compile(r"\\[pP](?:\{\^?\w+\}|[A-Za-z])")
_BRACED_HEX = re.compile(r"\\x\{[0-9A-Fa-f]{1,6}\}")
_OCTAL = re.compile(r"\\[0-7]{1,3}")
_POSIX_CLASS = re.compile(r"\[:\^?(\w*):\]")
_MAX_REPEAT = 1000  # regexp/syntax's maximum repeat count


class NotRE2Error(ValueError):
    """The pattern uses a construct Go's regexp does not have."""


@functools.lru_cache(maxsize=2048)
def re2_problem(pattern: str) -> str | None:
    """Why Go's ``regexp.Compile`` rejects ``pattern``, or None when it compiles."""
    try:
        python = _Translator(pattern).run()
    except NotRE2Error as error:
        return str(error)
    try:
        with warnings.catch_warnings():
            # Python warns about "[[" and "--" in sets (possible future set syntax); RE2
            # reads them literally, so the warning is no verdict.
            warnings.simplefilter("ignore")
            re.compile(python)
    except re.error as error:
        return error.msg  # without the position, which counts in the translation
    except (RecursionError, OverflowError):
        return "too deeply nested"
    return None


class _Translator:
    """One left-to-right pass: raise on RE2-only errors, emit Python's spelling of the rest."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.index = 0
        self.out: list[str] = []
        self.names: set[str] = set()

    def run(self) -> str:
        pattern = self.pattern
        while self.index < len(pattern):
            char = pattern[self.index]
            if char == "\\":
                self._escape(in_class=False)
            elif char == "[":
                self._char_class()
            elif char == "(":
                self._group()
            elif char == "{":
                self._repeat()
            elif char in "*+?":
                self.out.append(char)
                self.index += 1
                self._after_quantifier()
            elif char in "^$":
                # RE2 lets an assertion be repeated ("^*"); Python says "nothing to repeat".
                self.out.append(f"(?:{char})")
                self.index += 1
            else:
                self.out.append(char)
                self.index += 1
        return "".join(self.out)

    def _after_quantifier(self) -> None:
        following = self.pattern[self.index : self.index + 1]
        if following == "+":
            msg = "possessive quantifiers (such as a*+) are not in Go's RE2"
            raise NotRE2Error(msg)
        if following == "?":  # lazy
            self.out.append("?")
            self.index += 1

    def _repeat(self) -> None:
        match = _REPEAT.match(self.pattern, self.index)
        if match is None:  # a literal "{", in both dialects
            self.out.append("\\{")
            self.index += 1
            return
        low, high = match.group(1), match.group(2)
        if int(low) > _MAX_REPEAT or (high and int(high) > _MAX_REPEAT):
            msg = f"repeat count {match.group(0)} is above Go's limit of 1000"
            raise NotRE2Error(msg)
        self.out.append(match.group(0))
        self.index = match.end()
        self._after_quantifier()

    def _group(self) -> None:
        pattern, start = self.pattern, self.index
        if pattern[start + 1 : start + 2] != "?":
            self.out.append("(")
            self.index += 1
            return
        if pattern.startswith("(?:", start):
            self.out.append("(?:")
            self.index += 3
            return
        named = _NAMED_GROUP.match(pattern, start)
        if named is not None:
            name = named.group(1)
            if name in self.names:
                msg = f"duplicate capture group name {name!r}"
                raise NotRE2Error(msg)
            self.names.add(name)
            # Go allows names Python does not (such as "1"); the name itself is checked above.
            self.out.append(f"(?P<g{len(self.names)}>")
            self.index = named.end()
            return
        flags = _FLAG_GROUP.match(pattern, start)
        if flags is not None and flags.end() - start > 3:  # noqa: PLR2004 - "(?)" has no flag
            # Python only takes flags at the very start; their meaning is no syntax matter.
            self.out.append("(?:" if flags.group(1) == ":" else "")
            self.index = flags.end()
            return
        shown = pattern[start : start + 4]
        msg = (
            f"group syntax {shown!r} is not in Go's RE2 "
            "(no lookaround, atomic groups, backreferences, conditionals or comments)"
        )
        raise NotRE2Error(msg)

    def _escape(self, *, in_class: bool) -> None:
        pattern, start = self.pattern, self.index
        following = pattern[start + 1 : start + 2]
        if not following:
            msg = "trailing backslash"
            raise NotRE2Error(msg)
        if following == "Q" and not in_class:  # literal text up to \E
            end = pattern.find("\\E", start + 2)
            stop = len(pattern) if end < 0 else end
            self.out.append(re.escape(pattern[start + 2 : stop]))
            self.index = len(pattern) if end < 0 else end + 2
            return
        for form, python in ((_UNICODE_CLASS, "\\w"), (_BRACED_HEX, "x"), (_OCTAL, "x")):
            match = form.match(pattern, start)
            if match is not None:
                self._check_octal(match.group(0))
                self.out.append(python)
                self.index = match.end()
                return
        self._check_letter(following, _CLASS_ESCAPES if in_class else _ESCAPES)
        if following == "z":
            self.out.append("(?:\\Z)")
        elif following in "bBA":
            self.out.append(f"(?:\\{following})")  # RE2 lets an assertion repeat
        else:
            self.out.append(pattern[start : start + 2])
        self.index += 2

    @staticmethod
    def _check_octal(text: str) -> None:
        # A single non-zero digit is a backreference, which RE2 lacks; \0, \012 are octal.
        if len(text) == 2 and text[1] in "1234567":  # noqa: PLR2004
            msg = f"backreference {text} is not in Go's RE2"
            raise NotRE2Error(msg)

    @staticmethod
    def _check_letter(char: str, known: frozenset[str]) -> None:
        # \8 and \9 are neither octal nor backreferences; RE2 takes no escaped non-ASCII.
        if char.isdigit() or not char.isascii() or (char.isalpha() and char not in known):
            msg = f"escape \\{char} is not in Go's RE2"
            raise NotRE2Error(msg)

    def _char_class(self) -> None:
        pattern = self.pattern
        self.out.append("[")
        self.index += 1
        if pattern.startswith("^", self.index):
            self.out.append("^")
            self.index += 1
        if pattern.startswith("]", self.index):  # a leading "]" is literal
            self.out.append("\\]")
            self.index += 1
        while self.index < len(pattern) and pattern[self.index] != "]":
            char = pattern[self.index]
            posix = _POSIX_CLASS.match(pattern, self.index) if char == "[" else None
            if posix is not None:
                if posix.group(1) not in _POSIX:
                    msg = f"unknown character class {posix.group(0)}"
                    raise NotRE2Error(msg)
                self.out.append("a")
                self.index = posix.end()
            elif char == "\\":
                self._escape(in_class=True)
            else:
                self.out.append("\\[" if char == "[" else char)
                self.index += 1
        if self.index < len(pattern):
            self.out.append("]")
            self.index += 1

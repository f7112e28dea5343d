"""Compiles a CRD's ``openAPIV3Schema`` into nested closures that check a policy in one walk.

The engine behind ``structure`` (documents -> structure -> semantics -> lint -> repository):
``compile_schema`` turns each schema node into one closure, once per Cilium version and kind,
so checking a policy touches only the nodes the policy has and never re-reads the schema. A
closure appends ``Issue`` values to a list; it returns nothing and never raises on bad input.

It follows what kube-apiserver does with a structural schema, not plain JSON Schema: a null
property is pruned before validation (so it is absent, not of the wrong type), fields the
schema does not list are errors (kubectl's strict field validation), patterns are Go RE2 with
search semantics, and ``oneOf``/``anyOf`` only ask for one of some fields. Any keyword (or
``oneOf`` shape) the compiler does not know raises ``SchemaError`` at compile time, so a new CRD
construct shows up in the tests instead of being skipped silently.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from reconciler.validate.findings import Issue, Path, format_path
from reconciler.validate.schema_values import (
    FORMATS,
    INTEGER_FORMATS,
    SHORT_STRING,
    describe,
    field_name,
    go_pattern,
    identity,
    map_key,
    pattern_matches,
    show,
)

if TYPE_CHECKING:
    import regex

UNKNOWN_FIELD = "CG101"
WRONG_TYPE = "CG102"
MISSING_FIELD = "CG103"
NOT_IN_ENUM = "CG104"
PATTERN_MISMATCH = "CG105"
BAD_FORMAT = "CG106"
OUT_OF_RANGE = "CG107"
ONE_OF = "CG108"
DUPLICATE_ITEM = "CG109"

Check = Callable[[Any, Path, list[Issue]], None]
_SHOWN_PATTERN = 60  # characters of a pattern a message quotes; the detail has all of it

# Annotations that change nothing the apiserver validates. "default" is applied by the server
# before validation, so a defaulted field is never missing (handled in _object_check).
_IGNORED = frozenset({"description", "default", "title", "example", "x-kubernetes-map-type"})
_KNOWN = _IGNORED | {
    "type", "properties", "required", "additionalProperties", "items", "enum", "pattern",
    "format", "minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "oneOf",
    "anyOf", "nullable", "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
    "x-kubernetes-validations",
}  # fmt: skip

# Python types a YAML safe loader produces for each schema type, and what a message calls it.
# Unquoted YAML dates load as date/datetime; the apiserver sees the same text as a string.
_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "object": ((dict,), "an object"),
    "array": ((list,), "a list"),
    "string": ((str, date), "a string"),
    "integer": ((int,), "an integer"),
    "number": ((int, float), "a number"),
    "boolean": ((bool,), "a boolean"),
}

# CEL rules (x-kubernetes-validations) cannot run here; the ones shipped CRDs use are translated
# by hand. The 1.20 root rule "has(self.spec) || has(self.specs)" is the only one in the shipped
# schemas (1.19 has none), so none is skipped today; any other rule is skipped, and
# test_validate_structure lists every rule in the shipped schemas to catch new ones.
KNOWN_CEL: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "has(self.spec) || has(self.specs)": (
        MISSING_FIELD,
        lambda value: value.get("spec") is not None or value.get("specs") is not None,
    ),
}


class SchemaError(ValueError):
    """The schema uses something this compiler does not implement."""


def _noop(_value: Any, _path: Path, _out: list[Issue]) -> None:  # noqa: ANN401 - any YAML value
    return


def compile_schema(
    schema: Mapping[str, Any], overrides: Mapping[str, Check] | None = None
) -> Check:
    """One closure checking a whole document; ``overrides`` replace top-level properties."""
    return _node(schema, overrides=overrides or {})


def _node(schema: Mapping[str, Any], *, overrides: Mapping[str, Check]) -> Check:
    unknown = set(schema) - _KNOWN
    if unknown:
        raise SchemaError(f"unsupported schema keywords: {', '.join(sorted(unknown))}")
    checks = [
        check
        for check in (
            _object_check(schema, overrides=overrides),
            _array_check(schema),
            _enum_check(schema),
            _string_check(schema),
            _number_check(schema),
            _choice_check(schema, "oneOf"),
            _choice_check(schema, "anyOf"),
            _cel_check(schema),
        )
        if check is not None
    ]
    return _typed(schema, _sequence(checks))


def _sequence(checks: list[Check]) -> Check:
    if not checks:
        return _noop
    if len(checks) == 1:
        return checks[0]

    def run(value: Any, path: Path, out: list[Issue]) -> None:  # noqa: ANN401
        for check in checks:
            check(value, path, out)

    return run


def _allowed(schema: Mapping[str, Any]) -> tuple[tuple[type, ...], str] | None:
    if schema.get("x-kubernetes-int-or-string"):
        return (int, str, date), "an integer or a string"
    name = schema.get("type")
    if name is None:
        return None
    if name not in _TYPES:
        raise SchemaError(f"unsupported type {name!r}")
    return _TYPES[name]


def _typed(schema: Mapping[str, Any], inner: Check) -> Check:
    """Checks the type first; the rest runs only on a value of the right type."""
    allowed = _allowed(schema)
    if allowed is None:
        return inner
    types, expected = allowed
    fast = frozenset(types)  # exact type() lookups: cheaper than isinstance, bools excluded
    takes_bool = bool in types

    def accepts(value: object) -> bool:
        return isinstance(value, types) and (takes_bool or not isinstance(value, bool))

    def check(value: Any, path: Path, out: list[Issue]) -> None:  # noqa: ANN401
        if type(value) in fast or accepts(value):
            inner(value, path, out)
        else:
            out.append(_wrong_type(value, path, expected))

    def check_type(value: Any, path: Path, out: list[Issue]) -> None:  # noqa: ANN401
        if type(value) not in fast and not accepts(value):
            out.append(_wrong_type(value, path, expected))

    return check_type if inner is _noop else check


def _wrong_type(value: object, path: Path, expected: str) -> Issue:
    hint = None
    if "string" in expected and isinstance(value, int | float | bool):
        hint = f'Quote the value in YAML so it is a string: "{show(value)}".'
    elif expected == "an object" and isinstance(value, list):
        hint = "This field takes one object, not a list: remove the leading '- '."
    elif expected == "a list" and isinstance(value, dict):
        hint = "This field takes a list: put '- ' before the first key of each entry."
    message = f"{field_name(path)} must be {expected}, not {describe(value)}"
    return Issue(WRONG_TYPE, path, message, hint)


def _object_check(schema: Mapping[str, Any], *, overrides: Mapping[str, Check]) -> Check | None:
    properties: dict[str, Any] = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    if schema.get("type") != "object":
        if properties or extra is not None:  # a structural schema always says "object"
            raise SchemaError("properties without type: object")
        return None
    fields = {name: _node(sub, overrides={}) for name, sub in properties.items()}
    fields.update(overrides)
    more = _node(extra, overrides={}) if isinstance(extra, dict) else None
    open_ended = extra is True or bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    required = tuple(
        r for r in schema.get("required", ()) if "default" not in properties.get(r, {})
    )
    nullable = frozenset(n for n, sub in properties.items() if sub.get("nullable"))
    known = sorted(fields)

    def check(value: dict[Any, Any], path: Path, out: list[Issue]) -> None:
        for key, item in value.items():
            name = key if type(key) is str else str(key)
            sub = fields.get(name, more)
            if sub is None:
                if not open_ended:
                    out.append(unknown_field(name, (*path, name), known))
            elif item is not None:  # the apiserver prunes nulls before it validates
                sub(item, path + (name,), out)  # noqa: RUF005 - faster than (*path, name)
        for name in required:
            if value.get(name) is None and (name not in value or name not in nullable):
                message = f'{field_name(path)} is missing required field "{name}"'
                out.append(Issue(MISSING_FIELD, path, message))

    return check


def unknown_field(name: str, path: Path, known: list[str]) -> Issue:
    """The issue for a field the schema does not list, suggesting the closest known name."""
    close = difflib.get_close_matches(name, known, n=1)
    hint = f'Did you mean "{close[0]}"?' if close else None
    if not known:
        hint = "This object takes no fields here."
    where = format_path(path[:-1]) or "the document"
    return Issue(UNKNOWN_FIELD, path, f'unknown field "{name}" in {where}', hint)


def _array_check(schema: Mapping[str, Any]) -> Check | None:
    items = schema.get("items")
    if schema.get("type") != "array":
        if items is not None:
            raise SchemaError("items without type: array")
        return None
    each = _node(items, overrides={}) if isinstance(items, dict) else None
    low, high = schema.get("minItems"), schema.get("maxItems")
    unique = _uniqueness(schema)

    def check(value: list[Any], path: Path, out: list[Issue]) -> None:
        count = len(value)
        if low is not None and count < low:
            message = f"{field_name(path)} has {count} items, fewer than the minimum {low}"
            out.append(Issue(OUT_OF_RANGE, path, message))
        if high is not None and count > high:
            message = f"{field_name(path)} has {count} items, more than the maximum {high}"
            out.append(Issue(OUT_OF_RANGE, path, message))
        if each is not None:
            for index, item in enumerate(value):
                each(item, path + (index,), out)  # noqa: RUF005 - the hot loop
        if unique is not None and count > 1:
            unique(value, path, out)

    return check


def _uniqueness(schema: Mapping[str, Any]) -> Callable[[list[Any], Path, list[Issue]], None] | None:
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "set":
        return _unique_by(identity, show)
    if list_type == "map":
        keys = tuple(schema.get("x-kubernetes-list-map-keys", ()))
        return _unique_by(
            lambda item: map_key(item, keys),
            lambda item: " ".join(f"{k} {show(item[k])}" for k in keys),
        )
    return None  # "atomic" or absent: repeats are allowed


def _unique_by(
    key_of: Callable[[Any], object], shown: Callable[[Any], str]
) -> Callable[[list[Any], Path, list[Issue]], None]:
    def check(value: list[Any], path: Path, out: list[Issue]) -> None:
        seen: dict[object, int] = {}
        for index, item in enumerate(value):
            key = key_of(item)
            if key is None:
                continue
            first = seen.setdefault(key, index)
            if first != index:
                message = f"duplicate {shown(item)} in {field_name(path)} (first at index {first})"
                out.append(Issue(DUPLICATE_ITEM, (*path, index), message))

    return check


def _enum_check(schema: Mapping[str, Any]) -> Check | None:
    values = schema.get("enum")
    if values is None:
        return None
    allowed = frozenset(identity(v) for v in values)
    listed = ", ".join(str(v) for v in values)

    def check(value: Any, path: Path, out: list[Issue]) -> None:  # noqa: ANN401
        if identity(value) not in allowed:
            message = f"{field_name(path)} {show(value)} is not one of: {listed}"
            out.append(Issue(NOT_IN_ENUM, path, message))

    return check


def _string_check(schema: Mapping[str, Any]) -> Check | None:
    low, high = schema.get("minLength"), schema.get("maxLength")
    source: str = schema.get("pattern") or ""
    pattern = go_pattern(source) if source else None
    fmt, fmt_name = FORMATS.get(schema.get("format", ""), (None, ""))
    if low is None and high is None and pattern is None and fmt is None:
        return None

    def check(value: Any, path: Path, out: list[Issue]) -> None:  # noqa: ANN401
        if not isinstance(value, str):
            if not isinstance(value, date):
                return  # the integer half of an int-or-string
            value = value.isoformat()
        if high is not None and len(value) > high:
            message = (
                f"{field_name(path)} {show(value)} is {len(value)} characters long,"
                f" more than the maximum {high}"
            )
            out.append(Issue(OUT_OF_RANGE, path, message))
        if low is not None and len(value) < low:
            message = (
                f"{field_name(path)} {show(value)} is shorter than the minimum {low} characters"
            )
            out.append(Issue(OUT_OF_RANGE, path, message))
        if pattern is not None and (len(value) > SHORT_STRING or pattern.search(value) is None):
            _check_pattern(pattern, source, value, path, out)
        if fmt is not None and not fmt(value):
            message = f"{field_name(path)} {show(value)} is not a valid {fmt_name}"
            out.append(Issue(BAD_FORMAT, path, message))

    return check


def _check_pattern(
    pattern: regex.Pattern[str], source: str, value: str, path: Path, out: list[Issue]
) -> None:
    matched = pattern_matches(pattern, value)
    if matched:
        return
    shown = source if len(source) <= _SHOWN_PATTERN else source[: _SHOWN_PATTERN - 3] + "..."
    if matched is None:
        message = (
            f"{field_name(path)} ({len(value)} characters) is too long to check against"
            f" the pattern {shown}"
        )
    else:
        message = f"{field_name(path)} {show(value)} does not match the pattern {shown}"
    out.append(Issue(PATTERN_MISMATCH, path, message, detail=f"pattern: {source}"))


def _number_check(schema: Mapping[str, Any]) -> Check | None:
    low, high = schema.get("minimum"), schema.get("maximum")
    bits = INTEGER_FORMATS.get(schema.get("format", ""))
    if low is None and high is None and bits is None:
        return None

    def check(value: Any, path: Path, out: list[Issue]) -> None:  # noqa: ANN401
        if type(value) not in (int, float):
            return
        if low is not None and value < low:
            message = f"{field_name(path)} {value} is below the minimum {low}"
            out.append(Issue(OUT_OF_RANGE, path, message))
        if high is not None and value > high:
            message = f"{field_name(path)} {value} is above the maximum {high}"
            out.append(Issue(OUT_OF_RANGE, path, message))
        if bits is not None and not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
            message = f"{field_name(path)} {value} does not fit in a {bits}-bit integer"
            out.append(Issue(BAD_FORMAT, path, message))

    return check


def _choice_check(schema: Mapping[str, Any], keyword: str) -> Check | None:
    branches: list[Mapping[str, Any]] | None = schema.get(keyword)
    if not branches:
        return None
    types = {b.get("type") for b in branches if set(b) == {"type"}}
    if (
        len(types) == len(branches)
        and types <= {"integer", "string"}
        and schema.get("x-kubernetes-int-or-string")
    ):
        return None  # [{type: integer}, {type: string}] restates int-or-string, checked already
    # Cilium generates only "one of these fields" choices: each branch is required: [name] and
    # an empty properties entry. Anything richer fails here, loudly, like an unknown keyword.
    names: list[str] = []
    for b in branches:
        required = b.get("required", ())
        if (
            len(required) != 1
            or set(b) - {"required", "properties"}
            or any(b.get("properties", {}).values())
        ):
            raise SchemaError(f"unsupported {keyword} branch: {b}")
        names.append(required[0])
    return _field_choice(names, exactly_one=keyword == "oneOf")


def _field_choice(names: list[str], *, exactly_one: bool) -> Check:
    listed = ", ".join(names)

    def check(value: Any, path: Path, out: list[Issue]) -> None:  # noqa: ANN401
        if not isinstance(value, dict):
            return
        present = [n for n in names if value.get(n) is not None]
        if not present:
            need = "exactly one" if exactly_one else "at least one"
            out.append(Issue(ONE_OF, path, f"{need} of {listed} is required"))
        elif exactly_one and len(present) > 1:
            message = f"only one of {listed} may be set, found {', '.join(present)}"
            out.append(Issue(ONE_OF, path, message))

    return check


def _cel_check(schema: Mapping[str, Any]) -> Check | None:
    rules = [
        (KNOWN_CEL[item["rule"]], item.get("message") or item["rule"])
        for item in schema.get("x-kubernetes-validations", ())
        if item.get("rule") in KNOWN_CEL
    ]
    if not rules:
        return None

    def check(value: Any, path: Path, out: list[Issue]) -> None:  # noqa: ANN401
        if not isinstance(value, dict):
            return
        for (rule_id, holds), message in rules:
            if not holds(value):
                out.append(Issue(rule_id, path, message))

    return check

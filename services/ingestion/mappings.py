"""Field mappings: a named value taken from an event by JSONPath and coerced to string, number or boolean."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from jsonpath_ng import JSONPath
from jsonpath_ng.ext import parse as parse_jsonpath
from jsonpath_ng.jsonpath import Intersect

from services.common.errors import InvalidArgument

FIELD_TYPES = ("string", "number", "boolean")

# The contact fields an "upsert contact" mapping may name (besides embeddedData.<key>).
CONTACT_FIELDS = ("firstName", "lastName", "email", "phone", "extRef", "language", "unsubscribed")
EMBEDDED_DATA_PREFIX = "embeddedData."


class InvalidMapping(InvalidArgument):
    """A mapping definition that cannot work: a JSONPath that does not parse, an unknown type or name."""


class MappingError(InvalidArgument):
    """An event value that cannot be coerced to its mapping's type."""

    code = "mapping_failed"


# What a mapping yields when its path finds nothing: the field is left out, which differs from null.
ABSENT: Any = type("Absent", (), {"__repr__": lambda self: "ABSENT"})()

_UNSET: Any = type("Unset", (), {"__repr__": lambda self: "UNSET"})()
MAX_DIRECTIVE_DEPTH = 8
IF_CONDITIONS = ("exists", "blank")


# ---------------------------------------------------------------------------- value sources (Segment's mapping kit)


@dataclass(frozen=True)
class PathValue:
    """`$.traits.email` or {"@path": "$.traits.email"}: the first value the JSONPath finds; nothing or null is ABSENT."""

    path: str
    expression: JSONPath = field(compare=False, repr=False)

    def resolve(self, event: Any) -> Any:
        found = self.expression.find(event)
        # A path that matches several values takes the first, like Segment's destination mappings.
        if not found or found[0].value is None:
            return ABSENT
        return found[0].value


@dataclass(frozen=True)
class LiteralValue:
    """A fixed value, e.g. "EN" or false (Segment's mapping kit writes literals as plain values)."""

    value: Any

    def resolve(self, event: Any) -> Any:
        return self.value


@dataclass(frozen=True)
class IfValue:
    """{"@if": {"exists": <value>, "then": <value>, "else": <value>}}; `blank` instead of `exists` also treats "" as absent."""

    condition: str  # exists | blank
    subject: ValueSource
    then: ValueSource | None
    otherwise: ValueSource | None

    def resolve(self, event: Any) -> Any:
        value = self.subject.resolve(event)
        present = value is not ABSENT and not (self.condition == "blank" and value == "")
        # Segment's "blank" is true when the value is missing or empty: the branches swap meaning.
        chosen = self.then if present == (self.condition == "exists") else self.otherwise
        return ABSENT if chosen is None else chosen.resolve(event)


ValueSource = PathValue | LiteralValue | IfValue


def _compile_jsonpath(path: Any, where: str) -> PathValue:
    if not isinstance(path, str) or not path.strip():
        raise InvalidMapping(f"{where}: must be a JSONPath such as $.traits.email", field=where)
    try:
        expression = parse_jsonpath(path)
    except Exception as exc:  # jsonpath-ng raises bare Exception subclasses for lexer and parser errors
        raise InvalidMapping(f"{where}: invalid JSONPath {path!r}: {exc}", field=where) from exc
    if _has_intersection(expression):
        raise InvalidMapping(f"{where}: invalid JSONPath {path!r}: the & (intersection) operator is not supported", field=where)
    return PathValue(path, expression)


def _has_intersection(expression: JSONPath) -> bool:
    """jsonpath-ng parses `a & b` but cannot evaluate it (NotImplementedError at find time): refuse it up front."""
    nodes = [expression]
    while nodes:
        node = nodes.pop()
        if isinstance(node, Intersect):
            return True
        nodes.extend(child for child in vars(node).values() if isinstance(child, JSONPath))
    return False


def compile_value(value: Any, where: str, depth: int = 0) -> ValueSource:
    """A mapping-kit value: {"@path": …}, {"@if": …}, {"@literal": …}, or a plain literal (string, number, boolean)."""
    if depth > MAX_DIRECTIVE_DEPTH:
        raise InvalidMapping(f"{where}: directives nest at most {MAX_DIRECTIVE_DEPTH} deep", field=where)
    if isinstance(value, dict):
        directives = [key for key in value if isinstance(key, str) and key.startswith("@")]
        if len(value) != 1 or len(directives) != 1:
            raise InvalidMapping(
                f"{where}: an object value must be exactly one directive: @path, @if or @literal", field=where
            )
        [(directive, argument)] = value.items()
        if directive == "@path":
            return _compile_jsonpath(argument, f"{where}.@path")
        if directive == "@literal":
            if argument is None or isinstance(argument, (dict, list)):
                raise InvalidMapping(f"{where}.@literal: must be a string, number or boolean", field=f"{where}.@literal")
            return LiteralValue(argument)
        if directive == "@if":
            return _compile_if(argument, f"{where}.@if", depth)
        raise InvalidMapping(f"{where}: unknown directive {directive!r}; expected @path, @if or @literal", field=where)
    if value is None or isinstance(value, list):
        raise InvalidMapping(f"{where}: must be a string, number, boolean or a directive object", field=where)
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidMapping(f"{where}: must be a finite number", field=where)
    return LiteralValue(value)


def _compile_if(argument: Any, where: str, depth: int) -> IfValue:
    if not isinstance(argument, dict):
        raise InvalidMapping(f"{where}: must be an object with exists (or blank), then and else", field=where)
    conditions = [key for key in IF_CONDITIONS if key in argument]
    if len(conditions) != 1:
        raise InvalidMapping(f"{where}: needs exactly one of exists or blank", field=where)
    unknown = set(argument) - {*IF_CONDITIONS, "then", "else"}
    if unknown:
        raise InvalidMapping(f"{where}.{min(unknown)}: unknown field; expected exists, blank, then, else", field=where)
    if "then" not in argument and "else" not in argument:
        raise InvalidMapping(f"{where}: needs then, else or both", field=where)
    condition = conditions[0]
    branches = {
        key: compile_value(argument[key], f"{where}.{key}", depth + 1) if argument.get(key) is not None else None
        for key in ("then", "else")
    }
    return IfValue(condition, compile_value(argument[condition], f"{where}.{condition}", depth + 1), branches["then"], branches["else"])


# ---------------------------------------------------------------------------- field mappings


@dataclass(frozen=True)
class FieldMapping:
    """A named field: its value taken from the event (JSONPath or mapping-kit value), coerced to its type."""

    name: str
    path: str  # the JSONPath; for a mapping-kit value, that value as compact JSON (what error messages show)
    type: str = "string"
    source: ValueSource = field(compare=False, repr=False, default=None)  # type: ignore[assignment]

    def extract(self, event: Any) -> Any:
        """The coerced value, or ABSENT when the source finds nothing (or null)."""
        value = self.source.resolve(event)
        if value is ABSENT or value is None:
            return ABSENT
        return coerce(value, self.type, self.name)


def compile_mapping(name: Any, path: Any, type_: Any, where: str, value: Any = _UNSET) -> FieldMapping:
    """Validates one mapping definition; `where` names it in errors (e.g. "spec.trigger.mappings[0]").

    `path` is a JSONPath string or a mapping-kit directive object ({"@if": …}); `value` (instead of path) is a
    mapping-kit value: a literal or a directive object."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidMapping(f"{where}.name: must be a non-empty string", field=f"{where}.name")
    type_ = type_ or "string"
    if type_ not in FIELD_TYPES:
        raise InvalidMapping(f"{where}.type: must be one of {', '.join(FIELD_TYPES)}, got {type_!r}", field=f"{where}.type")
    has_path = path is not None and path != ""
    if has_path and value is not _UNSET:
        raise InvalidMapping(f"{where}.value: give a path or a value, not both", field=f"{where}.value")
    if value is not _UNSET:
        source = compile_value(value, f"{where}.value")
        shown = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    elif isinstance(path, dict):
        source = compile_value(path, f"{where}.path")
        shown = json.dumps(path, separators=(",", ":"), ensure_ascii=False)
    else:
        if not has_path:
            raise InvalidMapping(f"{where}.path: must be a JSONPath such as $.traits.email", field=f"{where}.path")
        source = _compile_jsonpath(path, f"{where}.path")
        shown = path
    if isinstance(source, LiteralValue):
        try:
            coerce(source.value, type_, name)  # a literal that can never fit its type is a definition error, found now
        except MappingError as exc:
            raise InvalidMapping(f"{where}.value: {exc.message}", field=f"{where}.value") from exc
    return FieldMapping(name=name, path=shown, type=type_, source=source)


def check_contact_field_name(name: str, where: str) -> None:
    if name in CONTACT_FIELDS or (name.startswith(EMBEDDED_DATA_PREFIX) and len(name) > len(EMBEDDED_DATA_PREFIX)):
        return
    allowed = ", ".join(CONTACT_FIELDS)
    raise InvalidMapping(f"{where}.name: must be one of {allowed} or embeddedData.<key>, got {name!r}", field=f"{where}.name")


def apply_mappings(mappings: list[FieldMapping], event: Any) -> dict[str, Any]:
    """The mapped fields of an event; a mapping whose path finds nothing leaves its field out."""
    fields: dict[str, Any] = {}
    for mapping in mappings:
        value = mapping.extract(event)
        if value is not ABSENT:
            fields[mapping.name] = value
    return fields


def coerce(value: Any, type_: str, name: str) -> Any:
    """Converts an event value to the mapping's type, or raises MappingError naming the field and value."""
    if type_ == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (str, int, float)):
            return str(value)
    elif type_ == "number":
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return value
        if isinstance(value, str):
            number = _parse_number(value.strip())
            if number is not None:
                return number
    elif type_ == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
            return value.strip().lower() in ("true", "1")
    raise MappingError(f"field {name!r}: cannot convert {value!r} to {type_}", field=name)


def _parse_number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


# Segment's Qualtrics destination, "create or update contact", when a subscription names no mappings.
_DEFAULT_TRAIT_FIELDS = {"email", "phone", "firstName", "lastName", "language"}


def default_contact_fields(event: dict[str, Any]) -> dict[str, Any]:
    """The contact fields Segment's defaults take from an identify-like event."""
    traits = event.get("traits") if isinstance(event.get("traits"), dict) else {}
    fields: dict[str, Any] = {}
    if event.get("userId") is not None:
        fields["extRef"] = coerce(event["userId"], "string", "extRef")
    email = event.get("email") if event.get("email") is not None else traits.get("email")
    for name, value in (
        ("email", email),
        ("phone", traits.get("phone")),
        ("firstName", traits.get("firstName")),
        ("lastName", traits.get("lastName")),
    ):
        if value is not None:
            fields[name] = coerce(value, "string", name)
    fields["language"] = coerce(traits.get("language") or "EN", "string", "language")
    fields["unsubscribed"] = False
    for key, value in traits.items():
        if key not in _DEFAULT_TRAIT_FIELDS and isinstance(value, (str, int, float, bool)):
            fields[EMBEDDED_DATA_PREFIX + key] = value
    return fields

"""Field mappings: a named value taken from an event by JSONPath and coerced to string, number or boolean."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from jsonpath_ng import JSONPath
from jsonpath_ng.ext import parse as parse_jsonpath

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


@dataclass(frozen=True)
class FieldMapping:
    name: str
    path: str
    type: str = "string"
    expression: JSONPath = field(compare=False, repr=False, default=None)  # type: ignore[assignment]

    def extract(self, event: Any) -> Any:
        """The coerced value, or ABSENT when the path finds nothing (or null)."""
        found = self.expression.find(event)
        # A path that matches several values takes the first, like Segment's destination mappings.
        if not found or found[0].value is None:
            return ABSENT
        return coerce(found[0].value, self.type, self.name)


def compile_mapping(name: Any, path: Any, type_: Any, where: str) -> FieldMapping:
    """Validates one mapping definition; `where` names it in errors (e.g. "spec.trigger.mappings[0]")."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidMapping(f"{where}.name: must be a non-empty string", field=f"{where}.name")
    if not isinstance(path, str) or not path.strip():
        raise InvalidMapping(f"{where}.path: must be a JSONPath such as $.traits.email", field=f"{where}.path")
    type_ = type_ or "string"
    if type_ not in FIELD_TYPES:
        raise InvalidMapping(f"{where}.type: must be one of {', '.join(FIELD_TYPES)}, got {type_!r}", field=f"{where}.type")
    try:
        expression = parse_jsonpath(path)
    except Exception as exc:  # jsonpath-ng raises bare Exception subclasses for lexer and parser errors
        raise InvalidMapping(f"{where}.path: invalid JSONPath {path!r}: {exc}", field=f"{where}.path") from exc
    return FieldMapping(name=name, path=path, type=type_, expression=expression)


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

"""Contact search: a tree of field conditions joined by AND/OR, validated and turned into one SQL condition."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, case, func, or_, true

from services.directory.dedup import IDENTITY_FIELDS, normalize
from services.directory.errors import InvalidDirectoryRequest
from services.directory.models import Contact

EMBEDDED_DATA_PREFIX = "embeddedData."
COMPARISONS = ("eq",)


@dataclass(frozen=True)
class FieldCondition:
    field: str  # extRef, email, phone, firstName, lastName or embeddedData.<key>
    comparison: str
    value: str


@dataclass(frozen=True)
class ConditionGroup:
    conjunction: str  # "and" or "or"
    conditions: tuple[ContactCondition, ...]


ContactCondition = FieldCondition | ConditionGroup


def condition_sql(condition: ContactCondition | None, dialect: str, where: str = "filter") -> ColumnElement[bool]:
    """The SQL condition on Contact for a filter tree; no filter matches every contact."""
    if condition is None:
        return true()
    if isinstance(condition, ConditionGroup):
        parts = [
            condition_sql(child, dialect, f"{where}.group.filters[{index}]")
            for index, child in enumerate(condition.conditions)
        ]
        if not parts:
            return true()
        return or_(*parts) if condition.conjunction == "or" else and_(*parts)
    return _field_sql(condition, dialect, f"{where}.field")


def _field_sql(condition: FieldCondition, dialect: str, where: str) -> ColumnElement[bool]:
    if condition.comparison not in COMPARISONS:
        raise InvalidDirectoryRequest(
            f"{where}.comparison", f"unknown comparison {condition.comparison!r}; supported: {', '.join(COMPARISONS)}"
        )
    if condition.field in IDENTITY_FIELDS:
        # Compared the way dedup compares, through the normalized column.
        column = getattr(Contact, f"{IDENTITY_FIELDS[condition.field]}_normalized")
        wanted = normalize(condition.field, condition.value)
        return column.is_(None) if wanted is None else column == wanted
    if condition.field.startswith(EMBEDDED_DATA_PREFIX) and len(condition.field) > len(EMBEDDED_DATA_PREFIX):
        key = condition.field[len(EMBEDDED_DATA_PREFIX) :]
        return _embedded_text(key, dialect) == condition.value
    raise InvalidDirectoryRequest(
        f"{where}.field",
        f"unknown field {condition.field!r}; use one of {', '.join(IDENTITY_FIELDS)} or embeddedData.<key>",
    )


def _embedded_text(key: str, dialect: str) -> ColumnElement[str]:
    """An embedded data value as text: strings as they are, numbers as written, booleans as true/false."""
    text_value = Contact.embedded_data[key].as_string()
    if dialect != "sqlite":
        return text_value  # PostgreSQL's ->> already renders JSON booleans as true/false
    # SQLite's json_extract turns JSON booleans into 1/0; json_type still tells them apart.
    kind = func.json_type(Contact.embedded_data, f'$."{key}"')
    return case((kind.in_(("true", "false")), kind), else_=text_value)

"""Segment rule trees: validation (errors name the bad node's path), compilation to one SQL condition on a contact,
and an explained in-Python evaluation of one contact (ExplainMembership)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, cast, exists, false, func, literal_column, not_, or_, select, true
from sqlalchemy.orm import aliased
from sqlalchemy.types import Float, String

from services.directory.errors import InvalidDirectoryRequest
from services.directory.models import Contact, MailingListMembership, Transaction

# Contact field name in rules -> Contact attribute; all are strings except unsubscribed.
CONTACT_FIELDS: dict[str, str] = {
    "email": "email",
    "phone": "phone",
    "extRef": "ext_ref",
    "firstName": "first_name",
    "lastName": "last_name",
    "language": "language",
    "unsubscribed": "unsubscribed",
}
EMBEDDED_DATA_PREFIX = "embeddedData."
FIELD_OPERATORS = ("eq", "ne", "contains", "starts_with", "exists", "is_empty", "gt", "gte", "lt", "lte", "in")
AGGREGATE_OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte")
AGGREGATES = ("count", "sum", "min", "max", "latest")
_NO_VALUE_OPERATORS = ("exists", "is_empty")
_ORDER_OPERATORS = ("gt", "gte", "lt", "lte")
_TEXT_OPERATORS = ("contains", "starts_with")
MAX_DEPTH = 16
MAX_LAST_DAYS = 36500

Scalar = str | int | float | bool


# The parsed tree


@dataclass(frozen=True)
class Condition:
    """op applied to a value: the shared comparison of contact fields, embedded and transaction data, aggregates."""

    op: str
    value: Any = None  # a Scalar, a list of Scalars for "in", None for exists/is_empty


@dataclass(frozen=True)
class AllOf:
    path: str
    children: tuple[RuleNode, ...]


@dataclass(frozen=True)
class AnyOf:
    path: str
    children: tuple[RuleNode, ...]


@dataclass(frozen=True)
class NotOf:
    path: str
    child: RuleNode


@dataclass(frozen=True)
class FieldRule:
    path: str
    field: str  # a CONTACT_FIELDS key or embeddedData.<key>
    condition: Condition


@dataclass(frozen=True)
class MailingListRule:
    path: str
    mailing_list_id: str


@dataclass(frozen=True)
class DataFilter:
    field: str  # a transaction data key
    condition: Condition


@dataclass(frozen=True)
class TransactionRule:
    path: str
    aggregate: str
    field: str | None
    where: tuple[DataFilter, ...]
    last_days: int | None
    between: tuple[datetime, datetime] | None
    condition: Condition


RuleNode = AllOf | AnyOf | NotOf | FieldRule | MailingListRule | TransactionRule


# Validation


def parse_rule(raw: Any, path: str = "rule") -> RuleNode:
    """The typed tree of a rule given as JSON; InvalidDirectoryRequest names the path of the first bad node."""
    return _parse_node(raw, path, 0)


def _bad(path: str, problem: str) -> InvalidDirectoryRequest:
    return InvalidDirectoryRequest(path, problem)


def _parse_node(raw: Any, path: str, depth: int) -> RuleNode:
    if depth > MAX_DEPTH:
        raise _bad(path, f"rules nest at most {MAX_DEPTH} levels deep")
    if not isinstance(raw, Mapping) or not raw:
        raise _bad(path, "a rule node is an object: all, any, not, field, mailingList or transactions")
    kinds = [key for key in ("all", "any", "not", "field", "mailingList", "transactions") if key in raw]
    if len(kinds) != 1:
        raise _bad(path, "a rule node has exactly one of all, any, not, field, mailingList, transactions")
    kind = kinds[0]
    if kind in ("all", "any"):
        _only_keys(raw, {kind}, path)
        children = raw[kind]
        if not isinstance(children, (list, tuple)):
            raise _bad(f"{path}.{kind}", "must be a list of rule nodes")
        parsed = tuple(_parse_node(child, f"{path}.{kind}[{index}]", depth + 1) for index, child in enumerate(children))
        return AllOf(path, parsed) if kind == "all" else AnyOf(path, parsed)
    if kind == "not":
        _only_keys(raw, {"not"}, path)
        return NotOf(path, _parse_node(raw["not"], f"{path}.not", depth + 1))
    if kind == "mailingList":
        _only_keys(raw, {"mailingList"}, path)
        list_id = raw["mailingList"]
        if not isinstance(list_id, str) or not list_id.startswith("CG_"):
            raise _bad(f"{path}.mailingList", "must be a mailing list id (CG_…)")
        return MailingListRule(path, list_id)
    if kind == "field":
        _only_keys(raw, {"field", "op", "value"}, path)
        name = raw["field"]
        if not isinstance(name, str) or not (name in CONTACT_FIELDS or _embedded_key(name)):
            raise _bad(
                f"{path}.field",
                f"unknown field {name!r}; use one of {', '.join(CONTACT_FIELDS)} or embeddedData.<key>",
            )
        condition = _parse_condition(raw, path, FIELD_OPERATORS)
        if name == "unsubscribed" and condition.op not in ("eq", "ne", "exists", "is_empty"):
            raise _bad(f"{path}.op", "unsubscribed compares with eq or ne only")
        if name == "unsubscribed" and condition.op in ("eq", "ne") and not isinstance(condition.value, bool):
            raise _bad(f"{path}.value", "unsubscribed compares with true or false")
        return FieldRule(path, name, condition)
    return _parse_transactions(raw, path)


def _only_keys(raw: Mapping[str, Any], allowed: set[str], path: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise _bad(f"{path}.{unknown[0]}", f"unknown key; this node takes {', '.join(sorted(allowed))}")


def _embedded_key(name: str) -> str | None:
    if not name.startswith(EMBEDDED_DATA_PREFIX):
        return None
    return _data_key(name[len(EMBEDDED_DATA_PREFIX) :])


def _data_key(key: str) -> str | None:
    # Keys end up inside SQL JSON paths, so quotes and backslashes are refused rather than escaped per dialect.
    if not key or '"' in key or "\\" in key or len(key) > 255:
        return None
    return key


def _scalar(value: Any) -> Scalar | None:
    """A rule value as stored data holds it (integral floats from protobuf Structs become integers)."""
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
            return int(value)
        return value
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _parse_condition(raw: Mapping[str, Any], path: str, operators: Sequence[str]) -> Condition:
    op = raw.get("op")
    if op not in operators:
        raise _bad(f"{path}.op", f"unknown operator {op!r}; use one of {', '.join(operators)}")
    if op in _NO_VALUE_OPERATORS:
        if raw.get("value") is not None:
            raise _bad(f"{path}.value", f"{op} takes no value")
        return Condition(op)
    if "value" not in raw:
        raise _bad(f"{path}.value", f"{op} needs a value")
    value = raw["value"]
    if op == "in":
        if not isinstance(value, (list, tuple)) or not value:
            raise _bad(f"{path}.value", "in needs a non-empty list of strings, numbers or booleans")
        items = [_scalar(item) for item in value]
        if any(item is None for item in items):
            raise _bad(f"{path}.value", "in needs a non-empty list of strings, numbers or booleans")
        return Condition(op, tuple(items))
    scalar = _scalar(value)
    if scalar is None:
        raise _bad(f"{path}.value", "must be a string, a number or a boolean")
    if op in _TEXT_OPERATORS and not isinstance(scalar, str):
        raise _bad(f"{path}.value", f"{op} needs a string")
    if op in _ORDER_OPERATORS and not _is_number(scalar):
        raise _bad(f"{path}.value", f"{op} needs a number")
    return Condition(op, scalar)


def _parse_transactions(raw: Mapping[str, Any], path: str) -> TransactionRule:
    _only_keys(raw, {"transactions"}, path)
    body = raw["transactions"]
    path = f"{path}.transactions"
    if not isinstance(body, Mapping):
        raise _bad(path, "must be an object with aggregate, op and value")
    _only_keys(body, {"aggregate", "field", "where", "lastDays", "between", "op", "value"}, path)
    aggregate = body.get("aggregate")
    if aggregate not in AGGREGATES:
        raise _bad(f"{path}.aggregate", f"unknown aggregate {aggregate!r}; use one of {', '.join(AGGREGATES)}")
    field_name = body.get("field")
    if aggregate == "count":
        if field_name is not None:
            raise _bad(f"{path}.field", "count takes no field")
    elif not isinstance(field_name, str) or _data_key(field_name) is None:
        raise _bad(f"{path}.field", f"{aggregate} needs the data field to aggregate")
    where: list[DataFilter] = []
    raw_where = body.get("where", [])
    if not isinstance(raw_where, (list, tuple)):
        raise _bad(f"{path}.where", "must be a list of {field, op, value}")
    for index, item in enumerate(raw_where):
        item_path = f"{path}.where[{index}]"
        if not isinstance(item, Mapping):
            raise _bad(item_path, "must be an object {field, op, value}")
        _only_keys(item, {"field", "op", "value"}, item_path)
        key = item.get("field")
        if not isinstance(key, str) or _data_key(key) is None:
            raise _bad(f"{item_path}.field", "must be a transaction data field name")
        where.append(DataFilter(key, _parse_condition(item, item_path, FIELD_OPERATORS)))
    last_days = body.get("lastDays")
    between = body.get("between")
    if last_days is not None and between is not None:
        raise _bad(f"{path}.lastDays", "give lastDays or between, not both")
    if last_days is not None:
        days = _scalar(last_days)
        if not isinstance(days, int) or isinstance(days, bool) or not 0 < days <= MAX_LAST_DAYS:
            raise _bad(f"{path}.lastDays", f"must be a whole number of days, 1 to {MAX_LAST_DAYS}")
        last_days = days
    window: tuple[datetime, datetime] | None = None
    if between is not None:
        if not isinstance(between, Mapping) or set(between) != {"from", "to"}:
            raise _bad(f"{path}.between", "must be {from, to} with RFC 3339 dates")
        start = _date(between["from"], f"{path}.between.from")
        end = _date(between["to"], f"{path}.between.to")
        if start >= end:
            raise _bad(f"{path}.between", "from must be before to")
        window = (start, end)
    operators = FIELD_OPERATORS if aggregate == "latest" else AGGREGATE_OPERATORS
    condition = _parse_condition(body, path, operators)
    if aggregate != "latest" and not _is_number(condition.value):
        raise _bad(f"{path}.value", f"{aggregate} compares with a number")
    return TransactionRule(
        path=path.removesuffix(".transactions"),
        aggregate=aggregate,
        field=field_name,
        where=tuple(where),
        last_days=last_days,
        between=window,
        condition=condition,
    )


def _date(value: Any, path: str) -> datetime:
    if not isinstance(value, str):
        raise _bad(path, "must be an RFC 3339 date, e.g. 2026-01-31T00:00:00Z")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise _bad(path, "must be an RFC 3339 date, e.g. 2026-01-31T00:00:00Z") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# Shared value semantics (Python side)


def compare(condition: Condition, actual: Any) -> bool:
    """Whether a stored value (None when absent) satisfies a condition. Types never mix: "5" does not equal 5."""
    op, wanted = condition.op, condition.value
    if op == "exists":
        return actual is not None
    if op == "is_empty":
        return actual is None or actual == ""
    if op == "eq":
        return _same(actual, wanted)
    if op == "ne":
        return not _same(actual, wanted)
    if op == "in":
        return any(_same(actual, item) for item in wanted)
    if op == "contains":
        return isinstance(actual, str) and wanted in actual
    if op == "starts_with":
        return isinstance(actual, str) and actual.startswith(wanted)
    if not _is_number(actual):
        return False
    return {"gt": actual > wanted, "gte": actual >= wanted, "lt": actual < wanted, "lte": actual <= wanted}[op]


def _same(actual: Any, wanted: Any) -> bool:
    if isinstance(wanted, bool) or isinstance(actual, bool):
        return isinstance(wanted, bool) and isinstance(actual, bool) and actual == wanted
    if isinstance(wanted, str) or isinstance(actual, str):
        return isinstance(wanted, str) and isinstance(actual, str) and actual == wanted
    return _is_number(actual) and actual == wanted


# SQL compilation


@dataclass(frozen=True)
class _Json:
    """One JSON value inside a SQL row, seen as its kind and its text / number / boolean."""

    is_string: ColumnElement[bool]
    is_number: ColumnElement[bool]
    is_true: ColumnElement[bool]
    is_false: ColumnElement[bool]
    present: ColumnElement[bool]
    text: ColumnElement[Any]
    number: ColumnElement[Any]
    # The member's text read in one step (PostgreSQL ->>, SQLite json_extract), for the common string comparison.
    direct_text: ColumnElement[Any] | None = None


def json_member(column: Any, key: str, dialect: str) -> _Json:
    if dialect == "sqlite":
        path = f'$."{key}"'
        kind = func.json_type(column, path)
        value = func.json_extract(column, path)
        return _Json(
            is_string=kind == "text",
            is_number=kind.in_(("integer", "real")),
            is_true=kind == "true",
            is_false=kind == "false",
            present=kind.is_not(None),
            text=value,
            number=value,
            direct_text=value,
        )
    member = _json_fragment(column.op("->", return_type=column.type)(key), dialect)
    return _Json(
        is_string=member.is_string, is_number=member.is_number, is_true=member.is_true, is_false=member.is_false,
        present=member.present, text=member.text, number=member.number,
        direct_text=column.op("->>", return_type=String())(key),
    )  # fmt: skip


def _json_fragment(fragment: Any, dialect: str) -> _Json:
    """A JSON value given as an expression of JSON (PostgreSQL json; SQLite JSON text)."""
    if dialect == "sqlite":
        kind = func.json_type(fragment)
        value = func.json_extract(fragment, "$")
        return _Json(
            is_string=kind == "text",
            is_number=kind.in_(("integer", "real")),
            is_true=kind == "true",
            is_false=kind == "false",
            present=kind.is_not(None),
            text=value,
            number=value,
        )
    kind = func.json_typeof(fragment)
    text_value = fragment.op("#>>", return_type=String())(literal_column("'{}'"))
    is_number = kind == "number"
    return _Json(
        is_string=kind == "string",
        is_number=is_number,
        is_true=and_(kind == "boolean", text_value == "true"),
        is_false=and_(kind == "boolean", text_value == "false"),
        present=kind.is_not(None),
        text=text_value,
        number=case((is_number, cast(text_value, Float)), else_=None),
    )


def json_condition(value: _Json, condition: Condition, dialect: str) -> ColumnElement[bool]:
    op, wanted = condition.op, condition.value
    if op == "exists":
        return value.present
    if op == "is_empty":
        return or_(not_(value.present), and_(value.is_string, value.text == ""))
    if op in ("eq", "ne", "in"):
        wanted_values = wanted if op == "in" else (wanted,)
        matched = or_(*[_json_equals(value, item) for item in wanted_values])
        return not_(null_safe(matched)) if op == "ne" else matched
    if op == "contains":
        return and_(value.is_string, _position(value.text, wanted, dialect) > 0)
    if op == "starts_with":
        return and_(value.is_string, func.substr(value.text, 1, len(wanted)) == wanted)
    return and_(value.is_number, _order(value.number, op, wanted))


def _json_equals(value: _Json, wanted: Scalar) -> ColumnElement[bool]:
    if isinstance(wanted, bool):
        return value.is_true if wanted else value.is_false
    if isinstance(wanted, str):
        if value.direct_text is not None and not _looks_like_json_literal(wanted):
            # Only a JSON string has this text (a number or boolean never reads as it), and one JSON access is
            # several times cheaper than asking the kind first on PostgreSQL's json (each access re-parses).
            return value.direct_text == wanted
        return and_(value.is_string, value.text == wanted)
    return and_(value.is_number, value.number == wanted)


def _looks_like_json_literal(text_value: str) -> bool:
    """Whether a non-string JSON value could render as this text (true, false, null, or a number)."""
    if text_value in ("true", "false", "null"):
        return True
    try:
        float(text_value)
    except ValueError:
        return False
    return True


def _position(text_value: Any, wanted: str, dialect: str) -> ColumnElement[Any]:
    return func.instr(text_value, wanted) if dialect == "sqlite" else func.strpos(text_value, wanted)


def _order(number: Any, op: str, wanted: Any) -> ColumnElement[bool]:
    return {"gt": number > wanted, "gte": number >= wanted, "lt": number < wanted, "lte": number <= wanted}[op]


def null_safe(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """NULL (an absent value met a comparison) counts as false, so NOT and OR behave as in Python."""
    return func.coalesce(condition, false())


def _column_condition(column: Any, condition: Condition, dialect: str, is_boolean: bool) -> ColumnElement[bool]:
    op, wanted = condition.op, condition.value
    if op == "exists":
        return column.is_not(None)
    if op == "is_empty":
        return or_(column.is_(None), column == "") if not is_boolean else column.is_(None)
    if op in ("eq", "ne", "in"):
        wanted_values = wanted if op == "in" else (wanted,)
        kind = bool if is_boolean else str
        matching = [item for item in wanted_values if isinstance(item, kind) and (is_boolean or not isinstance(item, bool))]
        matched = or_(*[column == item for item in matching]) if matching else false()
        return not_(null_safe(matched)) if op == "ne" else matched
    if op == "contains":
        return _position(column, wanted, dialect) > 0
    if op == "starts_with":
        return func.substr(column, 1, len(wanted)) == wanted
    return false()  # contact fields are strings: an order comparison with a number never holds


@dataclass
class SqlContext:
    """What compiling needs besides the tree: the dialect and the evaluation moment (for lastDays windows)."""

    dialect: str
    now: datetime
    contact: Any = Contact  # the Contact entity or an alias of it
    # Narrow the grouped transaction subqueries: to one directory (a refresh), to some contacts (a write).
    directory_id: str | None = None
    contact_ids: Sequence[str] | None = None


def rule_sql(node: RuleNode, context: SqlContext) -> ColumnElement[bool]:
    """One null-safe SQL condition on context.contact that holds exactly when the rule holds for that contact."""
    if isinstance(node, AllOf):
        return and_(true(), *[rule_sql(child, context) for child in node.children])
    if isinstance(node, AnyOf):
        return or_(false(), *[rule_sql(child, context) for child in node.children])
    if isinstance(node, NotOf):
        return not_(rule_sql(node.child, context))
    contact = context.contact
    if isinstance(node, FieldRule):
        if node.field in CONTACT_FIELDS:
            column = getattr(contact, CONTACT_FIELDS[node.field])
            return null_safe(_column_condition(column, node.condition, context.dialect, node.field == "unsubscribed"))
        key = node.field[len(EMBEDDED_DATA_PREFIX) :]
        return null_safe(json_condition(json_member(contact.embedded_data, key, context.dialect), node.condition, context.dialect))
    if isinstance(node, MailingListRule):
        return exists().where(
            MailingListMembership.mailing_list_id == node.mailing_list_id, MailingListMembership.contact_id == contact.id
        )
    return null_safe(_transaction_sql(node, context))


def _transaction_filters(node: TransactionRule, transaction: Any, context: SqlContext, correlated: bool = True) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = []
    if correlated:
        filters.append(transaction.contact_id == context.contact.id)
    else:
        if context.directory_id is not None:
            filters.append(transaction.directory_id == context.directory_id)
        if context.contact_ids is not None:
            filters.append(transaction.contact_id.in_(list(context.contact_ids)))
    start, end = window_of(node, context.now)
    if start is not None:
        filters.append(transaction.transaction_date >= start)
    if end is not None:
        filters.append(transaction.transaction_date < end if node.between else transaction.transaction_date <= end)
    for data_filter in node.where:
        member = json_member(transaction.data, data_filter.field, context.dialect)
        filters.append(null_safe(json_condition(member, data_filter.condition, context.dialect)))
    return filters


def _transaction_sql(node: TransactionRule, context: SqlContext) -> ColumnElement[bool]:
    if node.aggregate != "latest":
        return _grouped_sql(node, context)
    assert node.field is not None
    transaction = aliased(Transaction)
    filters = _transaction_filters(node, transaction, context)
    if context.dialect == "sqlite":
        fragment_column: Any = transaction.data.op("->", return_type=String())(f'$."{node.field}"')
    else:
        fragment_column = transaction.data.op("->", return_type=transaction.data.type)(node.field)
    newest = (
        select(fragment_column)
        .where(*filters)
        .order_by(transaction.transaction_date.desc(), transaction.seq.desc())
        .limit(1)
        .scalar_subquery()
    )
    return json_condition(_json_fragment(newest, context.dialect), node.condition, context.dialect)


def _grouped_sql(node: TransactionRule, context: SqlContext) -> ColumnElement[bool]:
    """count/sum/min/max as one GROUP BY over the transactions (a hash aggregate, like the plain query would be)
    rather than a subquery per contact. Contacts without a matching transaction have the empty value (0, or none
    for min/max): when the condition holds for it, the contacts NOT IN the groups where it fails are the members."""
    transaction = aliased(Transaction)
    filters = _transaction_filters(node, transaction, context, correlated=False)
    if node.aggregate == "count":
        aggregate: Any = func.count()
        empty: Any = 0
    else:
        assert node.field is not None
        member = json_member(transaction.data, node.field, context.dialect)
        numeric = case((member.is_number, member.number), else_=None)
        aggregate = {"sum": func.sum, "min": func.min, "max": func.max}[node.aggregate](numeric)
        empty = 0 if node.aggregate == "sum" else None
        if node.aggregate == "sum":
            aggregate = func.coalesce(aggregate, 0)
    holds = null_safe(_order_or_equal(aggregate, node.condition))
    holds_when_empty = compare(node.condition, empty)
    groups = (
        select(transaction.contact_id)
        .where(*filters)
        .group_by(transaction.contact_id)
        .having(not_(holds) if holds_when_empty else holds)
    )
    contact_id = context.contact.id
    return not_(contact_id.in_(groups)) if holds_when_empty else contact_id.in_(groups)


def _order_or_equal(number: Any, condition: Condition) -> ColumnElement[bool]:
    number = cast(number, Float)  # counts are integers; the rule's value may not be
    if condition.op == "eq":
        return number == condition.value
    if condition.op == "ne":
        return not_(null_safe(number == condition.value))
    return _order(number, condition.op, condition.value)


def window_of(node: TransactionRule, now: datetime) -> tuple[datetime | None, datetime | None]:
    """[start, end] of lastDays (both inclusive, ending now), [from, to) of between, or no bounds."""
    if node.last_days is not None:
        return now - timedelta(days=node.last_days), now
    if node.between is not None:
        return node.between
    return None, None


# Explained evaluation of one contact (Python side)


@dataclass(frozen=True)
class TransactionFacts:
    seq: int
    transaction_date: datetime
    data: Mapping[str, Any]


@dataclass(frozen=True)
class ContactFacts:
    """Everything a rule can look at for one contact."""

    fields: Mapping[str, Any]  # CONTACT_FIELDS names -> values
    embedded_data: Mapping[str, Any]
    mailing_list_ids: frozenset[str]
    transactions: Sequence[TransactionFacts]


@dataclass
class Explanation:
    path: str
    description: str
    value: Any
    held: bool
    children: list[Explanation] = field(default_factory=list)


def explain(node: RuleNode, facts: ContactFacts, now: datetime) -> Explanation:
    if isinstance(node, (AllOf, AnyOf)):
        children = [explain(child, facts, now) for child in node.children]
        combine: Callable[[Any], bool] = all if isinstance(node, AllOf) else any
        word = "all" if isinstance(node, AllOf) else "any"
        held = combine(child.held for child in children)
        return Explanation(node.path, f"{word} of {len(children)}", held, held, children)
    if isinstance(node, NotOf):
        child = explain(node.child, facts, now)
        return Explanation(node.path, "not", not child.held, not child.held, [child])
    if isinstance(node, FieldRule):
        if node.field in CONTACT_FIELDS:
            actual = facts.fields.get(node.field)
        else:
            actual = facts.embedded_data.get(node.field[len(EMBEDDED_DATA_PREFIX) :])
        return Explanation(node.path, f"{node.field} {_describe(node.condition)}", actual, compare(node.condition, actual))
    if isinstance(node, MailingListRule):
        member = node.mailing_list_id in facts.mailing_list_ids
        return Explanation(node.path, f"member of mailing list {node.mailing_list_id}", member, member)
    value = transaction_aggregate(node, facts.transactions, now)
    return Explanation(node.path, _describe_transactions(node), value, compare(node.condition, value))


def transaction_aggregate(node: TransactionRule, transactions: Sequence[TransactionFacts], now: datetime) -> Any:
    start, end = window_of(node, now)
    chosen = [
        item
        for item in transactions
        if (start is None or item.transaction_date >= start)
        and (end is None or (item.transaction_date < end if node.between else item.transaction_date <= end))
        and all(compare(data_filter.condition, item.data.get(data_filter.field)) for data_filter in node.where)
    ]
    if node.aggregate == "count":
        return len(chosen)
    assert node.field is not None
    if node.aggregate == "latest":
        if not chosen:
            return None
        newest = max(chosen, key=lambda item: (item.transaction_date, item.seq))
        return newest.data.get(node.field)
    numbers = [item.data.get(node.field) for item in chosen if _is_number(item.data.get(node.field))]
    if node.aggregate == "sum":
        return sum(numbers)
    if not numbers:
        return None
    return min(numbers) if node.aggregate == "min" else max(numbers)


def _describe(condition: Condition) -> str:
    if condition.value is None:
        return condition.op
    if isinstance(condition.value, tuple):
        return f"{condition.op} [{', '.join(repr(item) for item in condition.value)}]"
    return f"{condition.op} {condition.value!r}"


def _describe_transactions(node: TransactionRule) -> str:
    subject = f"{node.aggregate}({node.field})" if node.field else "count"
    parts = [f"{subject} of transactions"]
    if node.where:
        parts.append("where " + " and ".join(f"{item.field} {_describe(item.condition)}" for item in node.where))
    if node.last_days is not None:
        parts.append(f"in the last {node.last_days} days")
    if node.between is not None:
        parts.append(f"between {node.between[0].isoformat()} and {node.between[1].isoformat()}")
    return f"{' '.join(parts)} {_describe(node.condition)}"

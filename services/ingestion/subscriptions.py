"""Subscriptions: validation of a source's routing rules and the fields their contact and transaction actions take."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.ingestion.errors import InvalidIngestionRequest
from services.ingestion.filters import FilterSyntaxError, Node, parse_filter
from services.ingestion.mappings import (
    ABSENT,
    FieldMapping,
    InvalidMapping,
    MappingError,
    apply_mappings,
    check_contact_field_name,
    coerce,
    compile_mapping,
    default_contact_fields,
)

UPSERT_CONTACT = "upsert_contact"
UPSERT_TRANSACTION = "upsert_transaction"
START_WORKFLOW = "start_workflow"
ACTIONS = (UPSERT_CONTACT, UPSERT_TRANSACTION, START_WORKFLOW)
# Segment's Qualtrics destination presets, applied when a subscription leaves its filter empty.
DEFAULT_FILTERS = {
    UPSERT_CONTACT: 'type = "identify"',
    UPSERT_TRANSACTION: 'type = "track" and event = "Transaction Created"',
    START_WORKFLOW: 'type = "identify"',
}
DEFAULT_FILTER = DEFAULT_FILTERS[UPSERT_CONTACT]
TRANSACTION_DATE = "transactionDate"
TRANSACTION_DATA_PREFIX = "data."
# The identifiers an "upsert contact transaction" looks its contact up by.
LOOKUP_FIELDS = ("extRef", "phone", "email")


@dataclass(frozen=True)
class TransactionFields:
    """What an UPSERT_TRANSACTION takes from one event: the contact's fields, the transaction's date and data."""

    contact: dict[str, Any]
    transaction_date: datetime
    data: dict[str, Any]


@dataclass(frozen=True)
class SubscriptionRule:
    """A subscription ready to route: its parsed filter and compiled mappings."""

    action: str
    filter: Node
    mappings: list[FieldMapping]
    directory_id: str = ""
    workflow_id: str = ""
    mailing_list_id: str = ""

    def matches(self, event: dict[str, Any]) -> bool:
        return self.filter.matches(event)

    def contact_fields(self, event: dict[str, Any]) -> dict[str, Any]:
        """The contact fields of an UPSERT_CONTACT: the mappings', or Segment's defaults when there are none."""
        return apply_mappings(self.mappings, event) if self.mappings else default_contact_fields(event)

    def transaction_fields(self, event: dict[str, Any]) -> TransactionFields:
        """An UPSERT_TRANSACTION's fields: the mappings' (contact fields, transactionDate, data.<key>), or the defaults:
        the contact's as for identify (traits from context.traits on a track), the event's timestamp, its properties."""
        if self.mappings:
            mapped = apply_mappings(self.mappings, event)
        else:
            traits = event.get("traits") if isinstance(event.get("traits"), dict) else None
            context = event.get("context") if isinstance(event.get("context"), dict) else {}
            if traits is None and isinstance(context.get("traits"), dict):
                traits = context["traits"]
            mapped = default_contact_fields({**event, "traits": traits or {}})
            properties = event.get("properties") if isinstance(event.get("properties"), dict) else {}
            for key, value in properties.items():
                if isinstance(value, (str, int, float, bool)):
                    mapped[TRANSACTION_DATA_PREFIX + key] = value
        contact = {k: v for k, v in mapped.items() if k != TRANSACTION_DATE and not k.startswith(TRANSACTION_DATA_PREFIX)}
        data = {k[len(TRANSACTION_DATA_PREFIX):]: v for k, v in mapped.items() if k.startswith(TRANSACTION_DATA_PREFIX)}
        raw_date = mapped.get(TRANSACTION_DATE, event.get("timestamp", ABSENT))
        return TransactionFields(contact, _transaction_date(raw_date), data)


def _transaction_date(value: Any) -> datetime:
    if value is ABSENT or value is None:
        raise MappingError(f"field {TRANSACTION_DATE!r}: the event has no timestamp", field=TRANSACTION_DATE)
    text = coerce(value, "string", TRANSACTION_DATE)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise MappingError(f"field {TRANSACTION_DATE!r}: cannot read {value!r} as an ISO-8601 date", field=TRANSACTION_DATE) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _check_transaction_field_name(name: str, where: str) -> None:
    if name == TRANSACTION_DATE or (name.startswith(TRANSACTION_DATA_PREFIX) and len(name) > len(TRANSACTION_DATA_PREFIX)):
        return
    try:
        check_contact_field_name(name, where)
    except InvalidMapping as exc:
        raise InvalidMapping(f"{exc.message}, {TRANSACTION_DATE} or {TRANSACTION_DATA_PREFIX}<key>", field=exc.field) from None


def default_filter(action: str) -> str:
    return DEFAULT_FILTERS.get(action, DEFAULT_FILTER)


def compile_rule(
    action: str,
    filter_text: str,
    mappings: list[dict[str, Any]],
    directory_id: str = "",
    workflow_id: str = "",
    mailing_list_id: str = "",
) -> SubscriptionRule:
    """Validates a subscription; errors name the field (filter, mappings[i].path, directory_id...)."""
    if action not in ACTIONS:
        raise InvalidIngestionRequest("subscription.action", "must be UPSERT_CONTACT, UPSERT_TRANSACTION or START_WORKFLOW")
    if action in (UPSERT_CONTACT, UPSERT_TRANSACTION) and not directory_id:
        raise InvalidIngestionRequest("subscription.directory_id", f"{action.upper()} needs the directory to write contacts to")
    if action == UPSERT_TRANSACTION and not mailing_list_id:
        raise InvalidIngestionRequest("subscription.mailing_list_id", "UPSERT_TRANSACTION needs the mailing list of the transactions")
    if action == START_WORKFLOW and not workflow_id:
        raise InvalidIngestionRequest("subscription.workflow_id", "START_WORKFLOW needs the workflow to start")
    try:
        event_filter = parse_filter(filter_text or default_filter(action))
    except FilterSyntaxError as exc:
        raise InvalidIngestionRequest("subscription.filter", f"{exc.problem} at position {exc.position}") from exc
    compiled = []
    for index, mapping in enumerate(mappings):
        where = f"subscription.mappings[{index}]"
        extra = {"value": mapping["value"]} if "value" in mapping else {}
        field_mapping = compile_mapping(mapping.get("name"), mapping.get("path"), mapping.get("type"), where, **extra)
        if action == UPSERT_CONTACT:
            check_contact_field_name(field_mapping.name, where)
        elif action == UPSERT_TRANSACTION:
            _check_transaction_field_name(field_mapping.name, where)
        compiled.append(field_mapping)
    return SubscriptionRule(action, event_filter, compiled, directory_id, workflow_id, mailing_list_id)


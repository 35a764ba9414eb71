"""Subscriptions: validation of a source's routing rules and the contact fields an UPSERT_CONTACT takes from an event."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.ingestion.errors import InvalidIngestionRequest
from services.ingestion.filters import FilterSyntaxError, Node, parse_filter
from services.ingestion.mappings import FieldMapping, apply_mappings, check_contact_field_name, compile_mapping, default_contact_fields

UPSERT_CONTACT = "upsert_contact"
START_WORKFLOW = "start_workflow"
ACTIONS = (UPSERT_CONTACT, START_WORKFLOW)
DEFAULT_FILTER = 'type = "identify"'


@dataclass(frozen=True)
class SubscriptionRule:
    """A subscription ready to route: its parsed filter and compiled mappings."""

    action: str
    filter: Node
    mappings: list[FieldMapping]
    directory_id: str = ""
    workflow_id: str = ""

    def matches(self, event: dict[str, Any]) -> bool:
        return self.filter.matches(event)

    def contact_fields(self, event: dict[str, Any]) -> dict[str, Any]:
        """The contact fields of an UPSERT_CONTACT: the mappings', or Segment's defaults when there are none."""
        return apply_mappings(self.mappings, event) if self.mappings else default_contact_fields(event)


def compile_rule(
    action: str, filter_text: str, mappings: list[dict[str, Any]], directory_id: str = "", workflow_id: str = ""
) -> SubscriptionRule:
    """Validates a subscription; errors name the field (filter, mappings[i].path, directory_id...)."""
    if action not in ACTIONS:
        raise InvalidIngestionRequest("subscription.action", "must be UPSERT_CONTACT or START_WORKFLOW")
    if action == UPSERT_CONTACT and not directory_id:
        raise InvalidIngestionRequest("subscription.directory_id", "UPSERT_CONTACT needs the directory to write contacts to")
    if action == START_WORKFLOW and not workflow_id:
        raise InvalidIngestionRequest("subscription.workflow_id", "START_WORKFLOW needs the workflow to start")
    try:
        event_filter = parse_filter(filter_text or DEFAULT_FILTER)
    except FilterSyntaxError as exc:
        raise InvalidIngestionRequest("subscription.filter", f"{exc.problem} at position {exc.position}") from exc
    compiled = []
    for index, mapping in enumerate(mappings):
        where = f"subscription.mappings[{index}]"
        field_mapping = compile_mapping(mapping.get("name"), mapping.get("path"), mapping.get("type"), where)
        if action == UPSERT_CONTACT:
            check_contact_field_name(field_mapping.name, where)
        compiled.append(field_mapping)
    return SubscriptionRule(action, event_filter, compiled, directory_id, workflow_id)

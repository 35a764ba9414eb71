"""The CountRecentRuns activity: how many runs of a workflow acted on a contact since a moment (frequency cap).

It reads Temporal's visibility (the CxOrganization, CxWorkflowId and CxContactId search attributes), the record
of runs that Temporal keeps anyway, so the cap needs no table of its own and no other service's database. Workflow
ids are chosen per organization, so the count is always limited to the asking run's organization.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import activity
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ApplicationError

from workflows.contracts import (
    SEARCH_ATTRIBUTE_CONTACT_ID,
    SEARCH_ATTRIBUTE_ORGANIZATION,
    SEARCH_ATTRIBUTE_WORKFLOW_ID,
    is_safe_query_value,
)


@dataclass(frozen=True)
class CountRecentRunsInput:
    workflow_id: str  # WF_…
    contact_id: str
    since: str  # ISO-8601 UTC, from workflow.now() so the run's history fixes it
    exclude_run_id: str  # the asking run itself
    organization_id: str = ""  # ORG_…; empty: the asking run's CxOrganization search attribute


class RunActivities:
    """Activities that read Temporal itself; the client is injected by the worker."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn(name="CountRecentRuns")
    async def count_recent_runs(self, input: CountRecentRunsInput) -> int:
        organization_id = input.organization_id or await self._organization_of(activity.info().workflow_id)
        for value in (organization_id, input.workflow_id, input.contact_id, input.exclude_run_id, input.since):
            if not is_safe_query_value(value):
                raise ApplicationError(f"not a safe query value: {value!r}", type="InvalidQueryValue", non_retryable=True)
        query = (
            f"{SEARCH_ATTRIBUTE_ORGANIZATION} = '{organization_id}' "
            f"AND {SEARCH_ATTRIBUTE_WORKFLOW_ID} = '{input.workflow_id}' AND {SEARCH_ATTRIBUTE_CONTACT_ID} = '{input.contact_id}' "
            f"AND StartTime >= '{input.since}' AND WorkflowId != '{input.exclude_run_id}'"
        )
        counted = await self._client.count_workflows(query)
        return counted.count

    async def _organization_of(self, run_id: str) -> str:
        """The organization a run was started for: its CxOrganization search attribute."""
        described = await self._client.get_workflow_handle(run_id).describe()
        organization_id = described.typed_search_attributes.get(SearchAttributeKey.for_keyword(SEARCH_ATTRIBUTE_ORGANIZATION))
        if not organization_id:
            raise ApplicationError(f"run {run_id} has no {SEARCH_ATTRIBUTE_ORGANIZATION}", type="InvalidQueryValue", non_retryable=True)
        return organization_id

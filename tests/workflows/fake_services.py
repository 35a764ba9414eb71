"""Test stand-ins for the service activities of TriggeredRun: functions registered under the real activity
names that record each call and can fail chosen activities for their first attempts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from workflows.activities.directory import (
    AddToMailingListInput,
    AddToMailingListOutput,
    ContactDetails,
    LoadContactInput,
    UpdateContactFieldInput,
    UpdateContactFieldOutput,
)
from workflows.activities.notification import (
    CreateTicketInput,
    CreateTicketOutput,
    DistributeSurveyInput,
    DistributeSurveyOutput,
    SendEmailInput,
    SendEmailOutput,
    SendSegmentEventInput,
    SendSegmentEventOutput,
    SendSlackInput,
    SendSlackOutput,
    SendWebhookInput,
    SendWebhookOutput,
)

ADA = ContactDetails(
    id="CID_ada",
    directory_id="POOL_1",
    first_name="Ada",
    last_name="Lovelace",
    email="ada@example.com",
    ext_ref="u-ada",
    embedded_data={"tier": "gold", "score": "42"},
    segment_ids=["SEG_vip"],
)


@dataclass
class Calls:
    """Every service activity call, by activity name, and failures to inject: name -> (error type, attempts)."""

    made: dict[str, list[Any]] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    fail: dict[str, tuple[str, int]] = field(default_factory=dict)
    hold: asyncio.Event | None = None

    async def record(self, input: Any) -> None:
        name = activity.info().activity_type
        self.attempts[name] = self.attempts.get(name, 0) + 1
        if self.hold is not None and name != "LoadContactDetails":
            await self.hold.wait()
        error_type, failing = self.fail.get(name, ("", 0))
        if activity.info().attempt <= failing:
            raise ApplicationError(f"{error_type} on attempt {activity.info().attempt}", type=error_type)
        self.made.setdefault(name, []).append(input)

    def of(self, name: str) -> list[Any]:
        return self.made.get(name, [])


def fake_activities(calls: Calls) -> list[Any]:
    @activity.defn(name="LoadContactDetails")
    async def load(input: LoadContactInput) -> ContactDetails:
        await calls.record(input)
        return ADA

    @activity.defn(name="SendEmail")
    async def email(input: SendEmailInput) -> SendEmailOutput:
        await calls.record(input)
        return SendEmailOutput(message_id=f"<{len(calls.of('SendEmail'))}@test>")

    @activity.defn(name="SendSlack")
    async def slack(input: SendSlackInput) -> SendSlackOutput:
        await calls.record(input)
        return SendSlackOutput(status_code=200)

    @activity.defn(name="CreateTicket")
    async def ticket(input: CreateTicketInput) -> CreateTicketOutput:
        await calls.record(input)
        return CreateTicketOutput(ticket_id="TKT_1", external_id="4711", external_url="https://z.example/4711")

    @activity.defn(name="DistributeSurvey")
    async def survey(input: DistributeSurveyInput) -> DistributeSurveyOutput:
        await calls.record(input)
        return DistributeSurveyOutput(distribution_id="SD_1", link="https://n.example/s/abc", message_id="<s@test>")

    @activity.defn(name="SendWebhook")
    async def webhook(input: SendWebhookInput) -> SendWebhookOutput:
        await calls.record(input)
        return SendWebhookOutput(status_code=202, response_body="queued")

    @activity.defn(name="SendSegmentEvent")
    async def segment(input: SendSegmentEventInput) -> SendSegmentEventOutput:
        await calls.record(input)
        return SendSegmentEventOutput(message_id="cxflow-1", status_code=200)

    @activity.defn(name="AddToMailingList")
    async def add(input: AddToMailingListInput) -> AddToMailingListOutput:
        await calls.record(input)
        return AddToMailingListOutput(changed=1)

    @activity.defn(name="UpdateContactField")
    async def update(input: UpdateContactFieldInput) -> UpdateContactFieldOutput:
        await calls.record(input)
        return UpdateContactFieldOutput(contact_id=input.contact_id, field=input.field, value=input.value)

    return [load, email, slack, ticket, survey, webhook, segment, add, update]

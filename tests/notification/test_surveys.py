"""Surveys end to end: CRUD, distribution by email through a real SMTP server, unique links and the redirect endpoint."""

from __future__ import annotations

import asyncio
import base64
import re
from datetime import UTC, datetime, timedelta

import grpc
import httpx
import pytest
from sqlalchemy import update

from cxflow.mailcatcher import MailCatcher
from cxflow.v1 import common_pb2, notification_pb2
from services.common.db import create_engine, create_session_factory
from services.notification.models import SurveyDistribution
from services.notification.server import NotificationServer

Metadata = tuple[tuple[str, str], ...]
N = notification_pb2
URL_TEMPLATE = "https://surveys.example.com/nps?cid={{ contact_id }}&run={{ run_id }}&name={{ first_name }}"


@pytest.fixture
async def survey(stub, metadata: Metadata) -> N.Survey:
    return await stub.CreateSurvey(N.CreateSurveyRequest(name="NPS", url_template=URL_TEMPLATE), metadata=metadata)


@pytest.fixture
async def http(notification: NotificationServer):
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{notification.http_port}") as client:
        yield client


def invitation(survey_id: str, key: str = "run-1/2", **changes: object) -> N.DistributeSurveyRequest:
    fields: dict[str, object] = {
        "idempotency_key": key,
        "survey_id": survey_id,
        "contact_id": "CID_1",
        "email": "zoe@example.com",
        "first_name": "Zoë",
        "last_name": "Schmidt",
        "run_id": "run-1",
    }
    fields.update(changes)
    return N.DistributeSurveyRequest(**fields)


def token_of(link: str) -> str:
    return link.rsplit("/s/", 1)[1]


async def test_distribution_emails_a_unique_link_that_redirects_and_records_the_first_open(
    stub, metadata: Metadata, survey, catcher: MailCatcher, http: httpx.AsyncClient, settings
) -> None:
    reply = await stub.DistributeSurvey(
        invitation(survey.id, subject="Hi {{ first_name }}", text_template="Go: {{ link }}"), metadata=metadata
    )
    distribution = reply.distribution
    assert reply.duplicate is False
    assert distribution.link.startswith(settings.notification_public_url + "/s/")
    assert distribution.HasField("sent_at") and not distribution.HasField("opened_at")
    assert distribution.expires_at.ToDatetime(UTC) - distribution.sent_at.ToDatetime(UTC) > timedelta(days=29)

    [email] = await catcher.wait_for(1)
    assert email["Subject"] == "Hi Zoë"
    assert email["Message-ID"] == reply.message_id
    assert [(a.display_name, a.addr_spec) for a in email["To"].addresses] == [("Zoë Schmidt", "zoe@example.com")]
    assert email.get_content().strip() == f"Go: {distribution.link}"

    token = token_of(distribution.link)
    first = await http.get(f"/s/{token}")
    assert first.status_code == 302
    assert first.headers["location"] == "https://surveys.example.com/nps?cid=CID_1&run=run-1&name=Zo%C3%AB"
    assert first.headers["referrer-policy"] == "no-referrer"
    [listed] = (await stub.ListSurveyDistributions(N.ListSurveyDistributionsRequest(survey_id=survey.id), metadata=metadata)).distributions
    opened_at = listed.opened_at.ToDatetime()
    assert listed.HasField("opened_at")

    second = await http.get(f"/s/{token}")
    assert second.status_code == 302
    [listed] = (await stub.ListSurveyDistributions(N.ListSurveyDistributionsRequest(), metadata=metadata)).distributions
    assert listed.opened_at.ToDatetime() == opened_at  # the first open only


async def test_concurrent_opens_all_redirect_and_record_the_open(stub, metadata: Metadata, survey, http: httpx.AsyncClient, database_url) -> None:
    reply = await stub.DistributeSurvey(invitation(survey.id), metadata=metadata)
    token = token_of(reply.distribution.link)
    answers = await asyncio.gather(*(http.get(f"/s/{token}") for _ in range(5)))
    assert {a.status_code for a in answers} == {302}
    [listed] = (await stub.ListSurveyDistributions(N.ListSurveyDistributionsRequest(), metadata=metadata)).distributions
    assert listed.HasField("opened_at")


async def test_links_are_unique_per_survey_contact_and_run_and_unguessable(
    stub, metadata: Metadata, survey, catcher: MailCatcher
) -> None:
    links = []
    for index, (contact, run) in enumerate([("CID_1", "run-1"), ("CID_2", "run-1"), ("CID_1", "run-2")]):
        reply = await stub.DistributeSurvey(invitation(survey.id, f"k-{index}", contact_id=contact, run_id=run), metadata=metadata)
        links.append(reply.distribution.link)
    # A second invitation for the same (survey, contact, run) repeats its link (a reminder), with another email.
    reminder = await stub.DistributeSurvey(invitation(survey.id, "k-reminder"), metadata=metadata)

    assert len(set(links)) == 3
    assert reminder.distribution.link == links[0] and reminder.duplicate is False
    await catcher.wait_for(4)
    for link in links:
        token = token_of(link)
        assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        assert len(raw) * 8 >= 128  # at least 128 random bits (it carries 256)


async def test_same_key_sends_one_invitation(stub, metadata: Metadata, survey, catcher: MailCatcher) -> None:
    first = await stub.DistributeSurvey(invitation(survey.id, "once"), metadata=metadata)
    second = await stub.DistributeSurvey(invitation(survey.id, "once"), metadata=metadata)
    assert (first.duplicate, second.duplicate) == (False, True)
    assert second.distribution.link == first.distribution.link
    assert second.message_id == first.message_id
    await catcher.wait_for(1)
    assert len(catcher.messages) == 1


async def test_default_invitation_has_text_and_html_with_the_link(stub, metadata: Metadata, survey, catcher: MailCatcher) -> None:
    reply = await stub.DistributeSurvey(invitation(survey.id, first_name="<b>Zoë</b>"), metadata=metadata)
    [email] = await catcher.wait_for(1)
    assert email["Subject"] == "NPS: we would like your feedback"
    assert reply.distribution.link in email.get_body(("plain",)).get_content()
    html = email.get_body(("html",)).get_content()
    assert f'href="{reply.distribution.link}"' in html
    assert "&lt;b&gt;Zoë&lt;/b&gt;" in html  # HTML templates escape values


async def test_expired_link_answers_410_and_unknown_404(
    stub, metadata: Metadata, survey, http: httpx.AsyncClient, database_url: str
) -> None:
    reply = await stub.DistributeSurvey(invitation(survey.id), metadata=metadata)
    engine = create_engine(database_url)
    async with create_session_factory(engine)() as session:
        await session.execute(
            update(SurveyDistribution).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await session.commit()
    await engine.dispose()

    expired = await http.get(f"/s/{token_of(reply.distribution.link)}")
    assert expired.status_code == 410
    assert expired.json() == {"error": {"code": "expired", "message": "this survey link has expired"}}
    unknown = await http.get("/s/not-a-real-token")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"
    [listed] = (await stub.ListSurveyDistributions(N.ListSurveyDistributionsRequest(), metadata=metadata)).distributions
    assert not listed.HasField("opened_at")


async def test_survey_crud_and_validation(stub, metadata: Metadata, api_token_caller) -> None:
    created = await stub.CreateSurvey(N.CreateSurveyRequest(name="CSAT", url_template="https://x.example/s"), metadata=metadata)
    assert created.id.startswith("SV_")
    updated = await stub.UpdateSurvey(N.UpdateSurveyRequest(survey_id=created.id, name="CSAT 2"), metadata=metadata)
    assert (updated.name, updated.url_template) == ("CSAT 2", "https://x.example/s")
    listed = await stub.ListSurveys(N.ListSurveysRequest(page=common_pb2.PageRequest(page_size=10)), metadata=metadata)
    assert [s.id for s in listed.surveys] == [created.id]

    token_metadata, _ = api_token_caller
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetSurvey(N.GetSurveyRequest(survey_id=created.id), metadata=token_metadata)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND

    for bad in [
        N.CreateSurveyRequest(name="", url_template="https://x.example/s"),
        N.CreateSurveyRequest(name="A", url_template="ftp://x.example/s"),
        N.CreateSurveyRequest(name="A", url_template="https://x.example/{{ nope }}"),
        N.CreateSurveyRequest(name="A", url_template="https://x.example/{{ contact_id"),
        N.CreateSurveyRequest(name="A", url_template="https://x.example/{{ 1 / 0 }}"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateSurvey(bad, metadata=metadata)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, bad

    await stub.DeleteSurvey(N.DeleteSurveyRequest(survey_id=created.id), metadata=metadata)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetSurvey(N.GetSurveyRequest(survey_id=created.id), metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"email": "nope"}, "email"),
        ({"contact_id": ""}, "contact_id"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"text_template": "{{ link"}, "text_template"),
        ({"text_template": "{{ link }} {{ 1 / 0 }}"}, "text_template"),
        ({"subject": "{{ first_name - 1 }}"}, "subject"),  # TypeError
        ({"expires_in_seconds": -1}, "expires_in_seconds"),
    ],
)
async def test_invalid_distributions_name_the_field_and_send_nothing(
    stub, metadata: Metadata, survey, catcher: MailCatcher, changes, field
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.DistributeSurvey(invitation(survey.id, **changes), metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in caught.value.details()
    assert catcher.messages == []
    assert list((await stub.ListSurveyDistributions(N.ListSurveyDistributionsRequest(), metadata=metadata)).distributions) == []


async def test_smtp_down_leaves_no_link_and_the_retry_sends(
    stub, metadata: Metadata, survey, catcher: MailCatcher
) -> None:
    await catcher.stop()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.DistributeSurvey(invitation(survey.id, "down"), metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert list((await stub.ListSurveyDistributions(N.ListSurveyDistributionsRequest(), metadata=metadata)).distributions) == []
    await catcher.start()
    reply = await stub.DistributeSurvey(invitation(survey.id, "down"), metadata=metadata)
    assert reply.duplicate is False
    assert len(await catcher.wait_for(1)) == 1


async def test_a_template_failing_while_rendering_is_a_final_invalid_argument(
    stub, metadata: Metadata, survey, catcher: MailCatcher
) -> None:
    # The stored outcome of a key is replayed: the same request again gets the same final error, never a retry.
    for _attempt in range(2):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.DistributeSurvey(invitation(survey.id, "div", html_template="{{ 1 / 0 }}"), metadata=metadata)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "html_template" in caught.value.details() and "ZeroDivisionError" in caught.value.details()
    assert catcher.messages == []

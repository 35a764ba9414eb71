"""`cxflow surveys ...`: create and list surveys (named external survey URLs) and see their distributions and opens."""

from __future__ import annotations

import typer

from cxflow.commands.support import JSON_OPTION, all_pages, call, print_rows
from cxflow.v1 import notification_pb2, notification_pb2_grpc
from services.common.settings import Settings

app = typer.Typer(help="Surveys and their per-contact links.", no_args_is_help=True)


def _stub(channel: object) -> notification_pb2_grpc.NotificationServiceStub:
    return notification_pb2_grpc.NotificationServiceStub(channel)


def _when(message: object, field: str) -> str:
    return getattr(message, field).ToJsonString() if message.HasField(field) else ""  # type: ignore[attr-defined]


@app.command("create")
def surveys_create(
    name: str,
    url_template: str = typer.Argument(..., help="e.g. 'https://survey.example.com/nps?cid={{ contact_id }}'"),
) -> None:
    """Create a survey; prints its id."""
    settings = Settings.from_env()
    survey = call(
        settings.notification_grpc_target,
        lambda channel, md: _stub(channel).CreateSurvey(
            notification_pb2.CreateSurveyRequest(name=name, url_template=url_template), metadata=md
        ),
    )
    typer.echo(survey.id)


@app.command("list")
def surveys_list(as_json: bool = JSON_OPTION) -> None:
    """List the organization's surveys."""
    settings = Settings.from_env()
    surveys = all_pages(
        lambda page: call(
            settings.notification_grpc_target,
            lambda channel, md: _stub(channel).ListSurveys(notification_pb2.ListSurveysRequest(page=page), metadata=md),
        ),
        lambda reply: reply.surveys,
        page_size=None,
    )
    rows = [{"id": s.id, "name": s.name, "urlTemplate": s.url_template} for s in surveys]
    print_rows(rows, [("id", "id"), ("name", "name"), ("urlTemplate", "URL template")], as_json)


@app.command("distributions")
def surveys_distributions(
    survey_id: str = typer.Option("", "--survey", help="only this survey's links"),
    contact_id: str = typer.Option("", "--contact", help="only this contact's links"),
    as_json: bool = JSON_OPTION,
) -> None:
    """List survey links, newest first, with when each was sent and first opened."""
    settings = Settings.from_env()
    distributions = all_pages(
        lambda page: call(
            settings.notification_grpc_target,
            lambda channel, md: _stub(channel).ListSurveyDistributions(
                notification_pb2.ListSurveyDistributionsRequest(survey_id=survey_id, contact_id=contact_id, page=page),
                metadata=md,
            ),
        ),
        lambda reply: reply.distributions,
        page_size=None,
    )
    rows = [
        {
            "id": d.id,
            "surveyId": d.survey_id,
            "contactId": d.contact_id,
            "runId": d.run_id,
            "email": d.email,
            "sent": _when(d, "sent_at"),
            "opened": _when(d, "opened_at"),
            "expires": _when(d, "expires_at"),
        }
        for d in distributions
    ]
    columns = [
        ("id", "id"),
        ("surveyId", "survey"),
        ("contactId", "contact"),
        ("email", "email"),
        ("sent", "sent"),
        ("opened", "opened"),
        ("expires", "expires"),
    ]
    print_rows(rows, columns, as_json)

"""Surveys: named external survey URLs, and distributions that give each (survey, contact, run) its own link.

A link is {public URL}/s/{token}: the token carries 256 random bits (secrets.token_urlsafe(32)), so it
cannot be guessed, and it is the only thing the redirect endpoint needs. Following it records the first
open and redirects to the survey's URL template rendered for that distribution.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import InvalidArgument, NotFound
from services.common.template_sandbox import CappedSandboxedEnvironment, TemplateTooLarge, render_capped
from services.notification.channel_settings import ChannelSettingsRepository
from services.notification.deliveries import Deliveries, fingerprint, validate_idempotency_key
from services.notification.email_channel import (
    EmailRequest,
    SmtpEmailChannel,
    compose,
    message_id_for,
    parse_address,
)
from services.notification.email_channel import validate as validate_email
from services.notification.models import Survey, SurveyDistribution

DEFAULT_EXPIRY = timedelta(days=30)
MAX_EXPIRY = timedelta(days=365)
TOKEN_BYTES = 32  # 256 bits
MAX_NAME_LENGTH = 200
DEFAULT_SUBJECT = "{{ survey_name }}: we would like your feedback"
DEFAULT_TEXT = (
    "Hello {{ first_name or 'there' }},\n\nplease tell us how we did: {{ link }}\n\n"
    "The link works until {{ expires_at }}.\n"
)
DEFAULT_HTML = (
    "<p>Hello {{ first_name or 'there' }},</p><p>please tell us how we did: "
    '<a href="{{ link }}">{{ survey_name }}</a></p><p>The link works until {{ expires_at }}.</p>'
)

# The same sandbox and size caps as workflow task templates.
_url_templates = CappedSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
_text_templates = CappedSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
_html_templates = CappedSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=True)
URL_TEMPLATE_VARIABLES = ("contact_id", "run_id", "distribution_id", "email", "first_name", "last_name")


class SurveyNotFound(NotFound):
    """No survey with this id in the caller's organization."""


class InvalidTemplate(InvalidArgument):
    """A template does not parse or does not render."""


def new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:20]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def render(environment: CappedSandboxedEnvironment, template: str, values: dict[str, Any], field_name: str) -> str:
    try:
        return render_capped(environment.from_string(template), values)
    except TemplateTooLarge as exc:
        raise InvalidTemplate(f"{field_name}: {exc}", field=field_name) from None
    except jinja2.TemplateError as exc:
        raise InvalidTemplate(f"{field_name}: {exc}", field=field_name) from None
    except Exception as exc:  # noqa: BLE001 - e.g. {{ 1 / 0 }}: the template's fault, final, never retried
        raise InvalidTemplate(f"{field_name}: {type(exc).__name__}: {exc}", field=field_name) from None


def survey_url(url_template: str, distribution: SurveyDistribution) -> str:
    """The survey URL for one distribution: every value URL-encoded before it goes into the template."""
    values = {name: quote(str(getattr(distribution, name if name != "distribution_id" else "id") or ""), safe="")
              for name in URL_TEMPLATE_VARIABLES}
    return render(_url_templates, url_template, values, "url_template").strip()


def validate_survey(name: str, url_template: str) -> None:
    if not name.strip() or len(name) > MAX_NAME_LENGTH:
        raise InvalidArgument(f"name must be 1 to {MAX_NAME_LENGTH} characters", field="name")
    sample = {name: "sample" for name in URL_TEMPLATE_VARIABLES}
    rendered = render(_url_templates, url_template, sample, "url_template").strip()
    parts = urlsplit(rendered)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgument("url_template must render to an absolute http(s) URL", field="url_template")


@dataclass(frozen=True)
class SurveyInvitation:
    idempotency_key: str
    survey_id: str
    contact_id: str
    email: str
    first_name: str = ""
    last_name: str = ""
    run_id: str = ""
    from_address: str = ""
    subject: str = ""
    text_template: str = ""
    html_template: str = ""
    expires_in_seconds: int = 0

    def fingerprint(self) -> str:
        fields = {k: v for k, v in self.__dict__.items() if k != "idempotency_key"}
        return fingerprint("survey", fields)


def validate_invitation(invitation: SurveyInvitation) -> None:
    validate_idempotency_key(invitation.idempotency_key)
    if not invitation.survey_id:
        raise InvalidArgument("survey_id is required", field="survey_id")
    if not invitation.contact_id.strip():
        raise InvalidArgument("contact_id is required", field="contact_id")
    parse_address(invitation.email, "email")
    if invitation.from_address:
        parse_address(invitation.from_address, "from_address")
    if not 0 <= invitation.expires_in_seconds <= MAX_EXPIRY.total_seconds():
        raise InvalidArgument(f"expires_in_seconds must be 0 (30 days) to {int(MAX_EXPIRY.total_seconds())}", field="expires_in_seconds")
    for field_name, environment in (("subject", _text_templates), ("text_template", _text_templates), ("html_template", _html_templates)):
        try:
            environment.parse(getattr(invitation, field_name))
        except jinja2.TemplateSyntaxError as exc:
            raise InvalidTemplate(f"{field_name}: {exc}", field=field_name) from None


@dataclass(frozen=True)
class Distributed:
    distribution: SurveyDistribution
    message_id: str
    duplicate: bool


class SurveyOpen:
    """What the redirect endpoint does with a token: where to send the person, or why not."""

    def __init__(self, status: str, location: str = "") -> None:
        self.status = status  # "redirect" | "unknown" | "expired"
        self.location = location


class Surveys:
    def __init__(
        self, deliveries: Deliveries, smtp: SmtpEmailChannel, default_from: str, public_url: str
    ) -> None:
        self._deliveries = deliveries
        self._smtp = smtp
        self._default_from = default_from
        self._public_url = public_url.rstrip("/")

    def link(self, token: str) -> str:
        return f"{self._public_url}/s/{token}"

    async def create(self, session: AsyncSession, organization_id: str, name: str, url_template: str) -> Survey:
        validate_survey(name, url_template)
        now = datetime.now(UTC)
        survey = Survey(
            id=new_id("SV_"), organization_id=organization_id, name=name.strip(), url_template=url_template.strip(),
            created_at=now, updated_at=now,
        )
        session.add(survey)
        await session.commit()
        return survey

    async def get(self, session: AsyncSession, organization_id: str, survey_id: str) -> Survey:
        survey = await session.scalar(
            select(Survey).where(Survey.organization_id == organization_id, Survey.id == survey_id)
        )
        if survey is None:
            raise SurveyNotFound(f"no survey {survey_id!r}", field="survey_id")
        return survey

    async def list(self, session: AsyncSession, organization_id: str, offset: int, limit: int) -> tuple[list[Survey], bool]:
        rows = list(
            await session.scalars(
                select(Survey)
                .where(Survey.organization_id == organization_id)
                .order_by(Survey.created_at, Survey.id)
                .offset(offset)
                .limit(limit + 1)
            )
        )
        return rows[:limit], len(rows) > limit

    async def update(
        self, session: AsyncSession, organization_id: str, survey_id: str, name: str | None, url_template: str | None
    ) -> Survey:
        survey = await self.get(session, organization_id, survey_id)
        validate_survey(survey.name if name is None else name, survey.url_template if url_template is None else url_template)
        if name is not None:
            survey.name = name.strip()
        if url_template is not None:
            survey.url_template = url_template.strip()
        survey.updated_at = datetime.now(UTC)
        await session.commit()
        return survey

    async def delete(self, session: AsyncSession, organization_id: str, survey_id: str) -> None:
        """Removes the survey and its distributions: their links answer 404 afterwards."""
        survey = await self.get(session, organization_id, survey_id)
        await session.execute(
            SurveyDistribution.__table__.delete().where(SurveyDistribution.survey_id == survey.id)
        )
        await session.delete(survey)
        await session.commit()

    async def distribute(self, session: AsyncSession, organization_id: str, invitation: SurveyInvitation) -> Distributed:
        """Creates (or reuses) the link of (survey, contact, run) and emails it, once per idempotency key."""
        validate_invitation(invitation)
        survey = await self.get(session, organization_id, invitation.survey_id)
        message_id = message_id_for(organization_id, invitation.idempotency_key)

        async def distribute_once() -> dict[str, Any]:
            distribution = await self._distribution_for(session, organization_id, survey, invitation)
            expires_at = _aware(distribution.expires_at)
            values = {
                "link": self.link(distribution.token),
                "first_name": invitation.first_name,
                "last_name": invitation.last_name,
                "email": invitation.email,
                "survey_name": survey.name,
                "expires_at": expires_at.strftime("%Y-%m-%d %H:%M UTC"),
            }
            subject = render(_text_templates, invitation.subject or DEFAULT_SUBJECT, values, "subject").strip()
            text = render(_text_templates, invitation.text_template or ("" if invitation.html_template else DEFAULT_TEXT), values, "text_template")
            html = render(_html_templates, invitation.html_template or ("" if invitation.text_template else DEFAULT_HTML), values, "html_template")
            to = f"{invitation.first_name} {invitation.last_name}".strip()
            email = EmailRequest(
                idempotency_key=invitation.idempotency_key,
                from_address=invitation.from_address,
                to=(f'"{to}" <{invitation.email}>' if to else invitation.email,),
                cc=(),
                subject=subject,
                text_body=text,
                html_body=html,
            )
            validate_email(email)
            channels = await ChannelSettingsRepository(session).channels(organization_id)
            message = compose(email, default_from=channels.default_from or self._default_from, message_id=message_id)
            await self._smtp.send(message, channels.smtp)
            distribution.sent_at = datetime.now(UTC)
            await session.flush()
            return {"distribution_id": distribution.id, "message_id": message_id}

        outcome = await self._deliveries.deliver(
            session, organization_id, invitation.idempotency_key, "survey", invitation.fingerprint(), distribute_once
        )
        distribution = await session.get(SurveyDistribution, outcome.result["distribution_id"], populate_existing=True)
        if distribution is None:  # the survey was deleted since: the stored result names a link that is gone
            raise SurveyNotFound(f"the distribution of key {invitation.idempotency_key!r} was deleted with its survey")
        return Distributed(distribution, outcome.result["message_id"], outcome.duplicate)

    async def _distribution_for(
        self, session: AsyncSession, organization_id: str, survey: Survey, invitation: SurveyInvitation
    ) -> SurveyDistribution:
        existing = await session.scalar(
            select(SurveyDistribution).where(
                SurveyDistribution.organization_id == organization_id,
                SurveyDistribution.survey_id == survey.id,
                SurveyDistribution.contact_id == invitation.contact_id,
                SurveyDistribution.run_id == invitation.run_id,
            )
        )
        if existing is not None:
            return existing  # one link per (survey, contact, run): a second invitation repeats it
        now = datetime.now(UTC)
        expiry = timedelta(seconds=invitation.expires_in_seconds) if invitation.expires_in_seconds else DEFAULT_EXPIRY
        distribution = SurveyDistribution(
            id=new_id("SD_"),
            organization_id=organization_id,
            survey_id=survey.id,
            contact_id=invitation.contact_id,
            run_id=invitation.run_id,
            email=invitation.email,
            first_name=invitation.first_name,
            last_name=invitation.last_name,
            token=secrets.token_urlsafe(TOKEN_BYTES),
            expires_at=now + expiry,
            created_at=now,
        )
        session.add(distribution)
        await session.flush()
        return distribution

    async def list_distributions(
        self, session: AsyncSession, organization_id: str, survey_id: str, contact_id: str, offset: int, limit: int
    ) -> tuple[list[SurveyDistribution], bool]:
        query = select(SurveyDistribution).where(SurveyDistribution.organization_id == organization_id)
        if survey_id:
            query = query.where(SurveyDistribution.survey_id == survey_id)
        if contact_id:
            query = query.where(SurveyDistribution.contact_id == contact_id)
        rows = list(
            await session.scalars(
                query.order_by(SurveyDistribution.created_at.desc(), SurveyDistribution.id.desc())
                .offset(offset)
                .limit(limit + 1)
            )
        )
        return rows[:limit], len(rows) > limit

    @staticmethod
    async def open(session: AsyncSession, token: str) -> SurveyOpen:
        """Resolves a link: records the first open (one conditional UPDATE, so concurrent opens record one)."""
        distribution = await session.scalar(select(SurveyDistribution).where(SurveyDistribution.token == token))
        if distribution is None:
            return SurveyOpen("unknown")
        now = datetime.now(UTC)
        if _aware(distribution.expires_at) <= now:
            return SurveyOpen("expired")
        survey = await session.get(Survey, distribution.survey_id)
        if survey is None:
            return SurveyOpen("unknown")
        location = survey_url(survey.url_template, distribution)
        await session.execute(
            update(SurveyDistribution)
            .where(SurveyDistribution.id == distribution.id, SurveyDistribution.opened_at.is_(None))
            .values(opened_at=now)
        )
        await session.commit()
        return SurveyOpen("redirect", location)

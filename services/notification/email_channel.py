"""The email channel: validates an email request, composes the MIME message and sends it over SMTP (aiosmtplib)."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email import policy
from email.charset import QP, Charset
from email.header import Header
from email.headerregistry import Address
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr

import aiosmtplib
import structlog

from services.common.errors import FailedPrecondition, InvalidArgument, Unavailable
from services.common.settings import Settings

log = structlog.get_logger(__name__)

MAX_IDEMPOTENCY_KEY_LENGTH = 200
SMTP_TIMEOUT_SECONDS = 30.0
# Open connections kept per SMTP server between sends, and how long one may sit unused before it is closed
# (RFC 5321 asks servers to wait at least 5 minutes for the next command, so 30 s idle is well inside).
IDLE_CONNECTIONS_PER_SERVER = 8
IDLE_CONNECTION_SECONDS = 30.0
# A connection unused for longer than this is probed with NOOP before a message goes over it.
PROBE_AFTER_IDLE_SECONDS = 2.0


class InvalidEmail(InvalidArgument):
    """The email request cannot be sent as given."""


class EmailProviderUnavailable(Unavailable):
    """The SMTP server could not be reached or deferred the message (4xx): retrying later may succeed."""


class EmailRejected(FailedPrecondition):
    """The SMTP server refused this message, its sender or its recipients for good (5xx): retrying will not help."""

    final_for_key = True


class SmtpMisconfigured(FailedPrecondition):
    """The SMTP conversation failed on our side's settings (login, TLS): an operator must act, then a retry works."""


@dataclass(frozen=True)
class SmtpTarget:
    """The SMTP server to send through: an organization's own, or the process's SMTP_* settings."""

    host: str
    port: int
    starttls: bool = False
    tls: bool = False
    username: str = ""
    password: str = field(default="", repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpTarget:
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_starttls,
            settings.smtp_tls,
            settings.smtp_username,
            settings.smtp_password,
        )


@dataclass(frozen=True)
class EmailRequest:
    """One email as the caller asked for it (addresses as written, before parsing)."""

    idempotency_key: str
    from_address: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    text_body: str
    html_body: str

    def fingerprint(self) -> str:
        """sha256 of the canonical request: what 'the same request' means for an idempotency key."""
        canonical = json.dumps({"channel": "email", **asdict(self)}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


@functools.lru_cache(maxsize=4096)
def parse_address(value: str, field: str) -> Address:
    """One mailbox such as 'José Müller <jose@example.com>', parsed by the stdlib's RFC 5322 header parser.
    Cached: validation and composition parse the same addresses, and the parser is the dearest part of an email."""
    if "\r" in value or "\n" in value:
        raise InvalidEmail(f"{field} must not contain line breaks", field=field)
    try:
        header = policy.default.header_factory("to", value)
        addresses = header.addresses
    except (IndexError, ValueError):  # the stdlib parser raises these on some malformed input, e.g. 'a@'
        raise InvalidEmail(f"{field} is not a valid email address: {value!r}", field=field) from None
    if len(addresses) != 1:
        raise InvalidEmail(f"{field} must hold exactly one email address, got {value!r}", field=field)
    address = addresses[0]
    if header.defects or not address.username or not address.domain:
        raise InvalidEmail(f"{field} is not a valid email address: {value!r}", field=field)
    return address


def validate(request: EmailRequest) -> None:
    """Raises InvalidEmail naming the first field at fault; nothing is recorded for an invalid request."""
    key = request.idempotency_key
    if not key.strip():
        raise InvalidEmail("idempotency_key is required", field="idempotency_key")
    if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidEmail(
            f"idempotency_key is longer than {MAX_IDEMPOTENCY_KEY_LENGTH} characters", field="idempotency_key"
        )
    if request.from_address:
        parse_address(request.from_address, "from_address")
    if not request.to:
        raise InvalidEmail("at least one 'to' address is required", field="to")
    for name, addresses in (("to", request.to), ("cc", request.cc)):
        for index, value in enumerate(addresses):
            parse_address(value, f"{name}[{index}]")
    if not request.subject.strip():
        raise InvalidEmail("subject is required", field="subject")
    if "\r" in request.subject or "\n" in request.subject:
        raise InvalidEmail("subject must be one line", field="subject")
    if not request.text_body and not request.html_body:
        raise InvalidEmail("text_body or html_body is required", field="text_body")


def message_id_for(organization_id: str, idempotency_key: str) -> str:
    """The same (organization, key) always gets the same Message-ID, so a resend after a crash is recognisable."""
    digest = hashlib.sha256(f"{organization_id}\x00{idempotency_key}".encode()).hexdigest()
    return f"<{digest[:32]}@cxflow>"


# Bodies go out quoted-printable in UTF-8: any text, any line length, and ASCII stays readable.
_BODY_CHARSET = Charset("utf-8")
_BODY_CHARSET.body_encoding = QP


def compose(request: EmailRequest, *, default_from: str, message_id: str) -> Message:
    """The MIME message, with non-ASCII names and subjects encoded (RFC 2047).

    Built with the stdlib's compat32 classes (MIMEText, formataddr, Header), which take headers as given: policy.default
    parses every header it is handed again, which cost ~0.5 ms an email, more than the rest of sending it. The
    addresses were parsed once already (parse_address)."""
    text = MIMEText(request.text_body, "plain", _BODY_CHARSET) if request.text_body else None
    html = MIMEText(request.html_body, "html", _BODY_CHARSET) if request.html_body else None
    message: Message = MIMEMultipart("alternative", _subparts=[text, html]) if text and html else (text or html)  # type: ignore[assignment]
    message["From"] = _mailbox(parse_address(request.from_address or default_from, "from_address"))
    message["To"] = ", ".join(_mailbox(parse_address(v, f"to[{i}]")) for i, v in enumerate(request.to))
    if request.cc:
        message["Cc"] = ", ".join(_mailbox(parse_address(v, f"cc[{i}]")) for i, v in enumerate(request.cc))
    message["Subject"] = request.subject if request.subject.isascii() else Header(request.subject, "utf-8")
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = message_id
    return message


def _mailbox(address: Address) -> str:
    return formataddr((address.display_name, address.addr_spec), charset="utf-8")


class SmtpConnections:
    """SMTP connections kept open between sends, a few per server, each carrying one message at a time.

    A new connection costs a TCP handshake, EHLO (and STARTTLS and AUTH where configured) and QUIT: more than
    the message itself. A connection that failed in any way is closed, never reused; one that sat unused for
    a while is probed with NOOP first, so a server that dropped it costs a reconnect, not a failed send.
    """

    def __init__(
        self,
        idle_per_server: int = IDLE_CONNECTIONS_PER_SERVER,
        idle_seconds: float = IDLE_CONNECTION_SECONDS,
        probe_after_seconds: float = PROBE_AFTER_IDLE_SECONDS,
    ) -> None:
        self._idle_per_server = idle_per_server
        self._idle_seconds = idle_seconds
        self._probe_after = probe_after_seconds
        self._idle: dict[SmtpTarget, list[tuple[aiosmtplib.SMTP, float]]] = {}
        self._quitting: set[asyncio.Task[None]] = set()  # QUITs of connections beyond the idle cap, in flight

    @asynccontextmanager
    async def connection(self, target: SmtpTarget) -> AsyncIterator[aiosmtplib.SMTP]:
        """A connected client for target, kept for the next send if the block ends without an exception."""
        client = await self._open_or_reuse(target)
        try:
            yield client
        except BaseException:
            client.close()
            raise
        self._keep(target, client)

    async def aclose(self) -> None:
        """Closes every idle connection (at shutdown)."""
        idle, self._idle = self._idle, {}
        await asyncio.gather(*self._quitting, *(self._quit(client) for clients in idle.values() for client, _ in clients))

    async def _open_or_reuse(self, target: SmtpTarget) -> aiosmtplib.SMTP:
        idle = self._idle.get(target, [])
        now = time.monotonic()
        while idle:
            client, since = idle.pop()
            if not client.is_connected or now - since > self._idle_seconds:
                client.close()
                continue
            if now - since > self._probe_after:
                try:
                    await client.noop(timeout=SMTP_TIMEOUT_SECONDS)
                except (aiosmtplib.SMTPException, OSError):
                    client.close()
                    continue
            return client
        client = aiosmtplib.SMTP(
            hostname=target.host,
            port=target.port,
            username=target.username or None,
            password=target.password or None,
            use_tls=target.tls,
            start_tls=target.starttls,
            timeout=SMTP_TIMEOUT_SECONDS,
        )
        await client.connect()  # EHLO, then STARTTLS and AUTH when the target asks for them
        return client

    def _keep(self, target: SmtpTarget, client: aiosmtplib.SMTP) -> None:
        idle = self._idle.setdefault(target, [])
        if not client.is_connected or len(idle) >= self._idle_per_server:
            quitting = asyncio.create_task(self._quit(client))
            self._quitting.add(quitting)  # the loop holds tasks weakly: keep it until it is done
            quitting.add_done_callback(self._quitting.discard)
            return
        idle.append((client, time.monotonic()))

    @staticmethod
    async def _quit(client: aiosmtplib.SMTP) -> None:
        try:
            await client.quit(timeout=5.0)
        except (aiosmtplib.SMTPException, OSError):
            client.close()


class SmtpEmailChannel:
    """Sends composed messages to the configured SMTP server and sorts its failures into retryable or final."""

    def __init__(self, settings: Settings, connections: SmtpConnections | None = None) -> None:
        self._settings = settings
        self._connections = connections or SmtpConnections()

    async def aclose(self) -> None:
        await self._connections.aclose()

    async def send(self, message: Message, target: SmtpTarget | None = None) -> dict[str, str]:
        """Sends the message through target (default: the process's settings); returns the recipients the
        server refused while accepting the others ({} usually)."""
        s = target or SmtpTarget.from_settings(self._settings)
        try:
            async with self._connections.connection(s) as client:
                refused, _reply = await client.send_message(message, timeout=SMTP_TIMEOUT_SECONDS)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            replies = [f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients]
            # Only when every refusal is temporary is the whole send worth retrying.
            if exc.recipients and all(400 <= r.code < 500 for r in exc.recipients):
                raise EmailProviderUnavailable("SMTP server deferred every recipient: " + "; ".join(replies)) from exc
            raise EmailRejected("SMTP server refused every recipient: " + "; ".join(replies)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            detail = f"SMTP server replied {exc.code} {exc.message}"
            if 400 <= exc.code < 500:
                raise EmailProviderUnavailable(detail) from exc
            if isinstance(exc, (aiosmtplib.SMTPSenderRefused, aiosmtplib.SMTPDataError)):
                raise EmailRejected(detail) from exc
            raise SmtpMisconfigured(detail) from exc  # e.g. 535 authentication failed
        except OSError as exc:  # connection refused, timeouts, disconnects (aiosmtplib's are OSErrors too)
            raise EmailProviderUnavailable(
                f"SMTP server {s.host}:{s.port} unreachable: {type(exc).__name__}: {exc}"
            ) from exc
        except aiosmtplib.SMTPException as exc:  # e.g. AUTH or STARTTLS asked for but not offered
            raise SmtpMisconfigured(f"SMTP conversation failed: {exc}") from exc
        return {address: f"{reply.code} {reply.message}" for address, reply in refused.items()}

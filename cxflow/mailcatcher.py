"""The development SMTP catcher: a real SMTP server (aiosmtpd) that keeps every message it receives."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import weakref
from collections.abc import Mapping
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session

log = structlog.get_logger(__name__)


class MailCatcher:
    """Accepts mail on host:port and records it in `messages` (and as .eml files in mail_dir).

    recipient_replies lets a test make the server answer RCPT TO for one address with a chosen
    reply, e.g. {"gone@example.com": "550 5.1.1 user unknown"}, to exercise refusals for real.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        mail_dir: Path | None = None,
        *,
        recipient_replies: Mapping[str, str] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.mail_dir = Path(mail_dir) if mail_dir is not None else None
        self.messages: list[EmailMessage] = []
        self._recipient_replies = {address.lower(): reply for address, reply in (recipient_replies or {}).items()}
        self._server: asyncio.Server | None = None
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()  # open connections (closed ones drop out)
        self.connections_accepted = 0
        self._arrived = asyncio.Condition()
        self._counter = itertools.count(1)

    async def start(self) -> None:
        """Binds host:port; with port 0 the bound port is in .port afterwards. A stopped catcher restarts on its port."""
        if self.mail_dir is not None:
            self.mail_dir.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._new_session, host=self.host, port=self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    def _new_session(self) -> SMTP:
        session = SMTP(self, hostname="cxflow-mailcatcher", enable_SMTPUTF8=True)
        self._sessions.add(session)
        self.connections_accepted += 1
        return session

    @property
    def open_connections(self) -> int:
        return sum(1 for session in self._sessions if session.transport is not None)

    async def stop(self) -> None:
        """Stops listening and drops every open connection, as a server that goes down does."""
        if self._server is None:
            return
        self._server.close()
        sessions, self._sessions = list(self._sessions), weakref.WeakSet()
        for session in sessions:
            if session.transport is not None:
                session.transport.close()
        await self._server.wait_closed()
        self._server = None

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Every message received so far, once at least `count` have arrived; TimeoutError otherwise."""
        try:
            async with asyncio.timeout(timeout):
                async with self._arrived:
                    await self._arrived.wait_for(lambda: len(self.messages) >= count)
        except TimeoutError:
            raise TimeoutError(f"expected {count} message(s) within {timeout}s, got {len(self.messages)}") from None
        return list(self.messages)

    # aiosmtpd handler hooks: the SMTP protocol calls these by name.

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        reply = self._recipient_replies.get(address.lower())
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw: bytes = envelope.original_content or b""
        # SMTP carries CRLF line ends; parse with "\n" so bodies read back as the sender wrote them.
        message: Any = BytesParser(policy=policy.default).parsebytes(raw.replace(b"\r\n", b"\n"))
        if self.mail_dir is not None:
            # Timestamp first, then a counter: names sort in arrival order even within one microsecond.
            name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{next(self._counter):06d}.eml"
            (self.mail_dir / name).write_bytes(raw)
        log.info(
            "mail.received",
            **{"from": envelope.mail_from, "to": list(envelope.rcpt_tos), "subject": message.get("Subject", "")},
        )
        async with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()
        return "250 Message accepted for delivery"


async def _serve(host: str, port: int, mail_dir: Path | None) -> None:
    from services.common.grpc_server import wait_for_termination_signal

    catcher = MailCatcher(host, port, mail_dir)
    await catcher.start()
    log.info("mailcatcher.listening", host=host, port=catcher.port, mail_dir=str(mail_dir) if mail_dir else None)
    try:
        await wait_for_termination_signal()
    finally:
        await catcher.stop()


def main(argv: list[str] | None = None) -> None:
    from services.common.logging import configure_logging

    parser = argparse.ArgumentParser(prog="python -m cxflow.mailcatcher", description="Development SMTP catcher.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025, help="0 picks a free port (logged on start)")
    parser.add_argument("--dir", type=Path, default=None, help="folder that receives one .eml file per message")
    args = parser.parse_args(argv)
    configure_logging(fmt="json", service="mailcatcher")
    asyncio.run(_serve(args.host, args.port, args.dir))


if __name__ == "__main__":
    main()

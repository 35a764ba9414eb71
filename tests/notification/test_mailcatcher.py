"""The development SMTP catcher: records what real SMTP clients send, in process and as `python -m cxflow.mailcatcher`."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest

from cxflow.mailcatcher import MailCatcher


def make_message(subject: str, body: str = "the body text") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "ops@example.com"
    message["To"] = "zoe@example.com"
    message["Subject"] = subject
    message.set_content(body)
    return message


async def test_records_messages_in_arrival_order_and_as_eml_files(tmp_path: Path) -> None:
    catcher = MailCatcher(mail_dir=tmp_path / "mail")
    await catcher.start()
    try:
        for subject in ["one", "two", "Grüße"]:
            await aiosmtplib.send(make_message(subject), hostname="127.0.0.1", port=catcher.port)
        received = await catcher.wait_for(3)
    finally:
        await catcher.stop()
    assert [m["Subject"] for m in received] == ["one", "two", "Grüße"]
    assert received[0].get_content() == "the body text\n"
    assert len(sorted((tmp_path / "mail").glob("*.eml"))) == 3


async def test_wait_for_times_out_when_too_few_messages_arrive() -> None:
    catcher = MailCatcher()
    await catcher.start()
    try:
        with pytest.raises(TimeoutError, match="expected 1 message"):
            await catcher.wait_for(1, timeout=0.2)
    finally:
        await catcher.stop()


async def test_restarts_on_the_same_port_and_answers_configured_recipient_replies() -> None:
    catcher = MailCatcher(recipient_replies={"gone@example.com": "550 5.1.1 user unknown"})
    await catcher.start()
    port = catcher.port
    await catcher.stop()
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await aiosmtplib.send(make_message("while down"), hostname="127.0.0.1", port=port)
    await catcher.start()
    try:
        assert catcher.port == port
        refused = make_message("refused")
        refused.replace_header("To", "gone@example.com")
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as caught:
            await aiosmtplib.send(refused, hostname="127.0.0.1", port=catcher.port)
        assert caught.value.recipients[0].code == 550
        await aiosmtplib.send(make_message("accepted"), hostname="127.0.0.1", port=catcher.port)
    finally:
        await catcher.stop()
    assert [m["Subject"] for m in catcher.messages] == ["accepted"]


async def _json_line(stream: asyncio.StreamReader, event: str) -> dict:
    """The next JSON log line of the given event (other lines are skipped)."""
    async with asyncio.timeout(20):
        while True:
            line = await stream.readline()
            if not line:
                raise AssertionError(f"the process ended before logging {event}")
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("event") == event:
                return record


async def test_command_line_catcher_logs_each_message_without_its_body_and_stops_on_sigterm(tmp_path: Path) -> None:
    mail_dir = tmp_path / "mail"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cxflow.mailcatcher", "--host", "127.0.0.1", "--port", "0", "--dir", str(mail_dir),
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        port = (await _json_line(process.stderr, "mailcatcher.listening"))["port"]
        await aiosmtplib.send(make_message("Grüße", body="secret body words"), hostname="127.0.0.1", port=port)
        record = await _json_line(process.stderr, "mail.received")
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            rest = await process.stderr.read()
            returncode = await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert (record["from"], record["to"], record["subject"]) == ("ops@example.com", ["zoe@example.com"], "Grüße")
    assert "secret body words" not in json.dumps(record) + rest.decode()
    assert returncode == 0
    assert len(list(mail_dir.glob("*.eml"))) == 1

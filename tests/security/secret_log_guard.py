"""Secrets never logged, checked over the whole test session: every log line (in-process structlog and stdlib records,
rendered by production's pipeline, and the log files that subprocesses wrote under the session's temporary folders)
is searched for the secrets tests registered and for anything shaped like a cxflow token.

tests/conftest.py imports the fixture, so it runs for every test; a test that creates a secret registers it with
`register_secret(value)`. A leak fails the session at its end (an error in the teardown of the last test)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
import structlog

from services.common.logging import configure_logging

# An unredacted API token, internal token or write key (redaction leaves just "cxf_***").
TOKEN_SHAPE = re.compile(r"\b(?:cxf|cxi|wk)_[A-Za-z0-9_\-]{8,}")
# Shorter values would match ordinary words; every secret the tests make is longer.
MIN_SECRET_LENGTH = 8

_registered: set[str] = set()


def register_secret(value: str) -> None:
    """Adds a secret (password, webhook secret, provider credential, token) that no log line may ever contain."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        _registered.add(value)


class LogLineCollector(logging.Handler):
    """Keeps every record as production would write it (the ProcessorFormatter of configure_logging: JSON, redacted)."""

    def __init__(self, formatter: logging.Formatter | None) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # noqa: BLE001 - a record that cannot be rendered is not a leak; never break the test it is in
            self.lines.append(str(record.msg))


def leaks(lines: Iterable[str], secrets: Iterable[str] = ()) -> list[str]:
    """The lines (shortened) holding a registered secret or a token-shaped string."""
    known = sorted(set(secrets) | _registered, key=len, reverse=True)
    found = []
    for line in lines:
        if TOKEN_SHAPE.search(line) or any(secret in line for secret in known):
            found.append(line[:300])
    return found


def subprocess_log_lines(folder: Path) -> Iterator[str]:
    """Lines of every *.log file under a folder (the services' and the worker's logs when a test ran them as processes)."""
    for path in folder.rglob("*.log"):
        try:
            yield from path.read_text(errors="replace").splitlines()
        except OSError:
            continue


_collector: LogLineCollector | None = None


def _attach() -> LogLineCollector:
    """(Re)attaches the collector after anything that replaced the root logger's handlers (configure_logging does)."""
    global _collector
    if structlog.get_config()["cache_logger_on_first_use"]:
        # A logger cached by its first use ignores structlog.testing.capture_logs later: tests that capture need it off.
        structlog.configure(cache_logger_on_first_use=False)
    root = logging.getLogger()
    if _collector is not None and _collector in root.handlers:
        return _collector
    production = next((h.formatter for h in root.handlers if h.formatter is not None), None)
    if _collector is None:
        _collector = LogLineCollector(production)
    elif production is not None:
        _collector.setFormatter(production)
    root.addHandler(_collector)
    return _collector


@pytest.fixture(scope="session", autouse=True)
def secret_log_guard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LogLineCollector]:
    # Production's logging pipeline (JSON, stdlib routed through structlog, redaction) at its default level;
    # tests that drive secrets through the services (tests/security/test_secrets_never_logged.py) raise it to DEBUG.
    configure_logging("INFO", "json")
    collector = _attach()
    yield collector
    offending = leaks(collector.lines) + leaks(subprocess_log_lines(tmp_path_factory.getbasetemp()))
    assert not offending, f"{len(offending)} log lines carry a secret or a token:\n" + "\n".join(offending[:20])


@pytest.fixture(autouse=True)
def secret_log_guard_attached(secret_log_guard: LogLineCollector) -> LogLineCollector:
    return _attach()

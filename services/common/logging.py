"""structlog set-up shared by every process: one JSON line per event, stdlib loggers included, secrets redacted."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

# Anything that looks like one of our secrets is cut down to its prefix before it is written.
_SECRET_PATTERN = re.compile(r"\b(cxf|cxi|wk)_[A-Za-z0-9_\-]{8,}")
_SECRET_KEYS = frozenset(
    {"token", "api_token", "authorization", "password", "smtp_password", "write_key", "secret", "internal_token"}
)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return _SECRET_PATTERN.sub(lambda m: f"{m.group(1)}_***", value)
    if isinstance(value, dict):
        return {k: ("***" if str(k).lower() in _SECRET_KEYS else _redact_value(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_redact_value(v) for v in value)
    return value


def redact_secrets(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """A structlog processor: masks secret-named keys and token-shaped strings anywhere in the event."""
    return {k: ("***" if k.lower() in _SECRET_KEYS else _redact_value(v)) for k, v in event_dict.items()}


_SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.StackInfoRenderer(),
    structlog.processors.format_exc_info,
    redact_secrets,
]


def configure_logging(level: str = "INFO", fmt: str = "auto", service: str | None = None) -> None:
    """Routes structlog and the stdlib loggers (temporalio, grpc, sqlalchemy, uvicorn) through one renderer."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()

    structlog.configure(
        # filter_by_level first: an event below the level is dropped before any processor runs.
        processors=[structlog.stdlib.filter_by_level, *_SHARED_PROCESSORS, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *_SHARED_PROCESSORS],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn installs its own handlers; hand its records to the root logger instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    # aiosqlite's DEBUG lines print every statement with its parameters: stored channel credentials among them.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    if service:
        structlog.contextvars.bind_contextvars(service=service)

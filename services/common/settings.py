"""The one place that reads cxflow's configuration from environment variables, with local defaults."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

SERVICE_NAMES = ("ingestion", "directory", "notification")


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    """Everything a cxflow process needs to know about its surroundings.

    Every field maps to one environment variable (see ENVIRONMENT below and the README's
    configuration table); tests build Settings directly with dataclasses.replace.
    """

    data_dir: Path = Path(".data")
    # Each process reads DATABASE_URL for its own database; empty means a SQLite file
    # named after the service under data_dir.
    database_url: str = ""
    log_level: str = "INFO"
    log_format: str = "auto"  # auto (JSON unless stdout is a terminal) | json | console

    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = "cxflow-runs"
    temporal_ui_url: str = "http://localhost:8233"

    ingestion_http_host: str = "127.0.0.1"
    ingestion_http_port: int = 8080
    grpc_host: str = "127.0.0.1"
    ingestion_grpc_port: int = 50051
    directory_grpc_port: int = 50052
    notification_grpc_port: int = 50053
    ingestion_grpc_target: str = "localhost:50051"
    directory_grpc_target: str = "localhost:50052"
    notification_grpc_target: str = "localhost:50053"
    # The notification service's HTTP endpoint (survey links: GET /s/{token}) and the base URL recipients reach it at.
    notification_http_host: str = "127.0.0.1"
    notification_http_port: int = 8090
    notification_public_url: str = "http://localhost:8090"
    # The base URL people and Segment use to reach the HTTP intake (trigger URLs start with it).
    public_url: str = "http://localhost:8080"
    # How long the HTTP intake remembers a source's accepted messageIds (a replay inside it is acknowledged, not processed).
    ingestion_dedup_retention_days: int = 7
    # How often the Temporal schedule re-evaluates every segment (so time windows that slid past a transaction apply).
    segment_refresh_interval_seconds: int = 3600
    # Per API token / write key on the HTTP intake: a token bucket of `burst` requests refilled at `per_second` (429 beyond).
    ingestion_rate_limit_per_second: int = 1000
    ingestion_rate_limit_burst: int = 2000

    # The secret services use to call each other (and that admin tooling uses). Empty means
    # "read it from data_dir/internal.token", which `make up` creates on first start.
    internal_token: str = field(default="", repr=False)

    smtp_host: str = "localhost"
    smtp_port: int = 1025
    smtp_starttls: bool = False
    smtp_tls: bool = False
    smtp_username: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_default_from: str = "cxflow <cxflow@localhost>"

    # Each process serves Prometheus metrics at http://metrics_host:<its port>/metrics; a port of 0 turns that endpoint off.
    metrics_host: str = "127.0.0.1"
    ingestion_metrics_port: int = 9101
    directory_metrics_port: int = 9102
    notification_metrics_port: int = 9103
    worker_metrics_port: int = 9104
    # The Temporal SDK's own metrics (temporal_* series: polls, task slots, latencies) of the worker.
    worker_temporal_metrics_port: int = 9105
    # OpenTelemetry traces are exported over OTLP/gRPC to this collector (e.g. http://otel-collector:4317); empty: off.
    otlp_endpoint: str = ""

    grpc_shutdown_grace_seconds: float = 5.0

    @classmethod
    def from_env(cls) -> Settings:
        d = cls()
        return cls(
            data_dir=Path(os.environ.get("CXFLOW_DATA_DIR", str(d.data_dir))),
            database_url=os.environ.get("DATABASE_URL", d.database_url),
            log_level=os.environ.get("CXFLOW_LOG_LEVEL", d.log_level).upper(),
            log_format=os.environ.get("CXFLOW_LOG_FORMAT", d.log_format),
            temporal_address=os.environ.get("TEMPORAL_ADDRESS", d.temporal_address),
            temporal_namespace=os.environ.get("TEMPORAL_NAMESPACE", d.temporal_namespace),
            temporal_task_queue=os.environ.get("TEMPORAL_TASK_QUEUE", d.temporal_task_queue),
            temporal_ui_url=os.environ.get("TEMPORAL_UI_URL", d.temporal_ui_url),
            ingestion_http_host=os.environ.get("INGESTION_HTTP_HOST", d.ingestion_http_host),
            ingestion_http_port=_env_int("INGESTION_HTTP_PORT", d.ingestion_http_port),
            grpc_host=os.environ.get("GRPC_HOST", d.grpc_host),
            ingestion_grpc_port=_env_int("INGESTION_GRPC_PORT", d.ingestion_grpc_port),
            directory_grpc_port=_env_int("DIRECTORY_GRPC_PORT", d.directory_grpc_port),
            notification_grpc_port=_env_int("NOTIFICATION_GRPC_PORT", d.notification_grpc_port),
            ingestion_grpc_target=os.environ.get("INGESTION_GRPC_TARGET", d.ingestion_grpc_target),
            directory_grpc_target=os.environ.get("DIRECTORY_GRPC_TARGET", d.directory_grpc_target),
            notification_grpc_target=os.environ.get("NOTIFICATION_GRPC_TARGET", d.notification_grpc_target),
            notification_http_host=os.environ.get("NOTIFICATION_HTTP_HOST", d.notification_http_host),
            notification_http_port=_env_int("NOTIFICATION_HTTP_PORT", d.notification_http_port),
            notification_public_url=os.environ.get("NOTIFICATION_PUBLIC_URL", d.notification_public_url).rstrip("/"),
            public_url=os.environ.get("CXFLOW_PUBLIC_URL", d.public_url).rstrip("/"),
            ingestion_dedup_retention_days=_env_int("INGESTION_DEDUP_RETENTION_DAYS", d.ingestion_dedup_retention_days),
            segment_refresh_interval_seconds=_env_int("SEGMENT_REFRESH_INTERVAL_SECONDS", d.segment_refresh_interval_seconds),
            ingestion_rate_limit_per_second=_env_int("INGESTION_RATE_LIMIT_PER_SECOND", d.ingestion_rate_limit_per_second),
            ingestion_rate_limit_burst=_env_int("INGESTION_RATE_LIMIT_BURST", d.ingestion_rate_limit_burst),
            internal_token=os.environ.get("CXFLOW_INTERNAL_TOKEN", d.internal_token),
            smtp_host=os.environ.get("SMTP_HOST", d.smtp_host),
            smtp_port=_env_int("SMTP_PORT", d.smtp_port),
            smtp_starttls=_env_bool("SMTP_STARTTLS", d.smtp_starttls),
            smtp_tls=_env_bool("SMTP_TLS", d.smtp_tls),
            smtp_username=os.environ.get("SMTP_USERNAME", d.smtp_username),
            smtp_password=os.environ.get("SMTP_PASSWORD", d.smtp_password),
            smtp_default_from=os.environ.get("SMTP_DEFAULT_FROM", d.smtp_default_from),
            metrics_host=os.environ.get("METRICS_HOST", d.metrics_host),
            ingestion_metrics_port=_env_int("INGESTION_METRICS_PORT", d.ingestion_metrics_port),
            directory_metrics_port=_env_int("DIRECTORY_METRICS_PORT", d.directory_metrics_port),
            notification_metrics_port=_env_int("NOTIFICATION_METRICS_PORT", d.notification_metrics_port),
            worker_metrics_port=_env_int("WORKER_METRICS_PORT", d.worker_metrics_port),
            worker_temporal_metrics_port=_env_int("WORKER_TEMPORAL_METRICS_PORT", d.worker_temporal_metrics_port),
            otlp_endpoint=os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", d.otlp_endpoint),
        )

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)

    def database_url_for(self, service: str) -> str:
        """The SQLAlchemy async URL of one service's database."""
        if service not in SERVICE_NAMES:
            raise ValueError(f"unknown service {service!r}")
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{service}.db').resolve()}"

    @property
    def internal_token_file(self) -> Path:
        return self.data_dir / "internal.token"

    def resolved_internal_token(self) -> str:
        """The service-to-service secret: from the environment, else from the data folder."""
        if self.internal_token:
            return self.internal_token
        try:
            token = self.internal_token_file.read_text().strip()
        except FileNotFoundError:
            token = ""
        if not token:
            raise RuntimeError(
                "no internal service token: set CXFLOW_INTERNAL_TOKEN or run `make up`, "
                f"which writes one to {self.internal_token_file}"
            )
        return token

    def ensure_internal_token(self) -> str:
        """Returns the internal token, creating data_dir/internal.token (mode 600) when none exists yet."""
        try:
            return self.resolved_internal_token()
        except RuntimeError:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            token = "cxi_" + secrets.token_urlsafe(32)
            self.internal_token_file.write_text(token + "\n")
            self.internal_token_file.chmod(0o600)
            return token


# Environment variable -> (Settings field, meaning). The README's configuration table and the
# docker-compose check are both read from here, so they cannot drift apart.
ENVIRONMENT: dict[str, tuple[str, str]] = {
    "CXFLOW_DATA_DIR": ("data_dir", "folder for SQLite files, mail and the Temporal dev database"),
    "DATABASE_URL": ("database_url", "this process's database (SQLAlchemy async URL); default: SQLite under the data folder"),
    "CXFLOW_LOG_LEVEL": ("log_level", "DEBUG, INFO, WARNING or ERROR"),
    "CXFLOW_LOG_FORMAT": ("log_format", "auto, json or console"),
    "TEMPORAL_ADDRESS": ("temporal_address", "Temporal frontend host:port"),
    "TEMPORAL_NAMESPACE": ("temporal_namespace", "Temporal namespace"),
    "TEMPORAL_TASK_QUEUE": ("temporal_task_queue", "task queue of TriggeredRun workflows"),
    "TEMPORAL_UI_URL": ("temporal_ui_url", "Temporal UI base URL, used in printed links"),
    "INGESTION_HTTP_HOST": ("ingestion_http_host", "bind address of the HTTP intake"),
    "INGESTION_HTTP_PORT": ("ingestion_http_port", "port of the HTTP intake"),
    "GRPC_HOST": ("grpc_host", "bind address of every gRPC server"),
    "INGESTION_GRPC_PORT": ("ingestion_grpc_port", "ingestion gRPC port"),
    "DIRECTORY_GRPC_PORT": ("directory_grpc_port", "directory gRPC port"),
    "NOTIFICATION_GRPC_PORT": ("notification_grpc_port", "notification gRPC port"),
    "INGESTION_GRPC_TARGET": ("ingestion_grpc_target", "where clients reach ingestion's gRPC"),
    "DIRECTORY_GRPC_TARGET": ("directory_grpc_target", "where clients reach the directory's gRPC"),
    "NOTIFICATION_GRPC_TARGET": ("notification_grpc_target", "where clients reach notification's gRPC"),
    "NOTIFICATION_HTTP_HOST": ("notification_http_host", "bind address of notification's HTTP endpoint (survey links)"),
    "NOTIFICATION_HTTP_PORT": ("notification_http_port", "port of notification's HTTP endpoint (survey links)"),
    "NOTIFICATION_PUBLIC_URL": ("notification_public_url", "public base URL of survey links (/s/{token})"),
    "CXFLOW_PUBLIC_URL": ("public_url", "public base URL of the HTTP intake (trigger URLs start with it)"),
    "INGESTION_DEDUP_RETENTION_DAYS": ("ingestion_dedup_retention_days", "days a source's accepted messageIds are remembered for dedup"),
    "SEGMENT_REFRESH_INTERVAL_SECONDS": ("segment_refresh_interval_seconds", "seconds between scheduled refreshes of every segment"),
    "INGESTION_RATE_LIMIT_PER_SECOND": ("ingestion_rate_limit_per_second", "HTTP intake requests a second per API token or write key"),
    "INGESTION_RATE_LIMIT_BURST": ("ingestion_rate_limit_burst", "HTTP intake requests at once per API token or write key"),
    "CXFLOW_INTERNAL_TOKEN": ("internal_token", "service-to-service secret; default: data folder's internal.token"),
    "SMTP_HOST": ("smtp_host", "default SMTP server"),
    "SMTP_PORT": ("smtp_port", "default SMTP port"),
    "SMTP_STARTTLS": ("smtp_starttls", "upgrade the SMTP connection with STARTTLS"),
    "SMTP_TLS": ("smtp_tls", "connect to SMTP over implicit TLS"),
    "SMTP_USERNAME": ("smtp_username", "SMTP user"),
    "SMTP_PASSWORD": ("smtp_password", "SMTP password (never logged)"),
    "SMTP_DEFAULT_FROM": ("smtp_default_from", "sender when a task names none"),
    "METRICS_HOST": ("metrics_host", "bind address of every process's Prometheus /metrics endpoint"),
    "INGESTION_METRICS_PORT": ("ingestion_metrics_port", "ingestion's /metrics port (0: off)"),
    "DIRECTORY_METRICS_PORT": ("directory_metrics_port", "directory's /metrics port (0: off)"),
    "NOTIFICATION_METRICS_PORT": ("notification_metrics_port", "notification's /metrics port (0: off)"),
    "WORKER_METRICS_PORT": ("worker_metrics_port", "the worker's /metrics port (cxflow_* series; 0: off)"),
    "WORKER_TEMPORAL_METRICS_PORT": ("worker_temporal_metrics_port", "the worker's Temporal SDK /metrics port (0: off)"),
    "OTEL_EXPORTER_OTLP_ENDPOINT": ("otlp_endpoint", "OTLP/gRPC collector that receives traces; empty: tracing off"),
}

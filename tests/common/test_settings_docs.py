"""The README's configuration table names every environment variable the settings module reads, and only those."""

from __future__ import annotations

import re
from pathlib import Path

from services.common.settings import ENVIRONMENT, Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_configuration_table_matches_settings() -> None:
    table = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([A-Z_]+)` \|", table, flags=re.MULTILINE)
    assert documented == list(ENVIRONMENT), "README configuration table and services/common/settings.ENVIRONMENT differ"


def test_every_environment_variable_is_read(monkeypatch) -> None:
    """Setting each documented variable changes the field it names (no dead entries in the table)."""
    samples = {"INGESTION_HTTP_PORT": "9999", "INGESTION_GRPC_PORT": "9998", "DIRECTORY_GRPC_PORT": "9997",
               "NOTIFICATION_GRPC_PORT": "9996", "NOTIFICATION_HTTP_PORT": "9995", "SMTP_PORT": "2525", "SMTP_STARTTLS": "true", "SMTP_TLS": "true",
               "CXFLOW_LOG_LEVEL": "DEBUG", "INGESTION_DEDUP_RETENTION_DAYS": "30",
               "SEGMENT_REFRESH_INTERVAL_SECONDS": "60", "INGESTION_RATE_LIMIT_PER_SECOND": "5", "INGESTION_RATE_LIMIT_BURST": "10",
               "INGESTION_METRICS_PORT": "9191", "DIRECTORY_METRICS_PORT": "9192", "NOTIFICATION_METRICS_PORT": "9193",
               "WORKER_METRICS_PORT": "9194", "WORKER_TEMPORAL_METRICS_PORT": "9195"}
    default = Settings()
    for variable, (attribute, _meaning) in ENVIRONMENT.items():
        monkeypatch.setenv(variable, samples.get(variable, "x-sample-value"))
        changed = Settings.from_env()
        assert getattr(changed, attribute) != getattr(default, attribute), variable
        monkeypatch.delenv(variable)

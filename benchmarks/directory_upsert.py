"""Contacts upserted per second through the directory (UpsertContacts over gRPC, 500 per call, dedup rules extRef then
email, 10% of the rows repeating an earlier person) beside a raw SQLAlchemy Core bulk insert of the same contact rows
(no dedup, no identity keys, no membership), each into a fresh database, on SQLite and on PostgreSQL when reachable.

    python benchmarks/directory_upsert.py [--quick]     ends with: RESULT directory_upsert ratio=<ours/baseline> ...

ratio is the lower of the two databases' ratios (ours / raw insert; the issue's target is >= 0.5).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import grpc
from sqlalchemy import func, insert, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cxflow.v1 import directory_pb2, directory_pb2_grpc
from services.common.auth import internal_metadata
from services.common.db import create_engine, create_session_factory
from services.common.migrations import upgrade_to_head_async
from services.common.settings import Settings
from services.directory import ids
from services.directory.contacts import ContactWrite, apply_write
from services.directory.models import Contact, utc_now
from services.directory.server import start_directory

BATCH = 500
INTERNAL_TOKEN = "cxi_benchmark-internal-token-0123456789"
POSTGRES_ADMIN_URL = os.environ.get("CXFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def people(count: int) -> list[dict[str, object]]:
    """count writes; one in ten repeats an earlier person (same extRef, email in other case, a new field)."""
    rng = random.Random(7)
    rows: list[dict[str, object]] = []
    for n in range(count):
        if n > 10 and rng.random() < 0.1:
            earlier = rows[rng.randrange(len(rows))]
            rows.append({**earlier, "email": str(earlier["email"]).upper(), "embedded": {"visits": n}})
        else:
            rows.append({
                "email": f"person{n}@example.com", "ext_ref": f"crm-{n}", "first_name": f"First{n}", "last_name": f"Last{n}",
                "embedded": {"plan": rng.choice(["free", "pro", "gold"]), "visits": rng.randrange(100)},
            })  # fmt: skip
    return rows


async def ours(database_url: str, rows: list[dict[str, object]]) -> float:
    settings = Settings(internal_token=INTERNAL_TOKEN, directory_grpc_port=0, log_level="WARNING", log_format="json",
                        database_url=database_url)  # fmt: skip
    server = await start_directory(settings, dispatch=False)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            internal = internal_metadata(INTERNAL_TOKEN)
            organization = await directory_pb2_grpc.OrganizationServiceStub(channel).CreateOrganization(
                directory_pb2.CreateOrganizationRequest(name="bench"), metadata=internal
            )
            md = internal_metadata(INTERNAL_TOKEN, organization.id)
            stub = directory_pb2_grpc.DirectoryServiceStub(channel)
            pool = await stub.CreateDirectory(
                directory_pb2.CreateDirectoryRequest(
                    name="bench",
                    dedup_rules=[
                        directory_pb2.DedupRule(fields=[directory_pb2.DEDUP_FIELD_EXT_REF]),
                        directory_pb2.DedupRule(fields=[directory_pb2.DEDUP_FIELD_EMAIL]),
                    ],
                ),
                metadata=md,
            )
            requests = []
            for start in range(0, len(rows), BATCH):
                contacts = []
                for row in rows[start : start + BATCH]:
                    contact = directory_pb2.ContactInput(**{k: v for k, v in row.items() if k != "embedded"})
                    contact.embedded_data.update(row["embedded"])
                    contacts.append(contact)
                requests.append(directory_pb2.UpsertContactsRequest(directory_id=pool.id, contacts=contacts))
            began = time.perf_counter()
            for request in requests:
                await stub.UpsertContacts(request, metadata=md)
            elapsed = time.perf_counter() - began
            counted = await stub.GetDirectory(directory_pb2.GetDirectoryRequest(directory_id=pool.id), metadata=md)
            distinct = len({row["ext_ref"] for row in rows})
            assert counted.contact_count == distinct, (counted.contact_count, distinct)
    finally:
        await server.stop(grace=0.5)
    return len(rows) / elapsed


async def raw_insert(database_url: str, rows: list[dict[str, object]]) -> float:
    """The same contact rows (normalized columns included), bulk-inserted with Core, committed per batch."""
    await upgrade_to_head_async("directory", database_url)
    engine = create_engine(database_url)
    try:
        now = utc_now()
        records = []
        for row in rows:
            contact = Contact(id=ids.new_id(ids.CONTACT_PREFIX), directory_id="POOL_bench", unsubscribed=False, embedded_data={}, created_at=now)
            apply_write(contact, ContactWrite(**{k: v for k, v in row.items() if k != "embedded"}, embedded_data=dict(row["embedded"])))
            records.append({column.key: getattr(contact, column.key) for column in Contact.__table__.columns})
        sessions = create_session_factory(engine)
        async with sessions() as session:
            await session.execute(insert(Contact.__table__.metadata.tables["organizations"]), [{"id": "ORG_bench", "name": "b", "created_at": now}])
            await session.execute(
                insert(Contact.__table__.metadata.tables["directories"]),
                [{"id": "POOL_bench", "organization_id": "ORG_bench", "name": "b", "is_default": False, "dedup_rules": [], "created_at": now}],
            )
            await session.commit()
        began = time.perf_counter()
        for start in range(0, len(records), BATCH):
            async with sessions() as session:
                await session.execute(insert(Contact.__table__), records[start : start + BATCH])
                await session.commit()
        elapsed = time.perf_counter() - began
        async with sessions() as session:
            assert (await session.execute(select(func.count()).select_from(Contact))).scalar_one() == len(rows)
    finally:
        await engine.dispose()
    return len(rows) / elapsed


async def postgres_database() -> str | None:
    try:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=3)
    except (OSError, asyncpg.PostgresError):
        return None
    name = f"cxflow_bench_{uuid.uuid4().hex[:10]}"
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def drop_postgres_database(name: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def main(quick: bool) -> None:
    count = 10_000 if quick else 100_000
    rows = people(count)
    ratios: dict[str, float] = {}
    figures: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        targets = [("sqlite", lambda tag: f"sqlite+aiosqlite:///{Path(folder) / tag}.db", None)]
        for dialect, url_of, _ in targets:
            baseline = await raw_insert(url_of("raw"), rows)
            measured = await ours(url_of("ours"), rows)
            ratios[dialect], figures[dialect] = measured / baseline, (measured, baseline)
    created: list[str] = []
    try:
        raw_db, ours_db = await postgres_database(), await postgres_database()
        created = [name for name in (raw_db, ours_db) if name]
        if raw_db and ours_db:
            base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
            baseline = await raw_insert(f"{base}/{raw_db}", rows)
            measured = await ours(f"{base}/{ours_db}", rows)
            ratios["postgres"], figures["postgres"] = measured / baseline, (measured, baseline)
        else:
            print(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: SQLite only")
    finally:
        for name in created:
            await drop_postgres_database(name)
    for dialect, (measured, baseline) in figures.items():
        print(f"{dialect}: upserts/s={measured:.0f} raw inserts/s={baseline:.0f} ratio={ratios[dialect]:.2f} rows={count}")
    details = " ".join(
        f"{dialect}_ratio={ratios[dialect]:.2f} {dialect}_upserts_per_s={figures[dialect][0]:.0f} {dialect}_raw_per_s={figures[dialect][1]:.0f}"
        for dialect in figures
    )
    print(f"RESULT directory_upsert ratio={min(ratios.values()):.2f} {details} rows={count} batch={BATCH}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    asyncio.run(main(parser.parse_args().quick))

"""Contacts upserted per second through the directory (UpsertContacts over gRPC, 500 per call, dedup rules extRef then
email, 10% of the rows repeating an earlier person) beside a raw SQLAlchemy Core bulk insert of the same contact rows
(no dedup, no identity keys, no membership), each into a fresh database, on SQLite and on PostgreSQL when reachable.

    python benchmarks/directory_upsert.py [--quick] [--rounds N]     ends with: RESULT directory_upsert ratio=<ours/baseline> ...

ratio is the lower of the two databases' ratios (ours / raw insert; the issue's target is >= 0.5). Each database is
measured in --rounds pairs (raw insert then ours, fresh databases, default 5) and the median pair by ratio is
reported, so one pair hit by another process's burst of load does not decide the figure. Beside the rates,
each side's CPU time of this process per row (time.process_time over the timed part: for ours the gRPC client and the
in-process server, for SQLite also the database work; PostgreSQL works in its own processes), a steadier guide than
wall time on a shared machine.
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
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import grpc
from sqlalchemy import func, insert, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cxflow.v1 import directory_pb2, directory_pb2_grpc
from services.common.auth import internal_metadata
from services.common.db import create_engine, create_session_factory
from services.common.gc_tuning import tune_for_serving
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


async def ours(database_url: str, rows: list[dict[str, object]]) -> tuple[float, float]:
    """Upserts per second and this process's CPU ms per row."""
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
            began, cpu_began = time.perf_counter(), time.process_time()
            for request in requests:
                await stub.UpsertContacts(request, metadata=md)
            elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu_began
            counted = await stub.GetDirectory(directory_pb2.GetDirectoryRequest(directory_id=pool.id), metadata=md)
            distinct = len({row["ext_ref"] for row in rows})
            assert counted.contact_count == distinct, (counted.contact_count, distinct)
    finally:
        await server.stop(grace=0.5)
    return len(rows) / elapsed, cpu * 1000 / len(rows)


async def raw_insert(database_url: str, rows: list[dict[str, object]]) -> tuple[float, float]:
    """The same contact rows (normalized columns included), bulk-inserted with Core, committed per batch: inserts per
    second and this process's CPU ms per row."""
    await upgrade_to_head_async("directory", database_url)
    engine = create_engine(database_url)
    try:
        now = utc_now()
        records = []
        for row in rows:
            contact = Contact(
                id=ids.new_id(ids.CONTACT_PREFIX), directory_id="POOL_bench", unsubscribed=False, embedded_data={}, created_at=now
            )
            apply_write(
                contact, ContactWrite(**{k: v for k, v in row.items() if k != "embedded"}, embedded_data=dict(row["embedded"]))
            )
            records.append({column.key: getattr(contact, column.key) for column in Contact.__table__.columns})
        sessions = create_session_factory(engine)
        async with sessions() as session:
            await session.execute(
                insert(Contact.__table__.metadata.tables["organizations"]), [{"id": "ORG_bench", "name": "b", "created_at": now}]
            )
            await session.execute(
                insert(Contact.__table__.metadata.tables["directories"]),
                [
                    {
                        "id": "POOL_bench",
                        "organization_id": "ORG_bench",
                        "name": "b",
                        "is_default": False,
                        "dedup_rules": [],
                        "created_at": now,
                    }
                ],
            )
            await session.commit()
        began, cpu_began = time.perf_counter(), time.process_time()
        for start in range(0, len(records), BATCH):
            async with sessions() as session:
                await session.execute(insert(Contact.__table__), records[start : start + BATCH])
                await session.commit()
        elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu_began
        async with sessions() as session:
            assert (await session.execute(select(func.count()).select_from(Contact))).scalar_one() == len(rows)
    finally:
        await engine.dispose()
    return len(rows) / elapsed, cpu * 1000 / len(rows)


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


@dataclass(frozen=True)
class Round:
    """One raw insert and one run of ours, back to back into fresh databases: a pair measured under the same load."""

    upserts_per_s: float
    ours_cpu_ms: float
    raw_per_s: float
    raw_cpu_ms: float

    @property
    def ratio(self) -> float:
        return self.upserts_per_s / self.raw_per_s


async def measure_sqlite(rows: list[dict[str, object]]) -> Round:
    with tempfile.TemporaryDirectory() as folder:
        raw, raw_cpu = await raw_insert(f"sqlite+aiosqlite:///{Path(folder) / 'raw'}.db", rows)
        measured, cpu = await ours(f"sqlite+aiosqlite:///{Path(folder) / 'ours'}.db", rows)
    return Round(measured, cpu, raw, raw_cpu)


async def measure_postgres(rows: list[dict[str, object]]) -> Round | None:
    created: list[str] = []
    try:
        raw_db, ours_db = await postgres_database(), await postgres_database()
        created = [name for name in (raw_db, ours_db) if name]
        if not (raw_db and ours_db):
            return None
        base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
        raw, raw_cpu = await raw_insert(f"{base}/{raw_db}", rows)
        measured, cpu = await ours(f"{base}/{ours_db}", rows)
        return Round(measured, cpu, raw, raw_cpu)
    finally:
        for name in created:
            await drop_postgres_database(name)


async def main(quick: bool, rounds: int) -> None:
    count = 10_000 if quick else 100_000
    rows = people(count)
    tune_for_serving()  # the collector as `python -m services.directory` sets it; both sides run in this process
    measured: dict[str, list[Round]] = {"sqlite": [], "postgres": []}
    for _ in range(rounds):
        measured["sqlite"].append(await measure_sqlite(rows))
        postgres = await measure_postgres(rows)
        if postgres is not None:
            measured["postgres"].append(postgres)
    if not measured["postgres"]:
        print(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: SQLite only")
    figures: dict[str, Round] = {}
    for dialect, runs in measured.items():
        if not runs:
            continue
        for index, run in enumerate(runs):
            print(
                f"{dialect} round {index + 1}: upserts/s={run.upserts_per_s:.0f} raw inserts/s={run.raw_per_s:.0f} "
                f"ratio={run.ratio:.2f} cpu_ms_per_row ours={run.ours_cpu_ms:.3f} raw={run.raw_cpu_ms:.3f}"
            )
        # The median round by ratio: each ratio pairs two measurements taken under the same load.
        figures[dialect] = sorted(runs, key=lambda run: run.ratio)[len(runs) // 2]
    details = " ".join(
        f"{dialect}_ratio={run.ratio:.2f} {dialect}_upserts_per_s={run.upserts_per_s:.0f} {dialect}_raw_per_s={run.raw_per_s:.0f} "
        f"{dialect}_cpu_ms_per_row={run.ours_cpu_ms:.3f} {dialect}_raw_cpu_ms_per_row={run.raw_cpu_ms:.3f}"
        for dialect, run in figures.items()
    )
    ratio = min(run.ratio for run in figures.values())
    print(f"RESULT directory_upsert ratio={ratio:.2f} {details} rows={count} batch={BATCH} rounds={rounds}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    parser.add_argument("--rounds", type=int, default=5, help="raw/ours pairs per database; the median pair is reported")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.quick, arguments.rounds))

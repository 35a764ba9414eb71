"""A full refresh of the "5 support calls in 30 days" segment (the directory's set-based refresh: compiled rule,
INSERT … SELECT of new members, outbox rows, removals) beside the plain SQL GROUP BY query that computes the same
set, over contacts and transactions generated with set-based SQL, in one run. The membership must equal the query.

    python benchmarks/segment_refresh.py [--quick | --contacts N] [--database postgres|sqlite]
        full: 1,000,000 contacts / 10,000,000 transactions; --quick: 20,000 / 200,000; --contacts N: N / 10 N
        ends with: RESULT segment_refresh ratio=<refresh/plain query time> ...

ratio compares the scheduled case, a refresh a day after the last one (the window slid: some contacts leave, some
join, their membership rows and outbox events are written), with the plain query at the same moment. Beside it:
the first refresh (every member is new: a membership row and an ADDED outbox event each) and a refresh with nothing
to change, both against the plain query.
The issue's target is ratio <= 1.5. Default database: PostgreSQL when reachable, else SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from sqlalchemy import func, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.common.db import create_engine, create_session_factory
from services.common.migrations import upgrade_to_head_async
from services.directory.membership import REFRESH_SETTINGS, MembershipEngine
from services.directory.models import Segment, SegmentMembership

POSTGRES_ADMIN_URL = os.environ.get("CXFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
RULE = {
    "transactions": {
        "aggregate": "count",
        "where": [{"field": "type", "op": "eq", "value": "support_call"}],
        "lastDays": 30,
        "op": "gte",
        "value": 5,
    }
}

# Transaction g belongs to contact c = 1 + g % contacts (so each contact has transactions/contacts of them).
# A quarter of the contacts (c % 4 = 0) call support all the time, within the last 40 days; the others call now
# and then over 120 days. Pseudo-random but deterministic: (g * 7919) spreads the dates.
POSTGRES_FILL = """
INSERT INTO organizations (id, name, created_at) VALUES ('ORG_bench', 'bench', :now);
INSERT INTO directories (id, organization_id, name, is_default, dedup_rules, created_at)
    VALUES ('POOL_bench', 'ORG_bench', 'bench', false, '[]', :now);
INSERT INTO mailing_lists (id, directory_id, name, created_at) VALUES ('CG_bench', 'POOL_bench', 'bench', :now);
INSERT INTO contacts (id, directory_id, email, email_normalized, unsubscribed, embedded_data, created_at, updated_at)
    SELECT 'CID_' || c, 'POOL_bench', 'p' || c || '@example.com', 'p' || c || '@example.com', false, '{}', :now, :now
    FROM generate_series(1, :contacts) AS c;
INSERT INTO transactions (seq, id, directory_id, contact_id, mailing_list_id, transaction_date, data, created_at)
    SELECT g, 'CTR_' || g, 'POOL_bench', 'CID_' || (1 + g % :contacts), 'CG_bench',
           CAST(:now AS timestamptz) - make_interval(days => ((g * 7919) % (CASE WHEN (1 + g % :contacts) % 4 = 0 THEN 40 ELSE 120 END))::int,
                                secs => (g % 86400)::double precision),
           json_build_object('type', CASE WHEN (1 + g % :contacts) % 4 = 0 OR (g / :contacts) % 3 = 0
                                          THEN 'support_call' ELSE 'purchase' END, 'amount', g % 100),
           :now
    FROM generate_series(CAST(1 AS bigint), :transactions) AS g;
SELECT setval(pg_get_serial_sequence('transactions', 'seq'), :transactions);
ANALYZE;
"""

SQLITE_FILL = """
INSERT INTO organizations (id, name, created_at) VALUES ('ORG_bench', 'bench', :now);
INSERT INTO directories (id, organization_id, name, is_default, dedup_rules, created_at)
    VALUES ('POOL_bench', 'ORG_bench', 'bench', 0, '[]', :now);
INSERT INTO mailing_lists (id, directory_id, name, created_at) VALUES ('CG_bench', 'POOL_bench', 'bench', :now);
WITH RECURSIVE n(c) AS (SELECT 1 UNION ALL SELECT c + 1 FROM n WHERE c < :contacts)
INSERT INTO contacts (id, directory_id, email, email_normalized, unsubscribed, embedded_data, created_at, updated_at)
    SELECT 'CID_' || c, 'POOL_bench', 'p' || c || '@example.com', 'p' || c || '@example.com', 0, '{}', :now, :now FROM n;
WITH RECURSIVE n(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM n WHERE g < :transactions)
INSERT INTO transactions (seq, id, directory_id, contact_id, mailing_list_id, transaction_date, data, created_at)
    SELECT g, 'CTR_' || g, 'POOL_bench', 'CID_' || (1 + g % :contacts), 'CG_bench',
           strftime('%Y-%m-%d %H:%M:%S.000000', :now_text,
                    '-' || ((g * 7919) % (CASE WHEN (1 + g % :contacts) % 4 = 0 THEN 40 ELSE 120 END)) || ' days',
                    '-' || (g % 86400) || ' seconds'),
           json_object('type', CASE WHEN (1 + g % :contacts) % 4 = 0 OR (g / :contacts) % 3 = 0
                                    THEN 'support_call' ELSE 'purchase' END, 'amount', g % 100),
           :now
    FROM n;
ANALYZE;
"""

POSTGRES_PLAIN = """
SELECT contact_id FROM transactions
WHERE directory_id = 'POOL_bench' AND data ->> 'type' = 'support_call'
  AND transaction_date >= :start AND transaction_date <= :now
GROUP BY contact_id HAVING count(*) >= 5
"""
SQLITE_PLAIN = """
SELECT contact_id FROM transactions
WHERE directory_id = 'POOL_bench' AND json_extract(data, '$.type') = 'support_call'
  AND transaction_date >= :start AND transaction_date <= :now
GROUP BY contact_id HAVING count(*) >= 5
"""


async def fill(url: str, dialect: str, contacts: int, transactions: int) -> float:
    await upgrade_to_head_async("directory", url)
    engine = create_engine(url)
    began = time.perf_counter()
    try:
        async with engine.begin() as connection:
            script = POSTGRES_FILL if dialect == "postgresql" else SQLITE_FILL
            for statement in filter(str.strip, script.split(";")):
                await connection.execute(
                    text(statement),
                    {"now": NOW if dialect == "postgresql" else NOW.strftime("%Y-%m-%d %H:%M:%S.%f"),
                     "now_text": NOW.strftime("%Y-%m-%d %H:%M:%S"), "contacts": contacts, "transactions": transactions},
                )  # fmt: skip
    finally:
        await engine.dispose()
    return time.perf_counter() - began


async def plain_query(sessions, dialect: str, now: datetime) -> tuple[set[str], float]:  # type: ignore[no-untyped-def]
    start = now - timedelta(days=30)
    plain_sql = POSTGRES_PLAIN if dialect == "postgresql" else SQLITE_PLAIN
    params = {"start": start, "now": now} if dialect == "postgresql" else {
        "start": start.strftime("%Y-%m-%d %H:%M:%S.%f"), "now": now.strftime("%Y-%m-%d %H:%M:%S.%f")}  # fmt: skip
    async with sessions() as session:
        if dialect == "postgresql":  # the planner settings the refresh runs with, so both are planned alike
            for name, value in REFRESH_SETTINGS.items():
                await session.execute(text(f"SET LOCAL {name} = '{value}'"))
        await session.execute(text(plain_sql), params)  # warms the cache the same way for both
        began = time.perf_counter()
        found = set((await session.execute(text(plain_sql), params)).scalars())
        return found, time.perf_counter() - began


async def refresh(sessions, now: datetime) -> tuple[set[str], float]:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        segment = await session.get(Segment, "SEG_bench")
        began = time.perf_counter()
        counts = await MembershipEngine(session, "ORG_bench", lambda: now).refresh_segment(segment)
        await session.commit()
        elapsed = time.perf_counter() - began
    print(f"refresh at {now.isoformat()}: added={counts.added} removed={counts.removed} in {elapsed:.2f} s")
    async with sessions() as session:
        return set((await session.execute(select(SegmentMembership.contact_id))).scalars()), elapsed


async def measure(url: str, dialect: str) -> dict[str, float]:
    """Three refreshes, each checked against the plain query at the same moment: the first (everyone joins), a
    steady one (nothing changed), and one a day later (the window slid: some leave, some join)."""
    engine = create_engine(url)
    try:
        sessions = create_session_factory(engine)
        async with sessions() as session:
            session.add(Segment(id="SEG_bench", directory_id="POOL_bench", name="Frequent support callers", description="",
                                rule=RULE, created_at=NOW, updated_at=NOW))  # fmt: skip
            await session.commit()
        expected, plain = await plain_query(sessions, dialect, NOW)
        first_members, first = await refresh(sessions, NOW)
        steady_members, steady = await refresh(sessions, NOW)
        assert first_members == steady_members == expected, (
            f"membership differs from the plain query: {len(first_members)} vs {len(expected)}"
        )
        later = NOW + timedelta(days=1)
        expected_later, plain_later = await plain_query(sessions, dialect, later)
        slid_members, slid = await refresh(sessions, later)
        assert slid_members == expected_later, (
            f"membership differs from the plain query: {len(slid_members)} vs {len(expected_later)}"
        )
        async with sessions() as session:
            transactions = (await session.execute(select(func.count()).select_from(text("transactions")))).scalar_one()
        return {"plain": plain, "first": first, "steady": steady, "plain_later": plain_later, "slid": slid,
                "members": len(expected), "transactions": transactions}  # fmt: skip
    finally:
        await engine.dispose()


async def main(quick: bool, database: str | None, contacts: int | None) -> None:
    if contacts is None:
        contacts = 20_000 if quick else 1_000_000
    transactions = 10 * contacts
    created = None
    if database in (None, "postgres"):
        try:
            conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=3)
            created = f"cxflow_bench_{uuid.uuid4().hex[:10]}"
            await conn.execute(f'CREATE DATABASE "{created}"')
            await conn.close()
        except (OSError, asyncpg.PostgresError):
            if database == "postgres":
                raise
    try:
        with tempfile.TemporaryDirectory() as folder:
            if created:
                base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
                url, dialect = f"{base}/{created}", "postgresql"
            else:
                url, dialect = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}", "sqlite"
            generated = await fill(url, dialect, contacts, transactions)
            print(f"{dialect}: generated {contacts} contacts and {transactions} transactions in {generated:.1f} s")
            figures = await measure(url, dialect)
    finally:
        if created:
            conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
            await conn.execute(f'DROP DATABASE IF EXISTS "{created}" WITH (FORCE)')
            await conn.close()
    ratio = figures["slid"] / figures["plain_later"]
    print(
        f"RESULT segment_refresh ratio={ratio:.2f} refresh_s={figures['slid']:.2f} plain_query_s={figures['plain_later']:.2f} "
        f"first_refresh_ratio={figures['first'] / figures['plain']:.2f} steady_ratio={figures['steady'] / figures['plain']:.2f} "
        f"members={figures['members']} contacts={contacts} transactions={figures['transactions']} database={dialect}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k contacts / 200k transactions, under a minute")
    parser.add_argument("--database", choices=["postgres", "sqlite"], help="default: PostgreSQL when reachable")
    parser.add_argument("--contacts", type=int, help="another size: this many contacts, ten transactions each")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.quick, arguments.database, arguments.contacts))

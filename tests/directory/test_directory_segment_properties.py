"""Property tests: for random contacts, transactions and rule trees, the compiled SQL (per contact and as a set-based
refresh) and the explained Python evaluation agree with a straightforward reference evaluator written here."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from services.common.db import create_engine, create_session_factory
from services.common.migrations import upgrade_to_head_async
from services.directory.membership import MembershipEngine
from services.directory.models import (
    Contact,
    Directory,
    MailingList,
    MailingListMembership,
    Organization,
    Segment,
    SegmentMembership,
    Transaction,
)
from services.directory.segment_rules import (
    CONTACT_FIELDS,
    ContactFacts,
    SqlContext,
    TransactionFacts,
    explain,
    parse_rule,
    rule_sql,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LISTS = ("CG_list0", "CG_list1")
STRINGS = st.sampled_from(["", "a", "ab", "ba", "A", "support_call", "purchase"])
NUMBERS = st.sampled_from([-1, 0, 1, 2, 2.5, 3, 10])
SCALARS = st.one_of(STRINGS, NUMBERS, st.booleans())
EMBEDDED_KEYS = ("k1", "k2")
DATA_KEYS = ("type", "amount")
STRING_FIELDS = ("email", "firstName", "language")


def field_condition(field: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.builds(lambda op, value: {"field": field, "op": op, "value": value}, st.sampled_from(["eq", "ne"]), SCALARS),
        st.builds(lambda op: {"field": field, "op": op}, st.sampled_from(["exists", "is_empty"])),
        st.builds(lambda op, value: {"field": field, "op": op, "value": value}, st.sampled_from(["contains", "starts_with"]), STRINGS),
        st.builds(lambda op, value: {"field": field, "op": op, "value": value}, st.sampled_from(["gt", "gte", "lt", "lte"]), NUMBERS),
        st.builds(lambda values: {"field": field, "op": "in", "value": values}, st.lists(SCALARS, min_size=1, max_size=3)),
    )


def transaction_rule() -> st.SearchStrategy[dict[str, Any]]:
    def build(aggregate: str, field: str, where: list[dict[str, Any]], window: dict[str, Any], condition: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"aggregate": aggregate, "where": where, **window, **condition}
        if aggregate != "count":
            body["field"] = field
        return {"transactions": body}

    windows = st.one_of(
        st.just({}),
        st.builds(lambda days: {"lastDays": days}, st.integers(1, 40)),
        st.builds(
            lambda start, length: {
                "between": {
                    "from": (NOW - timedelta(days=start)).isoformat(),
                    "to": (NOW - timedelta(days=start - length)).isoformat(),
                }
            },
            st.integers(5, 40),
            st.integers(1, 20),
        ),
    )
    where = st.lists(st.sampled_from(DATA_KEYS).flatmap(lambda key: field_condition(key)), max_size=2)
    numeric = st.builds(lambda op, value: {"op": op, "value": value}, st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte"]), NUMBERS)
    latest_condition = st.sampled_from(DATA_KEYS).flatmap(field_condition).map(lambda rule: {k: v for k, v in rule.items() if k != "field"})
    return st.one_of(
        st.builds(build, st.sampled_from(["count", "sum", "min", "max"]), st.sampled_from(DATA_KEYS), where, windows, numeric),
        st.builds(build, st.just("latest"), st.sampled_from(DATA_KEYS), where, windows, latest_condition),
    )


LEAVES = st.one_of(
    st.sampled_from(STRING_FIELDS + tuple(f"embeddedData.{key}" for key in EMBEDDED_KEYS)).flatmap(field_condition),
    st.builds(lambda op, value: {"field": "unsubscribed", "op": op, "value": value}, st.sampled_from(["eq", "ne"]), st.booleans()),
    st.builds(lambda list_id: {"mailingList": list_id}, st.sampled_from(LISTS)),
    transaction_rule(),
)
RULES = st.recursive(
    LEAVES,
    lambda children: st.one_of(
        st.builds(lambda items: {"all": items}, st.lists(children, max_size=3)),
        st.builds(lambda items: {"any": items}, st.lists(children, max_size=3)),
        st.builds(lambda child: {"not": child}, children),
    ),
    max_leaves=6,
)

TRANSACTIONS = st.lists(
    st.tuples(
        st.integers(0, 45),  # days ago
        st.sampled_from([0, 6, 12]),  # hour offset: windows cut between transactions of one day, and on their edges
        st.dictionaries(st.sampled_from(DATA_KEYS), SCALARS, max_size=2),
    ),
    max_size=5,
)
CONTACTS = st.lists(
    st.fixed_dictionaries(
        {
            "email": st.one_of(st.none(), STRINGS),
            "firstName": st.one_of(st.none(), STRINGS),
            "language": st.one_of(st.none(), STRINGS),
            "unsubscribed": st.booleans(),
            "embedded": st.dictionaries(st.sampled_from(EMBEDDED_KEYS), SCALARS, max_size=2),
            "lists": st.sets(st.sampled_from(LISTS)),
            "transactions": TRANSACTIONS,
        }
    ),
    min_size=1,
    max_size=5,
)


# The reference evaluator: plain Python over plain data, as the issue describes the rules.


def is_number(value: Any) -> bool:
    return type(value) in (int, float)


def same(actual: Any, wanted: Any) -> bool:
    if type(wanted) is bool or type(actual) is bool:
        return type(wanted) is bool and type(actual) is bool and actual == wanted
    if type(wanted) is str or type(actual) is str:
        return type(wanted) is str and type(actual) is str and actual == wanted
    return is_number(actual) and is_number(wanted) and actual == wanted


def holds(op: str, actual: Any, wanted: Any = None) -> bool:
    if op == "exists":
        return actual is not None
    if op == "is_empty":
        return actual is None or actual == ""
    if op == "eq":
        return same(actual, wanted)
    if op == "ne":
        return not same(actual, wanted)
    if op == "in":
        return any(same(actual, item) for item in wanted)
    if op == "contains":
        return type(actual) is str and wanted in actual
    if op == "starts_with":
        return type(actual) is str and actual[: len(wanted)] == wanted
    if not is_number(actual):
        return False
    return {"gt": actual > wanted, "gte": actual >= wanted, "lt": actual < wanted, "lte": actual <= wanted}[op]


def reference(rule: dict[str, Any], person: dict[str, Any], transactions: list[tuple[datetime, int, dict[str, Any]]]) -> bool:
    if "all" in rule:
        return all(reference(child, person, transactions) for child in rule["all"])
    if "any" in rule:
        return any(reference(child, person, transactions) for child in rule["any"])
    if "not" in rule:
        return not reference(rule["not"], person, transactions)
    if "mailingList" in rule:
        return rule["mailingList"] in person["lists"]
    if "field" in rule:
        name = rule["field"]
        actual = person["embedded"].get(name.split(".", 1)[1]) if name.startswith("embeddedData.") else person[name]
        return holds(rule["op"], actual, rule.get("value"))
    body = rule["transactions"]
    chosen = []
    for moment, seq, data in transactions:
        if "lastDays" in body and not NOW - timedelta(days=body["lastDays"]) <= moment <= NOW:
            continue
        if "between" in body:
            start = datetime.fromisoformat(body["between"]["from"])
            end = datetime.fromisoformat(body["between"]["to"])
            if not start <= moment < end:
                continue
        if all(holds(item["op"], data.get(item["field"]), item.get("value")) for item in body["where"]):
            chosen.append((moment, seq, data))
    aggregate = body["aggregate"]
    if aggregate == "count":
        value: Any = len(chosen)
    elif aggregate == "latest":
        value = max(chosen, key=lambda item: (item[0], item[1]))[2].get(body["field"]) if chosen else None
    else:
        numbers = [data[body["field"]] for _, _, data in chosen if is_number(data.get(body["field"]))]
        if aggregate == "sum":
            value = sum(numbers)
        elif numbers:
            value = min(numbers) if aggregate == "min" else max(numbers)
        else:
            value = None
    return holds(body["op"], value, body.get("value"))


_counter = itertools.count()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(people=CONTACTS, rule=RULES)
async def test_sql_refresh_and_explain_agree_with_the_reference(database_url: str, people: list[dict[str, Any]], rule: dict[str, Any]) -> None:
    await upgrade_to_head_async("directory", database_url)
    engine = create_engine(database_url)
    try:
        sessions = create_session_factory(engine)
        async with sessions() as session:
            dialect = session.get_bind().dialect.name
            n = next(_counter)
            org, pool = f"ORG_p{n}", f"POOL_p{n}"
            session.add(Organization(id=org, name="p"))
            await session.flush()
            session.add(Directory(id=pool, organization_id=org, name="p", dedup_rules=[]))
            await session.flush()
            # Lists keep the rule's ids, made unique per example by a suffix that the rule also gets.
            list_ids = {list_id: f"{list_id}_{n}" for list_id in LISTS}
            session.add_all(MailingList(id=list_ids[list_id], directory_id=pool, name=list_id) for list_id in LISTS)
            await session.flush()
            expected: set[str] = set()
            facts: dict[str, ContactFacts] = {}
            for index, person in enumerate(people):
                contact_id = f"CID_p{n}_{index}"
                session.add(
                    Contact(
                        id=contact_id,
                        directory_id=pool,
                        email=person["email"],
                        first_name=person["firstName"],
                        language=person["language"],
                        unsubscribed=person["unsubscribed"],
                        embedded_data=person["embedded"],
                    )
                )
                await session.flush()
                session.add_all(
                    MailingListMembership(mailing_list_id=list_ids[list_id], contact_id=contact_id) for list_id in person["lists"]
                )
                stored: list[tuple[datetime, int, dict[str, Any]]] = []
                for number, (days, hours, data) in enumerate(person["transactions"]):
                    moment = NOW - timedelta(days=days, hours=hours)
                    row = Transaction(
                        id=f"CTR_p{n}_{index}_{number}", directory_id=pool, contact_id=contact_id,
                        mailing_list_id=list_ids[LISTS[0]], transaction_date=moment, data=data,
                    )  # fmt: skip
                    session.add(row)
                    await session.flush()
                    stored.append((moment, row.seq, data))
                if reference(rule, person, stored):
                    expected.add(contact_id)
                facts[contact_id] = ContactFacts(
                    fields={name: person.get(name) for name in CONTACT_FIELDS} | {"unsubscribed": person["unsubscribed"]},
                    embedded_data=person["embedded"],
                    mailing_list_ids=frozenset(list_ids_inverse for list_ids_inverse in person["lists"]),
                    transactions=[TransactionFacts(seq, moment, data) for moment, seq, data in stored],
                )
            stored_rule = _with_list_ids(rule, list_ids)
            parsed = parse_rule(stored_rule)

            # 1. The compiled condition, queried directly.
            condition = rule_sql(parsed, SqlContext(dialect=dialect, now=NOW))
            found = set((await session.execute(select(Contact.id).where(Contact.directory_id == pool, condition))).scalars())
            assert found == expected, (rule, people)

            # 2. The set-based refresh stores exactly that set.
            segment = Segment(id=f"SEG_p{n}", directory_id=pool, name="p", description="", rule=stored_rule)
            session.add(segment)
            await session.flush()
            await MembershipEngine(session, org, lambda: NOW).refresh_segment(segment)
            members = set(
                (await session.execute(select(SegmentMembership.contact_id).where(SegmentMembership.segment_id == segment.id))).scalars()
            )
            assert members == expected

            # 3. The explained evaluation (ExplainMembership) agrees contact by contact.
            for contact_id, contact_facts in facts.items():
                explained = explain(parse_rule(rule), contact_facts, NOW)
                assert explained.held == (contact_id in expected), (rule, contact_id)
            await session.commit()
    finally:
        await engine.dispose()


def _with_list_ids(rule: Any, list_ids: dict[str, str]) -> Any:
    if isinstance(rule, dict):
        return {key: (list_ids[value] if key == "mailingList" else _with_list_ids(value, list_ids)) for key, value in rule.items()}
    if isinstance(rule, list):
        return [_with_list_ids(item, list_ids) for item in rule]
    return rule


ALL_SCALARS = ["", "a", "ab", "ba", "A", "support_call", -1, 0, 1, 2, 2.5, 3, 10, True, False]


async def test_every_operator_on_every_stored_value_agrees_with_the_reference(database_url: str) -> None:
    """Exhaustive over the leaf semantics: each operator and value against embedded data and a string column."""
    await upgrade_to_head_async("directory", database_url)
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as session:
            dialect = session.get_bind().dialect.name
            session.add(Organization(id="ORG_grid", name="grid"))
            await session.flush()
            session.add(Directory(id="POOL_grid", organization_id="ORG_grid", name="grid", dedup_rules=[]))
            await session.flush()
            stored = [*ALL_SCALARS, None]
            for index, value in enumerate(stored):
                session.add(
                    Contact(
                        id=f"CID_grid{index}",
                        directory_id="POOL_grid",
                        email=value if isinstance(value, str) or value is None else None,
                        embedded_data={} if value is None else {"k1": value},
                    )
                )
            await session.flush()
            rules = [{"op": op} for op in ("exists", "is_empty")]
            rules += [{"op": op, "value": value} for op in ("eq", "ne") for value in ALL_SCALARS]
            rules += [{"op": op, "value": value} for op in ("contains", "starts_with") for value in ALL_SCALARS if isinstance(value, str)]
            rules += [{"op": op, "value": value} for op in ("gt", "gte", "lt", "lte") for value in ALL_SCALARS if is_number(value)]
            rules += [{"op": "in", "value": ["a", 2, True]}, {"op": "in", "value": ["", 0, False]}]
            checked = 0
            for field, read in (("embeddedData.k1", lambda value: value), ("email", lambda value: value if isinstance(value, str) else None)):
                for body in rules:
                    rule = {"field": field, **body}
                    condition = rule_sql(parse_rule(rule), SqlContext(dialect=dialect, now=NOW))
                    found = set(
                        (await session.execute(select(Contact.id).where(Contact.directory_id == "POOL_grid", condition))).scalars()
                    )
                    expected = {f"CID_grid{index}" for index, value in enumerate(stored) if holds(body["op"], read(value), body.get("value"))}
                    assert found == expected, rule
                    checked += 1
            assert checked == 2 * len(rules)
    finally:
        await engine.dispose()

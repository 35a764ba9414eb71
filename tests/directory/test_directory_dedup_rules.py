"""Pure dedup logic: normalization, rule checks and identity keys."""

from __future__ import annotations

import hashlib
import json

import pytest

from services.directory.contacts import check_embedded_data
from services.directory.dedup import IdentityKeys, check_rules, normalize
from services.directory.errors import InvalidDirectoryRequest


def test_normalization_per_field() -> None:
    assert normalize("email", "  Ada@Example.COM ") == "ada@example.com"
    assert normalize("firstName", " ÉLODIE") == "élodie"
    assert normalize("phone", "+1 (555) 010-0000") == "15550100000"
    assert normalize("extRef", " CRM-1 ") == "CRM-1"  # external ids keep their case
    assert normalize("phone", "n/a") is None and normalize("email", "   ") is None and normalize("email", None) is None


def identity_keys(rules: list[list[str]], normalized: dict[str, str], directory_id: str) -> list[tuple[int, str]]:
    return IdentityKeys(rules, directory_id)(normalized)


def test_identity_keys_only_for_rules_with_every_field() -> None:
    rules = [["extRef"], ["firstName", "lastName"]]
    only_first_name = identity_keys(rules, {"firstName": "ada"}, "POOL_a")
    both = identity_keys(rules, {"firstName": "ada", "lastName": "lovelace"}, "POOL_a")
    assert only_first_name == [] and [index for index, _ in both] == [1]
    assert both == identity_keys(rules, {"firstName": "ada", "lastName": "lovelace", "email": "x"}, "POOL_a")
    assert both != identity_keys(rules, {"firstName": "ada", "lastName": "byron"}, "POOL_a")
    # The same values under different fields are different identities.
    first, last = (
        identity_keys([["firstName"]], {"firstName": "lee"}, "POOL_a"),
        identity_keys([["lastName"]], {"lastName": "lee"}, "POOL_a"),
    )
    assert first[0][1] != last[0][1]


def test_identity_keys_name_their_directory() -> None:
    """The same person in two directories has two keys (each unique index holds keys of every directory), each the
    directory's scoping of the key stored before keys were scoped (revision 0005 moved stored keys over that way)."""
    normalized = {"email": "ada@example.com"}
    [(_, in_a)], [(_, in_b)] = identity_keys([["email"]], normalized, "POOL_a"), identity_keys([["email"]], normalized, "POOL_b")
    assert in_a != in_b and len(in_a) == 24
    unscoped = hashlib.sha256(json.dumps([["email", "ada@example.com"]], separators=(",", ":")).encode()).hexdigest()
    assert in_a == hashlib.sha256(f"POOL_a:{unscoped}".encode()).hexdigest()[:24]


def test_rule_checks() -> None:
    assert check_rules([["email", "email"], ["phone"]]) == [["email"], ["phone"]]
    for bad, field in [
        ([["email"]] * 4, "dedup_rules"),
        ([[]], "dedup_rules[0].fields"),
        ([["email"], [""]], "dedup_rules[1].fields"),
    ]:
        with pytest.raises(InvalidDirectoryRequest) as failure:
            check_rules(bad)
        assert failure.value.field == field


def test_embedded_numbers_keep_integers_integral() -> None:
    checked = check_embedded_data({"visits": 4.0, "score": 4.5, "vip": True, "plan": "gold"})
    assert checked == {"visits": 4, "score": 4.5, "vip": True, "plan": "gold"}
    assert type(checked["visits"]) is int and type(checked["vip"]) is bool
    with pytest.raises(InvalidDirectoryRequest):
        check_embedded_data({"nan": float("nan")})

"""Deduplication as in Qualtrics XM Directory: ordered rules of identity fields, normalized values, identity keys."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from json.encoder import encode_basestring  # type: ignore[attr-defined]

from services.directory.errors import InvalidDirectoryRequest

MAX_RULES = 3
# 96 bits: unique enough for any number of contacts a database holds (a collision is ~1e-13 likely at 1e8 keys), and
# the unique indexes of the keys, written at random places, stay a quarter smaller than with 128.
KEY_HEX_DIGITS = 24

# Identity field name (as in the API and in search filters) -> Contact attribute.
IDENTITY_FIELDS: dict[str, str] = {
    "email": "email",
    "phone": "phone",
    "extRef": "ext_ref",
    "firstName": "first_name",
    "lastName": "last_name",
}
_CASE_INSENSITIVE = frozenset({"email", "firstName", "lastName"})
_NON_DIGITS = re.compile(r"\D")
# The hashed payload is the JSON of [[field, value], ...] (compact, non-ASCII kept), so the keys already stored stay
# valid; it is assembled from encode_basestring, the string encoder json.dumps itself uses, around per-field prefixes:
# json.dumps with options builds a new encoder per call, several times slower.
_FIELD_PREFIXES = {name: f"[{encode_basestring(name)}," for name in IDENTITY_FIELDS}


def normalize(field: str, value: str | None) -> str | None:
    """The form two values of one field are compared in; None when nothing identifying is left."""
    if value is None:
        return None
    if field == "phone":
        # "+1 (555) 010-0000" and "15550100000" are the same phone.
        normalized = _NON_DIGITS.sub("", value)
    elif field in _CASE_INSENSITIVE:
        normalized = value.strip().casefold()
    else:
        normalized = value.strip()
    return normalized or None


def check_rules(rules: Sequence[Sequence[str]]) -> list[list[str]]:
    """Validates rules given by field names; returns them with repeated fields dropped (order kept)."""
    if len(rules) > MAX_RULES:
        raise InvalidDirectoryRequest("dedup_rules", f"at most {MAX_RULES} rules, got {len(rules)}")
    checked: list[list[str]] = []
    for index, fields in enumerate(rules):
        where = f"dedup_rules[{index}].fields"
        if not fields:
            raise InvalidDirectoryRequest(where, "a rule needs at least one field")
        for name in fields:
            if name not in IDENTITY_FIELDS:
                raise InvalidDirectoryRequest(where, f"unknown or unspecified dedup field {name or 'UNSPECIFIED'!r}")
        checked.append(list(dict.fromkeys(fields)))
    return checked


def identity_keys(
    rules: Sequence[Sequence[str]], normalized: Mapping[str, str | None], directory_id: str
) -> list[tuple[int, str]]:
    """(rule index, key) for every rule whose fields all have a value; other rules cannot identify anyone.

    A key is unique across directories (the directory is hashed in), so the database finds its holder on an index
    of the key alone."""
    keys: list[tuple[int, str]] = []
    for index, fields in enumerate(rules):
        if len(fields) == 1:  # the common case, spelled out: this runs once per contact of a bulk upsert
            value = normalized.get(fields[0])
            if not value:
                continue
            payload = "[" + _FIELD_PREFIXES[fields[0]] + encode_basestring(value) + "]]"
        else:
            values = [normalized.get(name) for name in fields]
            if not all(values):
                continue
            payload = (
                "["
                + ",".join(_FIELD_PREFIXES[name] + encode_basestring(value) + "]" for name, value in zip(fields, values))
                + "]"
            )
        keys.append((index, scoped_key(directory_id, hashlib.sha256(payload.encode()).hexdigest())))
    return keys


def scoped_key(directory_id: str, values_key: str) -> str:
    """A directory's key for the sha256 hex of a rule's values (how keys were stored before they were scoped):
    the first KEY_HEX_DIGITS hex digits of the sha256 of both."""
    return hashlib.sha256(f"{directory_id}:{values_key}".encode()).hexdigest()[:KEY_HEX_DIGITS]

"""Deduplication as in Qualtrics XM Directory: ordered rules of identity fields, normalized values, identity keys."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from json.encoder import encode_basestring  # type: ignore[attr-defined]

from services.directory.errors import InvalidDirectoryRequest

MAX_RULES = 3

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


def identity_keys(rules: Sequence[Sequence[str]], normalized: Mapping[str, str | None]) -> list[tuple[int, str]]:
    """(rule index, key) for every rule whose fields all have a value; other rules cannot identify anyone."""
    keys: list[tuple[int, str]] = []
    for index, fields in enumerate(rules):
        values = [normalized.get(name) or "" for name in fields]
        if all(values):
            fields_json = (_FIELD_PREFIXES[name] + encode_basestring(value) + "]" for name, value in zip(fields, values))
            payload = "[" + ",".join(fields_json) + "]"
            keys.append((index, hashlib.sha256(payload.encode()).hexdigest()))
    return keys

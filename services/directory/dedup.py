"""Deduplication as in Qualtrics XM Directory: ordered rules of identity fields, normalized values, identity keys."""

from __future__ import annotations

import hashlib
import re
from binascii import hexlify
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
_NON_DIGITS = re.compile(r"\D")
# The hashed payload is the JSON of [[field, value], ...] (compact, non-ASCII kept), so the keys already stored stay
# valid; it is assembled from encode_basestring, the string encoder json.dumps itself uses, around per-field prefixes:
# json.dumps with options builds a new encoder per call, several times slower.
_FIELD_PREFIXES = {name: f"[{encode_basestring(name)}," for name in IDENTITY_FIELDS}


def normalized_identity_of(
    email: str | None = None,
    phone: str | None = None,
    ext_ref: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
) -> dict[str, str | None]:
    """Each identity field's normalization, the form two values of it are compared in (by IDENTITY_FIELDS name);
    None when not given or when nothing identifying is left. One function for all fields: this runs once per contact
    of a bulk upsert."""
    return {
        "email": None if email is None else email.strip().casefold() or None,
        # "+1 (555) 010-0000" and "15550100000" are the same phone.
        "phone": None if phone is None else _NON_DIGITS.sub("", phone) or None,
        "extRef": None if ext_ref is None else ext_ref.strip() or None,  # external ids keep their case
        "firstName": None if first_name is None else first_name.strip().casefold() or None,
        "lastName": None if last_name is None else last_name.strip().casefold() or None,
    }


def normalize(field: str, value: str | None) -> str | None:
    """The form two values of one field are compared in; None when nothing identifying is left."""
    return normalized_identity_of(**{IDENTITY_FIELDS[field]: value})[field]


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


class IdentityKeys:
    """The identity keys of one directory's rules: built once per write, then called per contact with its normalized
    values. (rule index, key) for every rule whose fields all have a value; other rules cannot identify anyone.

    A key is unique across directories (the directory is hashed in), so the database finds its holder on an index
    of the key alone."""

    def __init__(self, rules: Sequence[Sequence[str]], directory_id: str) -> None:
        self.rule_count = len(rules)
        self._rules = [
            (index, list(fields), "[" + _FIELD_PREFIXES[fields[0]] if len(fields) == 1 else "")
            for index, fields in enumerate(rules)
        ]
        # A key is the first KEY_HEX_DIGITS hex digits of sha256("<directory id>:<sha256 hex of the values' JSON>")
        # (the form revision 0005 moved the stored keys into); each key continues a copy of the directory's part.
        self._scope = hashlib.sha256(f"{directory_id}:".encode())

    def __call__(self, normalized: Mapping[str, str | None]) -> list[tuple[int, str]]:
        keys: list[tuple[int, str]] = []
        for index, fields, single_prefix in self._rules:
            if single_prefix:  # a rule of one field, the common case spelled out: this runs per contact of a bulk upsert
                value = normalized.get(fields[0])
                if not value:
                    continue
                payload = single_prefix + encode_basestring(value) + "]]"
            else:
                values = [normalized.get(name) for name in fields]
                if not all(values):
                    continue
                payload = (
                    "["
                    + ",".join(_FIELD_PREFIXES[name] + encode_basestring(value) + "]" for name, value in zip(fields, values))
                    + "]"
                )
            scoped = self._scope.copy()
            scoped.update(hexlify(hashlib.sha256(payload.encode()).digest()))
            keys.append((index, scoped.hexdigest()[:KEY_HEX_DIGITS]))
        return keys

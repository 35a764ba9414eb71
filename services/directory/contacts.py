"""A contact write (absent fields untouched, embedded data merged key by key) and how it applies to a stored contact."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.directory.dedup import IDENTITY_FIELDS, normalized_identity_of
from services.directory.errors import InvalidDirectoryRequest
from services.directory.models import Contact, utc_now

# JSON numbers beyond this lose integer precision, so they stay floats.
_MAX_EXACT_INTEGER = 2**53


@dataclass(slots=True)  # read-only by convention: frozen, it cost twice as much to build, once per contact of a bulk upsert
class ContactWrite:
    """The fields of one upsert; None means "not given" and leaves the stored value alone."""

    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    ext_ref: str | None = None
    language: str | None = None
    unsubscribed: bool | None = None
    embedded_data: dict[str, Any] = field(default_factory=dict)
    _normalized: dict[str, str | None] | None = field(default=None, init=False, repr=False, compare=False)

    def normalized_identity(self) -> dict[str, str | None]:
        """Each identity field's dedup normalization (None when not given); computed once, shared: do not mutate."""
        normalized = self._normalized
        if normalized is None:
            normalized = self._normalized = normalized_identity_of(
                self.email, self.phone, self.ext_ref, self.first_name, self.last_name
            )
        return normalized


def check_embedded_data(values: dict[str, Any], field_prefix: str = "contact.embedded_data") -> dict[str, Any]:
    """Embedded data holds strings, numbers and booleans only; integral numbers are kept as integers."""
    checked: dict[str, Any] = {}
    for key, value in values.items():
        if not key:
            raise InvalidDirectoryRequest(field_prefix, "keys must not be empty")
        if isinstance(value, (bool, str)):
            checked[key] = value
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise InvalidDirectoryRequest(f"{field_prefix}.{key}", "numbers must be finite")
            checked[key] = int(value) if value.is_integer() and abs(value) <= _MAX_EXACT_INTEGER else value
        elif isinstance(value, int):
            checked[key] = value
        else:
            raise InvalidDirectoryRequest(f"{field_prefix}.{key}", "values must be a string, a number or a boolean")
    return checked


def normalized_identity(contact: Contact) -> dict[str, str | None]:
    return {
        "email": contact.email_normalized,
        "phone": contact.phone_normalized,
        "extRef": contact.ext_ref_normalized,
        "firstName": contact.first_name_normalized,
        "lastName": contact.last_name_normalized,
    }


# Identity field name -> (Contact attribute, the attribute of its normalized form).
_IDENTITY_ATTRIBUTES = tuple((name, attribute, f"{attribute}_normalized") for name, attribute in IDENTITY_FIELDS.items())


def apply_write(contact: Contact, write: ContactWrite, now: datetime | None = None) -> None:
    """Sets the given fields (and their normalized forms) and merges embedded data into the stored one; now is the
    update time (a batch passes its one timestamp)."""
    normalized = write.normalized_identity()
    for name, attribute, normalized_attribute in _IDENTITY_ATTRIBUTES:
        value = getattr(write, attribute)
        if value is not None:
            setattr(contact, attribute, value)
            setattr(contact, normalized_attribute, normalized[name])
    if write.language is not None:
        contact.language = write.language
    if write.unsubscribed is not None:
        contact.unsubscribed = write.unsubscribed
    if write.embedded_data:
        # A new dict, so SQLAlchemy sees the JSON column change.
        contact.embedded_data = {**(contact.embedded_data or {}), **write.embedded_data}
    contact.updated_at = now or utc_now()

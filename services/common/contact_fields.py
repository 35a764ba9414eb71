"""The contact fields every API names in camelCase, and the directory.proto ContactInput field each one sets."""

from __future__ import annotations

# Text fields only: unsubscribed and embedded data have their own handling at each caller.
CONTACT_INPUT_FIELDS = {
    "firstName": "first_name",
    "lastName": "last_name",
    "email": "email",
    "phone": "phone",
    "extRef": "ext_ref",
    "language": "language",
}

"""Qualtrics-like resource ids (ORG_, POOL_, CID_, CG_, CTR_, SEG_ + 15 base62 chars) and the check of ids callers choose."""

from __future__ import annotations

import re
import secrets
import string

from services.directory.errors import InvalidDirectoryRequest

ORGANIZATION_PREFIX = "ORG_"
API_TOKEN_PREFIX = "TKN_"
DIRECTORY_PREFIX = "POOL_"
CONTACT_PREFIX = "CID_"
MAILING_LIST_PREFIX = "CG_"
TRANSACTION_PREFIX = "CTR_"
SEGMENT_PREFIX = "SEG_"

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_ID_PATTERN = re.compile(r"[A-Za-z0-9_]{1,64}")


_ID_LENGTH = 15
_ID_SPACE = 62**_ID_LENGTH


def new_id(prefix: str) -> str:
    # 128 random bits folded onto 62^15 (~89 bits): the bias is below 2^-38, and one call to the OS instead of 15.
    number = int.from_bytes(secrets.token_bytes(16), "big") % _ID_SPACE
    chars = []
    for _ in range(_ID_LENGTH):
        number, digit = divmod(number, 62)
        chars.append(_BASE62[digit])
    return prefix + "".join(chars)


def check_chosen_id(value: str, prefix: str, field: str) -> str:
    """A caller-chosen id must look like one we would issue, so ids stay recognisable by their prefix."""
    if not value.startswith(prefix) or not _ID_PATTERN.fullmatch(value):
        raise InvalidDirectoryRequest(field, f"must start with {prefix} and be 1-64 letters, digits or underscores")
    return value

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
# Random bytes below 248 (4 * 62) map evenly onto the 62 characters; bytes.translate maps them and drops the others
# in C (a digit-by-digit base-62 conversion was a tenth of a bulk contact upsert).
_BYTE_TO_BASE62 = bytes(_BASE62[byte % 62].encode()[0] if byte < 248 else 0 for byte in range(256))
_UNEVEN_BYTES = bytes(range(248, 256))


def new_id(prefix: str) -> str:
    return new_ids(prefix, 1)[0]


def new_ids(prefix: str, count: int) -> list[str]:
    """count ids of 15 uniform base-62 characters (~89 bits) each, from one draw of random bytes (a bulk upsert's new
    contacts: a draw per id was a system call per id)."""
    wanted = count * _ID_LENGTH
    chars = b""
    while len(chars) < wanted:  # 248 of 256 byte values are kept: draw a few more than needed
        chars += secrets.token_bytes((wanted - len(chars)) * 33 // 32 + 8).translate(_BYTE_TO_BASE62, _UNEVEN_BYTES)
    text = chars.decode()
    return [prefix + text[start : start + _ID_LENGTH] for start in range(0, wanted, _ID_LENGTH)]


def check_chosen_id(value: str, prefix: str, field: str) -> str:
    """A caller-chosen id must look like one we would issue, so ids stay recognisable by their prefix."""
    if not value.startswith(prefix) or not _ID_PATTERN.fullmatch(value):
        raise InvalidDirectoryRequest(field, f"must start with {prefix} and be 1-64 letters, digits or underscores")
    return value

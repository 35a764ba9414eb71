"""JSON on the hot paths (request bodies, JSON database columns): orjson, with the standard library for what it refuses.

orjson is several times faster than `json` at both ends. It reads only strict JSON (no NaN/Infinity, valid UTF-8),
which is what every caller here wants. It refuses integers beyond 64 bits, which JSON allows and Segment payloads may
carry, so those documents fall back to the standard library (slower, same result).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_DUMP_OPTIONS = orjson.OPT_NON_STR_KEYS


class JSONDecodeError(ValueError):
    """The bytes are not one strict JSON document; the message says where."""


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python's json reads NaN and Infinity; no database stores them as JSON


def loads(document: bytes | str) -> Any:
    """Parses strict JSON. Raises JSONDecodeError (a ValueError) for anything else, including documents nested
    deeper than orjson's limit."""
    try:
        return orjson.loads(document)
    except orjson.JSONDecodeError as fast_error:
        try:  # integers past 64 bits are valid JSON that only the standard library reads
            return json.loads(document, parse_constant=_no_constant)
        except RecursionError:
            raise JSONDecodeError("the document nests too deeply") from None
        except (UnicodeDecodeError, ValueError):
            raise JSONDecodeError(str(fast_error)) from None


def dumps_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON (no spaces, non-ASCII kept as is), as Segment measures a message."""
    try:
        return orjson.dumps(value, option=_DUMP_OPTIONS)
    except TypeError:
        # An integer past 64 bits, or a lone surrogate ("\ud800" read by the fallback above): escaped ASCII is valid
        # UTF-8 whatever the text holds, and never shorter, so a size measured on it errs on the strict side.
        return json.dumps(value, separators=(",", ":")).encode()


def dumps(value: Any) -> str:
    """dumps_bytes as text: the serializer of JSON database columns."""
    return dumps_bytes(value).decode()

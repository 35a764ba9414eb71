"""JSON Schemas of the HTTP routes' bodies and answers, declared in the OpenAPI document (/openapi.json).

Routes read their raw bodies themselves (gzip, size caps, Segment's own validation), so FastAPI does not
validate against these; they describe the contract for readers, client generators and API fuzzers."""

from __future__ import annotations

from typing import Any

_ID = {"type": "string", "minLength": 1, "maxLength": 200}
_OBJECT = {"type": "object", "additionalProperties": True}
_TIME = {"type": "string", "format": "date-time"}

_COMMON_FIELDS: dict[str, Any] = {
    "userId": _ID,
    "anonymousId": _ID,
    "messageId": _ID,
    "timestamp": _TIME,
    "originalTimestamp": _TIME,
    "sentAt": _TIME,
    "context": _OBJECT,
    "integrations": _OBJECT,
    "writeKey": {"type": "string", "description": "the source's write key, when not sent as the HTTP Basic user name"},
}
_TYPE_FIELDS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "identify": ({"traits": _OBJECT}, []),
    "track": ({"event": {"type": "string", "minLength": 1}, "properties": _OBJECT}, ["event"]),
    "page": ({"name": {"type": "string"}, "category": {"type": "string"}, "properties": _OBJECT}, []),
    "screen": ({"name": {"type": "string"}, "category": {"type": "string"}, "properties": _OBJECT}, []),
    "group": ({"groupId": _ID, "traits": _OBJECT}, ["groupId"]),
    "alias": ({"previousId": _ID}, ["previousId", "userId"]),
}


def segment_message_schema(call: str) -> dict[str, Any]:
    fields, required = _TYPE_FIELDS[call]
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {**_COMMON_FIELDS, **fields},
        "additionalProperties": True,
        "description": f"A Segment {call} call. userId or anonymousId is required; at most 32 KB.",
    }
    if required:
        schema["required"] = required
    if call != "alias":
        schema["anyOf"] = [{"required": ["userId"]}, {"required": ["anonymousId"]}]
    return schema


BATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["batch"],
    "properties": {
        "batch": {
            "type": "array",
            "maxItems": 2500,
            "items": {
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"type": "string", "enum": list(_TYPE_FIELDS)}, **_COMMON_FIELDS},
                "additionalProperties": True,
            },
        },
        "context": _OBJECT,
        "integrations": _OBJECT,
        "sentAt": _TIME,
        "writeKey": _COMMON_FIELDS["writeKey"],
    },
    "additionalProperties": True,
    "description": "Up to 2,500 messages and 500 KB; context and integrations merge into each message.",
}

ANY_OBJECT_SCHEMA: dict[str, Any] = {"type": "object", "additionalProperties": True}

CAPTURE_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"count": {"type": "integer", "minimum": 1, "maximum": 100, "default": 1}},
    "additionalProperties": False,
}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}

QUALTRICS_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["meta"],
    "properties": {
        "meta": {
            "type": "object",
            "required": ["httpStatus", "error"],
            "properties": {
                "httpStatus": {"type": "string"},
                "requestId": {"type": "string"},
                "error": {
                    "type": "object",
                    "required": ["errorMessage", "errorCode"],
                    "properties": {"errorMessage": {"type": "string"}, "errorCode": {"type": "string"}},
                },
            },
        }
    },
}


def qualtrics_envelope(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["result", "meta"],
        "properties": {
            "result": result,
            "meta": {
                "type": "object",
                "required": ["httpStatus", "requestId"],
                "properties": {"httpStatus": {"type": "string"}, "requestId": {"type": "string"}},
            },
        },
    }


_STRING = {"type": "string"}
QUALTRICS_CONTACT_BODY: dict[str, Any] = {
    "type": "object",
    "properties": {
        "firstName": _STRING,
        "lastName": _STRING,
        "email": _STRING,
        "phone": _STRING,
        "extRef": _STRING,
        "language": _STRING,
        "unsubscribed": {"type": "boolean"},
        "embeddedData": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
    },
    "additionalProperties": True,
}

_QUALTRICS_FIELD_FILTER: dict[str, Any] = {
    "type": "object",
    "required": ["filterType", "comparison", "value"],
    "properties": {"filterType": _STRING, "comparison": {"type": "string", "enum": ["eq"]}, "value": _STRING},
}
QUALTRICS_SEARCH_BODY: dict[str, Any] = {
    "type": "object",
    "required": ["filter"],
    "properties": {
        "filter": {
            "anyOf": [
                _QUALTRICS_FIELD_FILTER,
                {
                    "type": "object",
                    "required": ["conjunction", "filters"],
                    "properties": {
                        "conjunction": {"type": "string", "enum": ["and", "or"]},
                        "filters": {"type": "array", "minItems": 1, "items": {"type": "object"}},
                    },
                },
            ]
        }
    },
}

QUALTRICS_TRANSACTIONS_BODY: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1000,
    "additionalProperties": {
        "type": "object",
        "required": ["contactId", "transactionDate"],
        "properties": {
            "contactId": _STRING,
            "mailingListId": _STRING,
            "transactionDate": {"type": "string", "description": "YYYY-MM-DD HH:MM:SS (UTC)"},
            "data": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
        },
    },
}


def body(schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    """openapi_extra declaring a JSON request body."""
    return {"requestBody": {"required": required, "content": {"application/json": {"schema": schema}}}}


def answers(ok: dict[str, Any], errors: dict[int, str], *, error_schema: dict[str, Any] = ERROR_SCHEMA, ok_status: int = 200) -> dict[int | str, Any]:
    """FastAPI `responses=` for a route: its success body and each documented error status."""
    documented: dict[int | str, Any] = {ok_status: {"description": "success", "content": {"application/json": {"schema": ok}}}}
    for status, meaning in errors.items():
        documented[status] = {"description": meaning, "content": {"application/json": {"schema": error_schema}}}
    return documented

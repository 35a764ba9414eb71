"""Auto-mapping ("Add field mapping"): one field mapping per leaf of a sample JSON payload, typed from its value."""

from __future__ import annotations

import re
from typing import Any

from services.ingestion.errors import InvalidIngestionRequest

MAX_PROPOSED_MAPPINGS = 500
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "string"  # strings, and nulls: a null sample says nothing better


def _step(key: str) -> str | None:
    """The JSONPath step for one key: .key when it is an identifier, else a quoted child (None when unquotable)."""
    if _IDENTIFIER.fullmatch(key):
        return f".{key}"
    if "'" not in key:
        return f"['{key}']"
    if '"' not in key:
        return f'["{key}"]'
    return None  # jsonpath-ng has no escape for a key holding both quote characters


def _leaves(value: Any, path: str, names: list[str], out: list[tuple[str, list[str], Any]]) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            step = _step(str(key))
            if step is not None:
                _leaves(child, path + step, [*names, str(key)], out)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            _leaves(child, f"{path}[{index}]", [*names, str(index)], out)
    else:
        out.append((path, names, value))


def propose_mappings(sample: Any) -> list[dict[str, str]]:
    """Mappings {name, path, type} for every leaf of the sample, in document order.

    A field is named after its key; when two leaves share a key, the later ones are named by their whole path
    (traits.email and context.traits.email become email and context_traits_email)."""
    if not isinstance(sample, dict):
        raise InvalidIngestionRequest("sample", "must be a JSON object")
    leaves: list[tuple[str, list[str], Any]] = []
    _leaves(sample, "$", [], leaves)
    if len(leaves) > MAX_PROPOSED_MAPPINGS:
        raise InvalidIngestionRequest("sample", f"has {len(leaves)} leaves; at most {MAX_PROPOSED_MAPPINGS} can be mapped at once")
    proposals, taken = [], set()
    for path, names, value in leaves:
        name = names[-1]
        if name in taken or name.isdigit():
            name = "_".join(names)
        while name in taken:  # a key that itself looks like a joined path, e.g. "a_b" beside a.b
            name += "_"
        taken.add(name)
        proposals.append({"name": name, "path": path, "type": _type_of(value)})
    return proposals

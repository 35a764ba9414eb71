"""Evaluates a workflow's conditions (nested all/any groups of comparisons) against a run's data, deterministically.

Pure functions over plain data (stdlib, and RE2 for "matches"), shared by TriggeredRun and DryRun. The document shape:

    {"all": [                                    # or "any"; groups nest
        {"operand": "contact.embeddedData.tier", "operator": "equals", "value": "gold"},
        {"operand": "event.properties.total", "operator": "gt", "value": 100},
        {"any": [{"segment": "SEG_vip", "member": true}, ...]},
    ]}

Type rules follow Qualtrics: when both sides read as numbers ("42", 42.0) they compare as numbers;
otherwise as text, case-sensitively unless the condition says "ignoreCase": true. A missing operand
reads as empty text. Ordering operators (gt, gte, lt, lte) are false unless both sides are numbers.
"matches" runs the tenant's pattern with RE2, in time linear in the subject: RE2 syntax (no backreferences or
lookarounds); a pattern RE2 refuses matches nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import re2

from workflows.contracts import MAX_REGEX_LENGTH

# Regex subjects are cut to this many characters, so a pattern's work stays bounded.
MAX_MATCH_SUBJECT = 10_000

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING = _Missing()


@dataclass(frozen=True)
class ConditionOutcome:
    met: bool
    explanation: list[str] = field(default_factory=list)  # one line per leaf evaluated, for DryRun and logs


def resolve_operand(operand: str, data: Mapping[str, Any]) -> Any:
    """The value at a dotted operand path ("event.properties.items.0.sku"), or MISSING."""
    node: Any = data
    for part in operand.split("."):
        if isinstance(node, Mapping):
            if part not in node:
                return MISSING
            node = node[part]
        elif isinstance(node, (list, tuple)) and part.isdigit():
            index = int(part)
            if index >= len(node):
                return MISSING
            node = node[index]
        else:
            return MISSING
    return node


def as_number(value: Any) -> float | None:
    """A number, or text that is one; None otherwise (booleans are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        return float(value.strip())
    return None


def as_text(value: Any) -> str:
    if value is MISSING or value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def is_empty(value: Any) -> bool:
    if value is MISSING or value is None:
        return True
    if isinstance(value, (str, list, tuple, dict)):
        return len(value) == 0 if not isinstance(value, str) else value.strip() == ""
    return False


def _equal(left: Any, right: Any, ignore_case: bool) -> bool:
    left_number, right_number = as_number(left), as_number(right)
    if left_number is not None and right_number is not None:
        return left_number == right_number
    left_text, right_text = as_text(left), as_text(right)
    if ignore_case:
        return left_text.casefold() == right_text.casefold()
    return left_text == right_text


def _contains(left: Any, right: Any, ignore_case: bool) -> bool:
    if isinstance(left, (list, tuple)):  # e.g. contact.mailingListIds contains "CG_1"
        return any(_equal(item, right, ignore_case) for item in left)
    left_text, right_text = as_text(left), as_text(right)
    if ignore_case:
        return right_text.casefold() in left_text.casefold()
    return right_text in left_text


def _starts_with(left: Any, right: Any, ignore_case: bool) -> bool:
    left_text, right_text = as_text(left), as_text(right)
    if ignore_case:
        return left_text.casefold().startswith(right_text.casefold())
    return left_text.startswith(right_text)


def _ordered(operator: str, left: Any, right: Any) -> bool:
    left_number, right_number = as_number(left), as_number(right)
    if left_number is None or right_number is None:
        return False
    if operator == "gt":
        return left_number > right_number
    if operator == "gte":
        return left_number >= right_number
    if operator == "lt":
        return left_number < right_number
    return left_number <= right_number


def _matches(left: Any, pattern: Any, ignore_case: bool) -> bool:
    if not isinstance(pattern, str) or len(pattern) > MAX_REGEX_LENGTH:
        return False
    try:
        compiled = compile_pattern(pattern, ignore_case=ignore_case)
    except re2.error:
        return False
    return compiled.search(as_text(left)[:MAX_MATCH_SUBJECT]) is not None


def compile_pattern(pattern: str, *, ignore_case: bool = False) -> Any:
    """A tenant's regular expression compiled by RE2; raises re2.error when RE2 refuses it."""
    options = re2.Options()
    options.case_sensitive = not ignore_case
    options.log_errors = False
    return re2.compile(pattern, options)


def compare(operator: str, left: Any, right: Any = None, *, ignore_case: bool = False) -> bool:
    """One comparison: `left <operator> right` under the type rules above. Unknown operators are false."""
    if operator == "equals":
        return _equal(left, right, ignore_case)
    if operator == "not_equals":
        return not _equal(left, right, ignore_case)
    if operator == "contains":
        return _contains(left, right, ignore_case)
    if operator == "not_contains":
        return not _contains(left, right, ignore_case)
    if operator == "starts_with":
        return _starts_with(left, right, ignore_case)
    if operator == "is_empty":
        return is_empty(left)
    if operator == "is_not_empty":
        return not is_empty(left)
    if operator in ("gt", "gte", "lt", "lte"):
        return _ordered(operator, left, right)
    if operator == "in_list":
        return isinstance(right, (list, tuple)) and any(_equal(left, item, ignore_case) for item in right)
    if operator == "matches":
        return _matches(left, right, ignore_case)
    return False


def evaluate(conditions: Mapping[str, Any] | None, data: Mapping[str, Any]) -> ConditionOutcome:
    """Whether the conditions hold for data ({"event", "fields", "contact"}); no conditions always hold.

    The contact's segment ids are read from data["contact"]["segmentIds"].
    """
    if not conditions:
        return ConditionOutcome(met=True, explanation=["no conditions"])
    explanation: list[str] = []
    met = _evaluate_node(conditions, data, explanation, depth=0)
    return ConditionOutcome(met=met, explanation=explanation)


def _evaluate_node(node: Mapping[str, Any], data: Mapping[str, Any], explanation: list[str], depth: int) -> bool:
    indent = "  " * depth
    if "all" in node or "any" in node:
        kind = "all" if "all" in node else "any"
        children = node[kind] or []
        # Every child is evaluated (no short-circuit) so the explanation is complete.
        results = [_evaluate_node(child, data, explanation, depth + 1) for child in children]
        met = all(results) if kind == "all" else any(results)
        explanation.append(f"{indent}{kind} of {len(results)}: {'met' if met else 'not met'}")
        return met
    if "segment" in node:
        segment_id = str(node["segment"])
        wanted = bool(node.get("member", True))
        segment_ids = resolve_operand("contact.segmentIds", data)
        member = isinstance(segment_ids, (list, tuple)) and segment_id in segment_ids
        met = member == wanted
        explanation.append(
            f"{indent}segment {segment_id}: contact is {'a' if member else 'not a'} member "
            f"({'wanted' if met else 'not wanted'})"
        )
        return met
    operand = str(node.get("operand", ""))
    operator = str(node.get("operator", ""))
    value = node.get("value")
    left = resolve_operand(operand, data)
    met = compare(operator, left, value, ignore_case=bool(node.get("ignoreCase", False)))
    shown = "<missing>" if left is MISSING else repr(left)
    explanation.append(f"{indent}{operand} {operator} {value!r}: {shown} -> {'met' if met else 'not met'}")
    return met

"""The Jinja sandbox every cxflow template renders in (workflow tasks, survey links and invitations): size caps included."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

# A template's output, and any string or list one of its operators builds, is at most this long.
MAX_RENDERED_CHARS = 1_000_000
# `a ** b` on integers may build a result of at most this many bits (a 64-bit number is 64).
MAX_POWER_BITS = 4_096

_SEQUENCES = (str, bytes, list, tuple)


class TemplateTooLarge(Exception):
    """A template whose output or intermediate values would exceed the size caps (e.g. `{{ 'a' * 10**9 }}`)."""


class CappedSandboxedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's sandbox (no attribute or import escapes, and no changing the data it is given: `contact.tags.append(…)`
    is refused) whose `*`, `**` and `+` refuse results over the caps before building them; render with `render_capped`
    so the output is capped too."""

    intercepted_binops = frozenset(["*", "**", "+"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            _check_power(left, right)
        elif operator == "*":
            _check_repeat(left, right)
            _check_repeat(right, left)
        elif operator == "+" and isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
            _check_length(len(left) + len(right))
        return super().call_binop(context, operator, left, right)


def _check_length(length: int) -> None:
    if length > MAX_RENDERED_CHARS:
        raise TemplateTooLarge(f"template value too large: {length} items (at most {MAX_RENDERED_CHARS})")


def _check_repeat(sequence: Any, times: Any) -> None:
    if isinstance(sequence, _SEQUENCES) and isinstance(times, int):
        _check_length(len(sequence) * max(times, 0))


def _check_power(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        bits = abs(base).bit_length() * exponent
        if bits > MAX_POWER_BITS:
            raise TemplateTooLarge(f"template value too large: {base} ** {exponent} (at most {MAX_POWER_BITS} bits)")


def render_capped(compiled: jinja2.Template, context: Mapping[str, Any]) -> str:
    """Renders chunk by chunk, stopping as soon as the output passes MAX_RENDERED_CHARS."""
    chunks: list[str] = []
    length = 0
    for chunk in compiled.generate(context):
        length += len(chunk)
        if length > MAX_RENDERED_CHARS:
            raise TemplateTooLarge(f"template output too large: over {MAX_RENDERED_CHARS} characters")
        chunks.append(chunk)
    return "".join(chunks)

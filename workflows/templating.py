"""Renders task template strings (Jinja2 in a sandbox, plus Qualtrics-style piped text) deterministically."""

from __future__ import annotations

import contextvars
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import missing as _MISSING

from services.common.template_sandbox import (
    MAX_POWER_BITS,
    MAX_RENDERED_CHARS,
    CappedSandboxedEnvironment,
    TemplateTooLarge,
    render_capped,
)

# Qualtrics piped-text tokens for contact fields -> the contact key a template reads.
_QUALTRICS_CONTACT_FIELDS = {
    "FirstName": "firstName",
    "LastName": "lastName",
    "Email": "email",
    "PhoneNumber": "phone",
    "ExternalDataReference": "extRef",
    "Language": "language",
}
_QUALTRICS_CONTACT_TOKEN = re.compile(r"\$\{m://(" + "|".join(_QUALTRICS_CONTACT_FIELDS) + r")\}")
_QUALTRICS_FIELD_TOKEN = re.compile(r"\$\{e://Field/([^}]+)\}")

_TEMPLATE_CACHE_SIZE = 512
__all__ = ["MAX_POWER_BITS", "MAX_RENDERED_CHARS", "RenderedText", "TemplateError", "TemplateTooLargeError",
           "UnsafeTemplateError", "render_template", "translate_qualtrics_tokens"]


class TemplateError(Exception):
    """A template that cannot be rendered: bad syntax, or a failure while rendering."""


class UnsafeTemplateError(TemplateError):
    """A template that tried to reach outside its data (e.g. `{{ ''.__class__.__mro__ }}`)."""


class TemplateTooLargeError(TemplateError):
    """A template whose output or intermediate values would exceed the size caps (e.g. `{{ 'a' * 10**9 }}`)."""


@dataclass(frozen=True)
class RenderedText:
    text: str
    missing: list[str] = field(default_factory=list)  # dotted names that rendered empty, e.g. "contact.firstName"


@dataclass
class _Render:
    """What one render call records: the dotted path of every container in its context, and the misses."""

    paths: dict[int, str]
    missing: list[str] = field(default_factory=list)


# Rendering is synchronous, so a context variable safely hands the current render to _RecordingUndefined.
_current_render: contextvars.ContextVar[_Render | None] = contextvars.ContextVar("cxflow_template_render", default=None)


class _RecordingUndefined(jinja2.ChainableUndefined):
    """Renders as empty text and records its dotted name; lookups on it chain with the longer name."""

    __slots__ = ()

    def _dotted_name(self) -> str:
        name = str(self._undefined_name) if self._undefined_name is not None else "?"
        if self._undefined_obj is _MISSING:
            return name
        render = _current_render.get()
        parent = render.paths.get(id(self._undefined_obj)) if render else None
        return f"{parent}.{name}" if parent else name

    def _is_unsafe(self) -> bool:
        return self._undefined_exception is not jinja2.UndefinedError

    def _chain(self, name: Any) -> _RecordingUndefined:
        if self._is_unsafe():
            self._fail_with_undefined_error()
        return type(self)(name=f"{self._dotted_name()}.{name}")

    def __getattr__(self, name: str) -> Any:
        if name[:2] == "__":
            raise AttributeError(name)
        return self._chain(name)

    def __getitem__(self, key: Any) -> _RecordingUndefined:
        return self._chain(key)

    def __str__(self) -> str:
        if self._is_unsafe():
            # The sandbox's "unsafe attribute" undefined would otherwise render as empty text.
            self._fail_with_undefined_error()
        render = _current_render.get()
        if render is not None:
            render.missing.append(self._dotted_name())
        return ""

    def __html__(self) -> str:
        return str(self)


class _DataEnvironment(CappedSandboxedEnvironment):
    """A sandbox where `a.b` on a mapping means its key "b" when it has one.

    Events are JSON: `event.properties.items` must be the "items" property, not dict.items.
    Its `*`, `**` and `+` refuse results over the size caps before building them (services/common/template_sandbox.py).
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping):
            try:
                if attribute in obj:
                    return obj[attribute]
            except TypeError:
                pass
        return super().getattr(obj, attribute)


def _environment(autoescape: bool) -> SandboxedEnvironment:
    env = _DataEnvironment(autoescape=autoescape, undefined=_RecordingUndefined, keep_trailing_newline=True)
    # Runs render inside Temporal workflows, where output must be the same on every replay.
    env.filters.pop("random", None)
    env.globals.pop("lipsum", None)
    return env


_TEXT_ENV = _environment(autoescape=False)
_JINJA_MARKERS = ("{{", "{%", "{#")
_HTML_ENV = _environment(autoescape=True)


def _jinja_literal(value: str) -> str:
    # JSON string syntax (ASCII, backslash escapes) is also a valid Jinja string literal.
    return json.dumps(value)


def translate_qualtrics_tokens(template: str) -> str:
    """Rewrites ${m://FirstName} and ${e://Field/key} tokens into the Jinja expressions they mean."""

    def contact_field(match: re.Match[str]) -> str:
        return "{{ contact." + _QUALTRICS_CONTACT_FIELDS[match.group(1)] + " }}"

    def embedded_field(match: re.Match[str]) -> str:
        key = _jinja_literal(match.group(1))
        # Embedded data first, the trigger's mapped field second; a miss is reported under embeddedData.
        return (
            f"{{{{ fields[{key}] if contact.embeddedData[{key}] is not defined and fields[{key}] is defined "
            f"else contact.embeddedData[{key}] }}}}"
        )

    return _QUALTRICS_FIELD_TOKEN.sub(embedded_field, _QUALTRICS_CONTACT_TOKEN.sub(contact_field, template))


@functools.lru_cache(maxsize=_TEMPLATE_CACHE_SIZE)
def _compile(template: str, html: bool) -> jinja2.Template:
    env = _HTML_ENV if html else _TEXT_ENV
    try:
        return env.from_string(translate_qualtrics_tokens(template))
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template syntax error on line {exc.lineno}: {exc.message}") from None


def _container_paths(context: Mapping[str, Any]) -> dict[int, str]:
    """id(dict or list) -> its dotted path in the context, so a missing key can be named in full."""
    paths: dict[int, str] = {}
    stack: list[tuple[str, Any]] = [(str(k), v) for k, v in context.items()]
    while stack:
        path, value = stack.pop()
        if isinstance(value, Mapping):
            children = value.items()
        elif isinstance(value, (list, tuple)):
            children = enumerate(value)
        else:
            continue
        if id(value) in paths:
            continue
        paths[id(value)] = path
        stack.extend((f"{path}.{k}", v) for k, v in children)
    return paths


def render_template(template: str, context: Mapping[str, Any], *, html: bool = False) -> RenderedText:
    """Renders one template string; undefined values render empty and are listed in `missing`.

    html=True autoescapes substituted values (for HTML email bodies). Raises TemplateError for bad
    syntax or a failing expression, UnsafeTemplateError for attempts to escape the sandbox,
    TemplateTooLargeError for output (or a value built on the way) over MAX_RENDERED_CHARS.
    Text without template syntax comes back unchanged; in a template with expressions, Jinja
    turns every line ending into "\\n".
    """
    if not any(marker in template for marker in (*_JINJA_MARKERS, "${")):
        # Plain text stays byte for byte (Jinja would normalise its line endings).
        return RenderedText(text=template)
    compiled = _compile(template, html)
    render = _Render(paths=_container_paths(context))
    token = _current_render.set(render)
    try:
        text = render_capped(compiled, context)
    except TemplateTooLarge as exc:
        raise TemplateTooLargeError(str(exc)) from None
    except TemplateError:
        raise
    except jinja2.exceptions.SecurityError as exc:
        raise UnsafeTemplateError(f"unsafe template: {exc}") from None
    except jinja2.TemplateError as exc:
        raise TemplateError(f"template error: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - e.g. {{ 1 / 0 }}: the template's fault, not the caller's
        raise TemplateError(f"template error: {type(exc).__name__}: {exc}") from None
    finally:
        _current_render.reset(token)
    return RenderedText(text=text, missing=list(dict.fromkeys(render.missing)))

"""Template sandbox: workflow task templates and survey templates refuse attribute, import and size escapes alike."""

from __future__ import annotations

import pytest

from services.common.template_sandbox import MAX_RENDERED_CHARS
from services.notification.models import SurveyDistribution
from services.notification.surveys import (
    InvalidTemplate,
    SurveyInvitation,
    _html_templates,
    _text_templates,
    render,
    survey_url,
    validate_invitation,
    validate_survey,
)
from workflows.templating import TemplateError, TemplateTooLargeError, UnsafeTemplateError, render_template

WORKFLOW_CONTEXT = {"contact": {"firstName": "Ada", "embeddedData": {"tier": "gold"}, "tags": ["a"]}, "event": {"type": "track"}}

# Classic server-side template injection payloads: each reaches for Python objects behind the template's data.
ATTRIBUTE_ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "{{ (1).__class__.__base__.__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__.os }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ self.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ ''|attr('__class__') }}",
    "{{ ''['__class__'] }}",
    "{{ '{0.__class__}'.format(1) }}",
    "{{ '%s'|format(''.__class__) }}",
    "{% set x = ''.__class__ %}{{ x }}",
    "{% for c in ().__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ range(10).__iter__ }}",
    "{{ ''.join.__call__ }}",
    "{{ 'a'.__len__() }}",
]
# Jinja's import, include and extends load templates through a loader; sandboxed templates have none.
IMPORT_ESCAPES = [
    "{% import os %}",
    "{% import 'os' as os %}{{ os }}",
    "{% from 'os' import popen %}{{ popen }}",
    "{% include '/etc/passwd' %}",
    "{% extends '/etc/passwd' %}",
]
# Changing the data a template is given (the run's contact, the event) is refused too.
MUTATIONS = ["{{ contact.tags.append('x') }}", "{{ contact.embeddedData.update(tier='x') }}", "{{ contact.tags.pop() }}"]
SIZE_ESCAPES = [
    "{{ 'a' * 10**9 }}",
    "{{ 'a' * 999999 }}{{ 'a' * 999999 }}",
    "{{ 9 ** 9999999 }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
]
# What a successful escape would print: none of it may ever reach a rendered text.
LEAK_MARKERS = ("<class", "<module", "<function", "<built-in", "__globals__", "subclasses", "root:")


@pytest.mark.parametrize("template", ATTRIBUTE_ESCAPES + MUTATIONS)
def test_workflow_templates_refuse_attribute_escapes(template: str) -> None:
    with pytest.raises(UnsafeTemplateError):
        render_template(template, WORKFLOW_CONTEXT)
    with pytest.raises(UnsafeTemplateError):
        render_template(template, WORKFLOW_CONTEXT, html=True)


@pytest.mark.parametrize("template", IMPORT_ESCAPES)
def test_workflow_templates_refuse_imports(template: str) -> None:
    with pytest.raises(TemplateError):
        render_template(template, WORKFLOW_CONTEXT)


@pytest.mark.parametrize("template", SIZE_ESCAPES)
def test_workflow_templates_refuse_oversized_values(template: str) -> None:
    with pytest.raises(TemplateTooLargeError):
        render_template(template, WORKFLOW_CONTEXT)


def test_globals_removed_for_determinism_cannot_be_reached_through_undefined() -> None:
    # lipsum is removed from the workflow sandbox; what is left of it is an undefined value that renders empty.
    assert render_template("{{ lipsum.__globals__ }}", WORKFLOW_CONTEXT).text == ""


def _survey_distribution() -> SurveyDistribution:
    return SurveyDistribution(
        id="SD_1", contact_id="CID_1", run_id="run-1", email="ada@example.com", first_name="Ada", last_name="L"
    )


@pytest.mark.parametrize("template", ATTRIBUTE_ESCAPES + IMPORT_ESCAPES + SIZE_ESCAPES)
def test_survey_url_templates_refuse_escapes(template: str) -> None:
    with pytest.raises(InvalidTemplate):
        validate_survey("Escape", "https://survey.example.com/" + template)
    with pytest.raises(InvalidTemplate):
        survey_url("https://survey.example.com/?c={{ contact_id }}" + template, _survey_distribution())


@pytest.mark.parametrize("template", ATTRIBUTE_ESCAPES + IMPORT_ESCAPES + SIZE_ESCAPES)
def test_survey_invitation_templates_refuse_escapes(template: str) -> None:
    """Subjects and bodies parse at validation; rendering them (per contact) refuses the escape as an InvalidTemplate."""
    values = {"link": "https://cx.example.com/s/t", "first_name": "Ada", "survey_name": "NPS", "expires_at": "later"}
    for environment in (_text_templates, _html_templates):
        with pytest.raises(InvalidTemplate):
            render(environment, template, values, "text_template")


def test_survey_invitation_templates_with_bad_syntax_are_refused_up_front() -> None:
    invitation = SurveyInvitation(
        idempotency_key="run-1/0", survey_id="SV_1", contact_id="CID_1", email="ada@example.com", text_template="{% import os %}"
    )
    with pytest.raises(InvalidTemplate):
        validate_invitation(invitation)


@pytest.mark.parametrize("template", ATTRIBUTE_ESCAPES + IMPORT_ESCAPES + MUTATIONS)
def test_no_escape_ever_renders_python_internals(template: str) -> None:
    renderers = (
        lambda t: render_template(t, WORKFLOW_CONTEXT).text,
        lambda t: survey_url("https://s.example.com/" + t, _survey_distribution()),
    )
    for renderer in renderers:
        try:
            text = renderer(template)
        except (TemplateError, InvalidTemplate):
            continue
        assert not any(marker in text for marker in LEAK_MARKERS), (template, text)


def test_survey_output_cap_is_the_workflow_cap() -> None:
    assert len(render(_text_templates, "{{ 'a' * n }}", {"n": MAX_RENDERED_CHARS}, "subject")) == MAX_RENDERED_CHARS
    with pytest.raises(InvalidTemplate, match="too large"):
        render(_text_templates, "{{ 'a' * n }}!", {"n": MAX_RENDERED_CHARS}, "subject")

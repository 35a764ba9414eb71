"""Task templates: Jinja in a sandbox, Qualtrics piped text, missing values reported, escapes refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflows.templating import (
    MAX_RENDERED_CHARS,
    RenderedText,
    TemplateError,
    TemplateTooLargeError,
    UnsafeTemplateError,
    render_template,
)

CONTEXT = {
    "contact": {
        "firstName": "Ada",
        "lastName": "Lovelace",
        "email": "ada@example.com",
        "phone": "+4420123",
        "extRef": "u-1",
        "language": "EN",
        "embeddedData": {"tier": "gold", "points": 3},
    },
    "fields": {"plan": "pro", "tier": "silver"},
    "event": {"type": "identify", "items": [{"sku": "A1"}]},
    "run": {"runId": "run-1"},
    "tasks": [{"messageId": "<m1@x>"}],
}


def test_renders_jinja_expressions_over_the_context() -> None:
    rendered = render_template("Welcome, {{ contact.firstName }}! ({{ event.items[0].sku }}, {{ tasks[0].messageId }})", CONTEXT)
    assert rendered == RenderedText(text="Welcome, Ada! (A1, <m1@x>)", missing=[])


def test_qualtrics_contact_tokens_mean_the_contact_fields() -> None:
    template = "${m://FirstName} ${m://LastName} ${m://Email} ${m://PhoneNumber} ${m://ExternalDataReference} ${m://Language}"
    assert render_template(template, CONTEXT).text == "Ada Lovelace ada@example.com +4420123 u-1 EN"


def test_qualtrics_field_token_reads_embedded_data_then_mapped_fields() -> None:
    rendered = render_template("${e://Field/tier} ${e://Field/points} ${e://Field/plan} [${e://Field/unknown}]", CONTEXT)
    # embedded data wins over a mapped field of the same name; "plan" only exists as a mapped field
    assert rendered.text == "gold 3 pro []"
    assert rendered.missing == ["contact.embeddedData.unknown"]


def test_qualtrics_field_token_keeps_odd_keys_literal() -> None:
    context = {"contact": {"embeddedData": {'Plan "B" name': "x"}}, "fields": {}}
    assert render_template('${e://Field/Plan "B" name}', context).text == "x"


def test_missing_values_render_empty_and_are_named() -> None:
    rendered = render_template("Hi {{ contact.nickname }}{{ fields.nope.deeper }}{{ event.items[5] }}{{ nothing }}!", CONTEXT)
    assert rendered.text == "Hi !"
    assert rendered.missing == ["contact.nickname", "fields.nope.deeper", "event.items.5", "nothing"]


def test_a_json_key_wins_over_a_dict_method_of_the_same_name() -> None:
    context = {"event": {"properties": {"items": ["a", "b"], "total": 2}}}
    assert render_template("{{ event.properties.items | join(',') }}", context).text == "a,b"
    loop = "{% for k, v in event.properties.items() %}{{ k }}={{ v }};{% endfor %}"
    assert render_template(loop, {"event": {"properties": {"total": 2}}}).text == "total=2;"


def test_missing_names_are_reported_once() -> None:
    assert render_template("{{ x }}{{ x }}", {}).missing == ["x"]


def test_a_default_or_a_test_is_not_a_missing_value() -> None:
    rendered = render_template("{{ contact.nickname | default('friend') }}{% if contact.title %}!{% endif %}", CONTEXT)
    assert rendered == RenderedText(text="friend", missing=[])


def test_html_mode_escapes_substituted_values_only() -> None:
    context = {"contact": {"firstName": "<script>alert(1)</script>"}}
    html = render_template("<p>Hi {{ contact.firstName }}</p>", context, html=True)
    assert html.text == "<p>Hi &lt;script&gt;alert(1)&lt;/script&gt;</p>"
    text = render_template("Hi {{ contact.firstName }}", context)
    assert text.text == "Hi <script>alert(1)</script>"


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ contact.__class__.__subclasses__() }}",
        "{{ run.items.__self__ }}",
    ],
)
def test_sandbox_escapes_are_refused(template: str) -> None:
    with pytest.raises(UnsafeTemplateError, match="unsafe"):
        render_template(template, CONTEXT)


def test_unsafe_template_error_is_a_template_error() -> None:
    assert issubclass(UnsafeTemplateError, TemplateError)


@pytest.mark.parametrize("template", ["{{ contact.firstName", "{% for x in %}", "{% endif %}"])
def test_syntax_errors_raise_template_error_with_the_message(template: str) -> None:
    with pytest.raises(TemplateError, match="syntax error"):
        render_template(template, CONTEXT)


@pytest.mark.parametrize("template", ["{{ 1 / 0 }}", '{% include "other" %}', "{{ range(10**9) | list }}", "{{ undefined_function() }}"])
def test_failing_expressions_raise_template_error(template: str) -> None:
    with pytest.raises(TemplateError):
        render_template(template, CONTEXT)


def test_nondeterministic_helpers_are_not_available() -> None:
    # Runs render inside workflows; a random value would differ on replay.
    with pytest.raises(TemplateError):
        render_template("{{ [1, 2] | random }}", {})
    with pytest.raises(TemplateError):
        render_template("{{ lipsum() }}", {})


_PLAIN_TEXT = st.text().filter(lambda s: not any(marker in s for marker in ("{{", "{%", "{#", "${")))


@given(_PLAIN_TEXT)
def test_text_without_template_syntax_renders_to_itself(text: str) -> None:
    assert render_template(text, CONTEXT) == RenderedText(text=text, missing=[])


@given(st.text())
def test_values_are_substituted_verbatim_in_text_mode(value: str) -> None:
    assert render_template("{{ v }}", {"v": value}).text == value


@given(st.text())
def test_html_mode_never_lets_markup_through(value: str) -> None:
    rendered = render_template("{{ v }}", {"v": value}, html=True).text
    assert "<" not in rendered and ">" not in rendered and '"' not in rendered


@given(st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,15}", fullmatch=True))
def test_any_missing_field_is_reported_by_its_dotted_name(name: str) -> None:
    rendered = render_template(f"{{{{ contact.embeddedData.{name} }}}}", {"contact": {"embeddedData": {}}})
    assert rendered == RenderedText(text="", missing=[f"contact.embeddedData.{name}"])


@pytest.mark.parametrize(
    "template",
    [
        "{{ 'a' * 10**9 }}",  # one operator building a gigabyte
        "{{ 10**9 * 'a' }}",
        "{{ [0] * 10**8 }}",
        "{{ 2 ** 1000000 }}",  # a million-bit integer
        "{{ ('a' * 900000) + ('a' * 900000) }}",
        "{% for i in range(100000) %}{{ 'abcdefghijk' }}{% endfor %}",  # each piece small, the output not
    ],
)
def test_templates_cannot_build_huge_values(template: str) -> None:
    with pytest.raises(TemplateTooLargeError, match="too large"):
        render_template(template, {})


def test_ordinary_arithmetic_and_repetition_still_work() -> None:
    rendered = render_template("{{ 2 ** 10 }} {{ '-' * 3 }} {{ 3 * 4 }} {{ 1 + 2 }} {{ 1.5 ** 2 }} {{ [1] + [2] }}", {})

    assert rendered.text == "1024 --- 12 3 2.25 [1, 2]"


def test_output_up_to_the_cap_renders() -> None:
    assert len(render_template("{{ 'a' * n }}", {"n": MAX_RENDERED_CHARS}).text) == MAX_RENDERED_CHARS

"""Rendering (signatures/rendering.py): values and templates that try to escape the sandbox, the default
templates, and the template checks that explain problems in words."""
import time

import jinja2
import jinja2.meta
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from signatures import emailsafe, rendering
from tests.signatures.conftest import BASELINE, ParsedPage, assert_inert
from tests.signatures.injection_corpus import MALICIOUS_VALUES

TEMPLATE_NAMES = sorted(rendering.DEFAULT_TEMPLATES)
LEAK_MARKERS = (
    "<class", "object at 0x", "Undefined", "TemplateReference", "jinja2", "__globals__", "<built-in"
)


def _words(text):
    return " ".join(text.split())


def _text_keys(html_source):
    """The placeholders a template shows as visible text, found by rendering a marker in each."""
    keys = set()
    for key in BASELINE:
        marker = "Zq9Marker"
        html = rendering.render_signature(html_source, {**BASELINE, key: marker}).html
        if marker in ParsedPage(html).visible_text:
            keys.add(key)
    return keys


TEXT_KEYS = {name: _text_keys(rendering.DEFAULT_TEMPLATES[name][0]) for name in TEMPLATE_NAMES}


def test_text_keys_cover_the_people_fields():
    # Guards the corpus test below: it checks visibility only for these keys.
    people_fields = {"display_name", "job_title", "department", "company", "phone", "mobile", "fax", "email",
                     "street", "city", "postal_code", "country"}  # fmt: skip
    for name in TEMPLATE_NAMES:
        assert people_fields <= TEXT_KEYS[name], (name, people_fields - TEXT_KEYS[name])


@pytest.mark.parametrize("template_name", TEMPLATE_NAMES)
@pytest.mark.parametrize(
    ("value_name", "value"), MALICIOUS_VALUES, ids=[name for name, _ in MALICIOUS_VALUES]
)
def test_malicious_value_in_every_placeholder_renders_as_inert_text(template_name, value_name, value):
    html_source, text_source = rendering.DEFAULT_TEMPLATES[template_name]
    baseline_html = rendering.render_signature(html_source, BASELINE).html
    for key in BASELINE:
        result = rendering.render_signature(html_source, {**BASELINE, key: value}, text_source=text_source)
        assert_inert(result.html)
        shown = _words(rendering.clean_value(value))
        if key in TEXT_KEYS[template_name]:
            # the HTML templates show the website without its scheme; the text templates show it whole
            in_html = shown.replace("https://", "").replace("http://", "") if key == "org_website" else shown
            assert in_html in _words(ParsedPage(result.html).visible_text), (key, result.html)
            assert shown in _words(result.text), (key, result.text)
        if "49" not in value and "49" not in baseline_html:
            assert "49" not in result.html and "49" not in result.text, key
        for marker in LEAK_MARKERS:
            assert marker not in result.html and marker not in result.text, (key, marker)


def test_corpus_is_large_enough_and_named_uniquely():
    names = [name for name, _ in MALICIOUS_VALUES]
    assert len(names) >= 30 and len(set(names)) == len(names)


def test_job_title_with_script_shows_escaped_text():
    template = "<table><tr><td>{{ job_title }}</td></tr></table>"
    result = rendering.render_signature(template, {"job_title": "<script>alert(1)</script>"})
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in result.html
    assert result.text == "<script>alert(1)</script>"


def test_template_syntax_in_a_value_is_not_evaluated():
    template = "<p>{{ job_title }}</p>"
    values = {"job_title": "{{7*7}} {% debug %}"}
    result = rendering.render_signature(template, values, text_source="{{ job_title }}")
    assert "{{7*7}} {% debug %}" in result.html
    assert result.text == "{{7*7}} {% debug %}"


MALICIOUS_TEMPLATES = [
    ("class_of_string", "{{ ''.__class__ }}"),
    ("mro", "{{ x.__class__.__mro__ }}"),
    ("self", "{{ self }}"),
    ("cycler_globals", "{{ cycler.__init__.__globals__ }}"),
    ("huge_range_loop", "{% for i in range(10**9) %}x{% endfor %}"),
    ("string_times_billion", "{{ 'a' * 10**9 }}"),
    ("value_times_large", "{{ (first_name ~ first_name) * 100000 }}"),
    ("huge_power", "{{ 2 ** 100000 }}"),
    ("percent_padding", "{{ '%999999999s' % first_name }}"),
    ("include", "{% include 'x' %}"),
    ("extends", "{% extends 'base' %}"),
    ("import", "{% import 'x' as y %}"),
    ("attr_filter", "{{ first_name|attr('__class__') }}"),
    ("format_method", "{{ first_name.format }}"),
    ("format_call", "{{ '{0:>999999999}'.format(first_name) }}"),
    ("subscript_dunder", "{{ first_name['__class__'] }}"),
    ("subscript_dynamic", "{{ first_name[job_title] }}"),
    ("safe_filter", "{{ job_title|safe }}"),
    ("autoescape_off", "{% autoescape false %}{{ job_title }}{% endautoescape %}"),
    ("set", "{% set x = first_name ~ first_name %}{{ x }}"),
    ("macro", "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}"),
    ("lipsum", "{{ lipsum(10**6) }}"),
    ("range_call", "{{ range(10) }}"),
    ("dict_call", "{{ dict(a=1) }}"),
    ("join_attribute", "{{ [first_name]|join(attribute='__class__') }}"),
    ("map_filter", "{{ [first_name]|map('upper')|list }}"),
    ("replace_blowup", "{{ first_name|replace('', first_name * 1000) }}"),
    ("callable_test", "{{ first_name is callable }}"),
    ("output_flood", "{{ 'x' * 19000 }}" * 6),
    ("work_flood", "{{ " + " ~ ".join(["(first_name * 6000)|lower"] * 20) + " }}"),
    ("block_recursion", "{% block a %}{{ self.a() }}{% endblock %}"),
]
CONTAINED_TEMPLATES = [
    ("config", "{{ config }}"),
    ("joiner_global", "{{ joiner }}"),
    ("request", "{{ request }}"),
    ("settings", "{{ settings }}"),
]


@pytest.mark.parametrize(("name", "template"), MALICIOUS_TEMPLATES, ids=[n for n, _ in MALICIOUS_TEMPLATES])
def test_malicious_template_is_refused(name, template):
    started = time.monotonic()
    with pytest.raises(rendering.TemplateProblemError) as excinfo:
        rendering.render_signature(template, {**BASELINE, "job_title": "format"})
    assert time.monotonic() - started < 2  # a guard against hangs, not a performance target
    message = str(excinfo.value)
    assert excinfo.value.problems and message
    for marker in ("<class", "object at", "0x", "jinja2", "TemplateReference", "Undefined"):
        assert marker not in message


@pytest.mark.parametrize(("name", "template"), CONTAINED_TEMPLATES, ids=[n for n, _ in CONTAINED_TEMPLATES])
def test_unknown_names_render_empty_and_are_reported(name, template):
    started = time.monotonic()
    result = rendering.render_signature(template, BASELINE)
    assert time.monotonic() - started < 2
    assert result.html == "" and result.text == ""
    [problem] = rendering.check_template(template)
    assert not problem.is_blocking and "not a known placeholder" in problem.message


def test_security_refusal_says_not_allowed():
    with pytest.raises(rendering.TemplateProblemError, match="not allowed in a signature template"):
        rendering.render_signature("{{ first_name.__class__ }}", BASELINE)
    with pytest.raises(rendering.TemplateProblemError, match="not allowed in a signature template"):
        rendering.render_signature("<p>{{ first_name[job_title] }}</p>", {**BASELINE, "job_title": "format"})


def test_runtime_refusal_reports_its_line():
    with pytest.raises(rendering.TemplateProblemError) as excinfo:
        rendering.render_signature("<p>a</p>\n<p>b</p>\n{{ 'a' * 10**9 }}", BASELINE)
    assert excinfo.value.problems[0].line == 3


@pytest.mark.parametrize("template_name", TEMPLATE_NAMES)
def test_mobile_line_appears_only_when_mobile_is_set(template_name):
    html_source, text_source = rendering.DEFAULT_TEMPLATES[template_name]
    with_mobile = rendering.render_signature(html_source, BASELINE, text_source=text_source)
    without = rendering.render_signature(html_source, {**BASELINE, "mobile": ""}, text_source=text_source)
    assert "tel:+447700900123" in with_mobile.html and "+44 7700 900123" in with_mobile.text
    assert "7700" not in without.html and "7700" not in without.text
    assert len(without.text.splitlines()) == len(with_mobile.text.splitlines()) - 1


@pytest.mark.parametrize("template_name", TEMPLATE_NAMES)
def test_optional_parts_disappear_when_empty(template_name):
    html_source, text_source = rendering.DEFAULT_TEMPLATES[template_name]
    minimal = {"display_name": "Ada Lovelace", "email": "ada@contoso.example"}
    result = rendering.render_signature(html_source, minimal, text_source=text_source)
    assert "<img" not in result.html and "tel:" not in result.html
    expected = {
        "classic": "Ada Lovelace\n\nE ada@contoso.example",
        "modern": "Ada Lovelace\n------------------------------\nemail   ada@contoso.example",
    }
    assert result.text == expected[template_name]
    assert_inert(result.html)


@pytest.mark.parametrize("template_name", TEMPLATE_NAMES)
def test_default_templates_are_clean_and_email_safe(template_name):
    html_source, text_source = rendering.DEFAULT_TEMPLATES[template_name]
    assert rendering.check_template(html_source) == []
    assert rendering.check_template(text_source, text=True) == []
    result = rendering.render_signature(html_source, BASELINE, text_source=text_source)
    assert result.warnings == ()
    assert result.char_count == len(result.html) < emailsafe.GMAIL_LIMIT_CHARS
    images = [attrs for tag, attrs in ParsedPage(result.html).tags if tag == "img"]
    assert len(images) == 2
    assert all(a["width"] and a["height"] and a["src"].startswith("https://") for a in images)
    assert "<table" in result.html and "font-family:" in result.html
    assert "Ada Lovelace" in result.text and "ada@contoso.example" in result.text


def test_placeholders_are_the_employee_fields_and_the_templates_use_only_them():
    assert set(rendering.PLACEHOLDERS) == set(BASELINE)
    used = set()
    for html_source, text_source in rendering.DEFAULT_TEMPLATES.values():
        for source in (html_source, text_source):
            used |= jinja2.meta.find_undeclared_variables(jinja2.Environment().parse(source))
    assert used == set(rendering.PLACEHOLDERS)  # every field has a place in the shipped templates


def test_unknown_placeholder_is_reported_with_a_suggestion():
    problems = rendering.check_template("<p>Hi</p>\n<p>{{ frist_name }}</p>")
    assert [(p.line, p.is_blocking) for p in problems] == [(2, False)]
    assert "did you mean first_name?" in problems[0].message
    assert rendering.render_signature("<p>{{ frist_name }}</p>", BASELINE).html == "<p></p>"


def test_known_placeholders_argument_limits_the_names():
    assert rendering.check_template("{{ team }}", known_placeholders={"team"}) == []
    [problem] = rendering.check_template("{{ teem }}", known_placeholders={"team"})
    assert "did you mean team?" in problem.message


def test_unclosed_block_reports_the_line_it_opens_on():
    template = "<table>\n<tr>\n<td>\n{% if mobile %}\n{{ mobile }}\n</td></tr></table>\n"
    [problem] = rendering.check_template(template)
    assert problem.line == 4 and problem.is_blocking
    assert problem.message == "the block `{% if mobile %}` is never closed; add `{% endif %}`"
    with pytest.raises(rendering.TemplateProblemError, match="line 4: the block"):
        rendering.render_signature(template, BASELINE)


def test_mismatched_end_tag_names_the_open_block():
    [problem] = rendering.check_template("{% if mobile %}\n{{ mobile }}\n{% endfor %}")
    assert problem.line == 3
    assert "`{% if mobile %}` from line 1 needs `{% endif %}` first" in problem.message


@pytest.mark.parametrize(
    ("template", "line", "words"),
    [
        ("<p>\n{{ first_name </p>", 2, "never closed with `}}`"),
        ("<p>\n{{ first_name", 2, "never closed with `}}`"),
        ("<p>\n{% if mobile </p>{% endif %}", 2, "never closed with `%}`"),
        ("{% frobnicate %}", 1, "is not a known tag"),
        ("{% endif %}", 1, "has no matching `{% if %}`"),
        ("a\n{{ first_name|uper }}", 2, "did you mean `upper`?"),
        ("{# note", 1, "never closed with `#}`"),
        ("{{ first name }}", 1, "`}}`"),
    ],
)
def test_syntax_errors_are_explained_in_words(template, line, words):
    [problem] = rendering.check_template(template)
    assert problem.line == line and problem.is_blocking
    assert words in problem.message


def test_text_template_is_not_html_escaped():
    result = rendering.render_signature(
        "<p>{{ department }}</p>", {"department": "R&D <Labs>"}, text_source="{{ department }}\n\n\n\nend  "
    )
    assert "R&amp;D &lt;Labs&gt;" in result.html
    assert result.text == "R&D <Labs>\n\nend"


def test_text_template_gets_the_same_sandbox():
    with pytest.raises(rendering.TemplateProblemError, match="not allowed"):
        rendering.render_signature("<p>x</p>", BASELINE, text_source="{{ first_name.__class__ }}")


@pytest.mark.parametrize("bad", [1, None, ["a"], Markup("<b>x</b>"), b"bytes"])
def test_non_string_context_values_raise_type_error(bad):
    with pytest.raises(TypeError):
        rendering.render_signature("<p>{{ job_title }}</p>", {**BASELINE, "job_title": bad})


def test_values_lose_control_and_bidi_override_characters():
    assert rendering.clean_value("Ada\x00\u202eLovelace\u200d") == "AdaLovelace\u200d"
    assert len(rendering.clean_value("A" * 5_000)) == rendering.MAX_VALUE_CHARS


def test_oversized_template_is_refused():
    [problem] = rendering.check_template("x" * (rendering.MAX_SOURCE_CHARS + 1))
    assert problem.is_blocking and "100,000" in problem.message


def test_allowed_features_still_work():
    template = (
        "{% filter upper %}{{ first_name }}{% endfilter %}|{{ last_name|lower }}|{{ job_title|truncate(9) }}|"
        "{{ fax|default('none', true) }}|{{ [city, '', country]|select|join(', ') }}|{{ mobile[0:3] }}|"
        "{% if department == 'Research' %}R{% elif department %}D{% else %}-{% endif %}|{{ 2 ** 10 }}"
    )
    html = rendering.render_signature(template, {**BASELINE, "fax": ""}).html
    assert html == "ADA|lovelace|Head...|none|London, United Kingdom|+44|R|1024"


@pytest.mark.parametrize(
    "template",
    [
        "{{ " + "(" * 3000 + "first_name" + ")" * 3000 + " }}",
        "{{ first_name" + "|upper" * 5000 + " }}",
        "{{ " + " + ".join(["first_name"] * 3000) + " }}",
        "{% if first_name %}" * 400 + "x" + "{% endif %}" * 400,
    ],
    ids=["parentheses", "filters", "operators", "ifs"],
)
def test_deeply_nested_template_is_a_problem_not_a_crash(template):
    with pytest.raises(rendering.TemplateProblemError, match="too deeply"):
        rendering.render_signature(template, BASELINE)


def test_value_cannot_break_out_of_a_style_block_or_an_unquoted_attribute():
    template = (
        "<style>td { color: {{ job_title }} }</style>"
        "<table><tr><td><a href={{ org_website }}>{{ org_name }}</a></td></tr></table>"
    )
    values = {
        **BASELINE,
        "job_title": "red}</style><script>alert(1)</script><style>",
        "org_website": "https://contoso.example onmouseover=alert(1)",
    }
    html = rendering.render_signature(template, values).html
    assert_inert(html)
    assert "alert" not in html


@settings(max_examples=150, deadline=None)
@given(key=st.sampled_from(sorted(BASELINE)), value=st.text(max_size=300))
def test_any_value_in_any_placeholder_renders_inert(key, value):
    for html_source, text_source in rendering.DEFAULT_TEMPLATES.values():
        result = rendering.render_signature(html_source, {**BASELINE, key: value}, text_source=text_source)
        assert_inert(result.html)


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(
        st.sampled_from([*"{}%#()[]|.'\"~*+<>/=!_ \nafilmnorstxy019", "first_name", "if ", "endif", "else"]),
        max_size=40,
    )
)
def test_any_template_renders_or_reports_a_problem(pieces):
    template = "".join(pieces)
    try:
        result = rendering.render_signature(template, BASELINE)
    except rendering.TemplateProblemError as exc:
        assert exc.problems
    else:
        assert_inert(result.html)

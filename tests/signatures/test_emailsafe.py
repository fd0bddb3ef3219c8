"""Email safety (signatures/emailsafe.py) seen through rendering: CSS inlined and allowlisted, markup
sanitised, plain text made from the HTML, and the warnings for what email clients drop or mangle."""
import pytest

from signatures import emailsafe, rendering
from tests.signatures.conftest import BASELINE, ParsedPage, assert_inert


def test_style_block_is_inlined_and_removed():
    template = (
        "<style>.name { color: #ff0000; font-weight: bold } td { padding: 4px }</style>"
        '<table><tr><td class="name">{{ first_name }}</td></tr></table>'
    )
    result = rendering.render_signature(template, BASELINE)
    assert "<style" not in result.html and "class=" not in result.html
    [style] = [attrs["style"] for tag, attrs in ParsedPage(result.html).tags if tag == "td"]
    assert sorted(style.split(";")) == ["color:#ff0000", "font-weight:bold", "padding:4px"]
    assert any("<style> block was turned into inline styles" in w for w in result.warnings)


def test_style_block_cannot_load_remote_css_or_smuggle_urls():
    template = (
        "<style>@import url(https://evil.example/x.css);"
        " td { background: url(javascript:alert(1)); color: red }</style><table><tr><td>x</td></tr></table>"
    )
    result = rendering.render_signature(template, BASELINE)
    assert "url(" not in result.html and "evil" not in result.html
    assert '<td style="color:red">' in result.html


def test_sanitiser_strips_scripts_and_handlers_but_keeps_tables_and_styles():
    template = (
        '<table cellpadding="0" style="border-collapse:collapse"><tr>'
        '<td style="color:#333333" onclick="alert(1)">{{ first_name }}<script>alert(1)</script></td>'
        '<td><a href="javascript:alert(1)" onmouseover="x">bad</a><a href="https://ok.example">ok</a></td>'
        "</tr></table><iframe src='https://evil.example'></iframe>"
    )
    html = rendering.render_signature(template, BASELINE).html
    assert_inert(html)
    assert '<table cellpadding="0" style="border-collapse:collapse">' in html
    assert '<td style="color:#333333">Ada</td>' in html
    assert 'href="https://ok.example"' in html and "alert" not in html


@pytest.mark.parametrize(
    ("style", "kept"),
    [
        ("color:red; position:fixed; top:0", "color:red"),
        ("width:expression(alert(1)); color:blue", "color:blue"),
        ("background:url(https://x.example/a.png); font-size:12px", "font-size:12px"),
        ("display:flex; font-weight:bold", "font-weight:bold"),
        ("-moz-binding:url(x); behavior:url(x.htc); margin:0", "margin:0"),
        ("color:rgb(1, 2, 3); font-family:'Segoe UI'", "color:rgb(1, 2, 3);font-family:'Segoe UI'"),
        ("color:re\\64", None),
        ("color:var(--x)", None),
    ],
)
def test_css_declarations_are_allowlisted(style, kept):
    assert emailsafe.clean_style(style) == kept


def test_dropped_css_is_explained():
    template = '<table><tr><td style="display:flex;position:absolute;float:left">x</td></tr></table>'
    warnings = rendering.render_signature(template, BASELINE).warnings
    assert any("flex" in w for w in warnings)
    assert any("`position`" in w for w in warnings)
    assert any("`float`" in w for w in warnings)


def test_plain_text_is_generated_from_html():
    template = (
        "<table><tr><td>{{ display_name }}</td><td>{{ job_title }}</td></tr>"
        '<tr><td><a href="mailto:{{ email }}">{{ email }}</a> '
        '<a href="https://contoso.example/about">About us</a></td></tr>'
        '<tr><td><a href="https://contoso.example"><img src="https://x.example/l.png" width="1" height="1">'
        "</a>"
        "<br>   lots    of\n  space &amp; more</td></tr></table>"
    )
    text = rendering.render_signature(template, BASELINE).text
    assert text.splitlines() == [
        "Ada Lovelace",
        "Head of Analytics",
        "ada@contoso.example About us <https://contoso.example/about>",
        "https://contoso.example",
        "lots of space & more",
    ]


def test_gmail_limit_warning():
    long_template = "<table><tr><td>" + "x" * 10_500 + "</td></tr></table>"
    result = rendering.render_signature(long_template, BASELINE)
    assert result.char_count > 10_000
    assert any("10,000" in w for w in result.warnings)
    assert not any("10,000" in w for w in rendering.render_signature("<table></table>", BASELINE).warnings)


def test_image_checks():
    template = (
        '<table><tr><td><img src="/logo.png"><img src="http://x.example/a.png" width="10" height="10">'
        '<img src="data:image/png;base64,AAAA" width="1" height="1">'
        '<img src="https://x.example/logo.svg" width="1" height="1"></td></tr></table>'
    )
    result = rendering.render_signature(template, BASELINE)
    warnings = " ".join(result.warnings)
    assert "no width and height" in warnings
    assert "not an absolute https address" in warnings
    assert "loads over http" in warnings
    assert "data: URL" in warnings
    assert "SVG" in warnings
    srcs = [attrs.get("src") for tag, attrs in ParsedPage(result.html).tags if tag == "img"]
    assert srcs == [None, "http://x.example/a.png", None, "https://x.example/logo.svg"]


def test_email_client_checks_find_layout_font_and_background_problems():
    warnings = rendering.email_client_checks(
        '<link href="https://fonts.googleapis.com/css?family=Lato" rel="stylesheet">'
        '<div style="font-family:Lato;background-image:url(https://x.example/bg.png)">x</div>'
    )
    joined = " ".join(warnings)
    assert "no table layout" in joined
    assert "Web fonts" in joined
    assert "Background images" in joined
    assert "External stylesheets" in joined
    assert rendering.email_client_checks("<table><tr><td>ok</td></tr></table>") == []


def test_markup_checks_survive_odd_declarations():
    assert rendering.email_client_checks("<![foo[ x ]]><table><tr><td>y</td></tr></table>") == []
    assert emailsafe.html_to_text("<![if !mso]>x<![endif]>") == "x"

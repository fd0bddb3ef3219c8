"""In Chromium: directory values from the injection corpus never run or evaluate on any page that shows a
signature (editor preview, admin employee page, employee page, employee list), and Copy signature puts the
rendered HTML and the plain text on the clipboard."""
import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from signatures import links, rendering
from signatures.models import SignatureRule, SignatureTemplate, ensure_default_templates
from tests.factories import PASSWORD
from tests.signatures.conftest import make_employee
from tests.signatures.injection_corpus import MALICIOUS_VALUES

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# On top of the shared corpus: values that try to leave a trace a test can read (window.__pwned), in every
# context a template may put a value (text, attribute, URL).
PWN_VALUES = [
    ("pwn_script", "<script>window.__pwned = 1</script>"),
    ("pwn_img", '<img src=x onerror="window.__pwned = 2">'),
    ("pwn_attr", '" onfocus="window.__pwned = 3" autofocus x="'),
    ("pwn_svg", '"><svg onload="window.top.__pwned = 4">'),
    ("pwn_url", "javascript:window.__pwned = 5"),
    ("pwn_style", "</style><script>window.__pwned = 6</script>"),
]
VALUES = MALICIOUS_VALUES + PWN_VALUES
TEXT_FIELDS = [key for key in rendering.PLACEHOLDERS if key not in ("photo_url", "org_name", "org_website",
                                                                    "org_logo_url")]


def corpus_template(keys):
    """A template showing each value as text, in attributes and in a link, so every context is exercised."""
    rows = "".join(
        f'<tr><td title="{{{{ {k} }}}}">{{{{ {k} }}}}</td><td><a href="{{{{ {k} }}}}">{{{{ {k}|upper }}}}</a>'
        f'<img src="https://example.invalid/{{{{ {k}|urlencode }}}}.png" alt="{{{{ {k} }}}}" width="1" height="1">'
        f"</td></tr>"
        for k in keys
    )
    return f"<table>{rows}</table>"


@pytest.fixture
def corpus(organization, link):
    """Employee "corpus" holds every value (one custom field each) and gets the corpus template through a rule;
    employees "standard-N" hold the values in the standard fields and get the shipped Classic template."""
    ensure_default_templates(organization)
    fields = {f"v{i}": value for i, (_, value) in enumerate(VALUES)}
    template = SignatureTemplate.objects.create(organization=organization, name="Corpus",
                                                html=corpus_template(list(fields)))
    SignatureRule.objects.create(organization=organization, kind="department", value="Corpus", template=template)
    everything = make_employee(link, display_name="Corpus Person", department="Corpus", **fields)
    standard = []
    values = [value for _, value in VALUES]
    for start in range(0, len(values), len(TEXT_FIELDS)):
        chunk = dict(zip(TEXT_FIELDS, values[start:start + len(TEXT_FIELDS)]))
        standard.append(make_employee(link, **chunk))
    return template, everything, standard


def watch(page):
    """Record every dialog (and dismiss it) and every page error."""
    events = []
    page.on("dialog", lambda dialog: (events.append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda error: events.append(f"error: {error}"))
    return events


def assert_nothing_ran(page, events, box_selector=None):
    assert events == []
    for frame in page.frames:
        try:
            assert frame.evaluate("typeof window.__pwned") == "undefined", frame.url
        except Exception as exc:  # a sandboxed frame with no script at all cannot be evaluated: nothing ran
            if "__pwned" in str(exc):
                raise
    if box_selector:
        text = page.locator(box_selector).inner_text()
        assert "{{7*7}}" in text and "${7*7}" in text
        assert "49" not in text


def login(page, live_server, email):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("Sign in|Log in")).click()


def test_injection_corpus_runs_nowhere(live_server, browser, corpus, organization, org_admin):
    template, everything, standard = corpus
    context = browser.new_context()
    page = context.new_page()
    events = watch(page)
    try:
        # The employee's own pages: the signature is in the page's DOM here (sanitised), so this is the page
        # where a sanitiser miss would matter most; the CSP is the second wall.
        for employee in [everything, *standard]:
            access = links.issue(employee)
            page.goto(live_server.url + reverse("signatures:page_by_link", args=[links.token_for(access)]))
            expect(page.locator("#signature")).to_be_visible()
            assert_nothing_ran(page, events, "#signature" if employee is everything else None)

        login(page, live_server, "admin@acme.test")
        slug = organization.slug
        # The admin's employee pages (sandboxed iframes) and the employee list (plain Django escaping).
        for employee in (everything, standard[0]):
            page.goto(live_server.url + reverse("signatures:employee_detail", args=[slug, employee.pk]))
            expect(page.locator("#assignment-reason")).to_be_visible()
            frame = page.frame_locator("#employee-preview")
            expect(frame.locator("table").first).to_be_visible()
            assert_nothing_ran(page, events)
        text = page.frame_locator("#employee-preview").locator("body").inner_text()
        assert standard[0].fields["first_name"] in text  # the values show, as text
        page.goto(live_server.url + reverse("signatures:employee_list", args=[slug]))
        expect(page.locator("table.table")).to_contain_text(standard[0].display_name[:40])
        assert_nothing_ran(page, events)

        # The editor's live preview as the corpus employee.
        page.goto(live_server.url + reverse("signatures:template_edit", args=[slug, template.pk]))
        page.locator("#preview-search").fill("Corpus")
        expect(page.locator("#preview-who")).to_have_text("Corpus Person")
        preview = page.frame_locator("#preview-frame")
        expect(preview.locator("body")).to_contain_text("{{7*7}}")
        assert "49" not in preview.locator("body").inner_text()
        assert_nothing_ran(page, events)
    finally:
        context.close()


def test_malicious_template_is_refused_in_the_editor(live_server, page, organization, org_editor):
    events = watch(page)
    login(page, live_server, "editor@acme.test")
    page.goto(live_server.url + reverse("signatures:template_new", args=[organization.slug]))
    page.get_by_label("Name").fill("Evil")
    page.get_by_label("HTML").fill("{{ first_name.__class__.__mro__ }}{% for x in range(99999999) %}x{% endfor %}")
    expect(page.locator("#preview-problems")).to_contain_text("not allowed in a signature template")
    page.get_by_role("button", name="Save template").click()
    expect(page.locator(".error").first).to_contain_text("not allowed in a signature template")
    assert not SignatureTemplate.objects.filter(name="Evil").exists()
    assert_nothing_ran(page, events)


def test_editor_palette_and_live_preview(live_server, page, organization, org_editor, link):
    make_employee(link, display_name="Grace Hopper", first_name="Grace", mobile="+1 555 0100")
    login(page, live_server, "editor@acme.test")
    page.goto(live_server.url + reverse("signatures:template_new", args=[organization.slug]))
    html = page.get_by_label("HTML")
    html.fill("<p>Hi ")
    html.press("End")
    page.locator("[data-placeholder=first_name]").click()
    page.locator("[data-placeholder=mobile]").click(modifiers=["Shift"])
    assert html.input_value() == "<p>Hi {{ first_name }}{% if mobile %}{{ mobile }}{% endif %}"
    page.locator("#preview-search").fill("Grace")
    expect(page.locator("#preview-who")).to_have_text("Grace Hopper")
    expect(page.frame_locator("#preview-frame").locator("body")).to_contain_text("Hi Grace+1 555 0100")
    # The preview is shown only in a sandboxed frame, never in the editor's own DOM.
    assert page.locator("#preview-frame").get_attribute("sandbox") == ""
    assert page.locator("#template-editor p:has-text('Hi Grace')").count() == 0


def test_copy_button_puts_html_and_text_on_the_clipboard(live_server, browser, link):
    employee = make_employee(link, display_name="Ada Lovelace", job_title="Analyst", mobile="+44 7700 900000")
    url = live_server.url + reverse("signatures:page_by_link", args=[links.token_for(links.issue(employee))])
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    try:
        page = context.new_page()
        page.goto(url)
        payload = page.evaluate("JSON.parse(document.getElementById('signature-data').textContent)")
        page.get_by_role("button", name="Copy signature").click()
        expect(page.locator("#copy-status")).to_contain_text("Copied")
        copied = page.evaluate("""async () => {
            const [item] = await navigator.clipboard.read();
            const read = async (type) => item.types.includes(type) ? await (await item.getType(type)).text() : null;
            return {html: await read('text/html'), text: await read('text/plain'), types: item.types};
        }""")
        assert copied["text"] == payload["text"] and "Ada Lovelace" in copied["text"]
        # Chromium may prefix a <meta charset> when it writes HTML to the clipboard; the markup is otherwise ours.
        html = re.sub(r"^<meta charset=['\"]utf-8['\"]>", "", copied["html"])
        assert html == payload["html"]
        assert "Analyst" in html and "tel:+447700900000" in html
    finally:
        context.close()

"""In Chromium: an admin signs up, lands on the dashboard, invites an editor; the editor accepts the link."""
import re

import pytest
from playwright.sync_api import expect

from tenants.models import Membership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_up_invite_editor_and_accept(live_server, browser, page):
    page.goto(f"{live_server.url}/signup/")
    page.get_by_label("Email").fill("owner@northwind.test")
    page.get_by_label("Password").fill("a-long-unusual-passphrase")
    page.get_by_label("Organisation name").fill("Northwind Traders")
    page.get_by_role("button", name="Sign up").click()

    expect(page.get_by_role("heading", name="Northwind Traders")).to_be_visible()
    expect(page.get_by_role("heading", name="Link Entra ID")).to_be_visible()

    page.get_by_role("link", name="Members").click()
    page.get_by_label("Email").fill("editor@northwind.test")
    page.get_by_label("Role", exact=True).select_option("editor")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text("Invitation sent to editor@northwind.test")).to_be_visible()
    link = page.locator("#invitation-link").input_value()
    assert re.search(r"/invite/[\w-]+/$", link)

    # The editor opens the link in a browser of their own.
    editor_context = browser.new_context()
    editor = editor_context.new_page()
    try:
        editor.goto(link)
        expect(editor.get_by_role("heading", name="Join Northwind Traders")).to_be_visible()
        expect(editor.get_by_label("Email")).to_have_value("editor@northwind.test")
        editor.get_by_label("Password").fill("another-long-passphrase")
        editor.get_by_role("button", name="Create account and join").click()
        expect(editor.get_by_role("heading", name="Northwind Traders")).to_be_visible()
        expect(editor.locator(".page-head .badge")).to_have_text("Editor")
        # Editors have no Settings page in the navigation.
        expect(editor.get_by_role("link", name="Settings")).to_have_count(0)
    finally:
        editor_context.close()

    membership = Membership.objects.get(user__email="editor@northwind.test")
    assert (membership.organization.name, membership.role) == ("Northwind Traders", "editor")

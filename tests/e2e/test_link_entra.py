"""In Chromium, against the emulator: an admin links Entra ID by admin consent (and cancels once), links with an
own app registration, checks connectivity (green), and sees a precise red check after consent is revoked."""
import pytest
from playwright.sync_api import expect

from directory_sync import graph
from entra_emulator import testing
from tenants.models import EntraLink
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(live_server, emulator_reset, settings):  # noqa: F811
    emu = emulator_reset
    settings.SITE_URL = live_server.url  # the redirect URI: a loopback URL, which Entra matches on any port
    settings.ENTRA_CUSTOM_LOGIN_URL = emu.login_url
    settings.ENTRA_CUSTOM_GRAPH_URL = emu.graph_url
    settings.ENTRA_CUSTOM_CA_BUNDLE = emu.ca_bundle
    settings.ENTRA_CUSTOM_BROWSER_LOGIN_URL = emu.browser_url
    settings.ENTRA_CLIENT_ID = testing.PORTAL_CLIENT_ID
    settings.ENTRA_CLIENT_SECRET = testing.PORTAL_CLIENT_SECRET
    organization = factories.make_organization("Northwind Traders")
    admin = factories.make_member(organization, "admin", "it@northwind.test")
    yield live_server, emu, organization, admin
    for link in EntraLink.objects.all():
        graph.forget_link(link)


def sign_in(page, live_server, email):
    page.goto(f"{live_server.url}/login/")
    page.locator("#id_username").fill(email)
    page.locator("#id_password").fill(factories.PASSWORD)
    page.locator("#id_password").press("Enter")
    expect(page.get_by_role("heading", name="Northwind Traders")).to_be_visible()


def start_consent(page):
    page.get_by_role("link", name="Integration").click()
    page.locator("#link-entra").click()
    page.get_by_label("Name of this link").fill("Northwind HQ")
    page.get_by_label("Cloud").select_option("custom")
    page.get_by_role("button", name="Continue to Microsoft").click()
    expect(page.get_by_role("heading", name="Permissions requested")).to_be_visible()


def test_link_by_admin_consent_and_cancel(site, page):
    live_server, emu, organization, admin = site
    sign_in(page, live_server, admin.email)

    start_consent(page)
    page.locator("#admin").select_option(emu.tenant.admin()["userPrincipalName"])
    page.locator("#accept").click()
    expect(page.get_by_text(f"Linked {emu.tenant.display_name} ({emu.tenant.initial_domain})")).to_be_visible()
    expect(page.locator(".link-card .tenant-name")).to_contain_text(emu.tenant.display_name)
    link = EntraLink.objects.get()
    assert (link.organization, link.tenant_id, link.auth_method) == (organization, emu.tenant.id, "admin_consent")

    page.get_by_role("button", name="Check connectivity").click()
    expect(page.get_by_text("Connectivity OK")).to_be_visible()

    emu.control.revoke_consent(emu.tenant.id, testing.PORTAL_CLIENT_ID)
    page.get_by_role("button", name="Check connectivity").click()
    expect(page.get_by_text("Connectivity problem")).to_be_visible()
    expect(page.locator(".check-summary")).to_contain_text("grant admin consent again")
    expect(page.locator(".link-card .status").first).to_have_text("Needs admin consent")
    page.get_by_role("button", name="Link again").click()  # consent again: the same link row comes back
    page.locator("#admin").select_option(emu.tenant.admin()["userPrincipalName"])
    page.locator("#accept").click()
    expect(page.get_by_text(f"Linked {emu.tenant.display_name}")).to_be_visible()
    assert list(EntraLink.objects.values_list("pk", "status")) == [(link.pk, "linked")]

    start_consent(page)
    page.locator("#cancel").click()
    expect(page.get_by_text("You cancelled on Microsoft's consent page, so nothing was linked")).to_be_visible()
    assert EntraLink.objects.count() == 1


def test_link_own_app_check_green_then_red_after_revocation(site, page):
    live_server, emu, organization, admin = site
    sign_in(page, live_server, admin.email)
    page.get_by_role("link", name="Integration").click()
    page.locator("#link-own-app").click()
    page.get_by_label("Name of this link").fill("Northwind (own app)")
    page.get_by_label("Cloud").select_option("custom")
    page.get_by_label("Tenant ID or domain").fill(emu.tenant.initial_domain)
    page.get_by_label("Application (client) ID").fill(emu.own_app.client_id)
    page.get_by_label("Client secret (its Value)").fill(emu.own_app.client_secret)
    page.get_by_role("button", name="Check and link").click()
    expect(page.get_by_text(f"Linked {emu.tenant.display_name}")).to_be_visible()

    page.get_by_role("button", name="Check connectivity").click()
    expect(page.get_by_text("Connectivity OK")).to_be_visible()
    expect(page.locator('[data-permission="OrgContact.Read.All"]')).to_have_attribute("data-status", "ok")

    emu.control.revoke_permission(emu.tenant.id, emu.own_app.client_id, "OrgContact.Read.All")
    page.get_by_role("button", name="Check connectivity").click()
    expect(page.get_by_text("Connectivity problem")).to_be_visible()
    row = page.locator('[data-permission="OrgContact.Read.All"]')
    expect(row).to_have_attribute("data-status", "failing")
    expect(row).to_contain_text("grant OrgContact.Read.All")
    expect(page.locator('[data-permission="User.Read.All"]')).to_have_attribute("data-status", "ok")


def test_own_app_form_with_a_pfx_shows_only_the_certificate_fields(site, page, tmp_path):
    live_server, emu, organization, admin = site
    pfx = tmp_path / "app.pfx"
    pfx.write_bytes(emu.own_app.pfx_bytes("pfx-passphrase"))
    sign_in(page, live_server, admin.email)
    page.goto(f"{live_server.url}/o/{organization.slug}/integration/own-app/")
    expect(page.get_by_label("PFX file", exact=True)).to_be_hidden()
    page.get_by_label("Certificate (PFX file)").check()
    expect(page.get_by_label("Client secret (its Value)")).to_be_hidden()
    page.get_by_label("Cloud").select_option("custom")
    page.get_by_label("Tenant ID or domain").fill(emu.tenant.id)
    page.get_by_label("Application (client) ID").fill(emu.own_app.client_id)
    page.get_by_label("PFX file", exact=True).set_input_files(str(pfx))
    page.get_by_label("Passphrase of the key or PFX (not stored)").fill("pfx-passphrase")
    page.get_by_role("button", name="Check and link").click()
    expect(page.get_by_text(f"Linked {emu.tenant.display_name}")).to_be_visible()
    expect(page.locator(".link-card")).to_contain_text("Own app registration with a certificate")

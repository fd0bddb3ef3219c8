"""In Chromium against the Entra emulator: employees sign in with Microsoft to see their signature; people
without one (another tenant, removed) get a page that says so."""
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from entra_emulator import testing
from tests import factories
from tests.signatures.conftest import make_employee

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CALLBACK_PATH = "/signature/signin/callback/"


@pytest.fixture
def portal_on_emulator(emulator_reset, settings, live_server):
    """Point the custom cloud and Signet's app at the emulator, and register the sign-in callback there."""
    emu = emulator_reset
    settings.ENTRA_CUSTOM_LOGIN_URL = emu.login_url
    settings.ENTRA_CUSTOM_GRAPH_URL = emu.graph_url
    settings.ENTRA_CUSTOM_BROWSER_LOGIN_URL = emu.browser_url
    settings.ENTRA_CUSTOM_CA_BUNDLE = emu.ca_bundle
    settings.ENTRA_CLIENT_ID, settings.ENTRA_CLIENT_SECRET = testing.PORTAL_CLIENT_ID, testing.PORTAL_CLIENT_SECRET
    settings.SITE_URL = live_server.url
    emu.control.set_redirect_uris(testing.PORTAL_CLIENT_ID, list(testing.PORTAL_REDIRECT_URIS) + [
        f"http://localhost{CALLBACK_PATH}", f"http://127.0.0.1{CALLBACK_PATH}"])
    return emu


@pytest.fixture
def contoso(portal_on_emulator, organization):
    """Acme's link to the emulator's Contoso tenant, with its administrator synced as an employee."""
    emu = portal_on_emulator
    link = factories.make_link(organization, cloud_key="custom", tenant_id=emu.tenant.id, name="Contoso")
    admin = emu.tenant.admin()
    employee = make_employee(link, graph_id=admin["id"], display_name="Megan Bowen", first_name="Megan",
                             last_name="Bowen", job_title="IT Administrator", email=admin["userPrincipalName"])
    return link, employee


def sign_in(page, live_server, upn):
    page.goto(f"{live_server.url}/signature/")
    page.get_by_role("link", name="Sign in with Microsoft (Custom endpoint)").click()
    page.locator("#login").fill(upn)
    page.locator("#signin").click()


def test_synced_employee_signs_in_and_sees_their_signature(live_server, page, contoso, portal_on_emulator):
    link, employee = contoso
    sign_in(page, live_server, portal_on_emulator.tenant.admin()["userPrincipalName"])
    expect(page.get_by_role("heading", name="Your email signature")).to_be_visible()
    expect(page.locator("#signature")).to_contain_text("Megan Bowen")
    expect(page.locator("#signature")).to_contain_text("IT Administrator")
    expect(page.get_by_role("button", name="Copy signature")).to_be_visible()
    # Removed since: the same session stops working on the next request.
    employee.status, employee.removed_at = "removed", timezone.now()
    employee.save()
    page.reload()
    expect(page.locator("#refusal")).to_contain_text("no signature for this account")


def test_user_of_an_unlinked_tenant_is_refused(live_server, page, contoso, portal_on_emulator):
    outsider = portal_on_emulator.second_tenant.admin()["userPrincipalName"]
    sign_in(page, live_server, outsider)
    expect(page.locator("#refusal")).to_contain_text("There is no signature for this account")
    expect(page.locator("#signature")).to_have_count(0)


def test_removed_employee_is_refused(live_server, page, contoso, portal_on_emulator):
    link, employee = contoso
    employee.status, employee.removed_at = "removed", timezone.now()
    employee.save()
    sign_in(page, live_server, portal_on_emulator.tenant.admin()["userPrincipalName"])
    expect(page.locator("#refusal")).to_contain_text("There is no signature for this account")


def test_cancel_on_the_sign_in_page(live_server, page, contoso):
    page.goto(f"{live_server.url}/signature/")
    page.get_by_role("link", name="Sign in with Microsoft (Custom endpoint)").click()
    page.locator("#cancel").click()
    expect(page.locator("#refusal")).to_contain_text("Sign-in was cancelled")

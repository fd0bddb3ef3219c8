"""The consent and sign-in pages in Chromium: labels, buttons and Enter work as a person would use them."""
import http.server
import threading
from urllib.parse import parse_qs, urlencode, urlsplit

import msal
import pytest
from playwright.sync_api import expect

from entra_emulator import testing

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore:response_mode='form_post'")]


@pytest.fixture
def callback_url():
    """A loopback HTTP server standing in for the portal's callback (Entra ignores loopback ports)."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"callback reached")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def query_of(url):
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_admin_picks_a_tenant_and_accepts(emulator_reset, page, callback_url):
    emu = emulator_reset
    query = urlencode({"client_id": testing.PORTAL_CLIENT_ID, "scope": "https://graph.microsoft.com/.default",
                       "redirect_uri": f"{callback_url}/entra/consent/callback", "state": "abc"})
    page.goto(f"{emu.browser_url}/organizations/v2.0/adminconsent?{query}")
    expect(page.get_by_role("heading", name="Permissions requested")).to_be_visible()
    page.get_by_label("Sign in as administrator").select_option(emu.second_tenant.admin()["userPrincipalName"])
    page.get_by_role("button", name="Accept").click()
    expect(page.get_by_text("callback reached")).to_be_visible()
    params = query_of(page.url)
    assert (params["admin_consent"], params["tenant"], params["state"]) == ("True", emu.second_tenant.id, "abc")


def test_employee_types_upn_and_presses_enter(emulator_reset, page, callback_url):
    emu = emulator_reset
    app = msal.ConfidentialClientApplication(
        testing.PORTAL_CLIENT_ID, client_credential=testing.PORTAL_CLIENT_SECRET,
        authority=f"{emu.login_url}/organizations", instance_discovery=False, http_client=emu.session())
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=f"{callback_url}/signin/callback")
    person = emu.tenant.users.get(40)
    page.goto(flow["auth_uri"])
    page.get_by_label("Email, phone, or Skype").fill(person["userPrincipalName"])
    page.get_by_label("Email, phone, or Skype").press("Enter")
    expect(page.get_by_text("callback reached")).to_be_visible()
    result = app.acquire_token_by_auth_code_flow(flow, query_of(page.url))
    assert result["id_token_claims"]["oid"] == person["id"]

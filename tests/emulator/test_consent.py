"""The admin-consent page and what consent (and its revocation) does to tokens and Graph."""
from urllib.parse import parse_qs, urlencode, urlsplit

import msal

from entra_emulator import testing

CALLBACK = "http://localhost/entra/consent/callback"


def consent_url(emulator, tenant="organizations", redirect_uri=CALLBACK, client_id=testing.PORTAL_CLIENT_ID):
    query = urlencode({"client_id": client_id, "scope": "https://graph.microsoft.com/.default",
                       "redirect_uri": redirect_uri, "state": "st-123"})
    return f"{emulator.browser_url}/{tenant}/v2.0/adminconsent?{query}"


def answer(http, url, action, admin):
    page = http.get(url)
    assert page.status_code == 200
    split = urlsplit(url)
    form = {k: v[0] for k, v in parse_qs(split.query).items()}
    form.update(action=action, admin=admin)
    response = http.post(f"{split.scheme}://{split.netloc}{split.path}", data=form, allow_redirects=False)
    return response


def redirect_params(response):
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(CALLBACK + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query, keep_blank_values=True).items()}


def portal_token(emulator, tenant):
    app = msal.ConfidentialClientApplication(
        testing.PORTAL_CLIENT_ID, client_credential=testing.PORTAL_CLIENT_SECRET,
        authority=emulator.authority(tenant), instance_discovery=False, http_client=emulator.session())
    return app.acquire_token_for_client([f"{emulator.graph_url}/.default"])


def test_consent_page_shows_app_name_permissions_and_admins_of_each_tenant(emulator_reset, emulator_http):
    emu = emulator_reset
    page = emulator_http.get(consent_url(emu)).text
    assert "Signet Email Signatures" in page
    for permission in testing.PRODUCT_PERMISSIONS:
        assert permission in page
    assert emu.tenant.admin()["userPrincipalName"] in page
    assert emu.second_tenant.admin()["userPrincipalName"] in page
    for button in ("id='accept'", "id='cancel'", "id='decline'", "id='admin'"):
        assert button in page


def test_accept_redirects_with_admin_consent_tenant_scope_state_and_enables_tokens(emulator_reset, emulator_http):
    emu = emulator_reset
    fabrikam = emu.second_tenant
    assert portal_token(emu, fabrikam)["error_codes"] == [7000229]
    params = redirect_params(answer(emulator_http, consent_url(emu), "accept", fabrikam.admin()["userPrincipalName"]))
    assert set(params) == {"admin_consent", "tenant", "scope", "state"}
    assert params["admin_consent"] == "True"
    assert params["tenant"] == fabrikam.id
    assert params["state"] == "st-123"
    assert set(params["scope"].split()) == {f"{emu.graph_url}/{p}" for p in testing.PRODUCT_PERMISSIONS}
    token = portal_token(emu, fabrikam)["access_token"]
    org = emulator_http.get(f"{emu.graph_url}/v1.0/organization", headers={"Authorization": f"Bearer {token}"})
    assert org.json()["value"][0]["id"] == fabrikam.id


def test_cancel_redirects_with_access_denied_and_cancel_subcode(emulator_reset, emulator_http):
    emu = emulator_reset
    params = redirect_params(answer(emulator_http, consent_url(emu), "cancel", emu.tenant.admin()["userPrincipalName"]))
    assert params == {"error": "access_denied", "error_subcode": "cancel", "state": "st-123"}
    assert (testing.PORTAL_CLIENT_ID, emu.tenant.id) not in emu.state.consents


def test_decline_redirects_with_consent_required_aadsts65004_and_admin_consent(emulator_reset, emulator_http):
    emu = emulator_reset
    params = redirect_params(answer(emulator_http, consent_url(emu), "decline",
                                    emu.tenant.admin()["userPrincipalName"]))
    assert set(params) == {"error", "error_description", "admin_consent", "state"}
    assert params["error"] == "consent_required"
    assert params["error_description"].startswith("AADSTS65004: The resource owner or authorization server "
                                                  "denied the request.")
    assert "\r\nTrace ID: " in params["error_description"]
    assert params["admin_consent"] == "True"
    assert params["state"] == "st-123"


def test_tenant_in_path_limits_admins_to_that_tenant(emulator_reset, emulator_http):
    emu = emulator_reset
    page = emulator_http.get(consent_url(emu, tenant=emu.second_tenant.id)).text
    assert emu.second_tenant.admin()["userPrincipalName"] in page
    assert emu.tenant.admin()["userPrincipalName"] not in page


def test_wrong_redirect_uri_shows_aadsts50011_and_does_not_redirect(emulator_reset, emulator_http):
    emu = emulator_reset
    response = emulator_http.get(consent_url(emu, redirect_uri="https://evil.example/callback"),
                                 allow_redirects=False)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "AADSTS50011" in response.text
    posted = answer_without_get(emulator_http, consent_url(emu, redirect_uri="https://evil.example/callback"))
    assert posted.status_code == 400 and "Location" not in posted.headers


def answer_without_get(http, url):
    split = urlsplit(url)
    form = {k: v[0] for k, v in parse_qs(split.query).items()}
    form.update(action="accept", admin="admin@contoso.com")
    return http.post(f"{split.scheme}://{split.netloc}{split.path}", data=form, allow_redirects=False)


def test_unknown_client_id_shows_aadsts700016(emulator_reset, emulator_http):
    emu = emulator_reset
    response = emulator_http.get(consent_url(emu, client_id="00000000-0000-0000-0000-00000000dead"))
    assert response.status_code == 400
    assert "AADSTS700016" in response.text


def test_revoked_consent_refuses_new_tokens_and_old_tokens(emulator_reset, emulator_http):
    emu = emulator_reset
    emu.control.grant_consent(emu.second_tenant.id, testing.PORTAL_CLIENT_ID)
    token = portal_token(emu, emu.second_tenant)["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert emulator_http.get(f"{emu.graph_url}/v1.0/users", headers=headers).status_code == 200
    emu.control.revoke_consent(emu.second_tenant.id, testing.PORTAL_CLIENT_ID)
    assert portal_token(emu, emu.second_tenant)["error_codes"] == [7000229]
    after = emulator_http.get(f"{emu.graph_url}/v1.0/users", headers=headers)
    assert after.status_code == 401
    assert after.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_revoking_one_permission_makes_its_endpoints_answer_403(emulator_reset, emulator_http):
    emu = emulator_reset
    headers = {"Authorization": f"Bearer {emu.access_token()}"}
    emu.control.revoke_permission(emu.tenant.id, emu.own_app.client_id, "OrgContact.Read.All")
    denied = emulator_http.get(f"{emu.graph_url}/v1.0/contacts", headers=headers)
    assert denied.status_code == 403
    error = denied.json()["error"]
    assert error["code"] == "Authorization_RequestDenied"
    assert error["message"] == "Insufficient privileges to complete the operation."
    assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}
    assert emulator_http.get(f"{emu.graph_url}/v1.0/users", headers=headers).status_code == 200
    fresh = emu.access_token()
    import jwt
    assert "OrgContact.Read.All" not in jwt.decode(fresh, options={"verify_signature": False})["roles"]


def test_v1_admin_consent_endpoint_succeeds_without_scope(emulator_reset, emulator_http):
    emu = emulator_reset
    query = urlencode({"client_id": testing.PORTAL_CLIENT_ID, "redirect_uri": CALLBACK, "state": "v1"})
    response = answer(emulator_http, f"{emu.browser_url}/common/adminconsent?{query}", "accept",
                      emu.second_tenant.admin()["userPrincipalName"])
    assert redirect_params(response) == {"admin_consent": "True", "tenant": emu.second_tenant.id, "state": "v1"}


def test_consents_survive_a_restart_when_persisted(tmp_path):
    kwargs = dict(data_dir=tmp_path, users=30, portal_client_id=testing.PORTAL_CLIENT_ID,
                  portal_client_secret=testing.PORTAL_CLIENT_SECRET, persist_consents=True)
    with testing.Emulator(**kwargs) as emu:
        emu.control.grant_consent(emu.second_tenant.id, testing.PORTAL_CLIENT_ID)
    with testing.Emulator(**kwargs) as emu:
        assert portal_token(emu, emu.second_tenant).get("access_token")
        emu.control.reset()
        assert portal_token(emu, emu.second_tenant)["error_codes"] == [7000229]

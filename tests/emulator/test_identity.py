"""The identity platform side of the emulator, driven by the real msal."""
import base64
import json
from urllib.parse import parse_qs, urlsplit

import jwt
import msal
import pytest

from entra_emulator import testing


def confidential(emulator, credential, client_id=None, tenant=None):
    """A fresh msal app per case: msal replays 400 answers for 60 s from its own cache."""
    return msal.ConfidentialClientApplication(
        client_id or emulator.own_app.client_id, client_credential=credential,
        authority=emulator.authority(tenant), instance_discovery=False, http_client=emulator.session(),
    )


def graph_scope(emulator):
    return [f"{emulator.graph_url}/.default"]


def claims_of(token):
    return jwt.decode(token, options={"verify_signature": False})


def test_discovery_puts_browser_pages_on_http_and_token_endpoint_on_https(emulator_reset, emulator_http):
    emu = emulator_reset
    doc = emulator_http.get(f"{emu.login_url}/{emu.tenant.initial_domain}/v2.0/.well-known/openid-configuration"
                            ).json()
    assert doc["token_endpoint"] == f"{emu.login_url}/{emu.tenant.id}/oauth2/v2.0/token"
    assert doc["issuer"] == f"{emu.login_url}/{emu.tenant.id}/v2.0"
    assert doc["jwks_uri"].startswith("https://")
    assert doc["authorization_endpoint"] == f"{emu.browser_url}/{emu.tenant.id}/oauth2/v2.0/authorize"
    assert doc["end_session_endpoint"].startswith(emu.browser_url)
    organizations = emulator_http.get(f"{emu.login_url}/organizations/v2.0/.well-known/openid-configuration")
    assert organizations.json()["issuer"] == f"{emu.login_url}/{{tenantid}}/v2.0"


def test_client_secret_gets_a_token_with_roles_tid_and_graph_audience(emulator_reset):
    emu = emulator_reset
    result = confidential(emu, emu.own_app.client_secret).acquire_token_for_client(graph_scope(emu))
    assert result["expires_in"] == 3599
    claims = claims_of(result["access_token"])
    assert claims["tid"] == emu.tenant.id
    assert claims["aud"] == emu.graph_url
    assert claims["appid"] == emu.own_app.client_id
    assert set(claims["roles"]) == set(testing.PRODUCT_PERMISSIONS)


def test_token_signature_checks_out_against_the_published_jwks(emulator_reset, emulator_http):
    emu = emulator_reset
    token = confidential(emu, emu.own_app.client_secret).acquire_token_for_client(graph_scope(emu))["access_token"]
    keys = emulator_http.get(f"{emu.login_url}/{emu.tenant.id}/discovery/v2.0/keys").json()["keys"]
    key = jwt.PyJWK(keys[0]).key
    assert jwt.decode(token, key, algorithms=["RS256"], audience=emu.graph_url)["tid"] == emu.tenant.id


def test_certificate_with_thumbprint_signs_rs256_with_x5t(emulator_reset):
    emu = emulator_reset
    credential = {"private_key": emu.own_app.private_key_pem, "thumbprint": emu.own_app.thumbprint_sha1}
    result = confidential(emu, credential).acquire_token_for_client(graph_scope(emu))
    assert claims_of(result["access_token"])["appidacr"] == "2"
    requests_seen = emu.control.requests()
    assert requests_seen[-1]["path"].endswith("/oauth2/v2.0/token")


def test_certificate_with_public_certificate_signs_ps256_with_x5t_s256(emulator_reset):
    emu = emulator_reset
    credential = {"private_key": emu.own_app.private_key_pem, "public_certificate": emu.own_app.certificate_pem}
    result = confidential(emu, credential).acquire_token_for_client(graph_scope(emu))
    assert "access_token" in result, result


def test_certificate_from_pfx_file(emulator_reset, tmp_path):
    emu = emulator_reset
    path = emu.own_app.write_pfx(tmp_path / "own.pfx", passphrase="s3cret")
    credential = {"private_key_pfx_path": str(path), "passphrase": "s3cret"}
    assert "access_token" in confidential(emu, credential).acquire_token_for_client(graph_scope(emu))


def test_assertion_signed_by_another_key_is_refused(emulator_reset):
    from entra_emulator import certs

    emu = emulator_reset
    other = certs.new_key()
    credential = {"private_key": certs.key_pem(other).decode(), "thumbprint": emu.own_app.thumbprint_sha1}
    result = confidential(emu, credential).acquire_token_for_client(graph_scope(emu))
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [700027]


def test_wrong_secret_answers_aadsts7000215_in_microsofts_shape(emulator_reset, emulator_http):
    emu = emulator_reset
    response = emulator_http.post(f"{emu.login_url}/{emu.tenant.id}/oauth2/v2.0/token", data={
        "client_id": emu.own_app.client_id, "client_secret": "nope", "grant_type": "client_credentials",
        "scope": f"{emu.graph_url}/.default"})
    assert response.status_code == 401
    body = response.json()
    assert set(body) == {"error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id",
                         "error_uri"}
    assert body["error"] == "invalid_client"
    assert body["error_codes"] == [7000215]
    assert body["error_description"].startswith("AADSTS7000215: ")
    for marker in ("Trace ID: ", "Correlation ID: ", "Timestamp: "):
        assert marker in body["error_description"]
    result = confidential(emu, "nope").acquire_token_for_client(graph_scope(emu))
    assert result["error_codes"] == [7000215]


def test_expired_secret_answers_aadsts7000222(emulator_reset):
    emu = emulator_reset
    emu.control.expire_secret(emu.own_app.client_id)
    result = confidential(emu, emu.own_app.client_secret).acquire_token_for_client(graph_scope(emu))
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000222]


def test_unconsented_tenant_answers_aadsts7000229(emulator_reset):
    emu = emulator_reset
    app = confidential(emu, testing.PORTAL_CLIENT_SECRET, testing.PORTAL_CLIENT_ID, emu.second_tenant)
    result = app.acquire_token_for_client(graph_scope(emu))
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000229]
    assert emu.second_tenant.id in result["error_description"]


def test_unknown_client_answers_aadsts700016(emulator_reset):
    emu = emulator_reset
    result = confidential(emu, "x", "11111111-2222-3333-4444-555555555555").acquire_token_for_client(
        graph_scope(emu))
    assert result["error"] == "unauthorized_client"
    assert result["error_codes"] == [700016]


def test_unknown_tenant_fails_discovery_with_aadsts90002(emulator_reset, emulator_http):
    emu = emulator_reset
    response = emulator_http.get(f"{emu.login_url}/nowhere.onmicrosoft.com/v2.0/.well-known/openid-configuration")
    assert response.status_code == 400
    assert response.json()["error_codes"] == [90002]
    with pytest.raises(ValueError):
        msal.ConfidentialClientApplication(emu.own_app.client_id, client_credential="x",
                                           authority=f"{emu.login_url}/nowhere.onmicrosoft.com",
                                           instance_discovery=False, http_client=emu.session())


def test_scope_without_default_suffix_is_invalid_scope(emulator_reset, emulator_http):
    emu = emulator_reset
    response = emulator_http.post(f"{emu.login_url}/{emu.tenant.id}/oauth2/v2.0/token", data={
        "client_id": emu.own_app.client_id, "client_secret": emu.own_app.client_secret,
        "grant_type": "client_credentials", "scope": "User.Read.All"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_token_lifetime_can_be_shortened(emulator_reset):
    emu = emulator_reset
    emu.control.set_token_lifetime(2)
    result = confidential(emu, emu.own_app.client_secret).acquire_token_for_client(graph_scope(emu))
    assert result["expires_in"] == 2
    claims = claims_of(result["access_token"])
    assert claims["exp"] - claims["iat"] == 2


# ----- employee sign-in (authorization code + PKCE) -----
# msal warns that form_post is safer than query; both modes are exercised here.
pytestmark = pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended")

def sign_in(emulator, http, auth_uri, login):
    """Drive the authorize page like a browser: GET the form, POST it, return the redirect's query."""
    page = http.get(auth_uri)
    assert page.status_code == 200
    assert 'id="login"' in page.text or "id='login'" in page.text
    split = urlsplit(auth_uri)
    form = {k: v[0] for k, v in parse_qs(split.query).items()}
    form.update(login=login, action="signin")
    answer = http.post(f"{split.scheme}://{split.netloc}{split.path}", data=form, allow_redirects=False)
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    return location, {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def portal_app(emulator, authority="organizations"):
    return msal.ConfidentialClientApplication(
        testing.PORTAL_CLIENT_ID, client_credential=testing.PORTAL_CLIENT_SECRET,
        authority=f"{emulator.login_url}/{authority}", instance_discovery=False, http_client=emulator.session())


def test_auth_code_flow_completes_with_nonce_and_client_info(emulator_reset, emulator_http):
    emu = emulator_reset
    app = portal_app(emu)
    redirect_uri = "http://localhost:8123/signin/callback"      # localhost ports are ignored, as in Entra
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=redirect_uri)
    assert flow["auth_uri"].startswith(emu.browser_url)
    person = emu.second_tenant.users.get(30)
    location, params = sign_in(emu, emulator_http, flow["auth_uri"], person["userPrincipalName"])
    assert location.startswith(redirect_uri)
    result = app.acquire_token_by_auth_code_flow(flow, params)
    assert "error" not in result, result
    claims = result["id_token_claims"]
    assert claims["tid"] == emu.second_tenant.id
    assert claims["oid"] == person["id"]
    assert claims["preferred_username"] == person["userPrincipalName"]
    assert claims["aud"] == testing.PORTAL_CLIENT_ID
    info = json.loads(base64.urlsafe_b64decode(result["client_info"] + "=="))
    assert info == {"uid": person["id"], "utid": emu.second_tenant.id}
    me = emulator_http.get(f"{emu.graph_url}/v1.0/me", headers={"Authorization": f"Bearer {result['access_token']}"})
    assert me.json()["id"] == person["id"]
    accounts = app.get_accounts()
    assert accounts[0]["home_account_id"] == f"{person['id']}.{emu.second_tenant.id}"
    refreshed = app.acquire_token_silent(["User.Read"], account=accounts[0], force_refresh=True)
    assert "access_token" in refreshed, refreshed


def test_authorization_code_is_single_use(emulator_reset, emulator_http):
    emu = emulator_reset
    app = portal_app(emu)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri="http://localhost/signin/callback")
    _, params = sign_in(emu, emulator_http, flow["auth_uri"], emu.tenant.admin()["userPrincipalName"])
    form = {"client_id": testing.PORTAL_CLIENT_ID, "client_secret": testing.PORTAL_CLIENT_SECRET,
            "grant_type": "authorization_code", "code": params["code"],
            "redirect_uri": "http://localhost/signin/callback", "code_verifier": flow["code_verifier"],
            "scope": "User.Read openid profile offline_access"}
    url = f"{emu.login_url}/organizations/oauth2/v2.0/token"
    assert emulator_http.post(url, data=form).status_code == 200
    again = emulator_http.post(url, data=form)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    assert again.json()["error_codes"] == [54005]


def test_pkce_verifier_must_match(emulator_reset, emulator_http):
    emu = emulator_reset
    app = portal_app(emu)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri="http://localhost/signin/callback")
    _, params = sign_in(emu, emulator_http, flow["auth_uri"], emu.tenant.admin()["userPrincipalName"])
    response = emulator_http.post(f"{emu.login_url}/organizations/oauth2/v2.0/token", data={
        "client_id": testing.PORTAL_CLIENT_ID, "client_secret": testing.PORTAL_CLIENT_SECRET,
        "grant_type": "authorization_code", "code": params["code"], "code_verifier": "wrong" * 10,
        "redirect_uri": "http://localhost/signin/callback", "scope": "openid"})
    assert response.json()["error_codes"] == [501481]


def test_cancel_on_sign_in_page_redirects_with_error_subcode(emulator_reset, emulator_http):
    emu = emulator_reset
    flow = portal_app(emu).initiate_auth_code_flow(["User.Read"], redirect_uri="http://localhost/signin/callback")
    split = urlsplit(flow["auth_uri"])
    form = {k: v[0] for k, v in parse_qs(split.query).items()}
    form["action"] = "cancel"
    answer = emulator_http.post(f"{emu.browser_url}{split.path}", data=form, allow_redirects=False)
    params = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert params["error"] == ["access_denied"]
    assert params["error_subcode"] == ["cancel"]
    assert params["state"] == [flow["state"]]


def test_unknown_account_stays_on_the_sign_in_page(emulator_reset, emulator_http):
    emu = emulator_reset
    flow = portal_app(emu).initiate_auth_code_flow(["User.Read"], redirect_uri="http://localhost/signin/callback")
    split = urlsplit(flow["auth_uri"])
    form = {k: v[0] for k, v in parse_qs(split.query).items()}
    form.update(login="nobody@contoso.com", action="signin")
    answer = emulator_http.post(f"{emu.browser_url}{split.path}", data=form, allow_redirects=False)
    assert answer.status_code == 200
    assert "couldn&#x27;t find an account" in answer.text or "couldn't find an account" in answer.text


def test_form_post_response_mode_posts_code_and_state(emulator_reset, emulator_http):
    import re

    emu = emulator_reset
    app = portal_app(emu)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri="http://localhost/signin/callback",
                                       response_mode="form_post")
    split = urlsplit(flow["auth_uri"])
    form = {k: v[0] for k, v in parse_qs(split.query).items()}
    form.update(login=emu.tenant.admin()["userPrincipalName"], action="signin")
    page = emulator_http.post(f"{emu.browser_url}{split.path}", data=form, allow_redirects=False)
    assert page.status_code == 200
    assert "action='http://localhost/signin/callback'" in page.text
    fields = dict(re.findall(r"name='([^']+)' value='([^']*)'", page.text))
    assert fields["state"] == flow["state"]
    result = app.acquire_token_by_auth_code_flow(flow, fields)
    assert result["id_token_claims"]["tid"] == emu.tenant.id


def test_single_tenant_app_refuses_users_of_other_tenants(emulator_reset, emulator_http):
    emu = emulator_reset
    app = msal.ConfidentialClientApplication(emu.own_app.client_id, client_credential=emu.own_app.client_secret,
                                             authority=f"{emu.login_url}/organizations", instance_discovery=False,
                                             http_client=emu.session())
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri="http://localhost/signin/callback")
    split = urlsplit(flow["auth_uri"])
    form = {k: v[0] for k, v in parse_qs(split.query).items()}
    form.update(login=emu.second_tenant.admin()["userPrincipalName"], action="signin")
    page = emulator_http.post(f"{emu.browser_url}{split.path}", data=form, allow_redirects=False)
    assert page.status_code == 200 and "AADSTS50020" in page.text


def test_quick_pick_account_button_signs_in(emulator_reset, emulator_http):
    emu = emulator_reset
    flow = portal_app(emu).initiate_auth_code_flow(["User.Read"], redirect_uri="http://localhost/signin/callback")
    page = emulator_http.get(flow["auth_uri"]).text
    upn = emu.second_tenant.admin()["userPrincipalName"]
    assert f"data-upn='{upn}'" in page
    split = urlsplit(flow["auth_uri"])
    form = [(k, v[0]) for k, v in parse_qs(split.query).items()] + [("login", ""), ("login", upn)]
    answer = emulator_http.post(f"{emu.browser_url}{split.path}", data=form, allow_redirects=False)
    assert answer.status_code == 302
    assert "code=" in answer.headers["Location"]


def test_prompt_none_answers_login_required(emulator_reset, emulator_http):
    emu = emulator_reset
    flow = portal_app(emu).initiate_auth_code_flow(["User.Read"], redirect_uri="http://localhost/signin/callback",
                                                  prompt="none")
    answer = emulator_http.get(flow["auth_uri"], allow_redirects=False)
    assert parse_qs(urlsplit(answer.headers["Location"]).query)["error"] == ["login_required"]

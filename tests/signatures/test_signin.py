"""Employee sign-in with Microsoft, Signet's side: state, nonce, ID token signature/iss/aud/exp, and matching on
(tid, oid). Microsoft is played by `responses` here; tests/e2e/test_signatures_signin.py uses the emulator."""
import base64
import hashlib
import json
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import responses
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from signatures import signin
from tests import factories
from tests.signatures.conftest import make_employee

pytestmark = pytest.mark.django_db

LOGIN = "https://login.test"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
TID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
OID = "0b0b0b0b-1111-4222-8333-444444444444"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(private_key, kid):
    data = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key()))
    return dict(data, kid=kid, use="sig", alg="RS256")


@pytest.fixture
def microsoft(settings):
    """Settings for a custom cloud at LOGIN, and responses playing its discovery, JWKS and token endpoints."""
    settings.ENTRA_CUSTOM_LOGIN_URL = LOGIN
    settings.ENTRA_CUSTOM_GRAPH_URL = "https://graph.test"
    settings.ENTRA_CUSTOM_BROWSER_LOGIN_URL = "http://login-browser.test"
    settings.ENTRA_CUSTOM_CA_BUNDLE = ""
    settings.ENTRA_CLIENT_ID, settings.ENTRA_CLIENT_SECRET = CLIENT_ID, "portal-secret"
    settings.SITE_URL = "http://portal.test"
    cache.clear()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for tenant in ("organizations", TID):
            mock.get(f"{LOGIN}/{tenant}/v2.0/.well-known/openid-configuration", json={
                "authorization_endpoint": f"http://login-browser.test/{tenant}/oauth2/v2.0/authorize",
                "token_endpoint": f"{LOGIN}/{tenant}/oauth2/v2.0/token",
                "issuer": f"{LOGIN}/{{tenantid}}/v2.0" if tenant == "organizations" else f"{LOGIN}/{TID}/v2.0",
                "jwks_uri": f"{LOGIN}/{tenant}/discovery/v2.0/keys",
            })
        mock.get(f"{LOGIN}/{TID}/discovery/v2.0/keys", json={"keys": [jwk(KEY, "k1")]})
        yield mock


@pytest.fixture
def custom_link(organization):
    return factories.make_link(organization, cloud_key="custom", tenant_id=TID)


def id_token(flow, key=KEY, kid="k1", **overrides):
    now = int(time.time())
    claims = {"iss": f"{LOGIN}/{TID}/v2.0", "aud": CLIENT_ID, "tid": TID, "oid": OID, "sub": "pairwise",
              "iat": now, "nbf": now, "exp": now + 3600, "ver": "2.0", "name": "Ada",
              "nonce": hashlib.sha256(flow["nonce"].encode()).hexdigest()}
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def client_info(oid=OID, tid=TID):
    return base64.urlsafe_b64encode(json.dumps({"uid": oid, "utid": tid}).encode()).decode().rstrip("=")


def start(session):
    auth_uri = signin.begin(session, signin.cloud_from_key("custom"))
    return parse_qs(urlsplit(auth_uri).query), session[signin.FLOW_SESSION_KEY]["flow"]


def answer(mock, token):
    mock.post(f"{LOGIN}/organizations/oauth2/v2.0/token", json={
        "access_token": "at", "token_type": "Bearer", "expires_in": 3600, "scope": "openid profile",
        "id_token": token, "client_info": client_info()})


def test_begin_asks_for_pkce_state_and_nonce_on_organizations(microsoft):
    session = {}
    query, flow = start(session)
    assert query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == ["http://portal.test/signature/signin/callback/"]
    assert query["code_challenge_method"] == ["S256"] and query["state"] == [flow["state"]]
    assert query["nonce"] == [hashlib.sha256(flow["nonce"].encode()).hexdigest()]
    assert "openid" in query["scope"][0].split()


def test_valid_sign_in_matches_the_employee_on_tid_and_oid(microsoft, custom_link):
    employee = make_employee(custom_link, graph_id=OID)
    session = {}
    query, flow = start(session)
    answer(microsoft, id_token(flow))
    assert signin.complete(session, {"code": "c", "state": flow["state"]}) == employee
    token_call = [c for c in microsoft.calls if c.request.url.endswith("/token")][0]
    assert f"code_verifier={flow['code_verifier']}" in token_call.request.body  # PKCE


def test_the_callback_works_once(microsoft, custom_link):
    make_employee(custom_link, graph_id=OID)
    session = {}
    _, flow = start(session)
    answer(microsoft, id_token(flow))
    signin.complete(session, {"code": "c", "state": flow["state"]})
    with pytest.raises(signin.SignInRefused) as refused:
        signin.complete(session, {"code": "c", "state": flow["state"]})
    assert refused.value.reason == "no_flow"


def test_bad_state_is_refused(microsoft, custom_link):
    make_employee(custom_link, graph_id=OID)
    session = {}
    _, flow = start(session)
    answer(microsoft, id_token(flow))
    with pytest.raises(signin.SignInRefused) as refused:
        signin.complete(session, {"code": "c", "state": "not-the-state"})
    assert refused.value.reason == "bad_state"
    assert not [c for c in microsoft.calls if c.request.url.endswith("/token")]  # no code was redeemed


def test_wrong_nonce_is_refused(microsoft, custom_link):
    make_employee(custom_link, graph_id=OID)
    session = {}
    _, flow = start(session)
    answer(microsoft, id_token(flow, nonce=hashlib.sha256(b"another").hexdigest()))
    with pytest.raises(signin.SignInRefused) as refused:
        signin.complete(session, {"code": "c", "state": flow["state"]})
    assert refused.value.reason == "bad_nonce"


@pytest.mark.parametrize("change", [
    {"aud": "another-app"},
    {"iss": f"{LOGIN}/{str(uuid.uuid4())}/v2.0"},
    {"iss": f"https://evil.test/{TID}/v2.0"},
    {"exp": int(time.time()) - 3600},
    {"iat": None},
    {"oid": None},
    {"key": OTHER_KEY},  # signed by someone else, claiming our key id
    {"key": OTHER_KEY, "kid": "unknown"},
    {"tid": "not-a-guid"},
])
def test_id_token_checks(microsoft, custom_link, change):
    make_employee(custom_link, graph_id=OID)
    session = {}
    _, flow = start(session)
    change = dict(change)
    answer(microsoft, id_token(flow, key=change.pop("key", KEY), kid=change.pop("kid", "k1"), **change))
    with pytest.raises(signin.SignInRefused) as refused:
        signin.complete(session, {"code": "c", "state": flow["state"]})
    assert refused.value.reason == "bad_id_token"


def test_unsigned_token_is_refused(microsoft, custom_link):
    make_employee(custom_link, graph_id=OID)
    session = {}
    _, flow = start(session)
    claims = jwt.decode(id_token(flow), options={"verify_signature": False})
    answer(microsoft, jwt.encode(claims, None, algorithm="none"))
    with pytest.raises(signin.SignInRefused) as refused:
        signin.complete(session, {"code": "c", "state": flow["state"]})
    assert refused.value.reason == "bad_id_token"


@pytest.mark.parametrize("case", ["unknown_person", "removed", "excluded", "unlinked", "other_cloud"])
def test_people_without_a_signature_are_refused(microsoft, organization, case):
    link = factories.make_link(organization, cloud_key="custom" if case != "other_cloud" else "global",
                               tenant_id=TID)
    employee = make_employee(link, graph_id=OID if case != "unknown_person" else "someone-else")
    if case == "removed":
        employee.status, employee.removed_at = "removed", timezone.now()
        employee.save()
    elif case == "excluded":
        employee.status = "excluded"
        employee.save()
    elif case == "unlinked":
        link.status = "unlinked"
        link.save()
    session = {}
    _, flow = start(session)
    answer(microsoft, id_token(flow))
    with pytest.raises(signin.SignInRefused) as refused:
        signin.complete(session, {"code": "c", "state": flow["state"]})
    assert (refused.value.reason, refused.value.status) == ("no_employee", 403)


def test_cancel_on_microsofts_page(microsoft):
    session = {}
    _, flow = start(session)
    with pytest.raises(signin.SignInRefused) as refused:
        signin.complete(session, {"error": "access_denied", "error_subcode": "cancel", "state": flow["state"]})
    assert refused.value.reason == "cancelled"


def test_unknown_cloud_key_falls_back_to_global(microsoft):
    assert signin.cloud_from_key("nonsense").key == "global"
    assert signin.cloud_from_key("custom").key == "custom"


def test_views_remember_only_the_employee_and_recheck_every_request(client, microsoft, custom_link):
    employee = make_employee(custom_link, graph_id=OID)
    response = client.get(reverse("signatures:signin_start"), {"cloud": "custom"})
    assert response.status_code == 302 and response["Location"].startswith("http://login-browser.test/")
    flow = client.session[signin.FLOW_SESSION_KEY]["flow"]
    answer(microsoft, id_token(flow))
    response = client.get(reverse("signatures:signin_callback"), {"code": "c", "state": flow["state"]})
    assert response.status_code == 302 and response["Location"] == reverse("signatures:signature_home")
    assert client.session[signin.EMPLOYEE_SESSION_KEY] == {"id": employee.pk, "tid": TID, "oid": OID}
    assert "_auth_user_id" not in client.session  # not a Django login
    page = client.get(reverse("signatures:signature_home"))
    assert b"Copy signature" in page.content and b"Ada Lovelace" in page.content
    assert client.get(reverse("signatures:signature_download")).status_code == 200
    employee.status, employee.removed_at = "removed", timezone.now()
    employee.save()
    gone = client.get(reverse("signatures:signature_home"))
    assert gone.status_code == 403 and b"no signature for this account" in gone.content
    assert client.get(reverse("signatures:signature_download")).status_code == 403


def test_callback_refusals_are_pages_in_words(client, microsoft):
    response = client.get(reverse("signatures:signin_callback"), {"code": "c", "state": "s"})
    assert response.status_code == 400 and b"expired or was already used" in response.content


def test_sign_in_is_off_without_the_portal_app(client, settings):
    settings.ENTRA_CLIENT_ID = ""
    assert client.get(reverse("signatures:signin_start")).status_code == 404
    assert b"not set up" in client.get(reverse("signatures:signature_home")).content

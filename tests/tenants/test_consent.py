"""Admin consent (tenants/consent.py): the consent URL, the callback matrix, relinking through consent, and
consent against the emulator."""
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from directory_sync import graph, graph_reads
from entra_emulator import testing
from tenants import consent, linking
from tenants.models import ConsentRequest, EntraLink, LinkAttempt, Membership
from tests import factories
from tests.tenants.conftest import assert_nothing_linked, outcomes

TENANT = "9c5a4f2e-0b1d-4e8a-a3c1-5d7e9f0b2c44"
CALLBACK = "tenants:link_consent_callback"


def fake_token(tid):
    key = "signet-never-checks-this-signature-0123456789"
    return jwt.encode({"tid": tid, "roles": ["User.Read.All"]}, key, algorithm="HS256")


class FakeGraph:
    """Stands in for graph.acquire_token / graph_reads.get_organization: a token with `tid` and an
    organization `org_id`."""

    def __init__(self, monkeypatch, tid=TENANT, org_id=TENANT):
        self.tid, self.org_id, self.token_calls = tid, org_id, []
        monkeypatch.setattr(graph, "acquire_token", self.acquire_token)
        monkeypatch.setattr(graph_reads, "get_organization", self.get_organization)

    def acquire_token(self, link):
        self.token_calls.append(link.tenant_id)
        return fake_token(self.tid)

    def get_organization(self, link):
        return {"id": self.org_id, "displayName": "Contoso Ltd",
                "verifiedDomains": [{"name": "contoso.onmicrosoft.com", "isInitial": True}]}


@pytest.fixture
def consent_on(settings):
    settings.ENTRA_CLIENT_ID = testing.PORTAL_CLIENT_ID
    settings.ENTRA_CLIENT_SECRET = testing.PORTAL_CLIENT_SECRET
    settings.SITE_URL = "http://testserver"
    return settings


@pytest.fixture
def admin_client(client, org_admin, consent_on):
    client.force_login(org_admin)
    return client


def start_consent(client, organization, name="Contoso", cloud="global"):
    response = client.post(reverse("tenants:link_consent_start", args=[organization.slug]),
                           {"name": name, "cloud": cloud})
    assert response.status_code == 302
    return response["Location"]


def state_of(url):
    return parse_qs(urlsplit(url).query)["state"][0]


def callback(client, **params):
    return client.get(reverse(CALLBACK), params)




# --- The consent URL ------------------------------------------------------------------------------------------


def test_consent_url_goes_to_the_clouds_v2_admin_consent_endpoint(admin_client, organization):
    url = start_consent(admin_client, organization)
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        "https://login.microsoftonline.com/organizations/v2.0/adminconsent")
    assert query["client_id"] == testing.PORTAL_CLIENT_ID
    assert query["scope"] == "https://graph.microsoft.com/.default"
    assert query["redirect_uri"] == "http://testserver/entra/consent/callback"
    assert len(query["state"]) >= 40
    request = ConsentRequest.objects.get()
    assert request.state_hash == ConsentRequest.hash_state(query["state"])
    assert (request.organization, request.link_name, request.cloud_key) == (organization, "Contoso", "global")


def test_consent_url_uses_the_chosen_clouds_hosts(admin_client, organization):
    url = start_consent(admin_client, organization, cloud="usgovdod")
    assert url.startswith("https://login.microsoftonline.us/organizations/v2.0/adminconsent?")
    assert "scope=https%3A%2F%2Fdod-graph.microsoft.us%2F.default" in url


def test_without_portal_app_consent_is_off_but_own_app_is_offered(client, org_admin, organization, settings):
    settings.ENTRA_CLIENT_ID = ""
    client.force_login(org_admin)
    page = client.get(reverse("tenants:link_list", args=[organization.slug])).content.decode()
    assert 'id="link-entra"' not in page
    assert "has not configured Signet's multi-tenant" in page
    assert 'id="link-own-app"' in page
    response = client.post(reverse("tenants:link_consent_start", args=[organization.slug]), {"name": "x",
                                                                                          "cloud": "global"})
    assert response.status_code == 302 and "login.microsoftonline" not in response["Location"]
    assert not ConsentRequest.objects.exists()


# --- The callback matrix ---------------------------------------------------------------------------------------


def test_success_links_the_tenant_proven_by_the_token(admin_client, organization, monkeypatch):
    fake = FakeGraph(monkeypatch)
    state = state_of(start_consent(admin_client, organization))
    response = callback(admin_client, admin_consent="True", tenant=TENANT, state=state,
                        scope="https://graph.microsoft.com/User.Read.All")
    assert response.status_code == 302
    assert response["Location"] == reverse("tenants:link_list", args=[organization.slug])
    link = EntraLink.objects.get()
    assert (link.organization, link.name, link.tenant_id) == (organization, "Contoso", TENANT)
    assert (link.tenant_name, link.initial_domain) == ("Contoso Ltd", "contoso.onmicrosoft.com")
    assert link.auth_method == EntraLink.AuthMethod.ADMIN_CONSENT and link.status == EntraLink.Status.LINKED
    assert link.consented_at is not None and link.next_sync_at is not None
    assert fake.token_calls == [TENANT]
    assert ConsentRequest.objects.get().outcome == "linked"
    assert outcomes() == ["linked"]
    page = admin_client.get(response["Location"]).content.decode()
    assert "Linked Contoso Ltd (contoso.onmicrosoft.com)" in page


def test_replay_of_a_good_callback_makes_exactly_one_link(admin_client, organization, monkeypatch):
    FakeGraph(monkeypatch)
    state = state_of(start_consent(admin_client, organization))
    params = {"admin_consent": "True", "tenant": TENANT, "state": state}
    callback(admin_client, **params)
    response = callback(admin_client, **params)
    assert EntraLink.objects.count() == 1
    assert sorted(outcomes()) == ["linked", "reused"]
    assert "already used" in admin_client.get(response["Location"]).content.decode()


@pytest.mark.parametrize("params, outcome, words", [
    ({"error": "consent_required", "admin_consent": "True",
      "error_description": "AADSTS65004: The resource owner or authorization server denied the request.\r\n"
                           "Trace ID: 1\r\nCorrelation ID: 2\r\nTimestamp: 2026-01-01 00:00:00Z"},
     "declined", "declined"),
    ({"error": "access_denied", "error_subcode": "cancel"}, "cancelled", "You cancelled"),
    ({"error": "server_error", "error_description": "AADSTS50000: There was an error issuing a token.",
      "admin_consent": "True", "tenant": TENANT}, "error", "AADSTS50000"),
    ({"admin_consent": "False", "tenant": TENANT}, "error", "did not confirm"),
])
def test_microsoft_errors_link_nothing_even_with_admin_consent_true(admin_client, organization, monkeypatch,
                                                                    params, outcome, words):
    fake = FakeGraph(monkeypatch)
    state = state_of(start_consent(admin_client, organization))
    response = callback(admin_client, state=state, **params)
    assert_nothing_linked(outcome)
    assert fake.token_calls == []
    assert ConsentRequest.objects.get().outcome == outcome
    assert words in admin_client.get(response["Location"]).content.decode()


def test_missing_state_links_nothing_and_says_what_to_do(admin_client, organization, monkeypatch):
    FakeGraph(monkeypatch)
    start_consent(admin_client, organization)
    response = callback(admin_client, admin_consent="True", tenant=TENANT)
    assert response.status_code == 400
    assert "Start again with Link Entra ID" in response.content.decode()
    assert_nothing_linked("state_missing")
    assert LinkAttempt.objects.get().organization is None


def test_unknown_state_links_nothing(admin_client, organization, monkeypatch):
    FakeGraph(monkeypatch)
    start_consent(admin_client, organization)
    response = callback(admin_client, admin_consent="True", tenant=TENANT, state="forged-" + "x" * 40)
    assert response.status_code == 400
    assert_nothing_linked("state_unknown")


def test_expired_state_links_nothing(admin_client, organization, monkeypatch):
    FakeGraph(monkeypatch)
    state = state_of(start_consent(admin_client, organization))
    ConsentRequest.objects.update(created_at=timezone.now() - timedelta(minutes=11))
    response = callback(admin_client, admin_consent="True", tenant=TENANT, state=state)
    assert_nothing_linked("expired")
    assert "expired" in admin_client.get(response["Location"]).content.decode()
    # Used up too: a second try says so instead of linking.
    callback(admin_client, admin_consent="True", tenant=TENANT, state=state)
    assert_nothing_linked("reused")


def test_state_of_another_session_links_nothing_and_stays_usable_by_its_owner(
        admin_client, org_admin, organization, monkeypatch):
    FakeGraph(monkeypatch)
    state = state_of(start_consent(admin_client, organization))
    other_browser = Client()
    other_browser.force_login(org_admin)  # same person, another session
    callback(other_browser, admin_consent="True", tenant=TENANT, state=state)
    attacker = Client()
    attacker.force_login(factories.make_member(organization, "admin"))
    callback(attacker, admin_consent="True", tenant=TENANT, state=state)
    assert_nothing_linked("other_session")
    assert outcomes().count("other_session") == 2
    callback(admin_client, admin_consent="True", tenant=TENANT, state=state)
    assert EntraLink.objects.count() == 1


def test_state_bound_to_an_organisation_the_user_may_not_link_links_nothing(
        admin_client, org_admin, organization, other_org, monkeypatch):
    FakeGraph(monkeypatch)
    state = state_of(start_consent(admin_client, organization))
    Membership.objects.filter(user=org_admin, organization=organization).update(role="editor")
    callback(admin_client, admin_consent="True", tenant=TENANT, state=state)
    assert_nothing_linked("other_organization")


def test_state_row_of_another_organisation_not_begun_in_this_session_links_nothing(
        admin_client, org_admin, organization, other_org, monkeypatch):
    FakeGraph(monkeypatch)
    start_consent(admin_client, organization)
    Membership.objects.create(user=org_admin, organization=other_org, role="admin")
    planted = "planted-state-" + "y" * 30
    ConsentRequest.objects.create(organization=other_org, user=org_admin, link_name="x", cloud_key="global",
                                  session_key=admin_client.session.session_key,
                                  state_hash=ConsentRequest.hash_state(planted))
    callback(admin_client, admin_consent="True", tenant=TENANT, state=planted)
    assert_nothing_linked("other_organization")


def test_forged_tenant_parameter_links_nothing(admin_client, organization, monkeypatch):
    FakeGraph(monkeypatch, tid=str(uuid.uuid4()))  # the token says another tenant issued it
    state = state_of(start_consent(admin_client, organization))
    response = callback(admin_client, admin_consent="True", tenant=TENANT, state=state)
    assert_nothing_linked("tenant_mismatch")
    assert "does not match" in admin_client.get(response["Location"]).content.decode()


def test_organization_of_another_tenant_links_nothing(admin_client, organization, monkeypatch):
    FakeGraph(monkeypatch, org_id=str(uuid.uuid4()))
    state = state_of(start_consent(admin_client, organization))
    callback(admin_client, admin_consent="True", tenant=TENANT, state=state)
    assert_nothing_linked("tenant_mismatch")


def test_tenant_that_is_not_a_guid_links_nothing(admin_client, organization, monkeypatch):
    fake = FakeGraph(monkeypatch)
    state = state_of(start_consent(admin_client, organization))
    callback(admin_client, admin_consent="True", tenant="../common", state=state)
    assert_nothing_linked("tenant_mismatch")
    assert fake.token_calls == []


def test_signed_out_callback_links_nothing(client, consent_on, db):
    response = callback(client, admin_consent="True", tenant=TENANT, state="whatever")
    assert response.status_code == 400 and "signed out" in response.content.decode()
    assert_nothing_linked("signed_out")


def test_token_failure_after_consent_retries_then_reports_entras_reason(admin_client, organization, monkeypatch):
    calls = []

    def refuse(link):
        calls.append(link.tenant_id)
        raise graph.GraphAuthError("x", aadsts=7000229)

    monkeypatch.setattr(graph, "acquire_token", refuse)
    monkeypatch.setattr(linking, "sleep", lambda seconds: None)
    state = state_of(start_consent(admin_client, organization))
    response = callback(admin_client, admin_consent="True", tenant=TENANT, state=state)
    assert_nothing_linked("token_failed")
    assert len(calls) == consent.CONSENT_TOKEN_ATTEMPTS
    assert "must grant admin consent again" in admin_client.get(response["Location"]).content.decode()


def test_relinking_a_tenant_reuses_its_row(admin_client, organization, monkeypatch):
    FakeGraph(monkeypatch)
    old = factories.make_link(organization, name="Old", tenant_id=TENANT, status=EntraLink.Status.UNLINKED,
                              client_secret="old-secret-value")
    state = state_of(start_consent(admin_client, organization, name="Contoso again"))
    callback(admin_client, admin_consent="True", tenant=TENANT, state=state)
    link = EntraLink.objects.get()
    assert link.pk == old.pk
    assert (link.name, link.status, link.auth_method) == ("Contoso again", "linked", "admin_consent")
    assert link.client_secret_encrypted == "" and link.client_credential() == testing.PORTAL_CLIENT_SECRET


def test_a_tenant_linked_by_another_organisation_gets_its_own_row(admin_client, organization, other_org,
                                                                  monkeypatch):
    FakeGraph(monkeypatch)
    theirs = factories.make_link(other_org, tenant_id=TENANT)
    state = state_of(start_consent(admin_client, organization))
    callback(admin_client, admin_consent="True", tenant=TENANT, state=state)
    mine = EntraLink.objects.for_org(organization).get()
    assert mine.pk != theirs.pk
    theirs.refresh_from_db()
    assert theirs.auth_method == EntraLink.AuthMethod.CLIENT_SECRET


# --- Against the emulator --------------------------------------------------------------------------------------


def answer_consent(emu, url, action):
    """Do what the admin does on the emulator's consent page; return the callback's query parameters."""
    http = emu.session()
    assert http.get(url).status_code == 200
    parts = urlsplit(url)
    form = {k: v[0] for k, v in parse_qs(parts.query).items()}
    form.update(action=action, admin=emu.tenant.admin()["userPrincipalName"])
    response = http.post(f"{parts.scheme}://{parts.netloc}{parts.path}", data=form, allow_redirects=False)
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith("http://127.0.0.1:8000/entra/consent/callback?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def test_consent_against_the_emulator_links_its_tenant(client, org_admin, organization, emu):
    client.force_login(org_admin)
    url = start_consent(client, organization, cloud="custom")
    assert url.startswith(f"{emu.browser_url}/organizations/v2.0/adminconsent?")
    callback(client, **answer_consent(emu, url, "accept"))
    link = EntraLink.objects.get()
    assert (link.tenant_id, link.tenant_name, link.initial_domain) == (
        emu.tenant.id, emu.tenant.display_name, emu.tenant.initial_domain)
    assert link.client_id == testing.PORTAL_CLIENT_ID
    assert graph_reads.get_organization(link)["id"] == emu.tenant.id


def test_declining_on_the_emulator_links_nothing(client, org_admin, organization, emu):
    client.force_login(org_admin)
    params = answer_consent(emu, start_consent(client, organization, cloud="custom"), "decline")
    assert params["admin_consent"] == "True" and params["error"] == "consent_required"
    callback(client, **params)
    assert_nothing_linked("declined")


def test_forged_tenant_of_a_tenant_without_consent_links_nothing(client, org_admin, organization, emu,
                                                                 monkeypatch):
    monkeypatch.setattr(linking, "sleep", lambda seconds: None)
    client.force_login(org_admin)
    params = answer_consent(emu, start_consent(client, organization, cloud="custom"), "accept")
    params["tenant"] = emu.second_tenant.id  # consent happened in the first tenant only
    callback(client, **params)
    assert_nothing_linked("token_failed")

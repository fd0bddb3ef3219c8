"""Check connectivity against the emulator: all green, then precise red results after it revokes things."""
from datetime import date

import pytest

from directory_sync import graph
from entra_emulator import testing
from tenants import connectivity, linking
from tenants.models import EntraLink
from tests import factories


@pytest.fixture
def own_link(organization, emu):
    link = linking.link_own_app(organization, name="Own", cloud_key="custom", tenant=emu.tenant.id,
                                client_id=emu.own_app.client_id, client_secret=emu.own_app.client_secret,
                                secret_expires_on=date(2026, 3, 12))
    yield link
    graph.forget_link(link)


@pytest.fixture
def consent_link(organization, emu):
    emu.control.grant_consent(emu.tenant.id, testing.PORTAL_CLIENT_ID)
    link = factories.make_link(organization, name="Consent", cloud_key="custom", tenant_id=emu.tenant.id,
                               auth_method=EntraLink.AuthMethod.ADMIN_CONSENT, own_client_id="", client_secret="")
    yield link
    graph.forget_link(link)


def permissions(result):
    return {p["name"]: p for p in result["permissions"]}


def steps(result):
    return {s["key"]: s for s in result["steps"]}


def test_all_green_when_everything_is_granted(own_link):
    result = connectivity.check_connectivity(own_link)
    assert result["ok"], result
    assert {name: p["status"] for name, p in permissions(result).items()} == {
        "Organization.Read.All": "ok", "User.Read.All": "ok", "GroupMember.Read.All": "ok",
        "OrgContact.Read.All": "ok", "MailboxSettings.Read": "ok"}
    assert all(step["status"] in ("ok", "not_checked") for step in result["steps"])
    assert steps(result)["user"]["status"] == "ok" and steps(result)["members"]["status"] == "ok"
    own_link.refresh_from_db()
    assert own_link.last_check["ok"] and own_link.last_check_at is not None
    assert own_link.status == EntraLink.Status.LINKED


def test_reads_the_user_with_the_default_select_and_one_of_each_thing(own_link, emu):
    emu.control.clear_requests()
    connectivity.check_connectivity(own_link)
    paths = [entry["path"] for entry in emu.control.requests()]
    assert any(p.startswith("/v1.0/organization") for p in paths)
    user_call = next(p for p in paths if p.startswith("/v1.0/users?"))
    assert "$top=1" in user_call and "givenName" in user_call and "jobTitle" in user_call
    assert any(p.startswith("/v1.0/groups?") for p in paths)
    assert any("/members?" in p for p in paths)
    assert any(p.startswith("/v1.0/contacts?") for p in paths)
    assert any("/photos/48x48/$value" in p for p in paths)


def test_revoked_consent_is_red_with_the_fix(consent_link, emu):
    assert connectivity.check_connectivity(consent_link)["ok"]  # a token is now cached
    emu.control.revoke_consent(emu.tenant.id, testing.PORTAL_CLIENT_ID)
    result = connectivity.check_connectivity(consent_link)
    assert not result["ok"]
    assert "grant admin consent again" in result["summary"]
    assert all(p["status"] != "ok" for p in result["permissions"])
    consent_link.refresh_from_db()
    assert consent_link.status == EntraLink.Status.NEEDS_CONSENT
    assert consent_link.last_check["ok"] is False


def test_revoked_consent_before_any_token_stops_at_the_token(consent_link, emu):
    emu.control.revoke_consent(emu.tenant.id, testing.PORTAL_CLIENT_ID)
    result = connectivity.check_connectivity(consent_link)
    token = steps(result)["token"]
    assert token["status"] == "failing"
    assert token["fix"].startswith("Signet's app is no longer consented in this tenant: grant admin consent again")
    assert {p["status"] for p in result["permissions"]} == {"not_checked"}
    consent_link.refresh_from_db()
    assert consent_link.status == EntraLink.Status.NEEDS_CONSENT


def test_own_app_without_any_granted_permission_is_red_everywhere(own_link, emu):
    # In its home tenant the app keeps its service principal: tokens come, without roles, and Graph says 403.
    emu.control.revoke_consent(emu.tenant.id, emu.own_app.client_id)
    result = connectivity.check_connectivity(own_link)
    assert not result["ok"]
    rows = permissions(result)
    assert {name for name, p in rows.items() if p["status"] == "failing"} == {
        "Organization.Read.All", "User.Read.All", "GroupMember.Read.All", "OrgContact.Read.All"}
    assert rows["MailboxSettings.Read"]["status"] == "not_checked"  # no user was readable to try it on
    assert result["summary"] == (
        "The app is missing 4 permissions: Organization.Read.All, User.Read.All, GroupMember.Read.All, "
        "OrgContact.Read.All. Grant them in the app registration's API permissions (type Application) and grant "
        "admin consent again.")


@pytest.mark.parametrize("permission, step", [
    ("OrgContact.Read.All", "contact"), ("GroupMember.Read.All", "group"), ("User.Read.All", "user")])
def test_one_revoked_permission_is_red_with_its_fix(own_link, emu, permission, step):
    emu.control.revoke_permission(emu.tenant.id, emu.own_app.client_id, permission)
    result = connectivity.check_connectivity(own_link)
    assert not result["ok"]
    rows = permissions(result)
    assert rows[permission]["status"] == "failing"
    assert permission in rows[permission]["fix"] and "grant admin consent again" in rows[permission]["fix"]
    others = {name for name, p in rows.items() if name not in (permission, "MailboxSettings.Read")}
    assert all(rows[name]["status"] in ("ok", "not_checked") for name in others)
    assert rows["Organization.Read.All"]["status"] == "ok"
    assert steps(result)[step]["status"] == "failing"
    own_link.refresh_from_db()
    assert own_link.status == EntraLink.Status.LINKED  # the link works; one permission is missing


def test_missing_optional_mailbox_permission_stays_green(own_link, emu):
    emu.control.revoke_permission(emu.tenant.id, emu.own_app.client_id, "MailboxSettings.Read")
    result = connectivity.check_connectivity(own_link)
    assert result["ok"]
    assert permissions(result)["MailboxSettings.Read"]["status"] == "failing"


def test_expired_secret_says_when_and_what_to_do(own_link, emu):
    emu.control.expire_secret(emu.own_app.client_id)
    graph.forget_link(own_link)  # a fresh sign-in, as after the cached token expires
    result = connectivity.check_connectivity(own_link)
    assert not result["ok"]
    assert ("The client secret expired on 12 March 2026: create a new one in Certificates & secrets of the app "
            "registration and paste it here") in result["summary"]
    own_link.refresh_from_db()
    assert own_link.status == EntraLink.Status.CREDENTIALS_EXPIRED


def test_a_fixed_link_turns_green_and_linked_again(consent_link, emu):
    emu.control.revoke_consent(emu.tenant.id, testing.PORTAL_CLIENT_ID)
    connectivity.check_connectivity(consent_link)
    emu.control.grant_consent(emu.tenant.id, testing.PORTAL_CLIENT_ID)
    graph.forget_link(consent_link)
    assert connectivity.check_connectivity(consent_link)["ok"]
    consent_link.refresh_from_db()
    assert consent_link.status == EntraLink.Status.LINKED


def test_extra_steps_can_be_added(own_link):
    extra = connectivity.Step("matching", "Count matching users", "User.Read.All", lambda link, facts: "42 users")
    result = connectivity.check_connectivity(own_link, steps=[*connectivity.STEPS, extra])
    assert steps(result)["matching"] == {"key": "matching", "label": "Count matching users",
                                         "permission": "User.Read.All", "status": "ok", "detail": "42 users",
                                         "fix": "", "problem": ""}

"""Integration pages: who may do what (outsiders 404, editors 403), and the own-app, check and unlink flows."""
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from directory_sync import graph
from entra_emulator import testing
from tenants.models import EntraLink, LinkAttempt
from tests import factories

# (url name, needs a link id, method)
LINK_URLS = [
    ("tenants:link_edit", True, "get"),
    ("tenants:link_edit", True, "post"),
    ("tenants:link_check", True, "post"),
    ("tenants:link_unlink", True, "get"),
    ("tenants:link_unlink", True, "post"),
    ("tenants:link_relink", True, "post"),
    ("tenants:link_delete", True, "get"),
    ("tenants:link_delete", True, "post"),
]
ORG_URLS = [
    ("tenants:link_list", False, "get"),
    ("tenants:link_consent_start", False, "get"),
    ("tenants:link_consent_start", False, "post"),
    ("tenants:link_own_app", False, "get"),
    ("tenants:link_own_app", False, "post"),
]


def url_for(name, link, needs_link):
    args = [link.organization.slug] + ([link.pk] if needs_link else [])
    return reverse(name, args=args)


@pytest.fixture(autouse=True)
def consent_configured(settings):
    settings.ENTRA_CLIENT_ID = testing.PORTAL_CLIENT_ID
    settings.ENTRA_CLIENT_SECRET = testing.PORTAL_CLIENT_SECRET


def test_the_lists_above_cover_every_link_url():
    from tenants import urls

    names = {f"tenants:{p.name}" for p in urls.urlpatterns if p.name.startswith("link_") and "org_slug" in
             p.pattern.regex.pattern}
    assert names == {name for name, _, _ in LINK_URLS + ORG_URLS}


@pytest.mark.parametrize("name, needs_link, method", LINK_URLS + ORG_URLS)
def test_outsider_gets_404_on_every_link_url(client, other_org_admin, link, name, needs_link, method):
    client.force_login(other_org_admin)
    response = getattr(client, method)(url_for(name, link, needs_link))
    assert response.status_code == 404
    link.refresh_from_db()
    assert link.status == EntraLink.Status.LINKED and link.has_credential


@pytest.mark.parametrize("name, needs_link, method", LINK_URLS)
def test_admin_of_another_org_gets_404_for_this_orgs_link_inside_their_own_org(client, other_org_admin, link,
                                                                            other_link, name, needs_link, method):
    client.force_login(other_org_admin)
    url = reverse(name, args=[other_link.organization.slug, link.pk])  # their org in the URL, our link's id
    assert getattr(client, method)(url).status_code == 404
    link.refresh_from_db()
    assert link.status == EntraLink.Status.LINKED


@pytest.mark.parametrize("name, needs_link, method", LINK_URLS + ORG_URLS[1:])
def test_editor_cannot_link_check_or_unlink(client, org_editor, link, name, needs_link, method):
    client.force_login(org_editor)
    response = getattr(client, method)(url_for(name, link, needs_link))
    assert response.status_code == 403
    link.refresh_from_db()
    assert link.status == EntraLink.Status.LINKED and link.has_credential and not link.last_check


def test_editor_sees_the_integration_page_without_buttons(client, org_editor, link):
    client.force_login(org_editor)
    page = client.get(reverse("tenants:link_list", args=[link.organization.slug])).content.decode()
    assert link.name in page and link.tenant_name in page
    assert "Check connectivity" not in page and "Unlink" not in page and 'id="link-entra"' not in page


def test_anonymous_is_sent_to_sign_in(client, link):
    response = client.get(reverse("tenants:link_list", args=[link.organization.slug]))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_admin_sees_buttons_and_both_ways_to_link(client, org_admin, link):
    client.force_login(org_admin)
    page = client.get(reverse("tenants:link_list", args=[link.organization.slug])).content.decode()
    assert "Check connectivity" in page and "Unlink" in page
    assert 'id="link-entra"' in page and 'id="link-own-app"' in page


def test_unlink_confirms_then_stops_syncs_and_keeps_the_row(client, org_admin, link):
    client.force_login(org_admin)
    EntraLink.objects.filter(pk=link.pk).update(next_sync_at=timezone.now())
    url = reverse("tenants:link_unlink", args=[link.organization.slug, link.pk])
    assert "Unlink" in client.get(url).content.decode()
    link.refresh_from_db()
    assert link.status == EntraLink.Status.LINKED  # GET only asks
    response = client.post(url)
    assert response.status_code == 302
    link.refresh_from_db()
    assert link.status == EntraLink.Status.UNLINKED and link.next_sync_at is None and not link.has_credential
    page = client.get(response["Location"]).content.decode()
    assert "Unlinked tenants" in page and "Link again" in page


def test_relink_of_an_own_app_link_goes_to_its_form(client, org_admin, link):
    client.force_login(org_admin)
    response = client.post(reverse("tenants:link_relink", args=[link.organization.slug, link.pk]))
    assert response["Location"] == reverse("tenants:link_edit", args=[link.organization.slug, link.pk])


def test_relink_of_a_consent_link_starts_consent_again(client, org_admin, organization):
    link = factories.make_link(organization, auth_method=EntraLink.AuthMethod.ADMIN_CONSENT, client_secret="",
                               status=EntraLink.Status.UNLINKED)
    client.force_login(org_admin)
    response = client.post(reverse("tenants:link_relink", args=[organization.slug, link.pk]))
    assert "/organizations/v2.0/adminconsent?" in response["Location"]


def test_expiry_warnings_show_on_dashboard_and_integration_page(client, org_admin, organization):
    today = timezone.localdate()
    soon = factories.make_link(organization, name="Soon", secret_expires_on=today + timedelta(days=20))
    gone = factories.make_link(organization, name="Gone", secret_expires_on=today - timedelta(days=1))
    factories.make_link(organization, name="Fine", secret_expires_on=today + timedelta(days=90))
    client.force_login(org_admin)
    for url in (reverse("dashboard", args=[organization.slug]),
                reverse("tenants:link_list", args=[organization.slug])):
        page = client.get(url).content.decode()
        assert page.count("expiry-warning") == 2
        assert f"expires on {soon.secret_expires_on:%-d %B %Y}" in page
        assert f"expired on {gone.secret_expires_on:%-d %B %Y}" in page


# --- Through the views, against the emulator --------------------------------------------------------------------


def own_app_form(emu, **overrides):
    data = {"name": "Own app", "cloud": "custom", "tenant": emu.tenant.initial_domain,
            "client_id": emu.own_app.client_id, "credential": "secret", "client_secret": emu.own_app.client_secret}
    data.update(overrides)
    return data


def test_own_app_form_links_and_the_check_is_green(client, org_admin, organization, emu):
    client.force_login(org_admin)
    response = client.post(reverse("tenants:link_own_app", args=[organization.slug]), own_app_form(emu))
    assert response.status_code == 302, response.content.decode()
    link = EntraLink.objects.get()
    assert link.tenant_id == emu.tenant.id
    page = client.get(response["Location"]).content.decode()
    assert f"Linked {emu.tenant.display_name}" in page
    response = client.post(reverse("tenants:link_check", args=[organization.slug, link.pk]))
    page = client.get(response["Location"]).content.decode()
    assert "Connectivity OK" in page and 'data-permission="User.Read.All" data-status="ok"' in page
    graph.forget_link(link)


def test_the_check_under_a_throttling_storm_answers_at_once_instead_of_waiting(client, org_admin, organization, emu,
                                                                                 monkeypatch):
    """A person waits on this page: a 2-minute Retry-After is reported, not waited out (which would outlive the
    web worker's timeout and show a gateway error)."""
    client.force_login(org_admin)
    client.post(reverse("tenants:link_own_app", args=[organization.slug]), own_app_form(emu))
    link = EntraLink.objects.get()
    waits = []
    monkeypatch.setattr(graph, "sleep", waits.append)
    emu.control.add_fault("429 path=/v1.0/* count=100 retry_after=120")
    response = client.post(reverse("tenants:link_check", args=[organization.slug, link.pk]))
    page = client.get(response["Location"]).content.decode()
    emu.control.clear_faults()
    assert "Connectivity OK" not in page and "limiting how fast" in page
    assert "Run the check again in a few minutes" in page  # passing trouble: nothing for the admin to change
    assert "The app is missing" not in page  # throttled steps say nothing about permissions
    assert waits == []
    graph.forget_link(link)


def test_own_app_form_with_a_wrong_secret_explains_and_saves_nothing(client, org_admin, organization, emu):
    client.force_login(org_admin)
    response = client.post(reverse("tenants:link_own_app", args=[organization.slug]),
                           own_app_form(emu, client_secret="wrong-value-123"))
    page = response.content.decode()
    assert response.status_code == 200 and "The client secret is wrong" in page
    assert "wrong-value-123" not in page
    assert not EntraLink.objects.exists()
    assert LinkAttempt.objects.get().outcome == "token_failed"


def test_own_app_form_with_a_pfx_upload(client, org_admin, organization, emu):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(org_admin)
    pfx = SimpleUploadedFile("app.pfx", emu.own_app.pfx_bytes("s3cret-pass"), "application/x-pkcs12")
    response = client.post(reverse("tenants:link_own_app", args=[organization.slug]),
                           own_app_form(emu, credential="pfx", client_secret="", pfx_file=pfx,
                                        passphrase="s3cret-pass"))
    assert response.status_code == 302, response.content.decode()
    link = EntraLink.objects.get()
    assert link.auth_method == "certificate" and link.certificate_expires_at is not None
    assert "s3cret-pass" not in str(EntraLink.objects.values().get())


def test_editing_without_a_new_secret_keeps_the_saved_one(client, org_admin, organization, emu):
    client.force_login(org_admin)
    client.post(reverse("tenants:link_own_app", args=[organization.slug]), own_app_form(emu))
    link = EntraLink.objects.get()
    url = reverse("tenants:link_edit", args=[organization.slug, link.pk])
    page = client.get(url).content.decode()
    assert "•••• saved; leave empty to keep" in page and emu.own_app.client_secret not in page
    response = client.post(url, own_app_form(emu, name="Renamed", client_secret="", tenant=emu.tenant.id))
    assert response.status_code == 302, response.content.decode()
    link.refresh_from_db()
    assert link.name == "Renamed" and link.client_credential() == emu.own_app.client_secret
    assert EntraLink.objects.count() == 1


def test_own_app_for_a_tenant_already_linked_reuses_its_row(client, org_admin, organization, emu):
    old = factories.make_link(organization, name="Old", cloud_key="custom", tenant_id=emu.tenant.id,
                              status=EntraLink.Status.UNLINKED, client_secret="")
    client.force_login(org_admin)
    client.post(reverse("tenants:link_own_app", args=[organization.slug]), own_app_form(emu))
    assert list(EntraLink.objects.values_list("pk", "status")) == [(old.pk, "linked")]


def test_unknown_tenant_guid_in_the_form(client, org_admin, organization, emu):
    client.force_login(org_admin)
    response = client.post(reverse("tenants:link_own_app", args=[organization.slug]),
                           own_app_form(emu, tenant=str(uuid.uuid4())))
    assert response.status_code == 200 and "check the tenant ID" in response.content.decode()
    assert not EntraLink.objects.exists()

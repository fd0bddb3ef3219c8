"""Sign-up, sign-in by email, invitations (expired, reused, tampered, revoked) and organisation creation."""
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from tenants import onboarding
from tenants.models import Invitation, Membership, Organization
from tests import factories

pytestmark = pytest.mark.django_db


def test_sign_up_creates_organisation_with_owner_and_lands_on_dashboard(client):
    response = client.post(reverse("signup"), {
        "email": "ada@example.com", "password": "a-long-unusual-passphrase", "organization_name": "Analytical Engines",
    })
    organization = Organization.objects.get(name="Analytical Engines")
    assert response.status_code == 302
    assert response.url == reverse("dashboard", args=[organization.slug])
    membership = Membership.objects.get(organization=organization)
    assert (membership.user.email, membership.role) == ("ada@example.com", "owner")
    dashboard = client.get(response.url).content.decode()
    assert "Link Entra ID" in dashboard and "Analytical Engines" in dashboard


def test_sign_up_rejects_weak_password_and_taken_email(client):
    factories.make_user("taken@example.com")
    response = client.post(reverse("signup"), {
        "email": "Taken@example.com", "password": "12345", "organization_name": "X",
    })
    assert response.status_code == 200
    form = response.context["form"]
    assert "email" in form.errors and "password" in form.errors
    assert not Organization.objects.filter(name="X").exists()


def test_login_by_email_case_insensitive(client):
    factories.make_user("Grace@Example.com")
    response = client.post(reverse("login"), {"username": "grace@example.com", "password": factories.PASSWORD})
    assert response.status_code == 302


def test_password_reset_sends_an_email_with_a_working_link(client):
    factories.make_user("reset@example.com")
    client.post(reverse("password_reset"), {"email": "reset@example.com"})
    assert len(mail.outbox) == 1
    link = next(line for line in mail.outbox[0].body.splitlines() if "/password-reset/" in line)
    path = link[link.index("/password-reset/"):].strip()
    response = client.get(path, follow=True)
    assert response.context["validlink"]


def test_organisation_slugs_are_unique():
    a = factories.make_organization("Same Name")
    b = factories.make_organization("Same Name")
    assert a.slug != b.slug


def test_invite_sends_link_and_editor_accepts_by_signing_up(client, organization, org_admin):
    client.force_login(org_admin)
    response = client.post(reverse("tenants:member_list", args=[organization.slug]),
                           {"email": "ed@acme.test", "role": "editor"}, follow=True)
    link = response.context["invitation_link"]
    assert link in mail.outbox[0].body
    client.logout()
    path = link[link.index("/invite/"):]
    response = client.post(path, {"email": "ed@acme.test", "password": "another-long-passphrase"})
    assert response.status_code == 302
    membership = Membership.objects.get(organization=organization, user__email="ed@acme.test")
    assert membership.role == "editor"
    # Single use: the same link now says so.
    client.logout()
    again = client.get(path)
    assert again.status_code == 410
    assert "already been used" in again.content.decode()


def test_signed_in_user_accepts_invitation_and_keeps_higher_role(client, organization, other_org, other_org_admin):
    _, token = onboarding.invite(organization, "admin@globex.test", "editor", None)
    client.force_login(other_org_admin)
    assert client.get(reverse("tenants:invitation_accept", args=[token])).status_code == 200
    response = client.post(reverse("tenants:invitation_accept", args=[token]))
    assert response.url == reverse("dashboard", args=[organization.slug])
    assert Membership.objects.get(organization=organization, user=other_org_admin).role == "editor"


@pytest.mark.parametrize("case", ["expired", "reused", "tampered", "revoked", "garbage"])
def test_bad_invitation_links_are_refused(client, organization, case):
    invitation, token = onboarding.invite(organization, "x@acme.test", "admin", None)
    if case == "expired":
        Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif case == "reused":
        onboarding.accept_invitation(token, factories.make_user("first@acme.test"))
    elif case == "tampered":
        token = token[:-1] + ("A" if token[-1] != "A" else "B")
    elif case == "revoked":
        Invitation.objects.filter(pk=invitation.pk).update(revoked_at=timezone.now())
    elif case == "garbage":
        token = "not-a-token"
    members_before = Membership.objects.filter(organization=organization).count()
    url = reverse("tenants:invitation_accept", args=[token])
    assert client.get(url).status_code == 410
    response = client.post(url, {"email": "mallory@evil.test", "password": "another-long-passphrase"})
    assert response.status_code == 410
    assert Membership.objects.filter(organization=organization).count() == members_before
    assert not Membership.objects.filter(user__email="mallory@evil.test").exists()


def test_invitation_token_is_not_stored_in_clear(organization):
    invitation, token = onboarding.invite(organization, "x@acme.test", "editor", None)
    assert token not in invitation.token_hash
    assert invitation.token_hash == Invitation.hash_token(token)


def test_member_creates_another_organisation_and_owns_it(client, org_editor):
    client.force_login(org_editor)
    response = client.post(reverse("tenants:org_create"), {"name": "Side Project"})
    organization = Organization.objects.get(name="Side Project")
    assert response.url == reverse("dashboard", args=[organization.slug])
    assert Membership.objects.get(organization=organization, user=org_editor).role == "owner"


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}

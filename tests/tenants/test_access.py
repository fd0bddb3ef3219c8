"""Every URL of the organisation shell in every role: owner, admin, editor, outsider (404), anonymous (login)."""
import pytest
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db

# (url name, extra args, minimum role for GET). None = every member may GET.
PAGES = [
    ("dashboard", [], None),
    ("tenants:member_list", [], None),
    ("tenants:link_list", [], None),
    ("tenants:org_settings", [], "admin"),
]


@pytest.fixture
def people(organization, org_owner, org_admin, org_editor, other_org_admin):
    return {"owner": org_owner, "admin": org_admin, "editor": org_editor, "outsider": other_org_admin}


EXPECTED = {
    None: {"owner": 200, "admin": 200, "editor": 200, "outsider": 404},
    "admin": {"owner": 200, "admin": 200, "editor": 403, "outsider": 404},
}


@pytest.mark.parametrize("name,args,min_role", PAGES)
@pytest.mark.parametrize("who", ["owner", "admin", "editor", "outsider"])
def test_page_access_by_role(client, organization, people, name, args, min_role, who):
    client.force_login(people[who])
    response = client.get(reverse(name, args=[organization.slug, *args]))
    assert response.status_code == EXPECTED[min_role][who], f"{who} on {name}"


@pytest.mark.parametrize("name,args,min_role", PAGES)
def test_anonymous_is_sent_to_login(client, organization, name, args, min_role):
    response = client.get(reverse(name, args=[organization.slug, *args]))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_unknown_organisation_is_404_even_for_members_of_others(client, org_owner):
    client.force_login(org_owner)
    assert client.get(reverse("dashboard", args=["no-such-org"])).status_code == 404


def test_outsider_cannot_post_to_member_actions(client, organization, org_editor, other_org_admin):
    membership = organization.memberships.get(user=org_editor)
    client.force_login(other_org_admin)
    for name, args in [
        ("tenants:member_update", [membership.pk]),
        ("tenants:member_remove", [membership.pk]),
        ("tenants:member_list", []),
    ]:
        response = client.post(reverse(name, args=[organization.slug, *args]), {"role": "owner", "email": "x@y.z"})
        assert response.status_code == 404, name
    membership.refresh_from_db()
    assert membership.role == "editor"


def test_admin_of_one_org_cannot_touch_member_of_another_through_own_slug(
    client, organization, other_org, org_admin, other_org_admin
):
    """The membership id belongs to the other organisation: looked up inside the URL's organisation, it is 404."""
    theirs = other_org.memberships.get(user=other_org_admin)
    client.force_login(org_admin)
    url = reverse("tenants:member_remove", args=[organization.slug, theirs.pk])
    assert client.post(url).status_code == 404
    assert other_org.memberships.filter(pk=theirs.pk).exists()


def test_editor_cannot_invite_or_change_roles(client, organization, org_editor, org_admin):
    client.force_login(org_editor)
    response = client.post(
        reverse("tenants:member_list", args=[organization.slug]), {"email": "new@acme.test", "role": "admin"}
    )
    assert response.status_code == 403
    admin_membership = organization.memberships.get(user=org_admin)
    url = reverse("tenants:member_update", args=[organization.slug, admin_membership.pk])
    assert client.post(url, {"role": "editor"}).status_code == 403
    assert not organization.invitation_set.exists()


def test_admin_cannot_promote_to_owner_or_demote_owner(client, organization, org_owner, org_admin, org_editor):
    client.force_login(org_admin)
    editor_membership = organization.memberships.get(user=org_editor)
    owner_membership = organization.memberships.get(user=org_owner)
    url = reverse("tenants:member_update", args=[organization.slug, editor_membership.pk])
    assert client.post(url, {"role": "owner"}).status_code == 403
    url = reverse("tenants:member_update", args=[organization.slug, owner_membership.pk])
    assert client.post(url, {"role": "editor"}).status_code == 403
    editor_membership.refresh_from_db()
    owner_membership.refresh_from_db()
    assert (editor_membership.role, owner_membership.role) == ("editor", "owner")


def test_last_owner_cannot_leave_or_be_demoted(client, organization, org_owner):
    client.force_login(org_owner)
    membership = organization.memberships.get(user=org_owner)
    assert client.post(reverse("tenants:member_update", args=[organization.slug, membership.pk]),
                       {"role": "admin"}).status_code == 403
    assert client.post(reverse("tenants:member_remove", args=[organization.slug, membership.pk])).status_code == 403
    membership.refresh_from_db()
    assert membership.role == "owner"


def test_admin_changes_editor_role(client, organization, org_admin, org_editor):
    client.force_login(org_admin)
    membership = organization.memberships.get(user=org_editor)
    response = client.post(reverse("tenants:member_update", args=[organization.slug, membership.pk]),
                           {"role": "admin"})
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.role == "admin"


def test_one_user_in_two_organisations_sees_both_in_the_switcher(client, organization, other_org, org_admin):
    factories.Membership.objects.create(user=org_admin, organization=other_org, role="editor")
    client.force_login(org_admin)
    page = client.get(reverse("dashboard", args=[organization.slug])).content.decode()
    assert reverse("dashboard", args=[other_org.slug]) in page
    assert client.get(reverse("dashboard", args=[other_org.slug])).status_code == 200


def test_member_changes_are_audited(client, organization, org_admin, org_editor):
    from portal.models import AuditEvent

    client.force_login(org_admin)
    membership = organization.memberships.get(user=org_editor)
    client.post(reverse("tenants:member_update", args=[organization.slug, membership.pk]), {"role": "admin"})
    client.post(reverse("tenants:member_list", args=[organization.slug]), {"email": "n@acme.test", "role": "editor"})
    client.post(reverse("tenants:member_remove", args=[organization.slug, membership.pk]))
    actions = list(AuditEvent.objects.filter(organization=organization).values_list("action", "target", "details"))
    assert ("member.role_changed", "editor@acme.test", {"before": "editor", "after": "admin"}) in actions
    assert ("member.invited", "n@acme.test", {"role": "editor"}) in actions
    assert ("member.removed", "editor@acme.test", {"role": "admin"}) in actions

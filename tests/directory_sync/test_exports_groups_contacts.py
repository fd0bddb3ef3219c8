"""CSV exports of the Groups and Contacts views: the page's search and link, the organisation's rows only,
formula cells defused, and a query count that does not grow with the rows."""

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from directory_sync import exports
from directory_sync.models import DirectoryGroup, GroupMembership, OrgContact
from portal.models import AuditEvent
from tests import factories
from tests.directory_sync import sync_factories as sf

pytestmark = pytest.mark.django_db

GROUP_HEADER = ["Entra link", "Name", "Email", "Description", "Graph id", "Direct members", "User members"]
CONTACT_HEADER = ["Entra link", "Name", "Email", "Company", "Job title", "Department", "Graph id"]


def _csv(response):
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))


def _export(client, name, organization, **params):
    return _csv(client.get(reverse(f"directory_sync:{name}", args=[organization.slug]), params))


def _member(group, graph_id, kind="user", is_direct=True):
    return GroupMembership.objects.create(
        organization_id=group.organization_id, link_id=group.link_id, group=group, member_graph_id=graph_id,
        member_type=kind, is_direct=is_direct,
    )


@pytest.fixture
def second_link(organization):
    return factories.make_link(organization, name="Acme Lab")


# --- Groups -------------------------------------------------------------------------------------------------


def test_group_export_counts_direct_members_and_users_through_nested_groups(
    client, org_editor, organization, link
):
    staff = sf.make_group(link, "All staff", members=["u-alice", "u-bob"])
    everyone = sf.make_group(link, "Everyone", members=["u-carol"])
    _member(everyone, staff.graph_id, kind="group")
    _member(everyone, "u-alice", is_direct=False)
    _member(everyone, "u-bob", is_direct=False)
    DirectoryGroup.objects.filter(pk=everyone.pk).update(mail="everyone@contoso.com", description="The lot")
    sf.make_group(link, "Gone", members=["u-alice"])
    DirectoryGroup.objects.filter(display_name="Gone").update(removed_at=timezone.now())
    sf.make_group(link, "Empty")
    client.force_login(org_editor)
    rows = _export(client, "group_export", organization)
    assert rows[0] == GROUP_HEADER
    assert rows[1:] == [
        ["Acme HQ", "All staff", "", "", staff.graph_id, "2", "2"],
        ["Acme HQ", "Empty", "", "", DirectoryGroup.objects.get(display_name="Empty").graph_id, "0", "0"],
        ["Acme HQ", "Everyone", "everyone@contoso.com", "The lot", everyone.graph_id, "2", "3"],
    ]


def test_group_export_follows_the_search_and_the_link(client, org_editor, organization, link, second_link):
    sf.make_group(link, "Sales team")
    sf.make_group(link, "Support team")
    sf.make_group(second_link, "Sales lab")
    client.force_login(org_editor)

    def names(**params):
        return [row[1] for row in _export(client, "group_export", organization, **params)[1:]]

    assert names() == ["Sales lab", "Sales team", "Support team"]
    assert names(q="sales") == ["Sales lab", "Sales team"]
    assert names(q="sales", link=link.pk) == ["Sales team"]
    assert names(link=second_link.pk) == ["Sales lab"]


def test_group_export_defuses_formulas(client, org_editor, organization, link):
    sf.make_group(link, '=HYPERLINK("http://evil.test","x")')
    DirectoryGroup.objects.update(description="+1 then -2", mail="@mail")
    client.force_login(org_editor)
    row = _export(client, "group_export", organization)[1]
    assert row[1:4] == ["'=HYPERLINK(\"http://evil.test\",\"x\")", "'@mail", "'+1 then -2"]


# --- Contacts -----------------------------------------------------------------------------------------------


def test_contact_export_has_the_columns_of_the_page(client, org_editor, organization, link):
    carla = sf.make_contact(
        link, "Carla Contractor", mail="carla@vendor.test", companyName="Vendor", jobTitle="Auditor",
        department="Finance",
    )
    gone = sf.make_contact(link, "Gone Contact")
    OrgContact.objects.filter(pk=gone.pk).update(removed_at=timezone.now())
    client.force_login(org_editor)
    rows = _export(client, "contact_export", organization)
    assert rows == [
        CONTACT_HEADER,
        ["Acme HQ", "Carla Contractor", "carla@vendor.test", "Vendor", "Auditor", "Finance", carla.graph_id],
    ]


def test_contact_export_follows_the_search_and_the_link_and_defuses_formulas(
    client, org_editor, organization, link, second_link
):
    sf.make_contact(link, "Carla Contractor", mail="carla@vendor.test")
    sf.make_contact(link, "Dan Delivery", mail="dan@courier.test", companyName="=cmd|' /C calc'!A0")
    sf.make_contact(second_link, "Carl Lab", mail="carl@lab.test")
    client.force_login(org_editor)

    def names(**params):
        return sorted(row[1] for row in _export(client, "contact_export", organization, **params)[1:])

    assert names() == ["Carl Lab", "Carla Contractor", "Dan Delivery"]
    assert names(q="carl") == ["Carl Lab", "Carla Contractor"]
    assert names(q="vendor.test") == ["Carla Contractor"]
    assert names(link=second_link.pk) == ["Carl Lab"]
    assert _export(client, "contact_export", organization, q="dan")[1][3] == "'=cmd|' /C calc'!A0"


# --- Both: access, scoping, pages, cost ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["group_export", "contact_export"])
def test_exports_are_404_for_an_outsider_and_open_to_every_member(
    client, organization, org_editor, other_org_admin, link, name
):
    url = reverse(f"directory_sync:{name}", args=[organization.slug])
    assert client.get(url).status_code == 302  # to the login page
    client.force_login(other_org_admin)
    assert client.get(url).status_code == 404
    client.force_login(org_editor)  # like the Employees export: the editor role is enough
    assert client.get(url).status_code == 200
    assert client.post(url).status_code == 405


def test_another_organisations_link_in_the_query_exports_none_of_its_rows(
    client, org_admin, organization, link, other_link
):
    sf.make_group(link, "Acme group")
    sf.make_group(other_link, "Globex group")
    sf.make_contact(link, "Acme contact")
    sf.make_contact(other_link, "Globex contact")
    client.force_login(org_admin)
    # As on the Employees export, another organisation's link is no filter: none of its rows come out.
    groups = _export(client, "group_export", organization, link=other_link.pk)
    contacts = _export(client, "contact_export", organization, link=other_link.pk)
    assert [row[1] for row in groups[1:]] == ["Acme group"]
    assert [row[1] for row in contacts[1:]] == ["Acme contact"]


def test_exports_are_audited_with_their_filters(client, org_admin, organization, link):
    client.force_login(org_admin)
    _export(client, "group_export", organization, q="sales", link=link.pk)
    _export(client, "contact_export", organization)
    events = AuditEvent.objects.filter(organization=organization).order_by("pk")
    assert [(e.action, e.details) for e in events] == [
        ("sync.groups_exported", {"filters": f"q=sales&link={link.pk}"}),
        ("sync.contacts_exported", {"filters": ""}),
    ]


@pytest.mark.parametrize("page,export", [("group_list", "group_export"), ("contact_list", "contact_export")])
def test_pages_link_to_their_export_with_the_current_filters(
    client, org_editor, organization, link, second_link, page, export
):
    client.force_login(org_editor)
    url = reverse(f"directory_sync:{page}", args=[organization.slug])
    export_url = reverse(f"directory_sync:{export}", args=[organization.slug])
    assert f'href="{export_url}"' in client.get(url).content.decode()
    content = client.get(url, {"q": "a b", "link": second_link.pk}).content.decode()
    assert f'href="{export_url}?q=a+b&amp;link={second_link.pk}"' in content


def _make_groups_and_contacts(link, count):
    groups = DirectoryGroup.objects.bulk_create(
        DirectoryGroup(organization_id=link.organization_id, link=link, graph_id=f"bulk-g{i}",
                       display_name=f"Group {i:04d}", content_hash="x")
        for i in range(count)
    )
    GroupMembership.objects.bulk_create(
        GroupMembership(organization_id=link.organization_id, link=link, group=group, member_graph_id=f"u{j}",
                        member_type="user", is_direct=j % 2 == 0)
        for group in groups
        for j in range(3)
    )
    OrgContact.objects.bulk_create(
        OrgContact(organization_id=link.organization_id, link=link, graph_id=f"bulk-c{i}",
                   display_name=f"Contact {i:04d}", fields={"companyName": "Co"}, content_hash="x")
        for i in range(count)
    )


@pytest.mark.parametrize("name", ["group_export", "contact_export"])
def test_exports_run_a_constant_number_of_queries(client, org_admin, organization, link, monkeypatch, name):
    monkeypatch.setattr(exports, "CHUNK", 7)  # several chunks of the iterator for the larger listing

    def queries(count):
        DirectoryGroup.objects.all().delete()
        OrgContact.objects.all().delete()
        _make_groups_and_contacts(link, count)
        with CaptureQueriesContext(connection) as context:
            rows = _export(client, name, organization)
        assert len(rows) == count + 1
        return len(context.captured_queries)

    client.force_login(org_admin)
    assert queries(3) == queries(60)

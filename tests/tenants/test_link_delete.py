"""Integration > an unlinked tenant > Delete with its people: confirmed by typing the link's name, done in the
background, recorded in the audit log; refused for a tenant that is still linked."""
from django.urls import reverse

from directory_sync import tasks
from portal.models import AuditEvent
from tenants import linking
from tests.directory_sync.sync_factories import make_employees


def delete_url(link):
    return reverse("tenants:link_delete", args=[link.organization.slug, link.pk])


def test_an_unlinked_tenant_is_deleted_after_its_name_is_typed(client, org_admin, link, monkeypatch,
                                                               django_capture_on_commit_callbacks):
    make_employees(link, 7)
    linking.unlink(link)
    queued = []
    monkeypatch.setattr(tasks.erase_link, "delay", queued.append)
    client.force_login(org_admin)
    listing = client.get(reverse("tenants:link_list", args=[link.organization.slug])).content.decode()
    assert delete_url(link) in listing
    page = client.get(delete_url(link)).content.decode()
    assert "<strong>7</strong> people" in page

    wrong = client.post(delete_url(link), {"confirm": "not the name"})
    assert wrong.status_code == 200 and "Type the link&#x27;s name exactly" in wrong.content.decode()
    assert queued == []

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(delete_url(link), {"confirm": link.name})
    assert response.status_code == 302 and queued == [link.pk]
    event = AuditEvent.objects.get(action="link.deleted")
    assert event.target == link.name and event.details["people"] == 7


def test_a_linked_tenant_cannot_be_deleted(client, org_admin, link, monkeypatch):
    monkeypatch.setattr(tasks.erase_link, "delay", lambda *args: (_ for _ in ()).throw(AssertionError("queued")))
    client.force_login(org_admin)
    response = client.post(delete_url(link), {"confirm": link.name}, follow=True)
    assert "still linked: unlink it first" in response.content.decode()

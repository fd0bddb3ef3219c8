"""Deleting an unlinked link with everything synced from it (directory_sync.erasure), chunk by chunk, leaving
every other link untouched."""
import pytest

from directory_sync import engine, erasure, tasks
from directory_sync.models import (
    DirectoryGroup,
    Employee,
    EmployeePhoto,
    GroupMembership,
    OrgContact,
    PendingRemoval,
    SyncRun,
    SyncSettings,
)
from signatures import links
from signatures.models import SignatureAccess
from tenants import linking
from tenants.models import EntraLink
from tests import factories
from tests.directory_sync.sync_factories import make_employees


def rows_of(link):
    return {
        "people": Employee.objects.filter(link=link).count(),
        "groups": DirectoryGroup.objects.filter(link=link).count(),
        "memberships": GroupMembership.objects.filter(link=link).count(),
        "contacts": OrgContact.objects.filter(link=link).count(),
        "runs": SyncRun.objects.filter(link=link).count(),
        "settings": SyncSettings.objects.filter(link=link).count(),
    }


def test_an_unlinked_link_is_deleted_with_everything_synced_from_it(emu_link, organization, monkeypatch):
    assert engine.run_sync(emu_link).status == "succeeded"
    other = factories.make_link(organization, name="Fabrikam", tenant_id="22222222-3333-4444-5555-666666666666")
    make_employees(other, 12)
    before_other = rows_of(other)
    person = Employee.objects.filter(link=emu_link).first()
    assert EmployeePhoto.objects.filter(employee__link=emu_link).exists()  # the sync stored photos
    links.issue(person)
    run = SyncRun.objects.filter(link=emu_link).first()
    PendingRemoval.objects.create(organization=organization, link=emu_link, run=run, employee=person)
    assert rows_of(emu_link)["people"] == 150 and rows_of(emu_link)["memberships"] > 0

    with pytest.raises(erasure.StillLinked):
        erasure.erase_link(emu_link)
    linking.unlink(emu_link)
    monkeypatch.setattr(erasure, "CHUNK", 40)  # 150 people: four chunks
    assert tasks.erase_link(emu_link.pk) == 150

    assert not EntraLink.objects.filter(pk=emu_link.pk).exists()
    assert set(rows_of(emu_link).values()) == {0}
    assert not EmployeePhoto.objects.exists() and not PendingRemoval.objects.exists()
    assert not SignatureAccess.objects.exists()
    assert rows_of(other) == before_other
    assert tasks.erase_link(emu_link.pk) == 0  # a replayed task finds nothing to do


def test_the_task_leaves_a_link_that_was_linked_again_alone(link):
    make_employees(link, 3)
    assert tasks.erase_link(link.pk) == 0
    assert Employee.objects.filter(link=link).count() == 3

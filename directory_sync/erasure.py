"""Deleting an unlinked Entra link with everything synced from it: its people (with their photos, signature links
and held removals), groups and memberships, contacts, sync runs and settings.

Only for a link that is unlinked (nothing syncs it any more). Chunked, each chunk its own transaction, so a
100,000-person link neither holds one huge transaction nor loads every row at once; a deletion that stops part
way is finished by running it again.
"""
from django.db import transaction

from directory_sync.models import Employee, GroupMembership

CHUNK = 2000


class StillLinked(Exception):
    """The link is linked: unlink it first, so that no sync writes while its people are deleted."""


def erase_link(link) -> int:
    """Delete `link` and everything synced from it; returns how many people were deleted. Raises StillLinked
    for a link that is not unlinked."""
    if link.is_active:
        raise StillLinked(f"{link.name} is still linked; unlink it first.")
    GroupMembership.objects.filter(link=link).delete()  # nothing depends on these rows: one DELETE
    deleted = 0
    while True:
        with transaction.atomic():
            pks = list(Employee.objects.filter(link=link).values_list("pk", flat=True)[:CHUNK])
            if not pks:
                break
            # Django's cascade also deletes each person's photo, signature links and held removal.
            Employee.objects.filter(pk__in=pks).delete()
        deleted += len(pks)
    link.delete()  # and with it the groups, contacts, sync runs and settings
    return deleted

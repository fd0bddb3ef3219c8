"""Rows of the sync models for view, preview and export tests, made directly (no Graph, no engine)."""

import itertools

from django.utils import timezone

from directory_sync import rules
from directory_sync.models import DirectoryGroup, Employee, GroupMembership, OrgContact, SyncRun

_seq = itertools.count(1)
CONFIG = rules.SyncConfig.default()


def graph_user(name, **extra):
    """A Graph user as the engine stores it in Employee.source."""
    first, _, last = name.partition(" ")
    user = {
        "id": extra.pop("id", f"u{next(_seq)}"),
        "displayName": name,
        "givenName": first,
        "surname": last,
        "mail": extra.pop("mail", f"{first.lower()}@contoso.com"),
        "accountEnabled": True,
        "userType": "Member",
        "assignedLicenses": [{"skuId": "sku"}],
        "department": extra.pop("department", "Sales"),
    }
    user.update(extra)
    return user


def employee_row(link, user, config=CONFIG, status=None, **overrides):
    """An unsaved Employee mapped from `user` with the rules, as the engine would write it."""
    mapped = rules.map_user(config, user)
    row = Employee(
        organization_id=link.organization_id,
        link=link,
        graph_id=user["id"],
        fields=mapped.fields,
        display_name=mapped.fields.get("display_name", ""),
        email=mapped.email,
        email_source=mapped.email_source,
        department=mapped.fields.get("department", ""),
        job_title=mapped.fields.get("job_title", ""),
        status=status or (Employee.Status.ACTIVE if mapped.included else Employee.Status.EXCLUDED),
        excluded_reasons=list(mapped.reasons),
        source=user,
        content_hash=mapped.content_hash,
    )
    for key, value in overrides.items():
        setattr(row, key, value)
    return row


def make_employee(link, name, **extra):
    status = extra.pop("status", None)
    overrides = extra.pop("overrides", {})
    row = employee_row(link, graph_user(name, **extra), status=status, **overrides)
    row.save()
    return row


def make_employees(link, count, prefix="Person", **extra):
    rows = [
        employee_row(
            link,
            graph_user(
                f"{prefix} {i:06d}",
                id=f"{link.pk}-{prefix}-{i}",
                mail=f"{prefix.lower()}{i}@contoso.com",
                **extra,
            ),
        )
        for i in range(count)
    ]
    return Employee.objects.bulk_create(rows, batch_size=2000)


def make_group(link, name, members=()):
    group = DirectoryGroup.objects.create(
        organization_id=link.organization_id,
        link=link,
        graph_id=f"g{next(_seq)}",
        display_name=name,
        content_hash="x",
    )
    GroupMembership.objects.bulk_create(
        [
            GroupMembership(
                organization_id=link.organization_id,
                link=link,
                group=group,
                member_graph_id=gid,
                member_type="user",
            )
            for gid in members
        ]
    )
    return group


def make_contact(link, name, **fields):
    return OrgContact.objects.create(
        organization_id=link.organization_id,
        link=link,
        graph_id=f"c{next(_seq)}",
        display_name=name,
        mail=fields.get("mail", ""),
        fields=fields,
        content_hash="x",
    )


def make_run(link, status=SyncRun.Status.SUCCEEDED, **fields):
    now = timezone.now()
    values = {"trigger": SyncRun.Trigger.SCHEDULE, "started_at": now, "finished_at": now, "seen": 10}
    if status in (SyncRun.Status.PENDING, SyncRun.Status.RUNNING):
        values["finished_at"] = None
    values.update(fields)
    return SyncRun.objects.create(organization_id=link.organization_id, link=link, status=status, **values)

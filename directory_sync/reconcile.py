"""Writing Graph users into a link's employees: one bulk upsert per page, removals, duplicates, approvals.

Called by `directory_sync.engine` within one run (a `RunContext`). Every function here is safe to repeat: rows are
keyed on (link, Graph id), unchanged rows are not written, and a removal applies to a row once.
"""
import hashlib
from collections import Counter
from dataclasses import dataclass, field
from types import SimpleNamespace

import orjson
from django.db import connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from directory_sync import bulk, rules, rules_config
from directory_sync.models import INDEXED_TEXT_LENGTH, Employee, PendingRemoval, SyncRun

# How many entries of each kind a run's diff lists (the counts are always complete).
DIFF_LIMIT = 500
CHUNK = 999
_UPSERT_FIELDS = [
    "fields", "display_name", "email", "email_source", "department", "job_title", "status", "excluded_reasons",
    "warnings", "source", "content_hash", "manager_graph_id", "removed_at", "removal_reason", "updated_at",
]
_COLUMNS = ["organization_id", "link_id", "graph_id", "has_duplicate_email", "created_at", *_UPSERT_FIELDS]
_AT = {name: index for index, name in enumerate(_COLUMNS)}  # a row tuple's index of each column
_MANAGER_DELTA = "manager@delta"


@dataclass
class RunContext:
    """What one run knows while it goes: the link, its settings and rules, the run row and the sets it builds."""

    link: object
    settings: object
    config: rules.SyncConfig
    run: SyncRun
    stats: object
    dry_run: bool = False
    needs_manager: bool = False
    now: object = field(default_factory=timezone.now)
    seen_ids: set = field(default_factory=set)  # users listed in this run
    deleted_ids: dict = field(default_factory=dict)  # @removed in a delta round: graph id -> reason
    changed_ids: set = field(default_factory=set)  # users whose row was written
    remap_ids: set = field(default_factory=set)  # users to map again from their stored source at the end
    written: Counter = field(default_factory=Counter)  # rows written per model (bulk.refresh_statistics)
    writer: object = None  # bulk.PageWriter while a listing streams; None writes inline
    # The link had no employees when the run began (a first sync): only people this run wrote can be stored, so
    # a page need not look up the others (and a not yet analyzed table would make each lookup read all of it).
    empty_at_start: bool = False
    fingerprint: str = ""
    mailbox_checked: bool = False
    mailbox_denied: bool = False

    def __post_init__(self):
        self.fingerprint = self.fingerprint or rules_config.fingerprint(self.config)

    def note(self, kind: str, entry) -> None:
        """Add an entry to the run's diff list `kind`, up to DIFF_LIMIT entries."""
        entries = self.run.diff.setdefault(kind, [])
        if len(entries) < DIFF_LIMIT:
            entries.append(entry)

    def error(self, message: str) -> None:
        """Record a sentence for the admin once."""
        if message not in self.run.errors:
            self.run.errors.append(message)


def _clip(text: str) -> str:
    return text[:INDEXED_TEXT_LENGTH]


def _input_hash(ctx, user: dict, manager_id: str, manager, groups) -> tuple[str, str]:
    """A hash of everything the rules read for one user (the rules' fingerprint, Graph's values, the manager, the
    groups): the rules are pure, so an equal hash means an equal result and the user is not even mapped again.
    mailboxSettings is our own addition (see _check_mailboxes), not what the listing sends, so it is left out."""
    graph_values = user if "mailboxSettings" not in user else {
        key: value for key, value in user.items() if key != "mailboxSettings"}
    # Graph sends a $select-ed user's properties in a stable order, so no sort is needed (a reorder would only
    # cost one extra write). orjson: encoding every user is a large share of a full sync's time.
    raw = orjson.dumps(graph_values, default=str)
    extra = orjson.dumps([manager, sorted(groups)], default=str) if manager or groups else b""
    digest = hashlib.sha256(f"{ctx.fingerprint}|{manager_id}|".encode() + extra + b"|" + raw).hexdigest()
    return digest, raw.decode()


def _manager_id(user: dict, previous: str | None) -> str:
    entries = user.get(_MANAGER_DELTA)
    if entries is None:
        return previous or ""  # a delta item without manager@delta: the manager did not change
    live = [entry for entry in entries if isinstance(entry, dict) and "@removed" not in entry]
    return str(live[0].get("id") or "") if live else ""


def _group_ids(ctx: RunContext, graph_ids) -> dict:
    from directory_sync.models import GroupMembership

    groups: dict[str, set] = {}
    rows = GroupMembership.objects.filter(
        link=ctx.link, member_graph_id__in=graph_ids, group__removed_at=None
    ).values_list("member_graph_id", "group__graph_id")
    for member, group in rows:
        groups.setdefault(member, set()).add(group)
    return groups


def _managers(ctx: RunContext, manager_ids, page_users: dict) -> dict:
    found = {mid: page_users[mid] for mid in manager_ids if mid in page_users}
    missing = [mid for mid in manager_ids if mid not in found]
    if missing:
        rows = Employee.objects.filter(link=ctx.link, graph_id__in=missing).values_list("graph_id", "source")
        found.update(dict(rows))
    return found


def _prepare(ctx: RunContext, users: list[dict], previous_managers: dict) -> list[tuple]:
    """[(graph id, user without annotations, manager id, manager or None, group ids, input hash, its JSON)]."""
    by_id = {str(user.get("id")): user for user in users}
    manager_ids = {gid: _manager_id(user, previous_managers.get(gid)) for gid, user in by_id.items()}
    managers = {}
    if ctx.needs_manager:
        managers = _managers(ctx, {mid for mid in manager_ids.values() if mid}, by_id)
    groups = _group_ids(ctx, list(by_id)) if ctx.config.scope_group_ids else {}
    out = []
    for gid, user in by_id.items():
        clean = user if _MANAGER_DELTA not in user else {
            key: value for key, value in user.items() if key != _MANAGER_DELTA}
        mid = manager_ids[gid]
        manager = None
        if mid and ctx.needs_manager:
            manager = managers.get(mid)
            if manager is None:
                # The manager comes on a later page (or is an orgContact): map again once the listing is in.
                ctx.remap_ids.add(gid)
                manager = {"id": mid}
            manager = {key: value for key, value in manager.items() if key != _MANAGER_DELTA}
        member_of = frozenset(groups.get(gid, ()))
        digest, raw = _input_hash(ctx, clean, mid, manager, member_of)
        out.append((gid, clean, mid, manager, member_of, digest, raw))
    return out


def write_users(ctx: RunContext, users: list[dict], *, count_as_seen: bool = True) -> None:
    """Map and upsert one page of Graph users as one batch; users whose inputs are unchanged are neither mapped
    nor written. A user seen again after removal is restored. With count_as_seen=False (re-mapping stored
    users), removed rows stay removed and the run's seen counts do not move."""
    users = [user for user in users if user.get("id")]
    if not users:
        return
    ids = list(dict.fromkeys(str(user["id"]) for user in users))
    if ctx.empty_at_start and count_as_seen:
        ids = [gid for gid in ids if gid in ctx.changed_ids]  # a delta round may send someone twice
    existing = _stored(ctx, ids) if ids else {}
    if not count_as_seen:
        users = [user for user in users if str(user["id"]) in existing
                 and existing[str(user["id"])][2] != Employee.Status.REMOVED]
    run = ctx.run
    to_map, raws = [], {}
    for gid, user, mid, manager, member_of, digest, raw in _prepare(
            ctx, users, {k: v[3] for k, v in existing.items()}):
        old = existing.get(gid)
        if count_as_seen:
            ctx.seen_ids.add(gid)
            ctx.deleted_ids.pop(gid, None)
            run.seen += 1
        if old is not None and old[1] == digest and old[2] != Employee.Status.REMOVED:
            if count_as_seen:
                run.unchanged += 1
                run.excluded += old[2] == Employee.Status.EXCLUDED
            continue
        raws[gid] = raw
        to_map.append((user, rules.map_user(ctx.config, user, manager, member_of), mid, manager, member_of,
                       digest))
    _check_mailboxes(ctx, to_map)
    rows, changed_old = [], {}
    for user, mapped, manager_id, _, _, digest in to_map:
        gid = mapped.graph_id
        old = existing.get(gid)
        status = Employee.Status.ACTIVE if mapped.included else Employee.Status.EXCLUDED
        if count_as_seen and not mapped.included:
            run.excluded += 1
        ctx.changed_ids.add(gid)
        name = mapped.fields.get("display_name") or str(user.get("displayName") or "")
        if old is None:
            run.added += 1
            ctx.note("added", {"id": gid, "name": name, "status": status})
        elif old[2] == Employee.Status.REMOVED:
            run.restored += 1
            ctx.note("restored", {"id": gid, "name": name})
        else:
            run.updated += 1
            changed_old[gid] = old[4]
        if status == Employee.Status.EXCLUDED and (old is None or old[2] != status):
            ctx.note("excluded", {"id": gid, "name": name, "reasons": list(mapped.reasons)})
        # The JSON already made for the hash is stored as is, unless the mailbox check added to the user.
        source = user if "mailboxSettings" in user else bulk.JsonText(raws[gid])
        rows.append(_employee(ctx, user, mapped, manager_id, status, digest, source))
    _note_updates(ctx, changed_old, {row[_AT["graph_id"]]: row for row in rows})
    if rows:
        ctx.written[Employee] += len(rows)
        writer = ctx.writer or bulk.InlineWriter()
        writer.submit(bulk.upsert, Employee, _COLUMNS, rows, conflict=["link", "graph_id"], update=_UPSERT_FIELDS)


def _stored(ctx, ids: list) -> dict:
    """{graph id: (graph id, content hash, status, manager id, pk)} for the link's employees among `ids`."""
    if connection.vendor != "postgresql":
        rows = Employee.objects.filter(link=ctx.link, graph_id__in=ids).values_list(
            "graph_id", "content_hash", "status", "manager_graph_id", "pk")
        return {row[0]: row for row in rows}
    with connection.cursor() as cursor:
        # One array parameter: Django prepares each of an `__in` list's 999 values in Python, once per page.
        cursor.execute(f'SELECT graph_id, content_hash, status, manager_graph_id, id FROM "{Employee._meta.db_table}" '
                       "WHERE link_id = %s AND graph_id = ANY(%s)", [ctx.link.pk, ids])
        return {row[0]: row for row in cursor.fetchall()}


def _employee(ctx, user, mapped, manager_id, status, row_hash, source) -> tuple:
    """One row in _COLUMNS order."""
    # A plain tuple, not a model instance: building 100,000 Django instances costs more than writing them.
    values = mapped.fields
    return (
        ctx.link.organization_id, ctx.link.pk, mapped.graph_id, False, ctx.now,  # ... has_duplicate_email, created_at
        values, _clip(values.get("display_name") or str(user.get("displayName") or "")), _clip(mapped.email),
        mapped.email_source, _clip(values.get("department") or str(user.get("department") or "")),
        _clip(values.get("job_title") or str(user.get("jobTitle") or "")), status, list(mapped.reasons),
        list(mapped.warnings), source, row_hash, manager_id, None, "", ctx.now,  # ... removed_at, removal_reason
    )


def _note_updates(ctx, changed_old: dict, new_rows: dict) -> None:
    room = DIFF_LIMIT - len(ctx.run.diff.get("updated", []))
    if not changed_old or room <= 0:
        return
    wanted = list(changed_old)[:room]
    old_rows = Employee.objects.filter(pk__in=[changed_old[gid] for gid in wanted]).values_list(
        "graph_id", "fields", "status", "excluded_reasons")
    for gid, old_fields, old_status, old_reasons in old_rows:
        new = SimpleNamespace(**dict(zip(_COLUMNS, new_rows[gid])))
        changes = {key: [old_fields.get(key, ""), value] for key, value in new.fields.items()
                   if old_fields.get(key, "") != value}
        if old_status != new.status:
            changes["status"] = [old_status, new.status]
        if old_reasons != new.excluded_reasons:
            changes["excluded_reasons"] = [old_reasons, new.excluded_reasons]
        ctx.note("updated", {"id": gid, "name": new.display_name, "changes": changes})


def _check_mailboxes(ctx, to_map) -> None:
    """Replace the mailbox heuristic by mailboxSettings.userPurpose for the few users it flags (one $batch per
    20): rooms and shared mailboxes cannot be told apart from a listing (graph-facts 4.7)."""
    from directory_sync import graph

    if ctx.mailbox_denied or not rules.needs_mailbox_settings(ctx.config):
        return
    suspects = [i for i, entry in enumerate(to_map)
                if any(reason.startswith("shared, room or equipment mailbox by heuristic")
                       for reason in entry[1].reasons) and "mailboxSettings" not in entry[0]]
    if not suspects:
        return
    answers = graph.batch(ctx.link, [
        {"id": str(i), "method": "GET", "url": f"/users/{to_map[i][1].graph_id}/mailboxSettings?$select=userPurpose"}
        for i in suspects], stats=ctx.stats)
    for i in suspects:
        answer = answers[str(i)]
        user, _, manager_id, manager, member_of, digest = to_map[i]
        if answer.get("status") == 200 and isinstance(answer.get("body"), dict):
            user["mailboxSettings"] = {"userPurpose": answer["body"].get("userPurpose")}
            to_map[i] = (user, rules.map_user(ctx.config, user, manager, member_of), manager_id, manager, member_of,
                         digest)
        elif answer.get("status") == 403:
            ctx.mailbox_denied = True
            ctx.error("Rooms, equipment and shared mailboxes are recognised by a guess because the app lacks the "
                      "MailboxSettings.Read permission; grant it to tell them apart exactly.")
            return


def remap_stored(ctx: RunContext, graph_ids) -> None:
    """Map stored employees again from their saved Graph values (after their manager or groups changed)."""
    graph_ids = list(graph_ids)
    for start in range(0, len(graph_ids), CHUNK):
        chunk = graph_ids[start:start + CHUNK]
        users = []
        for source, manager_id in Employee.objects.filter(
                link=ctx.link, graph_id__in=chunk).exclude(status=Employee.Status.REMOVED).values_list(
                "source", "manager_graph_id"):
            source[_MANAGER_DELTA] = [{"id": manager_id}] if manager_id else []
            users.append(source)
        write_users(ctx, users, count_as_seen=False)


def reports_of(ctx: RunContext, manager_ids) -> set:
    """Graph ids of the link's employees whose manager is one of `manager_ids`."""
    manager_ids, found = list(manager_ids), set()
    for start in range(0, len(manager_ids), CHUNK):
        found.update(Employee.objects.filter(
            link=ctx.link, manager_graph_id__in=manager_ids[start:start + CHUNK]).values_list("graph_id", flat=True))
    return found


def flag_duplicate_emails(ctx: RunContext, *, touched: set | None = None) -> None:
    """Flag every non-removed employee of the link sharing an email with another (case-insensitive), clear the
    flag on the others, and list the duplicates in the run; nobody is dropped and the run goes on.

    `touched` (a delta round's written graph ids) narrows the check to their emails and the already flagged
    people's: a new duplicate always involves someone written in this round, and every older one is flagged, so
    the result equals a full scan, read through the (link, LOWER(email)) and flagged indexes. None scans all."""
    if touched is None:
        rows = _duplicate_rows_of_link(ctx)
    else:
        rows = _duplicate_rows_among(ctx, _emails_to_check(ctx, touched))
    rows.sort(key=lambda row: (row[4], row[0]))  # by name, as the history lists them
    counts = Counter(row[2] for row in rows)
    dupes: dict[str, list] = {}
    for _, gid, low, _, _ in rows:
        if counts[low] > 1:
            dupes.setdefault(low, []).append(gid)
    to_set = [pk for pk, _, low, flagged, _ in rows if counts[low] > 1 and not flagged]
    to_clear = [pk for pk, _, low, flagged, _ in rows if counts[low] <= 1 and flagged]
    if to_set:
        Employee.objects.filter(pk__in=to_set).update(has_duplicate_email=True)
    if to_clear:
        Employee.objects.filter(pk__in=to_clear).update(has_duplicate_email=False)
    ctx.run.duplicate_emails = len(dupes)
    for email in sorted(dupes)[:DIFF_LIMIT]:
        ctx.note("duplicate_emails", {"email": email, "ids": dupes[email]})
    if dupes:
        ctx.error(f"{len(dupes)} email address(es) belong to more than one person; both are kept and flagged "
                  "(see the run's duplicates list).")


_DUPLICATE_COLUMNS = ("pk", "graph_id", "low", "has_duplicate_email", "display_name")


def _live_with_email(ctx):
    return (Employee.objects.filter(link=ctx.link).exclude(status=Employee.Status.REMOVED).exclude(email="")
            .annotate(low=Lower("email")).order_by())


def _duplicate_rows_of_link(ctx) -> list:
    """(pk, graph id, lowered email, flagged, name) of every live employee whose email is shared or who is flagged:
    one pass over the link with a window count per lowered email."""
    table = f'"{Employee._meta.db_table}"'
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, graph_id, low, has_duplicate_email, display_name FROM (SELECT id, graph_id, display_name, "
            f"LOWER(email) AS low, has_duplicate_email, COUNT(*) OVER (PARTITION BY LOWER(email)) AS n "
            f"FROM {table} WHERE link_id = %s AND status <> %s AND email <> %s) AS live "
            "WHERE n > 1 OR has_duplicate_email",
            [ctx.link.pk, Employee.Status.REMOVED, ""])
        return [list(row) for row in cursor.fetchall()]


def _emails_to_check(ctx, touched) -> set:
    """The lowered emails of the people in `touched` and of the people already flagged."""
    emails = set(Employee.objects.filter(link=ctx.link, has_duplicate_email=True).exclude(email="")
                 .annotate(low=Lower("email")).values_list("low", flat=True))
    touched = list(touched)
    for start in range(0, len(touched), CHUNK):
        emails.update(Employee.objects.filter(link=ctx.link, graph_id__in=touched[start:start + CHUNK])
                      .exclude(email="").annotate(low=Lower("email")).values_list("low", flat=True))
    return emails


def _duplicate_rows_among(ctx, emails: set) -> list:
    """Like _duplicate_rows_of_link, for every live employee holding one of `emails` (shared or not: a flagged
    person whose email is no longer shared must be seen to have the flag cleared)."""
    emails, rows = sorted(emails), {}
    for start in range(0, len(emails), CHUNK):
        for row in _live_with_email(ctx).filter(low__in=emails[start:start + CHUNK]).values_list(
                *_DUPLICATE_COLUMNS):
            rows[row[0]] = list(row)
    return list(rows.values())


def planned_removals(ctx: RunContext, *, full_listing: bool) -> dict:
    """{employee pk: reason} for the people who left Entra: `@removed` in the delta round, or (after a complete
    full listing) not listed. Never called for a listing that did not complete."""
    live = Employee.objects.filter(link=ctx.link).exclude(status=Employee.Status.REMOVED)
    plan = {}
    if full_listing:
        for pk, gid in live.values_list("pk", "graph_id").iterator(chunk_size=5000):
            if gid not in ctx.seen_ids:
                plan[pk] = "not in the directory any more"
    gone = list(ctx.deleted_ids)
    for start in range(0, len(gone), CHUNK):
        for pk, gid in live.filter(graph_id__in=gone[start:start + CHUNK]).values_list("pk", "graph_id"):
            reason = ctx.deleted_ids[gid]
            plan[pk] = ("deleted in Entra (restorable there for 30 days)" if reason == "changed"
                        else "deleted in Entra")
    return plan


def apply_or_hold_removals(ctx: RunContext, plan: dict) -> None:
    """Clean-up off: count and list, change nothing. On: soft-remove, unless the plan exceeds the link's
    threshold, in which case the run is held and the removals wait for approve_held_removals."""
    run = ctx.run
    if not plan:
        return
    names = dict(Employee.objects.filter(pk__in=list(plan)[:DIFF_LIMIT]).values_list("pk", "display_name"))
    if not ctx.settings.cleanup_enabled:
        run.not_in_directory = len(plan)
        for pk in list(plan)[:DIFF_LIMIT]:
            ctx.note("not_in_directory", {"name": names.get(pk, ""), "reason": plan[pk]})
        return
    active = Employee.objects.filter(link=ctx.link, status=Employee.Status.ACTIVE).count()
    limit = ctx.settings.removal_limit(active)
    if len(plan) > limit:
        run.held = len(plan)
        run.status = SyncRun.Status.HELD
        ctx.error(f"{len(plan)} people would be removed, more than this link allows without approval ({limit} of "
                  f"{active} active); an admin must approve or reject the removals.")
        for pk in list(plan)[:DIFF_LIMIT]:
            ctx.note("held", {"name": names.get(pk, ""), "reason": plan[pk]})
        if not ctx.dry_run:
            PendingRemoval.objects.bulk_create(
                [PendingRemoval(organization_id=ctx.link.organization_id, link=ctx.link, run=run, employee_id=pk,
                                reason=reason) for pk, reason in plan.items()], batch_size=CHUNK)
        return
    run.removed = _remove(plan, ctx.now)
    for pk in list(plan)[:DIFF_LIMIT]:
        ctx.note("removed", {"name": names.get(pk, ""), "reason": plan[pk]})


def _remove(plan: dict, now) -> int:
    removed = 0
    by_reason: dict[str, list] = {}
    for pk, reason in plan.items():
        by_reason.setdefault(reason, []).append(pk)
    with transaction.atomic():
        for reason, pks in by_reason.items():
            for start in range(0, len(pks), CHUNK):
                removed += Employee.objects.filter(pk__in=pks[start:start + CHUNK]).exclude(
                    status=Employee.Status.REMOVED).update(
                    status=Employee.Status.REMOVED, removed_at=now, removal_reason=reason[:200], updated_at=now)
    return removed


def approve_held_removals(run: SyncRun, user) -> int:
    """Apply a held run's removals exactly once (the run row is locked, so double clicks and replays apply
    nothing more); returns how many people were removed now. People already removed are skipped."""
    with transaction.atomic():
        run = SyncRun.objects.select_for_update().get(pk=run.pk)
        if run.status != SyncRun.Status.HELD or run.removals_decision:
            return 0
        plan = dict(run.pending_removals.values_list("employee_id", "reason"))
        now = timezone.now()
        removed = _remove(plan, now)
        run.removed += removed
        run.removals_decision = SyncRun.Decision.APPROVED
        run.decided_by, run.decided_at = user, now
        run.save(update_fields=["removed", "removals_decision", "decided_by", "decided_at"])
    return removed


def reject_held_removals(run: SyncRun, user) -> bool:
    """Drop a held run's removals (nobody is removed); True if this call decided it, False if already decided."""
    with transaction.atomic():
        run = SyncRun.objects.select_for_update().get(pk=run.pk)
        if run.status != SyncRun.Status.HELD or run.removals_decision:
            return False
        run.removals_decision = SyncRun.Decision.REJECTED
        run.decided_by, run.decided_at = user, timezone.now()
        run.save(update_fields=["removals_decision", "decided_by", "decided_at"])
    return True


def restore_employee(employee: Employee) -> bool:
    """Undo a soft removal (within the 30 days before purge); the next run sets the status from the rules."""
    updated = Employee.objects.filter(pk=employee.pk, status=Employee.Status.REMOVED).update(
        status=Employee.Status.ACTIVE, removed_at=None, removal_reason="", content_hash="", updated_at=timezone.now())
    return bool(updated)

"""When each linked Entra tenant syncs: beat's dispatcher, failure back-off, pausing, and the admins' emails.

- `dispatch_due_syncs` (every minute) claims the links whose `next_sync_at` has passed, moves each 2–4 hours
  ahead (a per-link, per-slot jitter) and enqueues `sync_link`. A tick starts at most a fair share of links
  (the rate at which all links fall due, plus headroom), so a burst of due links is spread over the next
  minutes instead of landing on one worker minute; the interval band leaves room for that wait.
- `after_run` reads a finished SyncRun: after failures the next sync backs off (doubling, at most a day);
  a revoked consent or rejected credentials pause the link until an admin acts; admins get one email when a
  link starts failing and one when it recovers.
The engine's claim (EntraLink.sync_claimed_at) is what guarantees one run per link; the dispatcher's claim
only keeps duplicate enqueues rare (beat running twice, a restart mid-tick).
"""

import hashlib
import logging
import math
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from directory_sync.models import SyncRun
from portal import audit
from portal.models import AuditEvent
from tenants.models import EntraLink, Membership, Role

logger = logging.getLogger(__name__)

INTERVAL_MIN = timedelta(hours=2)
# 4 hours minus the longest wait a tick's cap may add, so a link never waits more than 4 hours between starts.
INTERVAL_MAX = timedelta(hours=3, minutes=50)
INTERVAL_MEAN = (INTERVAL_MIN + INTERVAL_MAX) / 2
FIRST_SPREAD = timedelta(minutes=5)
MAX_BACKOFF = timedelta(days=1)
# A tick starts at most this multiple of the mean number of links falling due per minute.
TICK_HEADROOM = 1.3
MIN_PER_TICK = 20
FINISHED = (SyncRun.Status.SUCCEEDED, SyncRun.Status.HELD, SyncRun.Status.FAILED)

# Failures only an admin can fix (SyncRun.error_kind, from graph_errors.failure_kind) pause the link; anything
# else (network, throttling, 5xx, a bad filter) backs off and retries.
PAUSE_BY_KIND = {
    "unauthorized": EntraLink.Status.NEEDS_CONSENT,
    "consent": EntraLink.Status.NEEDS_CONSENT,
    "credentials": EntraLink.Status.CREDENTIALS_EXPIRED,
}


def jitter(link_id: int, slot: int) -> float:
    """A number in [0, 1) fixed for (link, slot): the same link gets a different offset each time, spread
    evenly over links, and a replayed tick computes the same next time."""
    digest = hashlib.blake2b(f"{link_id}:{slot}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def next_interval(link_id: int, now, failures: int = 0) -> timedelta:
    """The wait before the link's next scheduled sync: 2–4 hours, doubled per consecutive failure beyond the
    first, never more than MAX_BACKOFF."""
    base = INTERVAL_MIN + (INTERVAL_MAX - INTERVAL_MIN) * jitter(link_id, int(now.timestamp() // 60))
    factor = 2 ** max(0, failures - 1)
    return min(base * factor, MAX_BACKOFF)


def _enqueue(link_id: int) -> None:
    from directory_sync import tasks  # tasks imports this module's callers; imported late to avoid a cycle

    tasks.sync_link.delay(link_id, trigger=SyncRun.Trigger.SCHEDULE)


def tick_capacity(active_links: int) -> int:
    """How many links one tick may start: the mean due per minute times TICK_HEADROOM (at least MIN_PER_TICK)."""
    per_minute = active_links / (INTERVAL_MEAN.total_seconds() / 60)
    return max(MIN_PER_TICK, math.ceil(per_minute * TICK_HEADROOM))


def schedule_new_links(now) -> int:
    """Give linked links that were never scheduled a first time: over the next few minutes, or, when many
    arrive at once (a migration, a restore), over as long as their share of the normal load takes."""
    active = EntraLink.objects.filter(status=EntraLink.Status.LINKED)
    new_ids = list(active.filter(next_sync_at=None).order_by("pk").values_list("pk", flat=True))
    if not new_ids:
        return 0
    # New links arrive at no more than the rate all links fall due (at least MIN_PER_TICK / TICK_HEADROOM a
    # minute, so a small installation starts a new link within FIRST_SPREAD).
    per_minute = max(active.count() / (INTERVAL_MEAN.total_seconds() / 60), MIN_PER_TICK / TICK_HEADROOM)
    window = max(FIRST_SPREAD, timedelta(minutes=len(new_ids) / per_minute))
    step = window / len(new_ids)
    for start in range(0, len(new_ids), 1000):
        chunk = new_ids[start : start + 1000]
        rows = [EntraLink(pk=pk, next_sync_at=now + step * (start + i)) for i, pk in enumerate(chunk)]
        # The conditional filter keeps a link that got a time meanwhile (a concurrent tick) as it is.
        with transaction.atomic():
            for row in rows:
                EntraLink.objects.filter(pk=row.pk, next_sync_at=None).update(next_sync_at=row.next_sync_at)
    return len(new_ids)


def dispatch_due_syncs(now=None, enqueue=None) -> list[int]:
    """One beat tick: claim the links due by `now` (oldest first, at most tick_capacity), move each 2–4 hours
    ahead, then enqueue a sync for each; returns the ids enqueued. Safe to run twice at once: a link is
    claimed by one tick only."""
    now = now or timezone.now()
    enqueue = enqueue or _enqueue
    schedule_new_links(now)
    due = EntraLink.objects.filter(status=EntraLink.Status.LINKED, next_sync_at__lte=now)
    limit = tick_capacity(EntraLink.objects.filter(status=EntraLink.Status.LINKED).count())
    if connection.features.has_select_for_update_skip_locked:
        claimed = _claim_locked(due, limit, now)
    else:
        claimed = _claim_compare_and_set(due, limit, now)
    for link_id in claimed:
        enqueue(link_id)
    if claimed:
        logger.info("dispatched %s sync(s)", len(claimed))
    return claimed


def _claim_locked(due, limit, now) -> list[int]:
    # PostgreSQL: rows another tick holds are skipped, not waited for, so two ticks split the due links.
    with transaction.atomic():
        ids = list(
            due.order_by("next_sync_at", "pk")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:limit]
        )
        rows = [EntraLink(pk=pk, next_sync_at=now + next_interval(pk, now)) for pk in ids]
        EntraLink.objects.bulk_update(rows, ["next_sync_at"], batch_size=500)
    return ids


def _claim_compare_and_set(due, limit, now) -> list[int]:
    # SQLite has no SKIP LOCKED: each link is claimed by an UPDATE conditional on the time we read, so of two
    # ticks reading the same row only the first one's UPDATE matches.
    claimed = []
    for pk, seen in due.order_by("next_sync_at", "pk").values_list("pk", "next_sync_at")[:limit]:
        moved = EntraLink.objects.filter(pk=pk, next_sync_at=seen).update(
            next_sync_at=now + next_interval(pk, now)
        )
        if moved:
            claimed.append(pk)
    return claimed


# --- after a run -----------------------------------------------------------------------------------------------


def pause_status(run) -> str:
    """The link status a failed run calls for (needs_consent or credentials_expired) when only an admin can fix
    what failed, else ""."""
    return PAUSE_BY_KIND.get(run.error_kind, "")


def consecutive_failures(link, limit: int = 12) -> int:
    """How many of the link's latest finished runs failed in a row (skipped and unfinished runs ignored)."""
    statuses = (
        SyncRun.objects.filter(link=link, status__in=FINISHED)
        .order_by("-created_at", "-pk")
        .values_list("status", flat=True)[:limit]
    )
    count = 0
    for status in statuses:
        if status != SyncRun.Status.FAILED:
            break
        count += 1
    return count


# The audit log records each notification (actor: the system), so every change of a link's health is mailed
# exactly once, even when retried attempts failed without after_run seeing them.
NOTICE_FAILING, NOTICE_PAUSED, NOTICE_RECOVERED = "sync.failing", "sync.paused", "sync.recovered"


def _last_notice(link) -> str:
    return (
        AuditEvent.objects.filter(
            organization_id=link.organization_id,
            action__in=[NOTICE_FAILING, NOTICE_PAUSED, NOTICE_RECOVERED],
            details__link_id=link.pk,
        )
        .order_by("-created_at", "-id")
        .values_list("action", flat=True)
        .first()
        or ""
    )


def _notify(link, kind: str, run, message: str = "") -> None:
    audit.record(link.organization, None, kind, link.name, link_id=link.pk, run_id=run.pk, message=message)
    transaction.on_commit(lambda: _mail(link, kind, message))


def after_run(link, run, now=None) -> str:
    """Apply a finished run's consequences to the link's schedule and tell its admins; returns what was done:
    "paused", "backoff", "recovered" or "ok" ("" for no run or an unfinished one). Admins get one email when
    the link starts failing (or is paused) and one when it works again. Call it once per finished run."""
    if run is None or run.status not in FINISHED:
        return ""
    now = now or timezone.now()
    with transaction.atomic():
        # The lock serialises two after_run calls of one link, so a notice is never sent twice.
        link = EntraLink.objects.select_for_update().select_related("organization").get(pk=link.pk)
        notice = _last_notice(link)
        if run.status == SyncRun.Status.FAILED:
            message = (run.errors or [""])[-1]
            status = pause_status(run)
            if status:
                link.status, link.next_sync_at = status, None
                link.save(update_fields=["status", "next_sync_at", "updated_at"])
                if notice != NOTICE_PAUSED:
                    _notify(link, NOTICE_PAUSED, run, message)
                return "paused"
            link.next_sync_at = now + next_interval(link.pk, now, consecutive_failures(link))
            link.save(update_fields=["next_sync_at", "updated_at"])
            if notice not in (NOTICE_FAILING, NOTICE_PAUSED):
                _notify(link, NOTICE_FAILING, run, message)
            return "backoff"
        if link.status in (EntraLink.Status.NEEDS_CONSENT, EntraLink.Status.CREDENTIALS_EXPIRED):
            # A sync an admin started on a paused link worked: access is back, so the schedule resumes.
            link.status, link.next_sync_at = EntraLink.Status.LINKED, None
        if link.next_sync_at is None:
            # A first sync (or one after a pause) that an admin started: the next one is a normal interval away,
            # not "due now".
            link.next_sync_at = now + next_interval(link.pk, now)
        link.save(update_fields=["status", "next_sync_at", "updated_at"])
        if notice in (NOTICE_FAILING, NOTICE_PAUSED):
            _notify(link, NOTICE_RECOVERED, run)
            return "recovered"
    return "ok"


def _mail(link, kind: str, message: str) -> None:
    recipients = list(
        Membership.objects.for_org(link.organization)
        .filter(role__in=[Role.OWNER, Role.ADMIN])
        .values_list("user__email", flat=True)
    )
    if not recipients:
        return
    url = settings.SITE_URL + reverse("dashboard", args=[link.organization.slug])
    name = f"{link.name} ({link.tenant_name or link.tenant_id})"
    if kind == NOTICE_RECOVERED:
        subject = f"Signet: syncing {link.name} works again"
        body = f"The last sync of {name} succeeded; the directory is up to date again.\n\n{url}\n"
    elif kind == NOTICE_PAUSED:
        subject = f"Signet: syncing {link.name} is paused until an admin acts"
        body = (
            f"Microsoft refused Signet's access to {name}, so its syncs are paused:\n\n{message}\n\n"
            f"Fix it on the Integration page; syncing resumes once the link works again.\n\n{url}\n"
        )
    else:
        subject = f"Signet: syncing {link.name} failed"
        body = (
            f"The last sync of {name} failed:\n\n{message}\n\nSignet keeps retrying, less often while it "
            f"keeps failing (at least once a day), and tells you when it works again.\n\n{url}\n"
        )
    send_mail(subject, body, None, recipients)

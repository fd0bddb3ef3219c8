"""Beat's dispatcher (spread, caps, claims), failure back-off, pausing and the admins' emails."""

import threading
import uuid
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.core import mail
from django.db import connection

from directory_sync import engine, graph_errors, scheduling, tasks
from directory_sync.models import SyncRun
from portal.models import AuditEvent
from tenants.models import EntraLink
from tests import factories
from tests.directory_sync import sync_factories as sf

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=dt_timezone.utc)


def _bulk_links(organization, count, **fields):
    rows = [
        EntraLink(organization=organization, name=f"Tenant {i}", tenant_id=str(uuid.uuid4()), **fields)
        for i in range(count)
    ]
    return EntraLink.objects.bulk_create(rows, batch_size=2000)


@pytest.mark.django_db
@pytest.mark.slow
def test_ten_thousand_links_over_eight_hours_sync_every_two_to_four_hours_evenly(organization):
    _bulk_links(organization, 10_000)
    starts = defaultdict(list)
    per_minute = Counter()
    running_until = {}
    minutes = 8 * 60
    for minute in range(minutes):
        now = T0 + timedelta(minutes=minute)
        sent = []
        scheduling.dispatch_due_syncs(now=now, enqueue=sent.append)
        if minute % 60 == 30:
            # Beat running twice in the same minute never hands out a link the first tick took.
            again = []
            scheduling.dispatch_due_syncs(now=now, enqueue=again.append)
            assert not set(again) & set(sent)
            sent += again
        assert len(sent) == len(set(sent))
        for link_id in sent:
            # A run takes up to 40 minutes here; the link must not be started again while it runs.
            assert running_until.get(link_id, now) <= now, f"link {link_id} started twice at once"
            running_until[link_id] = now + timedelta(minutes=1 + link_id % 40)
            starts[link_id].append(now)
        per_minute[minute] = len(sent)

    assert len(starts) == 10_000
    end = T0 + timedelta(minutes=minutes)
    for link_id, times in starts.items():
        gaps = [later - earlier for earlier, later in zip(times, times[1:])]
        assert all(timedelta(hours=2) <= gap <= timedelta(hours=4) for gap in gaps), (link_id, gaps)
        assert end - times[-1] <= timedelta(hours=4)
        assert times[0] - T0 <= timedelta(hours=4)
    mean = sum(per_minute.values()) / minutes
    busiest = max(per_minute.values())
    print(f"starts {sum(per_minute.values())}, mean per minute {mean:.1f}, busiest minute {busiest}")
    assert busiest <= 1.5 * mean


@pytest.mark.django_db
def test_new_links_get_their_first_sync_spread_over_the_next_minutes(organization):
    links = _bulk_links(organization, 10)
    sent = []
    scheduling.dispatch_due_syncs(now=T0, enqueue=sent.append)
    assert sent == [links[0].pk]  # the first one at once, the others over the next FIRST_SPREAD
    firsts = sorted(EntraLink.objects.exclude(pk=links[0].pk).values_list("next_sync_at", flat=True))
    assert T0 < firsts[0] and firsts[-1] <= T0 + scheduling.FIRST_SPREAD
    for minute in range(1, 6):
        scheduling.dispatch_due_syncs(now=T0 + timedelta(minutes=minute), enqueue=sent.append)
    assert sorted(sent) == sorted(link.pk for link in links)
    for link in EntraLink.objects.all():
        assert T0 + timedelta(hours=2) <= link.next_sync_at <= T0 + timedelta(hours=4, minutes=5)


@pytest.mark.django_db
def test_only_linked_links_are_dispatched(organization):
    due = T0 - timedelta(minutes=1)
    linked, paused, unlinked = (
        factories.make_link(organization, next_sync_at=due, status=status)
        for status in (EntraLink.Status.LINKED, EntraLink.Status.NEEDS_CONSENT, EntraLink.Status.UNLINKED)
    )
    assert scheduling.dispatch_due_syncs(now=T0, enqueue=lambda link_id: None) == [linked.pk]


@pytest.mark.django_db
def test_the_beat_task_enqueues_sync_link(organization, monkeypatch):
    link = factories.make_link(organization, next_sync_at=T0)
    sent = []
    monkeypatch.setattr(tasks.sync_link, "delay", lambda *args, **kwargs: sent.append((args, kwargs)))
    assert tasks.dispatch_due_syncs() == 1
    assert sent == [((link.pk,), {"trigger": "schedule"})]


@pytest.mark.django_db(transaction=True)
def test_two_ticks_at_once_never_share_a_link(organization):
    if not connection.features.has_select_for_update_skip_locked:
        pytest.skip("needs PostgreSQL's SKIP LOCKED")  # SQLite's compare-and-set claim is tested below
    _bulk_links(organization, 200, next_sync_at=T0 - timedelta(minutes=5))
    results, barrier = [], threading.Barrier(2)

    def tick():
        barrier.wait()
        sent = []
        scheduling.dispatch_due_syncs(now=T0, enqueue=sent.append)
        results.append(sent)
        connection.close()

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first, second = results
    assert not set(first) & set(second)
    assert len(first) + len(second) == 2 * scheduling.tick_capacity(200)


@pytest.mark.django_db
def test_compare_and_set_claim_takes_a_link_once(organization):
    links = _bulk_links(organization, 5, next_sync_at=T0 - timedelta(minutes=1))
    due = EntraLink.objects.filter(next_sync_at__lte=T0)
    first = scheduling._claim_compare_and_set(due, 10, T0)
    second = scheduling._claim_compare_and_set(due, 10, T0)
    assert sorted(first) == sorted(link.pk for link in links) and second == []


# --- back-off, pausing, emails ------------------------------------------------------------------------------


NETWORK = graph_errors.GraphError(admin_message=graph_errors.CLIENT_ERRORS["network"])
UNAUTHORIZED = graph_errors.error_from_response("https://graph.microsoft.com/v1.0/users", 401, {}, {})


def _fail(link, exc=NETWORK, when=None):
    """A failed run as the engine records it: the admin's sentence and the failure's kind."""
    return sf.make_run(link, status=SyncRun.Status.FAILED, errors=[exc.admin_message],
                       error_kind=graph_errors.failure_kind(exc), created_at=when or T0)


@pytest.mark.django_db
def test_a_failing_link_backs_off_up_to_a_day_and_mails_once_when_failing_and_once_on_recovery(
    organization, org_admin, link, django_capture_on_commit_callbacks
):
    waits = []
    for n in range(8):
        now = T0 + timedelta(days=n)
        run = _fail(link, when=now)
        with django_capture_on_commit_callbacks(execute=True):
            assert scheduling.after_run(link, run, now=now) == "backoff"
        link.refresh_from_db()
        waits.append(link.next_sync_at - now)
    assert timedelta(hours=2) <= waits[0] <= timedelta(hours=4)
    assert all(later >= earlier for earlier, later in zip(waits, waits[1:]))
    assert waits[3] > timedelta(hours=8) and max(waits) == timedelta(days=1)
    assert len(mail.outbox) == 1
    assert "failed" in mail.outbox[0].subject and set(mail.outbox[0].to) == {
        org_admin.email,
        factories.owner_of(organization).email,
    }
    assert "network error" in mail.outbox[0].body

    ok = sf.make_run(link, created_at=T0 + timedelta(days=9))
    with django_capture_on_commit_callbacks(execute=True):
        assert scheduling.after_run(link, ok, now=T0 + timedelta(days=9)) == "recovered"
    assert len(mail.outbox) == 2 and "works again" in mail.outbox[1].subject
    again = sf.make_run(link, created_at=T0 + timedelta(days=10))
    with django_capture_on_commit_callbacks(execute=True):
        assert scheduling.after_run(link, again, now=T0 + timedelta(days=10)) == "ok"
    assert len(mail.outbox) == 2


@pytest.mark.django_db
def test_a_failed_attempt_that_was_retried_unseen_sends_no_recovery_email(
    link, django_capture_on_commit_callbacks
):
    _fail(link, when=T0)  # a throttled attempt: the task retried it without calling after_run
    ok = sf.make_run(link, created_at=T0 + timedelta(minutes=5))
    with django_capture_on_commit_callbacks(execute=True):
        assert scheduling.after_run(link, ok, now=T0 + timedelta(minutes=5)) == "ok"
    assert mail.outbox == []


@pytest.mark.django_db
def test_each_notice_is_in_the_audit_log(organization, link, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        scheduling.after_run(link, _fail(link, when=T0), now=T0)
        scheduling.after_run(link, _fail(link, when=T0 + timedelta(hours=3)), now=T0 + timedelta(hours=3))
        scheduling.after_run(link, sf.make_run(link, created_at=T0 + timedelta(hours=9)), now=T0)
    actions = list(
        AuditEvent.objects.filter(organization=organization).order_by("id").values_list("action", "actor")
    )
    assert actions == [("sync.failing", None), ("sync.recovered", None)]


@pytest.mark.django_db
def test_skipped_and_unfinished_runs_change_nothing(link):
    assert scheduling.after_run(link, None) == ""
    assert scheduling.after_run(link, sf.make_run(link, status=SyncRun.Status.SKIPPED)) == ""
    assert scheduling.after_run(link, sf.make_run(link, status=SyncRun.Status.RUNNING)) == ""
    assert mail.outbox == []


@pytest.mark.parametrize(
    "exc, status",
    [
        (UNAUTHORIZED, EntraLink.Status.NEEDS_CONSENT),
        (graph_errors.GraphAuthError(aadsts=7000229, error="unauthorized_client"), EntraLink.Status.NEEDS_CONSENT),
        (graph_errors.GraphAuthError(aadsts=7000222, error="invalid_client"), EntraLink.Status.CREDENTIALS_EXPIRED),
        (graph_errors.GraphAuthError(aadsts=123456, error="invalid_request"), EntraLink.Status.NEEDS_CONSENT),
    ],
)
@pytest.mark.django_db
def test_revoked_consent_or_rejected_credentials_pause_the_link(
    organization, org_admin, link, exc, status, django_capture_on_commit_callbacks
):
    link.next_sync_at = T0
    link.save()
    with django_capture_on_commit_callbacks(execute=True):
        assert scheduling.after_run(link, _fail(link, exc), now=T0) == "paused"
    link.refresh_from_db()
    assert (link.status, link.next_sync_at) == (status, None)
    assert len(mail.outbox) == 1 and "paused" in mail.outbox[0].subject
    assert scheduling.dispatch_due_syncs(now=T0 + timedelta(days=2), enqueue=lambda i: None) == []


@pytest.mark.django_db
def test_a_successful_sync_of_a_paused_link_resumes_its_schedule(link, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        scheduling.after_run(link, _fail(link, UNAUTHORIZED, when=T0), now=T0)
        ok = sf.make_run(link, created_at=T0 + timedelta(hours=1))
        assert scheduling.after_run(link, ok, now=T0 + timedelta(hours=1)) == "recovered"
    link.refresh_from_db()
    assert link.status == EntraLink.Status.LINKED
    # The next sync is a normal interval after the one that worked, not "due now".
    resumed = T0 + timedelta(hours=1)
    assert resumed + timedelta(hours=2) <= link.next_sync_at <= resumed + timedelta(hours=4)
    assert scheduling.dispatch_due_syncs(now=resumed, enqueue=lambda i: None) == []
    assert scheduling.dispatch_due_syncs(now=resumed + timedelta(hours=4), enqueue=lambda i: None) == [link.pk]
    assert [m.subject for m in mail.outbox] == [
        "Signet: syncing Acme HQ is paused until an admin acts",
        "Signet: syncing Acme HQ works again",
    ]


@pytest.mark.parametrize("exc, kind", [
    (NETWORK, "other"),
    (graph_errors.GraphThrottled(), "other"),
    (graph_errors.GraphAuthError(error="temporarily_unavailable", is_transient=True), "other"),
    (graph_errors.GraphAuthError(error="invalid_credential"), "credentials"),
    (graph_errors.GraphAuthError(aadsts=7000215, error="invalid_client"), "credentials"),
    (UNAUTHORIZED, "unauthorized"),
])
def test_failure_kinds_pause_only_what_an_admin_must_fix(exc, kind):
    assert graph_errors.failure_kind(exc) == kind
    run = SyncRun(error_kind=kind)
    assert bool(scheduling.pause_status(run)) == (kind != "other")


def test_the_interval_stays_in_band_and_never_exceeds_a_day():
    for link_id in range(500):
        assert timedelta(hours=2) <= scheduling.next_interval(link_id, T0) <= timedelta(hours=4)
        assert scheduling.next_interval(link_id, T0, failures=30) <= timedelta(days=1)


@pytest.mark.django_db
def test_an_expired_secret_seen_by_a_real_sync_pauses_the_link(emu, emu_link, org_admin):
    emu.control.expire_secret(emu.own_app.client_id)
    run = engine.run_sync(emu_link, trigger="schedule")
    assert run.status == SyncRun.Status.FAILED
    assert scheduling.after_run(emu_link, run) == "paused"
    emu_link.refresh_from_db()
    assert emu_link.status == EntraLink.Status.CREDENTIALS_EXPIRED and emu_link.next_sync_at is None


@pytest.mark.django_db
def test_a_first_sync_started_by_hand_schedules_the_next_one_an_interval_later(link):
    assert link.next_sync_at is None
    scheduling.after_run(link, sf.make_run(link, created_at=T0), now=T0)
    link.refresh_from_db()
    assert T0 + timedelta(hours=2) <= link.next_sync_at <= T0 + timedelta(hours=4)

"""One sync run of one link: claim, fetch (delta or full), map, write, reconcile, record. No Celery.

Guarantees:
- One run per link at a time: a conditional UPDATE on EntraLink.sync_claimed_at, refreshed every page, freed
  after CLAIM_STALE_AFTER if the worker died (the next run then marks the dead run failed and converges).
- Memory is independent of the tenant's size apart from the set of ids seen; every page is one transaction.
- Removals happen only after the users listing (or delta round) completed, never on an empty listing, and a run
  that would remove more than the link's threshold holds them for an admin (reconcile.approve_held_removals).
- Delta links are saved only when a run completes; a full reconciliation runs at least every
  FULL_RECONCILE_EVERY, when the rules' fingerprint changed, on request, or when a delta link expired.
"""
import logging
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from directory_sync import bulk, graph, groups, listing, photos, reconcile, rules, rules_config
from directory_sync.models import Employee, SyncRun, SyncSettings
from directory_sync.reconcile import RunContext
from tenants.models import EntraLink

logger = logging.getLogger(__name__)

CLAIM_STALE_AFTER = timedelta(minutes=15)
FULL_RECONCILE_EVERY = timedelta(days=6)  # directory delta tokens expire after 7 days (graph-facts 5)
DIFFS_KEPT = 30
PROGRESS_EVERY = 1.0  # seconds between progress writes (and claim refreshes) while a run goes
REMOVED_KEPT = timedelta(days=30)
EMPTY_LISTING = ("The directory listing came back with nobody in it, so nobody was changed or removed; this "
                 "usually means a temporary problem at Microsoft. The next sync will try again.")


class SyncAborted(Exception):
    """The run stopped on purpose before reconciling; the message is written for the admin."""


class ClaimLost(SyncAborted):
    """Another run took over this link's claim (ours went stale): stop without reconciling."""


def sync_settings_for(link) -> SyncSettings:
    """The link's SyncSettings, created with the defaults on first use."""
    settings, _ = SyncSettings.objects.get_or_create(link=link, defaults={"organization_id": link.organization_id})
    return settings


# --- claim ----------------------------------------------------------------------------------------------------


@dataclass
class Claim:
    """A run's hold on a link: the sync_claimed_at value it last wrote."""

    link_pk: int
    at: datetime


def claim_link(link) -> Claim | None:
    """Claim the link for one run, or None when a live (not stale) run holds it."""
    now = timezone.now()
    stale = now - CLAIM_STALE_AFTER
    claimed = EntraLink.objects.filter(Q(sync_claimed_at=None) | Q(sync_claimed_at__lt=stale), pk=link.pk)
    return Claim(link.pk, now) if claimed.update(sync_claimed_at=now) else None


def refresh_claim(claim: Claim) -> None:
    """Move our claim's timestamp forward (so it does not go stale); ClaimLost if another run took it."""
    now = timezone.now()
    if not EntraLink.objects.filter(pk=claim.link_pk, sync_claimed_at=claim.at).update(sync_claimed_at=now):
        raise ClaimLost("Another sync took over this link while this one was running; this one stopped.")
    claim.at = now


def release_link(claim: Claim) -> None:
    """Release our claim (a claim another run has taken over is left alone)."""
    EntraLink.objects.filter(pk=claim.link_pk, sync_claimed_at=claim.at).update(sync_claimed_at=None)


# --- the run ----------------------------------------------------------------------------------------------------


def run_sync(link, *, trigger="schedule", full=False, dry_run=False, run_id=None) -> SyncRun | None:
    """Run one sync of `link` and return its SyncRun (unsaved for a dry run, which writes nothing), or None
    when another run holds the link (a pending `run_id` row is then marked skipped). Throttling and transient
    sign-in errors are recorded on the run and re-raised for the task to retry; other failures are recorded."""
    claim = claim_link(link)
    if claim is None:
        if run_id:
            SyncRun.objects.filter(pk=run_id, link=link, status=SyncRun.Status.PENDING).update(
                status=SyncRun.Status.SKIPPED, finished_at=timezone.now(),
                errors=["Another sync of this directory was already running, so this one did not start."])
        return None
    run = _start_run(link, trigger, run_id, dry_run)
    try:
        if dry_run:
            with transaction.atomic():
                _execute(link, run, claim, full=full, dry_run=True)
                transaction.set_rollback(True)
        else:
            _fail_interrupted_runs(link, run)
            _execute(link, run, claim, full=full, dry_run=False)
    except Exception as exc:  # recorded for the admin; re-raised only when the task should retry
        _record_failure(run, exc, dry_run)
        if _is_retryable(exc) or not isinstance(exc, (graph.GraphError, SyncAborted, rules.ConfigError)):
            raise
    finally:
        release_link(claim)
    return run


def _is_retryable(exc) -> bool:
    return isinstance(exc, graph.GraphThrottled) or (isinstance(exc, graph.GraphAuthError) and exc.is_transient)


def _start_run(link, trigger, run_id, dry_run) -> SyncRun:
    now = timezone.now()
    run = None
    if run_id and not dry_run:
        run = SyncRun.objects.filter(pk=run_id, link=link, status=SyncRun.Status.PENDING).first()
    if run is None:
        run = SyncRun(organization_id=link.organization_id, link=link, trigger=trigger, created_at=now)
    run.status, run.started_at, run.phase = SyncRun.Status.RUNNING, now, "starting"
    if not dry_run:
        run.save()
    return run


def _fail_interrupted_runs(link, run) -> None:
    # We hold the claim, so any other run still marked running lost its worker (killed, redelivered, crashed).
    SyncRun.objects.filter(link=link, status=SyncRun.Status.RUNNING).exclude(pk=run.pk).update(
        status=SyncRun.Status.FAILED, finished_at=timezone.now(),
        errors=[("This sync stopped without finishing (its worker ended); the next sync picked up from the last "
                 "completed state.")])


def _record_failure(run, exc, dry_run) -> None:
    if isinstance(exc, graph.GraphError):
        message = exc.admin_message
    elif isinstance(exc, (SyncAborted, rules.ConfigError)):
        message = str(exc)
    else:
        logger.exception("sync of link %s failed", run.link_id)
        message = "The sync failed because of an internal error; the team has been told. Nothing was removed."
    run.errors = [*run.errors, message]
    run.error_kind = graph.failure_kind(exc)
    run.status, run.finished_at = SyncRun.Status.FAILED, timezone.now()
    if not dry_run:
        run.save()


def _full_reason(settings, config, full) -> str:
    if full:
        return "requested"
    if not settings.user_delta_link:
        return "first sync" if not settings.last_full_sync_at else "no saved delta link"
    if settings.last_fingerprint != rules_config.fingerprint(config):
        return "the field mapping or filters changed"
    now = timezone.now()
    if not settings.last_full_sync_at or settings.last_full_sync_at < now - FULL_RECONCILE_EVERY:
        return "weekly full reconciliation"
    if not settings.delta_saved_at or settings.delta_saved_at < now - FULL_RECONCILE_EVERY:
        return "the delta link is about to expire"
    return ""


def _execute(link, run, claim, *, full, dry_run) -> None:
    with bulk.rare_gc():
        _execute_run(link, run, claim, full=full, dry_run=dry_run)


def _execute_run(link, run, claim, *, full, dry_run) -> None:
    settings = sync_settings_for(link)
    config = settings.sync_config()
    stats = graph.RequestStats()
    ctx = RunContext(link=link, settings=settings, config=config, run=run, stats=stats, dry_run=dry_run,
                     needs_manager=rules.needs_manager(config),
                     empty_at_start=not Employee.objects.filter(link=link).exists())
    reason = _full_reason(settings, config, full)
    run.is_full, run.full_reason = bool(reason), reason
    links = {}

    clock = {"phase": "", "at": time.monotonic(), "requests": 0, "saved": 0.0}

    def progress(phase):
        changed = phase != clock["phase"]
        if changed:
            _time_phase(run, clock, stats)
            clock["phase"] = phase
        run.phase = phase
        run.graph_requests, run.graph_throttled = stats.requests, stats.throttled
        now = time.monotonic()
        # Each of these is a committed write: at most one a second, not one per page of a fast listing.
        if not dry_run and (changed or now - clock["saved"] >= PROGRESS_EVERY):
            clock["saved"] = now
            refresh_claim(claim)
            SyncRun.objects.filter(pk=run.pk).update(
                phase=phase, users_processed=run.users_processed, pages_fetched=run.pages_fetched,
                graph_requests=run.graph_requests)

    ctx.writer = bulk.writer_for_run(dry_run)
    # Membership rows have their own writer (and connection), unbounded: the users phase starts at once and
    # the database writes both tables side by side. Closed before anything reads memberships.
    memberships = bulk.writer_for_run(dry_run, depth=0)
    try:
        if settings.sync_groups or config.scope_group_ids:
            progress("groups")
            links["group"], _, membership_changed = listing.with_delta_fallback(
                ctx, lambda f: groups.sync_groups(ctx, full=f, writer=memberships), run.is_full, "groups")
            if config.scope_group_ids:
                ctx.remap_ids |= membership_changed
                memberships.close()  # the users' mapping reads the groups they belong to
        if settings.sync_contacts:
            progress("contacts")
            links["contact"], _ = listing.with_delta_fallback(
                ctx, lambda f: groups.sync_contacts(ctx, full=f), run.is_full, "contacts")
        progress("users")
        links["user"], users_full = listing.with_delta_fallback(
            ctx, lambda f: listing.sync_users(ctx, f, progress), run.is_full, "users",
            reset=listing.reset_user_counts)
        _flush(ctx)  # every page is written (or its error raised) before anything is reconciled
        memberships.close()
        if users_full and not run.is_full:
            run.is_full, run.full_reason = True, "the delta link had expired"
        progress("reconciling")
        _remap(ctx)
        reconcile.flag_duplicate_emails(ctx, touched=None if users_full else ctx.changed_ids)
        if users_full and ctx.run.seen == 0 and _live_count(link):
            raise SyncAborted(EMPTY_LISTING)
        plan = reconcile.planned_removals(ctx, full_listing=users_full)
        reconcile.apply_or_hold_removals(ctx, plan)
        if settings.sync_photos and not dry_run and _maps_photo(config):
            progress("photos")
            _sync_photos(ctx)
    finally:
        failing = sys.exc_info()[1]  # the exception ending the run, if one is
        # Wait for the queued writes, then ANALYZE what the run loaded in bulk: also when it failed part way (the
        # rows are there, and the next run's lookups need the statistics).
        endings = [lambda: _flush(ctx), memberships.close]
        if not dry_run:
            endings.append(lambda: bulk.refresh_statistics(ctx.written))
        for end in endings:
            try:
                end()
            except Exception:
                if failing is None:
                    raise
                logger.exception("finishing the run's writes failed while the run was already failing")
        run.graph_requests, run.graph_throttled = stats.requests, stats.throttled
        _time_phase(run, clock, stats)
    _finish(ctx, links, users_full)


def _time_phase(run, clock, stats) -> None:
    """Record the phase that just ended in the run's diff: seconds and Graph requests (the history shows them)."""
    now = time.monotonic()
    if clock["phase"]:
        phases = run.diff.setdefault("phases", {})
        spent = phases.get(clock["phase"], {"seconds": 0.0, "requests": 0})
        phases[clock["phase"]] = {"seconds": round(spent["seconds"] + now - clock["at"], 3),
                                  "requests": spent["requests"] + stats.requests - clock["requests"]}
    clock["at"], clock["requests"] = now, stats.requests


def _flush(ctx) -> None:
    """Wait for the run's queued batches; later writes go straight to the database."""
    writer, ctx.writer = ctx.writer, None
    if writer is not None:
        writer.close()


def _remap(ctx) -> None:
    """Map again the people whose manager or groups changed without them appearing in this run's pages."""
    ids = set(ctx.remap_ids)
    if ctx.needs_manager and ctx.changed_ids:
        ids |= reconcile.reports_of(ctx, ctx.changed_ids)
    if ids:
        reconcile.remap_stored(ctx, ids)


def _maps_photo(config) -> bool:
    return any(spec.source == "photo" for spec in config.fields)


def _sync_photos(ctx) -> None:
    try:
        ctx.run.photos_updated = photos.sync_photos(ctx)
    except graph.GraphError as exc:
        # Photos are a nicety: a failure is reported, and the people, groups and delta links are still saved.
        ctx.error(f"Photos were not updated: {exc.admin_message}")


def _live_count(link) -> int:
    return Employee.objects.filter(link=link).exclude(status=Employee.Status.REMOVED).count()


def _finish(ctx, links, users_full) -> None:
    run, settings = ctx.run, ctx.settings
    now = timezone.now()
    if run.status != SyncRun.Status.HELD:
        run.status = SyncRun.Status.SUCCEEDED
    run.phase, run.finished_at = "done", now
    if ctx.dry_run:
        return
    with transaction.atomic():
        fields = ["delta_saved_at", "last_fingerprint"]
        for kind, link_value in links.items():
            if link_value:
                setattr(settings, f"{kind}_delta_link", link_value)
                fields.append(f"{kind}_delta_link")
        settings.delta_saved_at = now
        settings.last_fingerprint = rules_config.fingerprint(ctx.config)
        if users_full:
            settings.last_full_sync_at = now
            fields.append("last_full_sync_at")
            # A completed full listing decided removals afresh: older held lists are out of date.
            SyncRun.objects.filter(link=ctx.link, status=SyncRun.Status.HELD, removals_decision="").exclude(
                pk=run.pk).update(removals_decision=SyncRun.Decision.SUPERSEDED, decided_at=now)
        SyncSettings.objects.filter(pk=settings.pk).update(**{name: getattr(settings, name) for name in fields})
        run.save()
    _trim_diffs(ctx.link)


def _trim_diffs(link) -> None:
    keep = list(SyncRun.objects.filter(link=link).order_by("-created_at").values_list("pk", flat=True)[:DIFFS_KEPT])
    SyncRun.objects.filter(link=link).exclude(pk__in=keep).exclude(diff={}).update(diff={})


# --- seams and housekeeping -------------------------------------------------------------------------------------


def apply_listing(link, pages, *, full=True, trigger="command") -> SyncRun:
    """Apply pages of Graph users (lists of dicts) as this run's listing, without Graph: a full listing
    reconciles removals like a real one; with full=False the pages are a delta round (`@removed` honoured).
    The engine's tests and tools use it; it claims the link like run_sync and returns the saved run."""
    claim = claim_link(link)
    if claim is None:
        raise SyncAborted("Another sync of this directory is running.")
    run = _start_run(link, trigger, None, False)
    settings = sync_settings_for(link)
    config = settings.sync_config()
    ctx = RunContext(link=link, settings=settings, config=config, run=run, stats=graph.RequestStats(),
                     needs_manager=rules.needs_manager(config))
    run.is_full, run.full_reason = full, "given listing" if full else ""
    try:
        for page in pages:
            if full:
                reconcile.write_users(ctx, page)
                run.pages_fetched += 1
                run.users_processed += len(page)
            else:
                listing.apply_delta_items(ctx, page)
        _remap(ctx)
        reconcile.flag_duplicate_emails(ctx, touched=None if full else ctx.changed_ids)
        if full and run.seen == 0 and _live_count(link):
            raise SyncAborted(EMPTY_LISTING)
        reconcile.apply_or_hold_removals(ctx, reconcile.planned_removals(ctx, full_listing=full))
        run.status = run.status if run.status == SyncRun.Status.HELD else SyncRun.Status.SUCCEEDED
        run.phase, run.finished_at = "done", timezone.now()
        run.save()
    except Exception as exc:
        _record_failure(run, exc, False)
        raise
    finally:
        release_link(claim)
    return run


def purge_removed(older_than=REMOVED_KEPT) -> int:
    """Delete employees soft-removed longer ago than `older_than` (with their photos); returns how many."""
    cutoff = timezone.now() - older_than
    _, per_model = Employee.objects.filter(status=Employee.Status.REMOVED, removed_at__lt=cutoff).delete()
    return per_model.get(Employee._meta.label, 0)


def approve_held_removals(run, user) -> int:
    """Apply a held run's removals exactly once (double clicks and replays apply nothing more); returns how many
    people were removed by this call."""
    return reconcile.approve_held_removals(run, user)


def reject_held_removals(run, user) -> bool:
    """Drop a held run's removals; True if this call decided it, False if the run was already decided."""
    return reconcile.reject_held_removals(run, user)


def restore_employee(employee) -> bool:
    """Undo a soft removal now; the next sync sets the person's status from the rules again."""
    return reconcile.restore_employee(employee)

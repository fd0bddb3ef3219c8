"""The admin's sync pages: Sync Now and its progress, the dashboard panel, held removals and the run history.
The settings pages are in settings_views.py, the Employees, Groups and Contacts views in directory_views.py.

Every view is @org_member and reads through for_org(request.organization): an id of another organisation is 404.
"""

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from directory_sync import engine, fields, rules, rules_config, tasks
from directory_sync.models import (
    DirectoryGroup,
    Employee,
    OrgContact,
    PendingRemoval,
    SyncRun,
    SyncSettings,
)
from portal import audit
from tenants.decorators import org_member
from tenants.models import EntraLink, Role

PENDING_STALE_AFTER = timedelta(minutes=10)  # a Sync Now no worker picked up by then no longer blocks another
CHART_RUNS = 30
ACTIVE = (SyncRun.Status.PENDING, SyncRun.Status.RUNNING)
FINISHED = (SyncRun.Status.SUCCEEDED, SyncRun.Status.FAILED, SyncRun.Status.HELD)


def require_admin(request) -> None:
    """Raise PermissionDenied (403) unless the member is an admin or owner: editors read these pages only."""
    if not request.membership.has_role(Role.ADMIN):
        raise PermissionDenied("Only admins can change the sync.")


def is_admin(request) -> bool:
    return request.membership.has_role(Role.ADMIN)


def org_link(request, link_id) -> EntraLink:
    """The organisation's link `link_id`, or 404."""
    return get_object_or_404(EntraLink.objects.for_org(request.organization), pk=link_id)


def columns_for(link) -> list[fields.FieldSpec]:
    """The mapped fields of `link` in the configured order (the photo has no text column)."""
    config = rules.SyncConfig.default()
    if link is not None:
        stored = SyncSettings.objects.filter(link=link).values_list("config", flat=True).first()
        if stored is not None:
            try:
                config = rules_config.config_from_dict(stored)
            except rules.ConfigError:
                pass  # a malformed stored config must not break the Employees view: show the defaults
    return [spec for spec in config.fields if spec.source != fields.PHOTO_SOURCE]


# --- Sync Now, progress and the dashboard panel ----------------------------------------------------------------


def _active_run(link):
    """The link's pending or running run that still counts as going (a stale pending one does not)."""
    now = timezone.now()
    for run in SyncRun.objects.filter(link=link, status__in=ACTIVE).order_by("-created_at"):
        if run.status == SyncRun.Status.PENDING and run.created_at >= now - PENDING_STALE_AFTER:
            return run
        if (
            run.status == SyncRun.Status.RUNNING
            and link.sync_claimed_at
            and link.sync_claimed_at >= now - engine.CLAIM_STALE_AFTER
        ):
            return run
    return None


def start_sync_now(link, user) -> tuple[SyncRun | None, str]:
    """Create a pending manual run and enqueue it once the transaction commits; (None, why) when a run of the
    link is already pending or running. The link row is locked, so two clicks start one run."""
    with transaction.atomic():
        link = EntraLink.objects.select_for_update().get(pk=link.pk)
        if link.status == EntraLink.Status.UNLINKED:
            return None, "This link is unlinked; link it again before syncing."
        if _active_run(link) is not None:
            return None, "A sync is already running for this directory; wait for it to finish."
        # A pending run nobody picked up within PENDING_STALE_AFTER never started: close it so it stops blocking.
        SyncRun.objects.filter(
            link=link, status=SyncRun.Status.PENDING, created_at__lt=timezone.now() - PENDING_STALE_AFTER
        ).update(
            status=SyncRun.Status.SKIPPED,  # skipped, not failed: it says nothing about the link's health
            finished_at=timezone.now(),
            errors=["This sync never started (no worker picked it up in time)."],
        )
        run = SyncRun.objects.create(
            organization_id=link.organization_id,
            link=link,
            trigger=SyncRun.Trigger.MANUAL,
            status=SyncRun.Status.PENDING,
        )
        transaction.on_commit(
            lambda: tasks.sync_link.delay(link.pk, trigger=SyncRun.Trigger.MANUAL, run_id=run.pk)
        )
    audit.record(link.organization, user, "sync.started", link.name, link_id=link.pk, run_id=run.pk)
    return run, "Sync started."


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@org_member(role=Role.ADMIN)
@require_POST
def link_sync_now(request, org_slug, link_id):
    link = org_link(request, link_id)
    run, message = start_sync_now(link, request.user)
    if _wants_json(request):
        return JsonResponse(
            {"started": run is not None, "message": message, "run_id": run.pk if run else None},
            status=202 if run else 409,
        )
    (messages.success if run else messages.warning)(request, message)
    return redirect("dashboard", org_slug)


def progress_of(link) -> dict:
    """The link's latest run as the dashboard's progress bar reads it."""
    run = _active_run(link) or SyncRun.objects.filter(link=link).order_by("-created_at", "-pk").first()
    if run is None:
        return {"active": False, "run_id": None}
    # The last full listing's size is what a full run will process; a delta round processes only changes.
    expected = (
        SyncRun.objects.filter(link=link, status__in=FINISHED, is_full=True, seen__gt=0)
        .exclude(pk=run.pk)
        .order_by("-created_at")
        .values_list("seen", flat=True)
        .first()
        or 0
    )
    # A run whose worker died (stale claim, or pending too long) is not shown as going.
    active = run.status in ACTIVE and _active_run(link) is not None
    percent = None
    if active and expected and run.phase == "users":
        percent = min(99, round(100 * run.users_processed / expected))
    elif not active:
        percent = 100
    return {
        "active": active,
        "run_id": run.pk,
        "status": run.status,
        "status_display": run.get_status_display(),
        "phase": run.phase,
        "users_processed": run.users_processed,
        "pages_fetched": run.pages_fetched,
        "expected": expected,
        "percent": percent,
        "seen": run.seen,
        "added": run.added,
        "updated": run.updated,
        "removed": run.removed,
        "excluded": run.excluded,
        "held": run.held,
        "errors": run.errors,
    }


@org_member()
@require_GET
def link_progress(request, org_slug, link_id):
    link = org_link(request, link_id)
    response = JsonResponse(progress_of(link))
    response["Cache-Control"] = "no-store"
    return response


def employee_series(runs) -> list[int]:
    """How many people each run (oldest first) left in the directory: a full listing counts everyone it saw;
    a delta round sees only changes, so the previous figure is carried forward with its additions and removals."""
    series, previous = [], None
    for run in runs:
        if run.is_full or previous is None:
            value = run.seen
        else:
            value = max(0, previous + run.added + run.restored - run.removed)
        series.append(value)
        previous = value
    return series


def run_chart(runs) -> dict:
    """Coordinates of a small SVG chart (300×80) of finished runs, oldest first: bars of employees (see
    employee_series) and a line of durations in seconds."""
    runs = [run for run in runs if run.finished_at][::-1]
    width, height, pad = 300, 80, 4
    if not runs:
        return {"bars": [], "line": "", "width": width, "height": height}
    people = employee_series(runs)
    max_seen = max(people) or 1
    durations = [(run.duration.total_seconds() if run.duration else 0) for run in runs]
    max_duration = max(durations) or 1
    slot = (width - 2 * pad) / max(len(runs), 1)
    bars, points = [], []
    for i, (run, seconds, count) in enumerate(zip(runs, durations, people)):
        x = pad + i * slot
        h = (height - 2 * pad) * count / max_seen
        bars.append(
            {
                "x": round(x + slot * 0.15, 1),
                "y": round(height - pad - h, 1),
                "w": round(slot * 0.7, 1),
                "h": round(h, 1),
                "title": f"{run.finished_at:%d %b %H:%M}: {count} employees, "
                f"{seconds:.0f} s, {run.get_status_display()}",
                "failed": run.status == SyncRun.Status.FAILED,
            }
        )
        y = height - pad - (height - 2 * pad) * seconds / max_duration
        points.append(f"{x + slot / 2:.1f},{y:.1f}")
    return {
        "bars": bars,
        "line": " ".join(points),
        "width": width,
        "height": height,
        "max_seen": max_seen,
        "max_duration": round(max_duration),
    }


def panel_context(link, request) -> dict:
    """Everything the dashboard's per-link sync panel shows."""
    runs = list(SyncRun.objects.filter(link=link).order_by("-created_at", "-pk")[: CHART_RUNS + 5])
    current = _active_run(link)
    last = next((run for run in runs if run.status in FINISHED), None)
    counts = dict(Employee.objects.filter(link=link).values_list("status").annotate(n=Count("id")).order_by())
    held = (
        SyncRun.objects.filter(link=link, status=SyncRun.Status.HELD, removals_decision="")
        .order_by("-created_at")
        .first()
    )
    pending, pending_total = [], 0
    if held is not None:
        removals = (
            PendingRemoval.objects.filter(run=held)
            .select_related("employee")
            .order_by("employee__display_name")
        )
        pending_total = removals.count()
        pending = list(removals[:50])
    return {
        "link": link,
        "is_due": bool(link.next_sync_at and link.next_sync_at <= timezone.now()),
        "current": current,
        "last": last,
        "progress": progress_of(link) if current else None,
        "employees": counts.get(Employee.Status.ACTIVE, 0),
        "excluded": counts.get(Employee.Status.EXCLUDED, 0),
        "groups": DirectoryGroup.objects.filter(link=link, removed_at=None).count(),
        "contacts": OrgContact.objects.filter(link=link, removed_at=None).count(),
        "held": held,
        "pending": pending,
        "pending_total": pending_total,
        "chart": run_chart([run for run in runs if run.status in FINISHED][:CHART_RUNS]),
        "is_admin": is_admin(request),
        "org_slug": request.organization.slug,
    }


@org_member()
@require_GET
def link_panel(request, org_slug, link_id):
    """The dashboard panel of one link as an HTML fragment (the progress script swaps it in when a run ends)."""
    link = org_link(request, link_id)
    return render(request, "directory_sync/_panel_body.html", panel_context(link, request))


# --- held removals ----------------------------------------------------------------------------------------------


@org_member(role=Role.ADMIN)
@require_POST
def run_decide(request, org_slug, run_id, decision):
    run = get_object_or_404(SyncRun.objects.for_org(request.organization).select_related("link"), pk=run_id)
    if decision == "approve":
        undecided = run.status == SyncRun.Status.HELD and not run.removals_decision
        removed = engine.approve_held_removals(run, request.user)
        if removed or (
            undecided
            and SyncRun.objects.filter(
                pk=run.pk, decided_by=request.user, removals_decision=SyncRun.Decision.APPROVED
            ).exists()
        ):
            audit.record(
                request.organization,
                request.user,
                "sync.removals_approved",
                run.link.name,
                run_id=run.pk,
                removed=removed,
            )
            messages.success(request, f"Approved: {removed} people removed (restorable for 30 days).")
        else:
            messages.warning(request, "These removals were already decided.")
    elif decision == "reject":
        if engine.reject_held_removals(run, request.user):
            audit.record(
                request.organization, request.user, "sync.removals_rejected", run.link.name, run_id=run.pk
            )
            messages.success(request, "Rejected: nobody was removed.")
        else:
            messages.warning(request, "These removals were already decided.")
    else:
        raise Http404("Unknown decision.")
    # `next` only ever points back into this site (the run page or the dashboard), never elsewhere.
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("dashboard", args=[org_slug])
    return redirect(target)


# --- history ----------------------------------------------------------------------------------------------------


def link_filter(request, links):
    """The link of `links` (the organisation's) named by ?link=, or None: a foreign id simply matches nothing."""
    wanted = request.GET.get("link", "")
    for link in links:
        if str(link.pk) == wanted:
            return link
    return None


@org_member()
@require_GET
def run_list(request, org_slug):
    links = list(EntraLink.objects.for_org(request.organization))
    link = link_filter(request, links)
    runs = (
        SyncRun.objects.for_org(request.organization)
        .select_related("link")
        .defer("diff")
        .order_by("-created_at", "-pk")
    )
    if link is not None:
        runs = runs.filter(link=link)
    page = Paginator(runs, 25).get_page(request.GET.get("page"))
    query = f"link={link.pk}" if link else ""
    return render(
        request, "directory_sync/run_list.html", {"page": page, "links": links, "link": link, "query": query}
    )


def _diff_sections(run) -> list[dict]:
    diff = run.diff or {}
    titles = [
        ("added", "Added"),
        ("updated", "Updated"),
        ("restored", "Restored"),
        ("excluded", "Excluded"),
        ("removed", "Removed"),
        ("held", "Held for approval"),
        ("not_in_directory", "No longer in the directory"),
        ("duplicate_emails", "Duplicate email addresses"),
    ]
    sections = [
        {"key": key, "title": title, "entries": diff.get(key, [])} for key, title in titles if diff.get(key)
    ]
    known = {key for key, _ in titles}
    for key, entries in diff.items():
        if key not in known and entries:
            sections.append({"key": key, "title": key.replace("_", " ").capitalize(), "entries": entries})
    for section in sections:
        section["entries"] = [
            dict(entry, label=entry.get("name") or entry.get("id") or "(no name)")
            for entry in section["entries"]
            if isinstance(entry, dict)
        ]
        if section["key"] == "updated":
            for entry in section["entries"]:
                entry["change_list"] = [
                    {"field": name, "old": _text(values[0]), "new": _text(values[1])}
                    for name, values in (entry.get("changes") or {}).items()
                    if isinstance(values, (list, tuple)) and len(values) == 2
                ]
    return sections


def _text(value) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value)
    return "" if value is None else str(value)


@org_member()
@require_GET
def run_detail(request, org_slug, run_id):
    run = get_object_or_404(
        SyncRun.objects.for_org(request.organization).select_related("link", "decided_by"), pk=run_id
    )
    pending = []
    if run.status == SyncRun.Status.HELD and not run.removals_decision:
        pending = list(
            PendingRemoval.objects.filter(run=run)
            .select_related("employee")
            .order_by("employee__display_name")[:500]
        )
    return render(
        request,
        "directory_sync/run_detail.html",
        {"run": run, "sections": _diff_sections(run), "pending": pending, "is_admin": is_admin(request)},
    )

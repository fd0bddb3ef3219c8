"""In Chromium, against the Entra emulator and a real Celery worker over Redis: Sync Now with its progress bar,
field order in the Employees view, a filter preview, held removals approved from the dashboard, CSV export."""

import csv
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from directory_sync import engine, graph
from directory_sync.models import Employee, SyncRun
from portal.celery import app as celery_app
from tests import factories
from tests.directory_sync import sync_factories as sf

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker(emu, tmp_path, monkeypatch):
    """A real Celery worker process on a queue of its own; the web process sends this test's tasks there."""
    redis_url = os.environ.get("REDIS_URL", "")
    assert redis_url, "REDIS_URL must point at a running Redis for this test"
    queue = f"test-sync-{uuid.uuid4().hex[:8]}"
    monkeypatch.setitem(celery_app.conf, "task_default_queue", queue)
    env = dict(
        os.environ,
        DATABASE_URL=factories.database_url(),
        CELERY_QUEUE=queue,
        REDIS_URL=redis_url,
        VAR_DIR=str(tmp_path),
        ENTRA_CUSTOM_LOGIN_URL=emu.login_url,
        ENTRA_CUSTOM_GRAPH_URL=emu.graph_url,
        ENTRA_CUSTOM_CA_BUNDLE=emu.ca_bundle,
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "-Q",
            queue,
            "--pool=solo",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield proc
    proc.terminate()
    try:
        proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


@pytest.fixture
def emu_link(emu, organization):
    link = factories.make_link(
        organization,
        name="Contoso",
        cloud_key="custom",
        tenant_id=emu.tenant.id,
        own_client_id=emu.own_app.client_id,
        client_secret=emu.own_app.client_secret,
    )
    yield link
    graph.forget_link(link)


def _sign_in(page, live_server, email):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_sync_now_shows_progress_then_the_counts_and_a_double_click_starts_one_run(
    live_server, page, org_admin, organization, emu, emu_link, worker
):
    # Slow the users listing down so the progress bar has time to show.
    emu.control.add_fault(kind="latency", path="/v1.0/users*", delay=1.5, count=3)
    _sign_in(page, live_server, org_admin.email)
    panel = page.locator(f"#sync-panel-{emu_link.pk}")
    expect(panel.get_by_text("Not synced yet")).to_be_visible()
    panel.get_by_role("button", name="Sync now").dblclick()
    expect(panel.locator(".sync-progress")).to_be_visible()
    expect(panel.locator(".progress-text")).to_contain_text("users processed", timeout=30_000)
    # The panel swaps in the result without a reload.
    fresh = page.locator(f"#sync-panel-{emu_link.pk}")
    expect(fresh.get_by_text("Last sync succeeded")).to_be_visible(timeout=90_000)
    runs = SyncRun.objects.filter(link=emu_link)
    assert runs.count() == 1 and runs.get().trigger == SyncRun.Trigger.MANUAL
    active = Employee.objects.filter(link=emu_link, status=Employee.Status.ACTIVE).count()
    assert active > 100
    expect(fresh.locator(".count-employees")).to_have_text(str(active))
    expect(fresh.locator(".last-result")).to_contain_text(f"{runs.get().seen} seen")


def test_reordering_fields_reorders_the_employee_columns(live_server, page, org_admin, organization, link):
    sf.make_employee(link, "Ada Lovelace")
    _sign_in(page, live_server, org_admin.email)
    page.goto(f"{live_server.url}/o/{organization.slug}/sync/links/{link.pk}/fields/")
    page.get_by_role("button", name="Move Last name up").click()
    expect(page.get_by_text("Unsaved changes.")).to_be_visible()
    page.get_by_role("button", name="Save fields").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    page.get_by_role("link", name="Employees").click()
    heads = page.locator("table.employees thead th").all_inner_texts()
    assert [head.strip().lower() for head in heads[:3]] == ["last name", "first name", "display name"]
    expect(page.locator("table.employees tbody tr").first).to_contain_text("Lovelace")


def test_a_filter_preview_shows_the_count_and_the_reason(live_server, page, org_admin, organization, link):
    for name in ("Sara Sales", "Sid Sales", "Sue Sales"):
        sf.make_employee(link, name, department="Sales")
    sf.make_employee(link, "Otto Ops", department="Operations")
    _sign_in(page, live_server, org_admin.email)
    page.goto(f"{live_server.url}/o/{organization.slug}/sync/links/{link.pk}/filters/")
    page.get_by_label("Directory filter (OData $filter)").fill("department eq 'Sales'")
    page.get_by_label("Explain a person (name or email)").fill("otto")
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#preview")
    expect(preview.locator(".preview-included")).to_have_text("3")
    expect(preview.locator(".preview-removed")).to_have_text("1")
    expect(preview.locator("table.reasons")).to_contain_text(
        "outside the directory filter (department eq 'Sales')"
    )
    expect(preview.locator(".explain")).to_contain_text("Otto Ops")
    expect(preview.locator(".explain")).to_contain_text("Excluded: outside the directory filter")


def test_removals_above_the_threshold_are_held_and_approving_removes_exactly_those(
    live_server, page, org_admin, organization, emu, emu_link, worker
):
    first = engine.run_sync(emu_link, trigger="command")
    assert first.status == SyncRun.Status.SUCCEEDED
    settings = engine.sync_settings_for(emu_link)
    settings.cleanup_enabled, settings.removal_threshold_percent = True, 5
    settings.save()
    active = list(
        Employee.objects.filter(link=emu_link, status=Employee.Status.ACTIVE).order_by("display_name")
    )
    leavers = active[1:21]
    for employee in leavers:
        emu.control.delete_user(emu.tenant.id, employee.graph_id)

    _sign_in(page, live_server, org_admin.email)
    panel = page.locator(f"#sync-panel-{emu_link.pk}")
    panel.get_by_role("button", name="Sync now").click()
    held = page.locator(f"#sync-panel-{emu_link.pk} .held-removals")
    expect(held).to_contain_text("20 removals waiting for approval", timeout=90_000)
    expect(held).to_contain_text(leavers[0].display_name)
    assert not Employee.objects.filter(status=Employee.Status.REMOVED).exists()
    held.get_by_role("button", name="Approve removals").click()
    expect(page.get_by_text("Approved: 20 people removed")).to_be_visible()
    removed = set(
        Employee.objects.filter(link=emu_link, status=Employee.Status.REMOVED).values_list("pk", flat=True)
    )
    assert removed == {employee.pk for employee in leavers}


def test_csv_export_downloads_the_current_view(live_server, page, org_admin, organization, link, tmp_path):
    for name in ("Sara Sales", "Sid Sales"):
        sf.make_employee(link, name, department="Sales")
    sf.make_employee(link, "Otto Ops", department="Operations")
    _sign_in(page, live_server, org_admin.email)
    page.goto(f"{live_server.url}/o/{organization.slug}/employees/")
    page.get_by_label("Department").fill("Sales")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.employees tbody tr")).to_have_count(2)
    with page.expect_download() as info:
        page.get_by_role("link", name="Export CSV").click()
    path = tmp_path / "export.csv"
    info.value.save_as(path)
    rows = list(csv.reader(path.open(encoding="utf-8-sig")))
    assert rows[0][:3] == ["First name", "Last name", "Display name"]
    assert sorted(row[2] for row in rows[1:]) == ["Sara Sales", "Sid Sales"]

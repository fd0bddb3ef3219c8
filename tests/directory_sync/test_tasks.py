"""The sync_link task: thin wrapper, retries, Sync Now's pending run, and a worker killed mid-run."""
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import pytest
from celery.exceptions import Retry
from django.conf import settings as django_settings
from django.utils import timezone

from directory_sync import engine, graph, graph_reads, tasks
from directory_sync.models import Employee, SyncRun
from tenants.models import EntraLink
from tests import factories


def test_unlinked_link_is_skipped(link, monkeypatch):
    link.status = EntraLink.Status.UNLINKED
    link.save()
    monkeypatch.setattr(engine, "run_sync", lambda *a, **k: pytest.fail("must not sync an unlinked tenant"))
    assert tasks.sync_link(link.id) is None
    assert tasks.sync_link(999_999_999) is None


def test_sync_now_picks_up_its_pending_run(emu_link):
    pending = SyncRun.objects.create(organization=emu_link.organization, link=emu_link, trigger="manual")
    assert tasks.sync_link(emu_link.id, trigger="manual", run_id=pending.pk) == pending.pk
    pending.refresh_from_db()
    assert pending.status == "succeeded" and pending.seen == 150 and pending.trigger == "manual"


def test_pending_run_is_skipped_when_another_sync_holds_the_link(link):
    pending = SyncRun.objects.create(organization=link.organization, link=link, trigger="manual")
    claim = engine.claim_link(link)
    assert tasks.sync_link(link.id, trigger="manual", run_id=pending.pk) is None
    pending.refresh_from_db()
    assert pending.status == "skipped" and "already running" in pending.errors[0]
    engine.release_link(claim)


def test_throttling_is_retried_after_graphs_advice(link, monkeypatch):
    def throttled(*args, **kwargs):
        raise graph.GraphThrottled("slow down", status=429, retry_after=42)

    monkeypatch.setattr(engine, "run_sync", throttled)
    seen = {}
    monkeypatch.setattr(tasks.sync_link, "retry", lambda **kw: seen.update(kw) or Retry())
    with pytest.raises(Retry):
        tasks.sync_link(link.id)
    assert seen["countdown"] == 42 and isinstance(seen["exc"], graph.GraphThrottled)


def test_permanent_auth_errors_are_not_retried(link, monkeypatch):
    def refused(*args, **kwargs):
        raise graph.GraphAuthError("bad secret", aadsts=7000215)

    monkeypatch.setattr(engine, "run_sync", refused)
    monkeypatch.setattr(tasks.sync_link, "retry", lambda **kw: pytest.fail("must not retry"))
    with pytest.raises(graph.GraphAuthError):
        tasks.sync_link(link.id)


def test_task_options_bound_retries_and_ack_late():
    assert tasks.sync_link.acks_late is True and tasks.sync_link.max_retries == tasks.MAX_RETRIES


WORKER = """
import sys
from directory_sync import graph_reads
graph_reads.PAGE_SIZE = 10  # 15 slow pages, so the run is still going when the test kills the worker
from portal.celery import app
app.worker_main(["worker", "--pool=solo", "-Q", sys.argv[1], "--loglevel=WARNING", "--without-mingle",
                 "--without-gossip", "--without-heartbeat"])
"""


@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_run_then_next_run_converges(emu_link, emu):
    """A real celery worker over Redis is SIGKILLed while the emulator makes each page slow."""
    if not django_settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.fail("this test needs REDIS_URL (a real broker)")
    queue = f"engine-test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ, "DATABASE_URL": factories.database_url(), "ENTRA_CUSTOM_LOGIN_URL": emu.login_url,
        "ENTRA_CUSTOM_GRAPH_URL": emu.graph_url, "ENTRA_CUSTOM_CA_BUNDLE": emu.ca_bundle,
        "DJANGO_SETTINGS_MODULE": "portal.settings", "CELERY_QUEUE": queue,
    }
    settings = engine.sync_settings_for(emu_link)
    settings.sync_photos = False
    settings.save()
    emu.control.add_fault("latency path=/v1.0/users delay=0.5 count=1000")
    worker = subprocess.Popen([sys.executable, "-c", WORKER, queue], env=env, cwd=django_settings.BASE_DIR,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        tasks.sync_link.apply_async(args=[emu_link.id], queue=queue)
        run = _wait_for(lambda: SyncRun.objects.filter(link=emu_link, status="running", pages_fetched__gte=4).first(),
                        worker)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    written = Employee.objects.filter(link=emu_link).count()
    assert 0 < written < 150
    run.refresh_from_db()
    assert run.status == "running"
    emu.control.clear_faults()
    assert tasks.sync_link(emu_link.id) is None  # the dead run's claim is still fresh: nothing runs twice
    EntraLink.objects.filter(pk=emu_link.pk).update(
        sync_claimed_at=timezone.now() - engine.CLAIM_STALE_AFTER - timedelta(seconds=1))
    next_run = SyncRun.objects.get(pk=tasks.sync_link(emu_link.id))
    assert next_run.status == "succeeded" and next_run.is_full
    run.refresh_from_db()
    assert run.status == "failed" and "stopped without finishing" in run.errors[0]
    directory = {user["id"] for page in graph_reads.iter_user_pages(emu_link, ["id"]) for user in page}
    assert set(Employee.objects.filter(link=emu_link).exclude(status="removed").values_list(
        "graph_id", flat=True)) == directory


def _wait_for(find, worker, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = find()
        if found is not None:
            return found
        if worker.poll() is not None:
            pytest.fail(f"the worker exited early: {worker.stderr.read().decode()[-2000:]}")
        time.sleep(0.1)
    pytest.fail("the run never got going")

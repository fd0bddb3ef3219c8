"""A real Celery worker and beat, started as processes, run tasks end to end against the test database,
over Redis and over the embedded filesystem broker."""
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from portal import tasks
from portal.models import Heartbeat
from tests import factories

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def _start(args, env):
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _stop(*procs) -> str:
    output = []
    for proc in procs:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        output.append(out or "")
    return "\n".join(output)


def _wait_for(predicate, timeout=45):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.3)
    return False


def _env(tmp_path, queue, redis_url):
    env = dict(os.environ, DATABASE_URL=factories.database_url(), CELERY_QUEUE=queue, HEARTBEAT_INTERVAL="1",
               VAR_DIR=str(tmp_path), REDIS_URL=redis_url)
    return env


@pytest.mark.parametrize("broker", ["redis", "filesystem"])
def test_worker_runs_tasks_that_beat_schedules(tmp_path, broker):
    queue = f"test-{uuid.uuid4().hex[:8]}"
    redis_url = os.environ.get("REDIS_URL", "") if broker == "redis" else ""
    if broker == "redis":
        assert redis_url, "REDIS_URL must point at a running Redis for this test"
    env = _env(tmp_path, queue, redis_url)
    worker = _start(["worker", "-Q", queue, "--pool=solo", "--loglevel=INFO", "--without-gossip",
                     "--without-mingle", "--without-heartbeat"], env)
    beat = _start(["beat", "--loglevel=INFO", "-s", str(tmp_path / "beat-schedule")], env)
    try:
        ok = _wait_for(lambda: Heartbeat.objects.filter(name="beat", count__gte=2).exists())
    finally:
        logs = _stop(beat, worker)
    assert ok, f"beat's heartbeat never reached the database through the {broker} broker:\n{logs[-4000:]}"


def test_task_sent_from_the_web_process_runs_in_a_worker_over_redis(tmp_path):
    queue = f"test-{uuid.uuid4().hex[:8]}"
    redis_url = os.environ.get("REDIS_URL", "")
    assert redis_url, "REDIS_URL must point at a running Redis for this test"
    worker = _start(["worker", "-Q", queue, "--pool=solo", "--loglevel=INFO", "--without-gossip",
                     "--without-mingle", "--without-heartbeat"], _env(tmp_path, queue, redis_url))
    name = f"probe-{uuid.uuid4().hex[:8]}"
    try:
        tasks.record_heartbeat.apply_async(args=[name], queue=queue)
        ok = _wait_for(lambda: Heartbeat.objects.filter(name=name).exists())
    finally:
        logs = _stop(worker)
    assert ok, f"the task never ran:\n{logs[-4000:]}"

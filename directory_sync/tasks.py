"""Background entry points of the directory sync: load by id, call the engine, declare retries. Nothing else."""
from celery import shared_task

from directory_sync import engine, erasure, graph, scheduling
from tenants.models import EntraLink

MAX_RETRIES = 5
DEFAULT_RETRY_SECONDS = 60


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def sync_link(self, link_id: int, trigger: str = "schedule", run_id: int | None = None, full: bool = False):
    """Sync one linked Entra tenant (skipped when unlinked or gone); picks up the pending SyncRun `run_id` that
    Sync Now created. Retries only throttling and transient sign-in errors, at most MAX_RETRIES times."""
    link = EntraLink.objects.filter(pk=link_id).exclude(status=EntraLink.Status.UNLINKED).first()
    if link is None:
        return None
    try:
        run = engine.run_sync(link, trigger=trigger, full=full, run_id=run_id)
    except graph.GraphThrottled as exc:
        raise self.retry(exc=exc, countdown=max(1, int(exc.retry_after or DEFAULT_RETRY_SECONDS)))
    except graph.GraphAuthError as exc:
        if not exc.is_transient:
            raise
        raise self.retry(exc=exc, countdown=DEFAULT_RETRY_SECONDS)
    # Retried attempts never get here: only a finished run moves the schedule, pauses the link or mails admins.
    scheduling.after_run(link, run)
    return run.pk if run is not None else None


@shared_task(acks_late=True, ignore_result=True)
def erase_link(link_id: int) -> int:
    """Delete an unlinked link with everything synced from it (erasure.erase_link); a link linked again in the
    meantime, or already gone, is left alone. Safe to run twice."""
    link = EntraLink.objects.filter(pk=link_id, status=EntraLink.Status.UNLINKED).first()
    return erasure.erase_link(link) if link is not None else 0


@shared_task(ignore_result=True)
def dispatch_due_syncs() -> int:
    """Every minute from beat: enqueue sync_link for the links whose next sync time has passed (see
    scheduling.dispatch_due_syncs); returns how many were enqueued."""
    return len(scheduling.dispatch_due_syncs())


@shared_task(ignore_result=True)
def purge_removed_employees() -> int:
    """Daily from beat: delete people soft-removed more than 30 days ago (their restore window has passed)."""
    return engine.purge_removed()

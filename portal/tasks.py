"""Background tasks of the site shell: a heartbeat that shows the worker and beat run."""
from celery import shared_task
from django.db.models import F
from django.utils import timezone

from portal.models import Heartbeat


def beat(name: str) -> None:
    """Record that `name` ran now (one row per name, with a counter)."""
    Heartbeat.objects.get_or_create(name=name)
    Heartbeat.objects.filter(name=name).update(beat_at=timezone.now(), count=F("count") + 1)


@shared_task
def record_heartbeat(name: str = "beat") -> None:
    beat(name)

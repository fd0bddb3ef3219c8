from django.db import models
from django.utils import timezone


class Heartbeat(models.Model):
    """The last time a named background process (beat, a test probe) proved it runs."""

    name = models.CharField(max_length=100, unique=True)
    beat_at = models.DateTimeField(default=timezone.now)
    count = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.name} at {self.beat_at:%Y-%m-%d %H:%M:%S}"

from django.conf import settings
from django.db import models
from django.utils import timezone


class Heartbeat(models.Model):
    """The last time a named background process (beat, a test probe) proved it runs."""

    name = models.CharField(max_length=100, unique=True)
    beat_at = models.DateTimeField(default=timezone.now)
    count = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.name} at {self.beat_at:%Y-%m-%d %H:%M:%S}"


class AuditEvent(models.Model):
    """Who changed what in an organisation: links, mappings, filters, templates, members. Append-only."""

    organization = models.ForeignKey("tenants.Organization", on_delete=models.CASCADE, related_name="audit_events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_email = models.CharField(max_length=254, blank=True)  # kept when the user is deleted
    action = models.CharField(max_length=80)  # e.g. "link.created", "sync.fields_changed", "template.updated"
    target = models.CharField(max_length=200, blank=True)  # what was changed, in words
    details = models.JSONField(default=dict, blank=True)  # before/after values; never secrets
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"])]

    def __str__(self):
        return f"{self.actor_email or 'system'} {self.action} {self.target}"

"""What a sync keeps per linked Entra tenant: its settings, the people, groups and contacts, and each run.

Every row belongs to an organisation (OrgOwned) and, except SyncSettings' link itself, to one EntraLink: the same
Graph id in two links is two rows. Writes are made by `directory_sync.engine`; views read through `for_org`.
"""
import uuid

import orjson
from django import forms
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone

from directory_sync import rules, rules_config
from directory_sync.bulk import JsonText
from tenants.models import EntraLink, OrgOwned

# The indexed text columns (search and sort in the Employees view) hold at most this many characters; the exact,
# full value is always in Employee.fields.
INDEXED_TEXT_LENGTH = 255


def _default_config():
    return rules_config.config_to_dict(rules.SyncConfig.default())


class SyncSettings(OrgOwned):
    """How one link syncs: the rules configuration, clean-up and its removal threshold, and the delta state."""

    link = models.OneToOneField(EntraLink, on_delete=models.CASCADE, related_name="sync_settings")
    config = models.JSONField(default=_default_config)  # rules_config.config_to_dict; validated on save
    cleanup_enabled = models.BooleanField(default=False)
    removal_threshold_percent = models.PositiveSmallIntegerField(default=10)
    removal_threshold_count = models.PositiveIntegerField(default=500)
    sync_groups = models.BooleanField(default=True)
    sync_photos = models.BooleanField(default=True)
    sync_contacts = models.BooleanField(default=True)
    # Photo changes are invisible to delta (graph-facts 7): each run checks at most this many photos, those never
    # checked first, then those not checked for a day.
    photo_checks_per_run = models.PositiveIntegerField(default=2000)
    last_fingerprint = models.CharField(max_length=64, blank=True)
    # Delta links are saved only when a run completes (engine.run_sync); "" means the next run is a full one.
    user_delta_link = models.TextField(blank=True)
    group_delta_link = models.TextField(blank=True)
    contact_delta_link = models.TextField(blank=True)
    delta_saved_at = models.DateTimeField(null=True, blank=True)
    last_full_sync_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "sync settings"

    def __str__(self):
        return f"Sync settings of {self.link}"

    def sync_config(self) -> rules.SyncConfig:
        """The stored configuration as rules.SyncConfig (raises rules.ConfigError when it is malformed)."""
        return rules_config.config_from_dict(self.config)

    def set_sync_config(self, config: rules.SyncConfig) -> None:
        """Store a configuration after validating it (FieldError, RuleError, FilterError or ConfigError)."""
        rules_config.validate_config(config)
        self.config = rules_config.config_to_dict(config)

    def removal_limit(self, active_count: int) -> int:
        """The most removals one run may apply without an admin: the lower of the percentage of `active_count`
        (rounded down) and the absolute count; more than this puts the run's removals on hold."""
        return min(active_count * self.removal_threshold_percent // 100, self.removal_threshold_count)

    def save(self, *args, **kwargs):
        # A configuration that cannot be read must never reach a night-time sync.
        rules_config.validate_config(self.sync_config())
        super().save(*args, **kwargs)


class JSONTextField(models.TextField):
    """A JSON value stored as its text (not jsonb), for documents only ever read whole by Python and never
    queried inside (no `fields__key` lookups). PostgreSQL keeps the text as sent instead of building jsonb:
    for Employee.source and .fields that was a third of a full sync's employee inserts; reading a value back
    is one orjson.loads."""

    stores_json_text = True  # bulk.upsert sends its values as JSON

    def from_db_value(self, value, expression, connection):
        return None if value is None else orjson.loads(value)

    def to_python(self, value):
        return orjson.loads(value) if isinstance(value, str) else value

    def get_prep_value(self, value):
        if value is None or isinstance(value, JsonText):
            return value
        return orjson.dumps(value).decode()

    def formfield(self, **kwargs):
        # Edited as JSON (the admin), not as the text of a Python dict.
        return super().formfield(**{"form_class": forms.JSONField, **kwargs})


# Bulk tables: the tables a full sync fills in bulk (employees, memberships) carry `organization` (memberships
# also `link`) as copies of their parent's, for scoping, without a database foreign-key constraint: PostgreSQL
# checks each such constraint row by row when the transaction commits, which measured ~3 s of a 100,000-person
# first sync. Integrity holds through the parent: an employee's link and a membership's group keep their
# constraints, and deleting an organisation, link or group cascades through Django as before (on_delete is
# Django's, not the database's, in either case).


class Employee(OrgOwned):
    """One Entra user of a link, mapped by the rules: active, excluded (with reasons) or removed (soft)."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        EXCLUDED = "excluded", "Excluded"
        REMOVED = "removed", "Removed"

    # No single-column indexes on the two keys: the composite indexes below start with them, and every index
    # is paid for on each of a full sync's 100,000 inserts. No database constraint on `organization` either
    # (see the note on bulk tables above); `link` keeps its constraint.
    organization = models.ForeignKey("tenants.Organization", on_delete=models.CASCADE, db_index=False,
                                     db_constraint=False)
    link = models.ForeignKey(EntraLink, on_delete=models.CASCADE, related_name="employees", db_index=False)
    graph_id = models.CharField(max_length=64)
    fields = JSONTextField(default=dict)  # mapped values by field key, exactly as Graph sent them
    display_name = models.CharField(max_length=INDEXED_TEXT_LENGTH, blank=True)
    email = models.CharField(max_length=INDEXED_TEXT_LENGTH, blank=True)
    email_source = models.CharField(max_length=32, blank=True)
    department = models.CharField(max_length=INDEXED_TEXT_LENGTH, blank=True)
    job_title = models.CharField(max_length=INDEXED_TEXT_LENGTH, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    excluded_reasons = models.JSONField(default=list, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    has_duplicate_email = models.BooleanField(default=False)
    source = JSONTextField(default=dict)  # the Graph user as last received ($select-ed properties)
    content_hash = models.CharField(max_length=64)
    manager_graph_id = models.CharField(max_length=64, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    removal_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["link", "graph_id"], name="one_employee_per_graph_id")]
        indexes = [
            models.Index(fields=["organization", "status", "display_name"], name="employee_list"),
            models.Index(fields=["link", "status"], name="employee_link_status"),
            # The duplicate-email check of a delta round looks up a few emails case-insensitively: this index and
            # the tiny partial one of flagged people keep it O(changes) on a large link.
            models.Index(F("link"), Lower("email"), name="employee_link_email"),
            models.Index(fields=["link"], condition=Q(has_duplicate_email=True), name="employee_flagged_email"),
            models.Index(fields=["organization", "department"], name="employee_department"),
            models.Index(fields=["link", "manager_graph_id"], name="employee_manager"),
        ]
        ordering = ["display_name"]

    def __str__(self):
        return self.display_name or self.graph_id

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class EmployeePhoto(OrgOwned):
    """An employee's photo resized to at most 256 px (JPEG), served at an unguessable `uid` URL. A row with an
    empty `jpeg` records that the employee has no photo, so it is not fetched again until the next check."""

    employee = models.OneToOneField(Employee, on_delete=models.CASCADE, related_name="photo")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    etag = models.CharField(max_length=200, blank=True)
    jpeg = models.BinaryField(blank=True, default=b"")
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    checked_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"Photo of {self.employee_id}"

    @property
    def has_image(self) -> bool:
        return bool(self.sha256)


class DirectoryGroup(OrgOwned):
    """An Entra group of a link (security, Microsoft 365 or distribution)."""

    link = models.ForeignKey(EntraLink, on_delete=models.CASCADE, related_name="directory_groups")
    graph_id = models.CharField(max_length=64)
    display_name = models.CharField(max_length=INDEXED_TEXT_LENGTH, blank=True)
    mail = models.CharField(max_length=INDEXED_TEXT_LENGTH, blank=True)
    description = models.TextField(blank=True)
    raw = models.JSONField(default=dict)
    content_hash = models.CharField(max_length=64)
    removed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["link", "graph_id"], name="one_group_per_graph_id")]
        indexes = [models.Index(fields=["organization", "display_name"], name="group_list")]
        ordering = ["display_name"]

    def __str__(self):
        return self.display_name or self.graph_id


class GroupMembership(OrgOwned):
    """`member_graph_id` belongs to `group`: directly as Graph lists it (`is_direct`), or, for users only,
    through nested groups (computed by the engine, cycle-safe). A user's rows are its transitive groups."""

    # No single-column indexes on organization, link and group: every lookup gives the link and the member
    # (membership_member) or the group (one_membership_row), and a full sync inserts a row per membership
    # (217,000 for 100,000 people in 1,000 groups). Only `group` has a database constraint: the group row holds
    # the link and organization (see the note on bulk tables above).
    organization = models.ForeignKey("tenants.Organization", on_delete=models.CASCADE, db_index=False,
                                     db_constraint=False)
    link = models.ForeignKey(EntraLink, on_delete=models.CASCADE, related_name="+", db_index=False,
                             db_constraint=False)
    group = models.ForeignKey(DirectoryGroup, on_delete=models.CASCADE, related_name="memberships", db_index=False)
    member_graph_id = models.CharField(max_length=64)
    member_type = models.CharField(max_length=20)  # user, group, contact, other
    is_direct = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "member_graph_id"], name="one_membership_row")]
        indexes = [models.Index(fields=["link", "member_graph_id"], name="membership_member")]

    def __str__(self):
        return f"{self.member_graph_id} in {self.group_id}"


class OrgContact(OrgOwned):
    """An organisational contact (orgContact) of a link."""

    link = models.ForeignKey(EntraLink, on_delete=models.CASCADE, related_name="org_contacts")
    graph_id = models.CharField(max_length=64)
    display_name = models.CharField(max_length=INDEXED_TEXT_LENGTH, blank=True)
    mail = models.CharField(max_length=INDEXED_TEXT_LENGTH, blank=True)
    fields = models.JSONField(default=dict)  # the orgContact as Graph sent it
    content_hash = models.CharField(max_length=64)
    removed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["link", "graph_id"], name="one_contact_per_graph_id")]
        indexes = [models.Index(fields=["organization", "display_name"], name="contact_list")]
        ordering = ["display_name"]

    def __str__(self):
        return self.display_name or self.graph_id


class SyncRun(OrgOwned):
    """One sync of one link: outcome, counts, Graph requests, errors in words, progress and the diff."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Sync Now"
        COMMAND = "command", "Command"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        HELD = "held", "Removals held"
        SKIPPED = "skipped", "Skipped"

    class Decision(models.TextChoices):
        NONE = "", "Not decided"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        SUPERSEDED = "superseded", "Superseded by a later run"

    link = models.ForeignKey(EntraLink, on_delete=models.CASCADE, related_name="sync_runs")
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.SCHEDULE)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    is_full = models.BooleanField(default=False)
    full_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Progress, updated at most once per Graph page while the run is going (the dashboard polls it).
    phase = models.CharField(max_length=20, blank=True)
    users_processed = models.PositiveIntegerField(default=0)
    pages_fetched = models.PositiveIntegerField(default=0)
    # Counts of the users listing.
    seen = models.PositiveIntegerField(default=0)
    added = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    excluded = models.PositiveIntegerField(default=0)
    removed = models.PositiveIntegerField(default=0)
    restored = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    held = models.PositiveIntegerField(default=0)
    not_in_directory = models.PositiveIntegerField(default=0)  # left Entra while clean-up is off
    duplicate_emails = models.PositiveIntegerField(default=0)
    groups_seen = models.PositiveIntegerField(default=0)
    contacts_seen = models.PositiveIntegerField(default=0)
    photos_updated = models.PositiveIntegerField(default=0)
    graph_requests = models.PositiveIntegerField(default=0)
    graph_throttled = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)  # sentences for the admin
    # What a failure needs (graph_errors.failure_kind): the scheduler pauses a link on "unauthorized",
    # "credentials" and "consent", and backs off on "other".
    error_kind = models.CharField(max_length=20, blank=True)
    diff = models.JSONField(default=dict, blank=True)  # kept for the last DIFFS_KEPT runs of a link
    removals_decision = models.CharField(max_length=10, choices=Decision.choices, default="", blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["link", "-created_at"], name="run_history")]
        ordering = ["-created_at"]

    def __str__(self):
        return f"Sync of {self.link_id} at {self.created_at:%Y-%m-%d %H:%M} ({self.status})"

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    @property
    def duration_text(self) -> str:
        """The duration in words a person reads at a glance: "0.9 s", "1 min 12 s", "2 h 5 min"; "" if unknown."""
        if self.duration is None:
            return ""
        seconds = self.duration.total_seconds()
        if seconds < 60:
            return f"{seconds:.1f} s"
        minutes, seconds = divmod(round(seconds), 60)
        if minutes < 60:
            return f"{minutes} min {seconds} s"
        hours, minutes = divmod(minutes, 60)
        return f"{hours} h {minutes} min"


class PendingRemoval(OrgOwned):
    """A removal a held run wants to make, waiting for an admin to approve or reject the whole run's list."""

    link = models.ForeignKey(EntraLink, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="pending_removals")
    employee = models.ForeignKey(Employee, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=200)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "employee"], name="one_pending_removal")]

    def __str__(self):
        return f"Remove {self.employee_id} ({self.reason})"

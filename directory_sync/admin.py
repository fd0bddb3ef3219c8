"""Django admin for operators: read-mostly views of what the sync stored. Secrets never appear here."""
from django.contrib import admin

from directory_sync.models import (
    DirectoryGroup,
    Employee,
    EmployeePhoto,
    GroupMembership,
    OrgContact,
    PendingRemoval,
    SyncRun,
    SyncSettings,
)


@admin.register(SyncSettings)
class SyncSettingsAdmin(admin.ModelAdmin):
    list_display = ["link", "organization", "cleanup_enabled", "last_full_sync_at", "delta_saved_at"]
    raw_id_fields = ["link", "organization"]
    readonly_fields = ["user_delta_link", "group_delta_link", "contact_delta_link", "last_fingerprint"]


@admin.register(Employee)
class EmployeeAdmin(admin.ModelAdmin):
    list_display = ["display_name", "email", "email_source", "status", "has_duplicate_email", "link", "updated_at"]
    list_filter = ["status", "has_duplicate_email", "email_source"]
    search_fields = ["display_name", "email", "graph_id"]
    raw_id_fields = ["link", "organization"]
    readonly_fields = ["content_hash", "source", "created_at", "updated_at"]


@admin.register(EmployeePhoto)
class EmployeePhotoAdmin(admin.ModelAdmin):
    list_display = ["employee", "width", "height", "etag", "checked_at"]
    raw_id_fields = ["employee", "organization"]
    exclude = ["jpeg"]


@admin.register(DirectoryGroup)
class DirectoryGroupAdmin(admin.ModelAdmin):
    list_display = ["display_name", "mail", "link", "removed_at"]
    search_fields = ["display_name", "mail", "graph_id"]
    raw_id_fields = ["link", "organization"]


@admin.register(GroupMembership)
class GroupMembershipAdmin(admin.ModelAdmin):
    list_display = ["group", "member_graph_id", "member_type", "is_direct"]
    raw_id_fields = ["group", "link", "organization"]
    search_fields = ["member_graph_id"]


@admin.register(OrgContact)
class OrgContactAdmin(admin.ModelAdmin):
    list_display = ["display_name", "mail", "link", "removed_at"]
    search_fields = ["display_name", "mail", "graph_id"]
    raw_id_fields = ["link", "organization"]


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = ["link", "trigger", "status", "is_full", "created_at", "seen", "added", "updated", "removed",
                    "held", "graph_requests"]
    list_filter = ["status", "trigger", "is_full"]
    raw_id_fields = ["link", "organization", "decided_by"]


@admin.register(PendingRemoval)
class PendingRemovalAdmin(admin.ModelAdmin):
    list_display = ["employee", "run", "reason"]
    raw_id_fields = ["employee", "run", "link", "organization"]

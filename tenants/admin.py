"""Django admin for the people who run the service. Secrets are never shown here either."""
from django.contrib import admin

from tenants.models import EntraLink, Invitation, LinkAttempt, Membership, Organization


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "organization", "role", "created_at", "expires_at", "accepted_at", "revoked_at"]
    list_filter = ["role"]
    search_fields = ["email", "organization__name"]
    exclude = ["token_hash"]
    raw_id_fields = ["invited_by", "accepted_by"]


@admin.register(EntraLink)
class EntraLinkAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "tenant_name", "tenant_id", "cloud_key", "auth_method", "status"]
    list_filter = ["status", "cloud_key", "auth_method"]
    search_fields = ["name", "tenant_id", "tenant_name", "organization__name"]
    exclude = ["client_secret_encrypted", "private_key_encrypted"]
    readonly_fields = ["uid", "last_check", "last_check_at", "sync_claimed_at"]


@admin.register(LinkAttempt)
class LinkAttemptAdmin(admin.ModelAdmin):
    list_display = ["created_at", "organization", "user", "method", "outcome", "tenant", "link"]
    list_filter = ["method", "outcome"]
    raw_id_fields = ["organization", "user", "link"]

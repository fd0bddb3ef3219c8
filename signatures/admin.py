from django.contrib import admin

from signatures.models import SignatureAccess, SignatureRule, SignatureTemplate


@admin.register(SignatureTemplate)
class SignatureTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "is_default", "updated_at"]
    list_filter = ["is_default"]
    search_fields = ["name", "organization__name"]


@admin.register(SignatureRule)
class SignatureRuleAdmin(admin.ModelAdmin):
    list_display = ["organization", "order", "kind", "value", "template"]


@admin.register(SignatureAccess)
class SignatureAccessAdmin(admin.ModelAdmin):
    list_display = ["employee", "organization", "created_at", "expires_at", "revoked_at", "emailed_to"]
    readonly_fields = ["uid"]

"""Signature templates, the rules that choose one per employee, and the links that open an employee's page.

Templates are rendered only by the sandbox in `signatures/rendering.py`, over a context of plain strings built
here (`signature_context`). Employee-facing URLs carry a signed SignatureAccess uid, never a sequential pk.
"""
import hashlib
import json
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, models, transaction
from django.db.models import F, Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone

from signatures import rendering
from tenants.models import OrgOwned

RENDER_CACHE_SECONDS = 24 * 3600


class SignatureTemplate(OrgOwned):
    """An editor's HTML signature with placeholders, and an optional plain-text version (derived when empty)."""

    name = models.CharField(max_length=100)
    html = models.TextField()
    text = models.TextField("plain-text version", blank=True,
                            help_text="Leave empty to generate the plain text from the HTML.")
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="one_template_name_per_org"),
            # At most one default per organisation; ensure_default_templates and set_default keep exactly one.
            models.UniqueConstraint(fields=["organization"], condition=Q(is_default=True),
                                    name="one_default_template_per_org"),
        ]

    def __str__(self):
        return self.name

    def render_for(self, employee) -> rendering.Rendered:
        """This template rendered for one employee (cached by template version and the employee's values).
        Raises rendering.TemplateProblemError when the template cannot render."""
        return render_cached(self.html, self.text or None, signature_context(employee))


def render_cached(html: str, text: str | None, context: dict[str, str]) -> rendering.Rendered:
    """render_signature through the shared cache: the key is a digest of the sources and the context, so any
    change to the template, the employee's fields, the photo or the organisation's values is a new key."""
    digest = hashlib.sha256(
        json.dumps([html, text, sorted(context.items())], ensure_ascii=False).encode()
    ).hexdigest()
    key = f"signatures:render:{digest}"
    hit = cache.get(key)
    if hit is not None:
        return rendering.Rendered(html=hit[0], text=hit[1], warnings=tuple(hit[2]), char_count=hit[3])
    result = rendering.render_signature(html, context, text_source=text)
    cache.set(key, (result.html, result.text, list(result.warnings), result.char_count), RENDER_CACHE_SECONDS)
    return result


def _text(value) -> str:
    """A directory value as a plain str: the sandbox takes nothing else (no Markup, no objects)."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(item) for item in value if item is not None)
    return str(value)


def photo_url(employee) -> str:
    """The absolute, unguessable URL of the employee's photo, or "" when there is none (templates hide it)."""
    try:
        photo = employee.photo
    except models.ObjectDoesNotExist:
        return ""
    if not photo.has_image:
        return ""
    return settings.SITE_URL + reverse("signatures:photo", args=[photo.uid])


def signature_context(employee) -> dict[str, str]:
    """What a template sees for one employee: every mapped field, photo_url and the organisation's values,
    each a plain str (the sandbox refuses anything else). Directory values never override the org_* ones."""
    context = {key: "" for key in rendering.PLACEHOLDERS}
    context.update({str(key): _text(value) for key, value in (employee.fields or {}).items()})
    # Indexed columns hold the resolved email and the values the engine keeps searchable.
    for key in ("display_name", "email", "department", "job_title"):
        if not context.get(key):
            context[key] = _text(getattr(employee, key, ""))
    organization = employee.organization
    context.update(
        photo_url=photo_url(employee),
        org_name=organization.name,
        org_website=organization.website or "",
        org_logo_url=organization.logo_url or "",
    )
    context.pop("photo", None)  # the mapping's photo field carries no text
    return context


def ensure_default_templates(organization) -> None:
    """Give an organisation the shipped templates when it has none ("classic" is its default). Safe to call
    on every visit and from two requests at once: names are unique per organisation."""
    if SignatureTemplate.objects.for_org(organization).exists():
        return
    for index, (name, (html, text)) in enumerate(rendering.DEFAULT_TEMPLATES.items()):
        try:
            with transaction.atomic():
                SignatureTemplate.objects.create(
                    organization=organization, name=name.capitalize(), html=html, text=text, is_default=index == 0
                )
        except IntegrityError:
            pass  # another request created it first


def set_default_template(template: SignatureTemplate) -> None:
    """Make `template` its organisation's one default."""
    with transaction.atomic():
        SignatureTemplate.objects.for_org(template.organization).filter(is_default=True).exclude(
            pk=template.pk).update(is_default=False)
        SignatureTemplate.objects.filter(pk=template.pk).update(is_default=True)
        bump_version(template.organization_id)  # queryset updates send no signals
    template.is_default = True


class SignatureSettings(OrgOwned):
    """Per-organisation signature state. `version` grows with every change to a template or a rule, so a cached
    signature page is known to be stale from one database row (read with the page's liveness check)."""

    version = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "signature settings"
        constraints = [models.UniqueConstraint(fields=["organization"], name="one_signature_settings_per_org")]

    def __str__(self):
        return f"Signature settings of {self.organization_id}"


def bump_version(organization_id: int, *, create: bool = True) -> None:
    """Mark every cached signature page of the organisation stale (creating its settings row if `create`)."""
    if not SignatureSettings.objects.filter(organization_id=organization_id).update(version=F("version") + 1):
        if not create:
            return
        try:
            with transaction.atomic():
                SignatureSettings.objects.create(organization_id=organization_id, version=1)
        except IntegrityError:  # created by a concurrent request: bump that one
            SignatureSettings.objects.filter(organization_id=organization_id).update(version=F("version") + 1)


class SignatureRule(OrgOwned):
    """Employees matching this rule get `template` (and `reply_template` for replies); the first match in
    `order` wins, and the organisation's default template covers everyone else."""

    class Kind(models.TextChoices):
        GROUP = "group", "Member of a group (also through nested groups)"
        DEPARTMENT = "department", "Department is"
        COMPANY = "company", "Company is"
        LINK = "link", "From the Entra tenant"

    order = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    # group: the group's Graph id; link: the EntraLink's uid; department/company: the text, compared ignoring case.
    value = models.CharField(max_length=255)
    template = models.ForeignKey(SignatureTemplate, on_delete=models.CASCADE, related_name="rules")
    reply_template = models.ForeignKey(SignatureTemplate, null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="reply_rules")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["order", "pk"]

    def __str__(self):
        return f"{self.get_kind_display()} {self.value}"


SIGNATURE_LINK_DAYS = 30  # how long a link an admin copies or sends keeps working


def _default_access_expiry():
    return timezone.now() + timedelta(days=SIGNATURE_LINK_DAYS)


class SignatureAccess(OrgOwned):
    """One signed, expiring, revocable link to one employee's signature page. The URL carries a signature of
    `uid` (signatures/links.py); nothing about the employee is in it."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    employee = models.ForeignKey("directory_sync.Employee", on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(default=_default_access_expiry)
    revoked_at = models.DateTimeField(null=True, blank=True)
    emailed_to = models.CharField(max_length=255, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["employee", "revoked_at"], name="access_by_employee")]
        verbose_name_plural = "signature accesses"

    def __str__(self):
        return f"Link to the signature of {self.employee_id}"

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


@receiver([post_save, post_delete], sender=SignatureTemplate)
@receiver([post_save, post_delete], sender=SignatureRule)
def _templates_changed(sender, instance, signal, **kwargs):
    # Never create a row on delete: the deletion may be the organisation's own cascade.
    bump_version(instance.organization_id, create=signal is post_save)

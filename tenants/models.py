"""Our customers (Organization), who works for them (Membership, Invitation) and the Entra tenants they link."""
import hashlib
import secrets as pysecrets
import uuid
from datetime import date, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.text import slugify

from tenants import clouds
from tenants import secrets as crypto


class OrgQuerySet(models.QuerySet):
    def for_org(self, organization):
        """Rows of this organisation only: the one way views and tasks reach customer data."""
        return self.filter(organization=organization)


class OrgOwned(models.Model):
    """Abstract base for every organisation-owned model."""

    organization = models.ForeignKey("tenants.Organization", on_delete=models.CASCADE)
    objects = OrgQuerySet.as_manager()

    class Meta:
        abstract = True


class Organization(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    website = models.URLField(blank=True)
    logo_url = models.URLField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return self.name

    @staticmethod
    def unique_slug(name: str) -> str:
        """A URL slug for a new organisation, suffixed when the plain one is taken."""
        base = slugify(name)[:50] or "org"
        slug, n = base, 1
        while Organization.objects.filter(slug=slug).exists():
            n += 1
            slug = f"{base}-{n}"
        return slug


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    EDITOR = "editor", "Editor"


# A role may do everything the roles after it may do.
ROLE_RANK = {Role.OWNER: 3, Role.ADMIN: 2, Role.EDITOR: 1}


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.EDITOR)
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrgQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "organization"], name="one_membership_per_org")]
        ordering = ["created_at"]

    def __str__(self):
        return f"{self.user} in {self.organization} as {self.role}"

    def has_role(self, role: str) -> bool:
        """True when this membership's role is at least `role` (owner > admin > editor)."""
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


def _default_invitation_expiry():
    return timezone.now() + timedelta(days=settings.INVITATION_MAX_AGE_DAYS)


class Invitation(OrgOwned):
    """A single-use, expiring link to join an organisation with a role. Only a hash of the token is stored."""

    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.EDITOR)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(default=_default_invitation_expiry)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @staticmethod
    def new_token() -> str:
        return pysecrets.token_urlsafe(32)

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > timezone.now()


class EntraLink(OrgOwned):
    """A Microsoft Entra tenant linked by an organisation, with how the portal authenticates to it."""

    class AuthMethod(models.TextChoices):
        ADMIN_CONSENT = "admin_consent", "Signet's app (admin consent)"
        CLIENT_SECRET = "client_secret", "Own app registration with a client secret"
        CERTIFICATE = "certificate", "Own app registration with a certificate"

    class Status(models.TextChoices):
        LINKED = "linked", "Linked"
        NEEDS_CONSENT = "needs_consent", "Needs admin consent"
        CREDENTIALS_EXPIRED = "credentials_expired", "Credentials expired"
        UNLINKED = "unlinked", "Unlinked"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    cloud_key = models.CharField("cloud", max_length=20, choices=clouds.CHOICES, default=clouds.GLOBAL)
    tenant_id = models.CharField("Entra tenant id", max_length=36)
    tenant_name = models.CharField(max_length=256, blank=True)
    initial_domain = models.CharField(max_length=256, blank=True)
    auth_method = models.CharField(max_length=20, choices=AuthMethod.choices, default=AuthMethod.ADMIN_CONSENT)
    # Own app registration only; the secret and private key are Fernet tokens (tenants/secrets.py).
    own_client_id = models.CharField("application (client) id", max_length=36, blank=True)
    client_secret_encrypted = models.TextField(blank=True)
    private_key_encrypted = models.TextField(blank=True)
    certificate_pem = models.TextField(blank=True)  # public certificate: not secret
    certificate_thumbprint = models.CharField(max_length=64, blank=True)  # SHA-256 hex
    secret_expires_on = models.DateField(null=True, blank=True)
    certificate_expires_at = models.DateTimeField(null=True, blank=True)  # the certificate's notAfter
    # The last expiry warning mailed ("30", "7", "expired"), so each threshold is announced once.
    expiry_notified = models.CharField(max_length=10, blank=True)
    consented_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.LINKED)
    last_check_at = models.DateTimeField(null=True, blank=True)
    last_check = models.JSONField(default=dict, blank=True)
    # Scheduling: beat's dispatcher claims links whose next_sync_at has passed; a run claims sync_claimed_at.
    next_sync_at = models.DateTimeField(null=True, blank=True, db_index=True)
    sync_claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "cloud_key", "tenant_id"], name="one_link_per_tenant"),
        ]

    def __str__(self):
        return f"{self.name} ({self.tenant_name or self.tenant_id})"

    @property
    def cloud(self) -> clouds.Cloud:
        return clouds.get_cloud(self.cloud_key)

    @property
    def client_id(self) -> str:
        if self.auth_method == self.AuthMethod.ADMIN_CONSENT:
            return settings.ENTRA_CLIENT_ID
        return self.own_client_id

    def client_credential(self):
        """The credential msal's ConfidentialClientApplication takes: a secret string or a certificate dict."""
        if self.auth_method == self.AuthMethod.ADMIN_CONSENT:
            return settings.ENTRA_CLIENT_SECRET
        if self.auth_method == self.AuthMethod.CLIENT_SECRET:
            return crypto.decrypt(self.client_secret_encrypted)
        return {"private_key": crypto.decrypt(self.private_key_encrypted), "public_certificate": self.certificate_pem}

    def set_client_secret(self, secret: str) -> None:
        self.client_secret_encrypted = crypto.encrypt(secret)

    def set_private_key(self, private_key_pem: str) -> None:
        self.private_key_encrypted = crypto.encrypt(private_key_pem)

    @property
    def is_active(self) -> bool:
        return self.status != self.Status.UNLINKED

    @property
    def uses_own_app(self) -> bool:
        return self.auth_method != self.AuthMethod.ADMIN_CONSENT

    @property
    def has_credential(self) -> bool:
        """True when a secret or private key is stored (never says what it is)."""
        return bool(self.client_secret_encrypted or self.private_key_encrypted)

    @property
    def credential_expires_on(self) -> date | None:
        """The day the own app's secret or certificate stops working, when known; None for admin consent."""
        if self.auth_method == self.AuthMethod.CLIENT_SECRET:
            return self.secret_expires_on
        if self.auth_method == self.AuthMethod.CERTIFICATE:
            if self.certificate_expires_at:
                return self.certificate_expires_at.date()
            return self.secret_expires_on
        return None

    def expiry_threshold(self, today: date | None = None) -> str:
        """How close the own app's credential is to expiry: EXPIRY_EXPIRED, EXPIRY_7_DAYS, EXPIRY_30_DAYS or ""."""
        expires_on = self.credential_expires_on
        if expires_on is None or not self.is_active:
            return ""
        days_left = (expires_on - (today or timezone.localdate())).days
        if days_left < 0:
            return EXPIRY_EXPIRED
        if days_left <= 7:
            return EXPIRY_7_DAYS
        if days_left <= 30:
            return EXPIRY_30_DAYS
        return ""


EXPIRY_30_DAYS, EXPIRY_7_DAYS, EXPIRY_EXPIRED = "30", "7", "expired"
# Later thresholds outrank earlier ones: a warning is mailed when the link crosses into a higher rank.
EXPIRY_RANK = {"": 0, EXPIRY_30_DAYS: 1, EXPIRY_7_DAYS: 2, EXPIRY_EXPIRED: 3}


class ConsentRequest(OrgOwned):
    """One admin-consent round trip: the hash of its one-time `state`, bound to a user, session and organisation.
    The state itself is never stored; the row records how the round trip ended."""

    class Outcome(models.TextChoices):
        LINKED = "linked", "Linked"
        CANCELLED = "cancelled", "Cancelled by the administrator"
        DECLINED = "declined", "Consent declined"
        ERROR = "error", "Microsoft reported an error"
        TENANT_MISMATCH = "tenant_mismatch", "Tenant did not match the token"
        TOKEN_FAILED = "token_failed", "No token for the tenant"
        EXPIRED = "expired", "State expired"
        REUSED = "reused", "State used twice"
        OTHER_SESSION = "other_session", "State from another session"
        OTHER_ORGANIZATION = "other_organization", "State of an organisation the user may not link"

    state_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    session_key = models.CharField(max_length=64)
    link_name = models.CharField(max_length=100)
    cloud_key = models.CharField(max_length=20, choices=clouds.CHOICES)
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=24, choices=Outcome.choices, blank=True)

    class Meta:
        ordering = ["-created_at"]

    @staticmethod
    def hash_state(state: str) -> str:
        return hashlib.sha256(state.encode()).hexdigest()


class LinkAttempt(models.Model):
    """A record of every try to link a tenant (consent callback, own app form, operator command), good or bad.
    The organisation is unknown when the consent callback's state is missing or unknown."""

    class Method(models.TextChoices):
        ADMIN_CONSENT = "admin_consent", "Admin consent"
        OWN_APP = "own_app", "Own app registration"
        COMMAND = "command", "Operator command"

    organization = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    method = models.CharField(max_length=20, choices=Method.choices)
    outcome = models.CharField(max_length=24)  # ConsentRequest.Outcome values, plus those in consent.py, linking.py
    tenant = models.CharField(max_length=256, blank=True)  # as given: a GUID or domain, never trusted
    link = models.ForeignKey(EntraLink, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    detail = models.TextField(blank=True)  # what the admin was told; never a secret
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrgQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

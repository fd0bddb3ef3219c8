"""Linking Entra tenants: the admin-consent round trip, own app registrations, unlinking and relinking.

Views, the operator command (`link_entra`) and the demo seeding call these functions. Every call to Microsoft goes
through directory_sync.graph. A tenant is linked only after Signet obtained an app-only token for it and read its
`/organization`: the `tenant` a browser brings back is never trusted (graph-facts 1.1).
Docs: learn.microsoft.com/entra/identity-platform/v2-admin-consent
"""
import logging
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from directory_sync import graph
from portal import audit
from tenants import clouds, secrets as crypto
from tenants.models import ConsentRequest, EntraLink, LinkAttempt, Membership, Organization, Role

logger = logging.getLogger(__name__)

CONSENT_MAX_AGE = timedelta(minutes=10)
SESSION_KEY = "entra_consent_requests"  # {state hash: organisation pk} of the consent rounds this session began
MAX_PENDING_PER_SESSION = 5
# Entra may need a few seconds after consent before the new service principal can get tokens (AADSTS7000229
# or 700016 right after "Accept"): try a few times before telling the admin it failed.
CONSENT_TOKEN_ATTEMPTS = 3
CONSENT_TOKEN_PAUSE = 2.0
PROPAGATION_CODES = {7000229, 700016}
sleep = time.sleep  # tests replace it

_DOMAIN_RE = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")

Outcome = ConsentRequest.Outcome
# Outcomes of a callback that carries no usable state (no ConsentRequest row to hold them), and own-app ones.
STATE_MISSING = "state_missing"
STATE_UNKNOWN = "state_unknown"
SIGNED_OUT = "signed_out"
INVALID_INPUT = "invalid_input"

UNREADABLE_SECRET = ("The saved secret or private key can no longer be decrypted (the encryption keys changed): "
                     "paste the client secret or upload the certificate again.")
# What the admin reads after each outcome: what happened, then what to do next.
CONSENT_MESSAGES = {
    STATE_MISSING: "Microsoft's answer did not carry the request's state, so nothing was linked. "
                   "Start again with Link Entra ID on the Integration page.",
    STATE_UNKNOWN: "This consent answer does not belong to a request made from Signet, so nothing was linked. "
                   "Start again with Link Entra ID on the Integration page.",
    SIGNED_OUT: "You were signed out of Signet while Microsoft asked for consent, so nothing was linked. "
                "Sign in and click Link Entra ID again.",
    Outcome.EXPIRED: "The consent request expired (they last 10 minutes), so nothing was linked. "
                     "Click Link Entra ID again and accept within 10 minutes.",
    Outcome.REUSED: "This consent answer was already used, so nothing more was linked. "
                    "The Integration page shows the linked tenants.",
    Outcome.OTHER_SESSION: "This consent answer belongs to a request started in another browser session or by "
                           "another user, so nothing was linked. Click Link Entra ID again in this browser.",
    Outcome.OTHER_ORGANIZATION: "This consent answer belongs to an organisation you may not link tenants for "
                                "(any more), so nothing was linked. Ask an owner or admin of that organisation.",
    Outcome.CANCELLED: "You cancelled on Microsoft's consent page, so nothing was linked. "
                       "Click Link Entra ID when you are ready.",
    Outcome.DECLINED: "The permissions were declined on Microsoft's consent page (AADSTS65004), so nothing was "
                      "linked. Click Link Entra ID again and choose Accept, signed in as a Global Administrator "
                      "or Privileged Role Administrator of the tenant.",
    Outcome.TENANT_MISMATCH: "The tenant in Microsoft's answer does not match the tenant that issued the token, "
                             "so nothing was linked. Click Link Entra ID again.",
}


class LinkError(Exception):
    """Linking failed and nothing was saved; `admin_message` says what happened and what to do next."""

    def __init__(self, admin_message: str, outcome: str = Outcome.TOKEN_FAILED):
        super().__init__(admin_message)
        self.admin_message = admin_message
        self.outcome = outcome


@dataclass
class ConsentResult:
    """How one admin-consent callback ended: `message` is for the admin; `link` is set only on success."""

    outcome: str
    message: str
    organization: Organization | None = None
    link: EntraLink | None = None

    @property
    def is_linked(self) -> bool:
        return self.link is not None


@dataclass
class Certificate:
    """A usable certificate credential: the unencrypted PEM key (to be Fernet-encrypted), certificate and facts."""

    private_key_pem: str
    certificate_pem: str
    thumbprint_sha256: str
    not_after: datetime
    subject: str = field(default="")


# --- Shared checks ------------------------------------------------------------------------------------------


def normalize_tenant(value: str) -> str:
    """The tenant as a lower-case GUID or domain name; LinkError for anything else."""
    value = (value or "").strip().lower()
    try:
        return str(uuid.UUID(value))
    except ValueError:
        pass
    if _DOMAIN_RE.match(value):
        return value
    raise LinkError("Enter the tenant ID (a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47) or a domain of the "
                    "tenant such as contoso.onmicrosoft.com.", INVALID_INPUT)


def is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


def token_tenant_id(access_token: str) -> str:
    """The lower-case `tid` claim of an access token, or "". The signature is not checked: the token came straight
    from the tenant's token endpoint over TLS, and we only read which tenant issued it."""
    try:
        claims = jwt.decode(access_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return ""
    return str(claims.get("tid") or "").lower()


def verify_tenant(candidate: EntraLink, *, attempts: int = 1) -> dict:
    """Prove the candidate's credentials work for its tenant: get a token, check its `tid` (a domain is resolved to
    the GUID in place), read /organization and check its id. Returns the organization object; LinkError otherwise.
    Never leaves an msal app cached for the unsaved candidate."""
    requested = candidate.tenant_id
    try:
        token = _token_with_retries(candidate, attempts)
        tid = token_tenant_id(token)
        if not tid or (is_guid(requested) and tid != requested.lower()):
            raise LinkError(CONSENT_MESSAGES[Outcome.TENANT_MISMATCH], Outcome.TENANT_MISMATCH)
        if tid != requested.lower():
            # A domain: the token's tid is the tenant's GUID; use it from now on (authority, storage).
            graph.forget_link(candidate)
            candidate.tenant_id = tid
        organization = graph.get_organization(candidate)
        if str(organization.get("id") or "").lower() != tid:
            raise LinkError(CONSENT_MESSAGES[Outcome.TENANT_MISMATCH], Outcome.TENANT_MISMATCH)
        return organization
    except graph.GraphError as error:
        raise LinkError(error.admin_message, Outcome.TOKEN_FAILED) from None
    except crypto.SecretUnreadable:
        raise LinkError(UNREADABLE_SECRET, INVALID_INPUT) from None
    finally:
        # msal replays recent 400 answers: the admin's corrected retry must reach Entra (graph-facts 2.5).
        graph.forget_link(candidate)


def _token_with_retries(candidate, attempts):
    for attempt in range(1, attempts + 1):
        try:
            return graph.acquire_token(candidate)
        except graph.GraphAuthError as error:
            if attempt == attempts or error.aadsts not in PROPAGATION_CODES:
                raise
            graph.forget_link(candidate)
            sleep(CONSENT_TOKEN_PAUSE)
    raise AssertionError("unreachable")


def _store(candidate: EntraLink, organization_info: dict, existing: EntraLink | None = None) -> EntraLink:
    """Save a verified candidate: into `existing`, or into the organisation's row for the same tenant (relinking
    reuses it), or as a new row. Starts syncing soon."""
    fields = {
        "name": candidate.name,
        "cloud_key": candidate.cloud_key,
        "tenant_id": candidate.tenant_id,
        "tenant_name": organization_info.get("displayName") or "",
        "initial_domain": graph.initial_domain(organization_info),
        "auth_method": candidate.auth_method,
        "own_client_id": candidate.own_client_id,
        "client_secret_encrypted": candidate.client_secret_encrypted,
        "private_key_encrypted": candidate.private_key_encrypted,
        "certificate_pem": candidate.certificate_pem,
        "certificate_thumbprint": candidate.certificate_thumbprint,
        "certificate_expires_at": candidate.certificate_expires_at,
        "secret_expires_on": candidate.secret_expires_on,
        "consented_at": candidate.consented_at,
        "status": EntraLink.Status.LINKED,
        "expiry_notified": "",
        "last_check": {},
        "last_check_at": None,
    }
    organization = candidate.organization
    for _ in range(2):
        try:
            with transaction.atomic():
                scoped = EntraLink.objects.for_org(organization).select_for_update()
                row = None
                if existing is not None:
                    row = scoped.get(pk=existing.pk)
                    clash = scoped.filter(cloud_key=candidate.cloud_key, tenant_id=candidate.tenant_id).exclude(
                        pk=row.pk).first()
                    if clash is not None:
                        raise LinkError(f"This tenant is already linked as “{clash.name}”: edit or unlink "
                                        "that link instead.", INVALID_INPUT)
                else:
                    row = scoped.filter(cloud_key=candidate.cloud_key, tenant_id=candidate.tenant_id).first()
                row = row or EntraLink(organization=organization)
                for name, value in fields.items():
                    setattr(row, name, value)
                if row.next_sync_at is None:
                    row.next_sync_at = timezone.now()
                row.save()
            graph.forget_link(row)
            return row
        except IntegrityError:
            # Another request created the same tenant's row a moment ago: the second pass updates it.
            continue
    raise LinkError("This tenant was being linked by another request at the same time; reload the page.")


def _record(organization, user, method, outcome, tenant="", link=None, detail=""):
    LinkAttempt.objects.create(organization=organization, user=user if user and user.is_authenticated else None,
                               method=method, outcome=outcome, tenant=(tenant or "")[:256], link=link,
                               detail=detail)
    logger.info("link attempt org=%s method=%s outcome=%s", getattr(organization, "pk", None), method, outcome)
    if organization is not None and link is not None and outcome in (Outcome.LINKED, "unlinked"):
        # Only changes go to the audit log; every attempt, good or bad, is a LinkAttempt.
        audit.record(organization, user, f"link.{outcome}", link.name, tenant=link.tenant_id, method=method)


# --- Admin consent ------------------------------------------------------------------------------------------


def consent_enabled() -> bool:
    """True when the operator configured the portal's multi-tenant app (ENTRA_CLIENT_ID)."""
    return bool(settings.ENTRA_CLIENT_ID)


def consent_redirect_uri() -> str:
    """The one redirect URI registered on the portal's app: SITE_URL + the callback path."""
    return settings.SITE_URL + reverse("tenants:link_consent_callback")


def begin_consent(session, user, organization: Organization, link_name: str, cloud_key: str) -> str:
    """Start an admin-consent round trip and return the URL to send the admin to. The one-time state is bound to
    this user, session and organisation and expires after CONSENT_MAX_AGE; only its hash is stored."""
    if not consent_enabled():
        raise LinkError("The operator has not configured Signet's multi-tenant app (ENTRA_CLIENT_ID); link with "
                        "your own app registration instead.", INVALID_INPUT)
    cloud = clouds.get_cloud(cloud_key)
    if not cloud.is_configured:
        raise LinkError("This cloud is not configured.", INVALID_INPUT)
    if session.session_key is None:
        session.save()
    state = secrets.token_urlsafe(32)
    state_hash = ConsentRequest.hash_state(state)
    ConsentRequest.objects.create(organization=organization, user=user, session_key=session.session_key,
                                  link_name=link_name.strip(), cloud_key=cloud_key, state_hash=state_hash)
    pending = dict(session.get(SESSION_KEY) or {})
    pending[state_hash] = organization.pk
    session[SESSION_KEY] = dict(list(pending.items())[-MAX_PENDING_PER_SESSION:])
    query = urlencode({
        "client_id": settings.ENTRA_CLIENT_ID,
        "scope": f"{cloud.graph_url}/.default",
        "redirect_uri": consent_redirect_uri(),
        "state": state,
    })
    return f"{cloud.browser_login_url}/organizations/v2.0/adminconsent?{query}"


def complete_consent(session, user, params) -> ConsentResult:
    """Handle Microsoft's redirect back (`params`: the query dict). Links the tenant only when the state is this
    session's, fresh and unused, Microsoft reported no error, and a token for the tenant proves who it is.
    Every call records a LinkAttempt; a bad case links nothing."""
    method = LinkAttempt.Method.ADMIN_CONSENT
    reported_tenant = params.get("tenant", "")
    if not user.is_authenticated:
        _record(None, None, method, SIGNED_OUT, reported_tenant)
        return ConsentResult(SIGNED_OUT, CONSENT_MESSAGES[SIGNED_OUT])
    state = params.get("state", "")
    if not state:
        _record(None, user, method, STATE_MISSING, reported_tenant)
        return ConsentResult(STATE_MISSING, CONSENT_MESSAGES[STATE_MISSING])
    state_hash = ConsentRequest.hash_state(state)
    request = ConsentRequest.objects.filter(state_hash=state_hash).select_related("organization").first()
    if request is None:
        _record(None, user, method, STATE_UNKNOWN, reported_tenant)
        return ConsentResult(STATE_UNKNOWN, CONSENT_MESSAGES[STATE_UNKNOWN])
    organization = request.organization

    def fail(outcome, message=None, *, finish=True):
        message = message or CONSENT_MESSAGES[outcome]
        if finish:
            ConsentRequest.objects.filter(pk=request.pk).update(outcome=outcome)
        _record(organization, user, method, outcome, reported_tenant, detail=message)
        visible = organization if _may_link(user, organization) else None
        return ConsentResult(outcome, message, visible)

    if request.used_at is not None:
        return fail(Outcome.REUSED, finish=False)
    if request.user_id != user.pk or request.session_key != session.session_key:
        # Not consumed: whoever else holds the state cannot spoil the real admin's round trip.
        return fail(Outcome.OTHER_SESSION, finish=False)
    pending = dict(session.get(SESSION_KEY) or {})
    bound_org = pending.pop(state_hash, None)
    session[SESSION_KEY] = pending
    # Single use: only the request that flips used_at from NULL goes on.
    if not ConsentRequest.objects.filter(pk=request.pk, used_at=None).update(used_at=timezone.now()):
        return fail(Outcome.REUSED, finish=False)
    if bound_org != organization.pk or not _may_link(user, organization):
        return fail(Outcome.OTHER_ORGANIZATION)
    if timezone.now() - request.created_at > CONSENT_MAX_AGE:
        return fail(Outcome.EXPIRED)
    # `error` first: Microsoft sends admin_consent=True on failures too (graph-facts 1.1).
    if params.get("error"):
        return fail(*_consent_error(params))
    if params.get("admin_consent", "").lower() != "true" or not reported_tenant:
        return fail(Outcome.ERROR, "Microsoft's answer did not confirm the consent, so nothing was linked. Click "
                                   "Link Entra ID again.")
    if not is_guid(reported_tenant):
        return fail(Outcome.TENANT_MISMATCH)
    candidate = EntraLink(organization=organization, name=request.link_name, cloud_key=request.cloud_key,
                          tenant_id=reported_tenant.lower(), auth_method=EntraLink.AuthMethod.ADMIN_CONSENT,
                          consented_at=timezone.now())
    try:
        info = verify_tenant(candidate, attempts=CONSENT_TOKEN_ATTEMPTS)
    except LinkError as error:
        message = error.admin_message
        if error.outcome == Outcome.TOKEN_FAILED:
            message = ("Consent was given, but Signet could not sign in to the tenant, so nothing was linked: "
                       + message)
        return fail(error.outcome, message)
    link = _store(candidate, info)
    ConsentRequest.objects.filter(pk=request.pk).update(outcome=Outcome.LINKED)
    message = f"Linked {link.tenant_name or link.tenant_id}" + (f" ({link.initial_domain})" if link.initial_domain
                                                                 else "") + ". The first sync starts shortly."
    _record(organization, user, method, Outcome.LINKED, link.tenant_id, link, message)
    return ConsentResult(Outcome.LINKED, message, organization, link)


def _may_link(user, organization) -> bool:
    membership = Membership.objects.filter(user=user, organization=organization).first()
    return membership is not None and membership.has_role(Role.ADMIN)


def _consent_error(params):
    error = params.get("error", "")
    description = (params.get("error_description") or "").strip().splitlines()
    first_line = description[0].strip() if description else ""
    if params.get("error_subcode") == "cancel":
        return Outcome.CANCELLED, CONSENT_MESSAGES[Outcome.CANCELLED]
    if "AADSTS65004" in first_line or error == "consent_required":
        return Outcome.DECLINED, CONSENT_MESSAGES[Outcome.DECLINED]
    detail = f"{error}: {first_line}" if first_line else error
    return Outcome.ERROR, (f"Microsoft reported an error ({detail[:300]}), so nothing was linked. Check that you "
                           "signed in as an administrator of the tenant and click Link Entra ID again.")


# --- Own app registration -----------------------------------------------------------------------------------


def load_certificate(private_key_pem: str, certificate_pem: str, passphrase: str = "") -> Certificate:
    """Check a PEM private key (optionally passphrase-protected) and its PEM certificate belong together; return
    the key re-serialised without a passphrase (it is Fernet-encrypted at rest), the SHA-256 thumbprint and
    notAfter. LinkError (never quoting the key) otherwise."""
    try:
        key = serialization.load_pem_private_key(private_key_pem.strip().encode(),
                                                 password=passphrase.encode() if passphrase else None)
    except TypeError:
        raise LinkError("The private key is protected by a passphrase: enter the passphrase.",
                        INVALID_INPUT) from None
    except ValueError:
        raise LinkError("The private key could not be read: paste the PEM text (-----BEGIN PRIVATE KEY-----) "
                        "and the right passphrase, if any.", INVALID_INPUT) from None
    try:
        cert = x509.load_pem_x509_certificate(certificate_pem.strip().encode())
    except ValueError:
        raise LinkError("The certificate could not be read: paste the PEM text (-----BEGIN CERTIFICATE-----).",
                        INVALID_INPUT) from None
    return _certificate(key, cert)


def load_pfx(data: bytes, passphrase: str = "") -> Certificate:
    """Read a PFX / PKCS#12 file (private key + certificate) into a Certificate; the passphrase is not kept."""
    try:
        key, cert, _ = pkcs12.load_key_and_certificates(data, passphrase.encode() if passphrase else None)
    except ValueError:
        raise LinkError("The PFX file could not be opened: check the file and its passphrase.",
                        INVALID_INPUT) from None
    if key is None or cert is None:
        raise LinkError("The PFX file must hold both the private key and the certificate.", INVALID_INPUT)
    return _certificate(key, cert)


def _certificate(key, cert) -> Certificate:
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.PEM, public) != cert.public_key().public_bytes(
            serialization.Encoding.PEM, public):
        raise LinkError("The private key does not belong to the certificate: upload the matching pair.",
                        INVALID_INPUT)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return Certificate(
        private_key_pem=key_pem,
        certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        thumbprint_sha256=cert.fingerprint(hashes.SHA256()).hex().upper(),
        not_after=cert.not_valid_after_utc,
        subject=cert.subject.rfc4514_string(),
    )


def link_own_app(organization: Organization, *, name: str, cloud_key: str, tenant: str, client_id: str,
                 client_secret: str = "", certificate: Certificate | None = None,
                 secret_expires_on: date | None = None, user=None, link: EntraLink | None = None,
                 method: str = LinkAttempt.Method.OWN_APP) -> EntraLink:
    """Link (or update `link`, or relink) a tenant through the organisation's own app registration, with a client
    secret or a certificate. Saves only after a token and /organization prove the credentials; otherwise raises
    LinkError with the precise reason. Without a new secret or certificate, `link`'s saved credential is kept."""
    try:
        candidate = _own_app_candidate(organization, name, cloud_key, tenant, client_id, client_secret,
                                       certificate, secret_expires_on, link)
        info = verify_tenant(candidate)
        saved = _store(candidate, info, existing=link)
    except LinkError as error:
        _record(organization, user, method, error.outcome, tenant, link, error.admin_message)
        raise
    _record(organization, user, method, Outcome.LINKED, saved.tenant_id, saved, f"Linked {saved.tenant_name}.")
    return saved


def _own_app_candidate(organization, name, cloud_key, tenant, client_id, client_secret, certificate,
                       secret_expires_on, link):
    if cloud_key not in dict(clouds.available_choices()):
        raise LinkError("Choose one of the offered clouds.", INVALID_INPUT)
    if not is_guid((client_id or "").strip()):
        raise LinkError("Enter the application (client) ID: the GUID on the app registration's Overview page.",
                        INVALID_INPUT)
    candidate = EntraLink(organization=organization, name=(name or "").strip() or "Entra ID", cloud_key=cloud_key,
                          tenant_id=normalize_tenant(tenant), own_client_id=str(uuid.UUID(client_id.strip())),
                          secret_expires_on=secret_expires_on)
    if certificate is not None:
        candidate.auth_method = EntraLink.AuthMethod.CERTIFICATE
        candidate.set_private_key(certificate.private_key_pem)
        candidate.certificate_pem = certificate.certificate_pem
        candidate.certificate_thumbprint = certificate.thumbprint_sha256
        candidate.certificate_expires_at = certificate.not_after
    elif client_secret:
        candidate.auth_method = EntraLink.AuthMethod.CLIENT_SECRET
        candidate.set_client_secret(client_secret.strip())
    elif link is not None and link.uses_own_app and link.has_credential:
        # Editing without a new credential keeps the saved one (still encrypted: copied, never decrypted here).
        candidate.auth_method = link.auth_method
        for name_ in ("client_secret_encrypted", "private_key_encrypted", "certificate_pem",
                      "certificate_thumbprint", "certificate_expires_at"):
            setattr(candidate, name_, getattr(link, name_))
    else:
        raise LinkError("Paste the client secret's Value, or give a certificate and its private key.",
                        INVALID_INPUT)
    return candidate


# --- Unlink and relink --------------------------------------------------------------------------------------


def unlink(link: EntraLink, user=None) -> EntraLink:
    """Stop using a tenant: forget its credentials and cached tokens and stop its syncs. Synced people stay."""
    graph.forget_link(link)
    with transaction.atomic():
        row = EntraLink.objects.for_org(link.organization).select_for_update().get(pk=link.pk)
        row.client_secret_encrypted = ""
        row.private_key_encrypted = ""
        row.status = EntraLink.Status.UNLINKED
        row.next_sync_at = None
        row.expiry_notified = ""
        row.save()
    graph.forget_link(row)
    _record(row.organization, user, LinkAttempt.Method.ADMIN_CONSENT if not row.uses_own_app
            else LinkAttempt.Method.OWN_APP, "unlinked", row.tenant_id, row, "Unlinked.")
    return row


def relink_consent(session, user, link: EntraLink) -> str:
    """Start admin consent again for an existing link (after an unlink or a revoked consent); the callback reuses
    the link's row because it is the same tenant. Returns the URL to send the admin to."""
    return begin_consent(session, user, link.organization, link.name, link.cloud_key)

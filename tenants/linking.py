"""Linking Entra tenants: own app registrations, unlinking, and the checks both ways of linking share.

Views, the operator command (`link_entra`) and the demo seeding call these functions; the admin-consent round trip
is in tenants.consent and proves and saves its tenant here. Every call to Microsoft goes through
directory_sync.graph. A tenant is linked only after Signet obtained an app-only token for it and read its
`/organization`: the `tenant` a browser brings back is never trusted (graph-facts 1.1).
"""
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from django.db import IntegrityError, transaction
from django.utils import timezone

from directory_sync import graph, graph_reads
from portal import audit
from tenants import clouds, secrets as crypto
from tenants.models import ConsentRequest, EntraLink, LinkAttempt, Organization

logger = logging.getLogger(__name__)

# Entra may need a few seconds after consent before the new service principal can get tokens (AADSTS7000229
# or 700016 right after "Accept"): verify_tenant(attempts=...) pauses between tries that fail with these codes.
CONSENT_TOKEN_PAUSE = 2.0
PROPAGATION_CODES = {7000229, 700016}
sleep = time.sleep  # tests replace it

_DOMAIN_RE = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")

Outcome = ConsentRequest.Outcome
INVALID_INPUT = "invalid_input"  # an own-app outcome (no ConsentRequest.Outcome): the admin's input was refused

UNREADABLE_SECRET = ("The saved secret or private key can no longer be decrypted (the encryption keys changed): "
                     "paste the client secret or upload the certificate again.")
TENANT_MISMATCH_MESSAGE = ("The tenant in Microsoft's answer does not match the tenant that issued the token, "
                           "so nothing was linked. Click Link Entra ID again.")


class LinkError(Exception):
    """Linking failed and nothing was saved; `admin_message` says what happened and what to do next."""

    def __init__(self, admin_message: str, outcome: str = Outcome.TOKEN_FAILED):
        super().__init__(admin_message)
        self.admin_message = admin_message
        self.outcome = outcome


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
            raise LinkError(TENANT_MISMATCH_MESSAGE, Outcome.TENANT_MISMATCH)
        if tid != requested.lower():
            # A domain: the token's tid is the tenant's GUID; use it from now on (authority, storage).
            graph.forget_link(candidate)
            candidate.tenant_id = tid
        organization = graph_reads.get_organization(candidate)
        if str(organization.get("id") or "").lower() != tid:
            raise LinkError(TENANT_MISMATCH_MESSAGE, Outcome.TENANT_MISMATCH)
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


def store_verified(candidate: EntraLink, organization_info: dict, existing: EntraLink | None = None) -> EntraLink:
    """Save a verified candidate: into `existing`, or into the organisation's row for the same tenant (relinking
    reuses it), or as a new row. Starts syncing soon."""
    fields = {
        "name": candidate.name,
        "cloud_key": candidate.cloud_key,
        "tenant_id": candidate.tenant_id,
        "tenant_name": organization_info.get("displayName") or "",
        "initial_domain": graph_reads.initial_domain(organization_info),
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


def record_attempt(organization, user, method, outcome, tenant="", link=None, detail=""):
    LinkAttempt.objects.create(organization=organization, user=user if user and user.is_authenticated else None,
                               method=method, outcome=outcome, tenant=(tenant or "")[:256], link=link,
                               detail=detail)
    logger.info("link attempt org=%s method=%s outcome=%s", getattr(organization, "pk", None), method, outcome)
    if organization is not None and link is not None and outcome in (Outcome.LINKED, "unlinked"):
        # Only changes go to the audit log; every attempt, good or bad, is a LinkAttempt.
        audit.record(organization, user, f"link.{outcome}", link.name, tenant=link.tenant_id, method=method)


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
        saved = store_verified(candidate, info, existing=link)
    except LinkError as error:
        record_attempt(organization, user, method, error.outcome, tenant, link, error.admin_message)
        raise
    record_attempt(organization, user, method, Outcome.LINKED, saved.tenant_id, saved,
                   f"Linked {saved.tenant_name}.")
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


# --- Unlink -------------------------------------------------------------------------------------------------


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
    record_attempt(row.organization, user, LinkAttempt.Method.ADMIN_CONSENT if not row.uses_own_app
                   else LinkAttempt.Method.OWN_APP, "unlinked", row.tenant_id, row, "Unlinked.")
    return row

"""Linking Entra tenants by admin consent: the one-time state, the round trip to Microsoft and its callback, and
relinking an existing link the same way.

The link views call these functions. The tenant is proven and saved by tenants.linking (shared with own app
registrations): a tenant is linked only after Signet obtained an app-only token for it and read its
`/organization`, so the `tenant` a browser brings back is never trusted (graph-facts 1.1).
Docs: learn.microsoft.com/entra/identity-platform/v2-admin-consent
"""
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from tenants import clouds, linking
from tenants.models import ConsentRequest, EntraLink, LinkAttempt, Membership, Organization, Role

CONSENT_MAX_AGE = timedelta(minutes=10)
SESSION_KEY = "entra_consent_requests"  # {state hash: organisation pk} of the consent rounds this session began
MAX_PENDING_PER_SESSION = 5
# Entra may need a few seconds after consent before the new service principal can get tokens (AADSTS7000229
# or 700016 right after "Accept"): try a few times before telling the admin it failed (linking.verify_tenant).
CONSENT_TOKEN_ATTEMPTS = 3

Outcome = ConsentRequest.Outcome
# Outcomes of a callback that carries no usable state (no ConsentRequest row to hold them).
STATE_MISSING = "state_missing"
STATE_UNKNOWN = "state_unknown"
SIGNED_OUT = "signed_out"

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
    Outcome.TENANT_MISMATCH: linking.TENANT_MISMATCH_MESSAGE,
}


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
        raise linking.LinkError("The operator has not configured Signet's multi-tenant app (ENTRA_CLIENT_ID); "
                                "link with your own app registration instead.", linking.INVALID_INPUT)
    cloud = clouds.get_cloud(cloud_key)
    if not cloud.is_configured:
        raise linking.LinkError("This cloud is not configured.", linking.INVALID_INPUT)
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
        linking.record_attempt(None, None, method, SIGNED_OUT, reported_tenant)
        return ConsentResult(SIGNED_OUT, CONSENT_MESSAGES[SIGNED_OUT])
    state = params.get("state", "")
    if not state:
        linking.record_attempt(None, user, method, STATE_MISSING, reported_tenant)
        return ConsentResult(STATE_MISSING, CONSENT_MESSAGES[STATE_MISSING])
    state_hash = ConsentRequest.hash_state(state)
    request = ConsentRequest.objects.filter(state_hash=state_hash).select_related("organization").first()
    if request is None:
        linking.record_attempt(None, user, method, STATE_UNKNOWN, reported_tenant)
        return ConsentResult(STATE_UNKNOWN, CONSENT_MESSAGES[STATE_UNKNOWN])
    organization = request.organization

    def fail(outcome, message=None, *, finish=True):
        message = message or CONSENT_MESSAGES[outcome]
        if finish:
            ConsentRequest.objects.filter(pk=request.pk).update(outcome=outcome)
        linking.record_attempt(organization, user, method, outcome, reported_tenant, detail=message)
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
    if not linking.is_guid(reported_tenant):
        return fail(Outcome.TENANT_MISMATCH)
    candidate = EntraLink(organization=organization, name=request.link_name, cloud_key=request.cloud_key,
                          tenant_id=reported_tenant.lower(), auth_method=EntraLink.AuthMethod.ADMIN_CONSENT,
                          consented_at=timezone.now())
    try:
        info = linking.verify_tenant(candidate, attempts=CONSENT_TOKEN_ATTEMPTS)
    except linking.LinkError as error:
        message = error.admin_message
        if error.outcome == Outcome.TOKEN_FAILED:
            message = ("Consent was given, but Signet could not sign in to the tenant, so nothing was linked: "
                       + message)
        return fail(error.outcome, message)
    link = linking.store_verified(candidate, info)
    ConsentRequest.objects.filter(pk=request.pk).update(outcome=Outcome.LINKED)
    message = f"Linked {link.tenant_name or link.tenant_id}" + (f" ({link.initial_domain})" if link.initial_domain
                                                                 else "") + ". The first sync starts shortly."
    linking.record_attempt(organization, user, method, Outcome.LINKED, link.tenant_id, link, message)
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


def relink_consent(session, user, link: EntraLink) -> str:
    """Start admin consent again for an existing link (after an unlink or a revoked consent); the callback reuses
    the link's row because it is the same tenant. Returns the URL to send the admin to."""
    return begin_consent(session, user, link.organization, link.name, link.cloud_key)

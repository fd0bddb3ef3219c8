"""Employee sign-in with Microsoft: OpenID Connect authorization code flow (PKCE, state, nonce) through msal.

With directory_sync/graph.py, the only module that imports msal or requests. Signet's multi-tenant app
(ENTRA_CLIENT_ID) signs people in on `<cloud login>/organizations`; the ID token is then checked here (msal
1.38+ checks only the nonce: graph-facts 2.8): signature against the issuer's JWKS, `iss`, `aud`, `exp`, and the
person is matched on (tid, oid) to an active employee of a linked EntraLink in that cloud.
Docs: learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow, id-token-claims-reference.
"""
import logging
import threading
import time
import uuid

import jwt
import msal
import requests
from django.conf import settings
from django.core.cache import cache
from django.urls import reverse

from directory_sync.models import Employee
from signatures import links
from tenants import clouds
from tenants.models import EntraLink

logger = logging.getLogger(__name__)

FLOW_SESSION_KEY = "signature_signin_flow"  # msal's flow dict plus the cloud key, for one round trip
EMPLOYEE_SESSION_KEY = "signature_employee"  # {"id", "tid", "oid"}: who signed in; never a Django user login
FLOW_MAX_AGE = 15 * 60  # a sign-in page left open longer than this starts over
CLOCK_SKEW = 300  # seconds of clock difference tolerated on exp/nbf/iat, as Microsoft's libraries do
DISCOVERY_CACHE_SECONDS = 24 * 3600
HTTP_TIMEOUT = 10

# msal caches discovery documents in `http_cache`; one dict per cloud keeps construction free of network calls
# after the first sign-in, while each sign-in gets a fresh app (so no one's tokens pile up in a shared cache).
_http_caches: dict[str, dict] = {}
_http_caches_lock = threading.Lock()


class SignInRefused(Exception):
    """The sign-in cannot open a signature page. `reason` is a code for logs and tests, `message` words for the
    person, `status` the HTTP status of the page that says so."""

    def __init__(self, reason: str, message: str, status: int = 403):
        self.reason, self.message, self.status = reason, message, status
        super().__init__(reason)


def is_enabled() -> bool:
    """True when the operator configured Signet's multi-tenant app (needed for employee sign-in)."""
    return bool(settings.ENTRA_CLIENT_ID and settings.ENTRA_CLIENT_SECRET)


def sign_in_clouds() -> list[clouds.Cloud]:
    """The clouds people may sign in with: the global cloud first, then any other configured cloud that at
    least one organisation has linked (so the page offers the buttons that can work)."""
    available = dict(clouds.available_choices())
    # Across organisations on purpose: only the distinct cloud keys are read, nothing of any customer.
    linked = set(EntraLink.objects.filter(status=EntraLink.Status.LINKED)
                 .values_list("cloud_key", flat=True).distinct())
    keys = [clouds.GLOBAL] + [key for key in available if key != clouds.GLOBAL and key in linked]
    return [clouds.get_cloud(key) for key in keys]


def redirect_uri() -> str:
    """The one callback registered on Signet's app: SITE_URL + /signature/signin/callback/."""
    return settings.SITE_URL + reverse("signatures:signin_callback")


def _session_for(cloud: clouds.Cloud) -> requests.Session:
    session = requests.Session()
    # Without trust_env=False, REQUESTS_CA_BUNDLE silently overrides `verify` (graph-facts 2.5).
    session.trust_env = False
    session.verify = cloud.ca_bundle or True
    session.proxies.update(cloud.proxies)
    session.headers["User-Agent"] = "Signet-signin"
    return session


def _authority(cloud: clouds.Cloud) -> str:
    return f"{cloud.login_url}/organizations"


def _app(cloud: clouds.Cloud, session: requests.Session) -> msal.ConfidentialClientApplication:
    with _http_caches_lock:
        http_cache = _http_caches.setdefault(cloud.key + "|" + cloud.login_url, {})
    return msal.ConfidentialClientApplication(
        settings.ENTRA_CLIENT_ID,
        client_credential=settings.ENTRA_CLIENT_SECRET,
        authority=_authority(cloud),
        instance_discovery=cloud.instance_discovery,
        azure_region=False,
        http_client=session,
        http_cache=http_cache,
        timeout=HTTP_TIMEOUT,
    )


def cloud_from_key(key: str | None) -> clouds.Cloud:
    """The cloud a sign-in uses: the given key if it is one of the configured clouds, else the global cloud."""
    if key and key in dict(clouds.available_choices()):
        return clouds.get_cloud(key)
    return clouds.get_cloud(clouds.GLOBAL)


def begin(session_store, cloud: clouds.Cloud) -> str:
    """Start a sign-in round trip: keep msal's flow (state, nonce, PKCE verifier) in the session and return the
    Microsoft sign-in address to send the browser to."""
    if not is_enabled():
        raise SignInRefused("not_configured", "Sign-in with Microsoft is not configured on this portal.", 404)
    http = _session_for(cloud)
    try:
        flow = _app(cloud, http).initiate_auth_code_flow(scopes=[], redirect_uri=redirect_uri(),
                                                         prompt="select_account")
    except (requests.RequestException, ValueError, KeyError, msal.exceptions.MsalServiceError) as exc:
        logger.warning("sign-in discovery failed for cloud %s: %s", cloud.key, exc)
        raise SignInRefused("login_unreachable", "Microsoft's sign-in service could not be reached. "
                            "Try again in a minute.", 503) from None
    finally:
        http.close()
    session_store[FLOW_SESSION_KEY] = {"flow": flow, "cloud": cloud.key, "started": time.time()}
    return flow["auth_uri"]


def complete(session_store, params: dict) -> Employee:
    """Finish the round trip with the redirect's query parameters and return the signed-in employee.
    Raises SignInRefused for a missing or reused flow, a bad state or nonce, an error from Microsoft, an ID
    token that fails its checks, or a person who is not an active employee of a linked tenant."""
    stored = session_store.pop(FLOW_SESSION_KEY, None)  # single use: a replayed callback finds nothing
    if not stored or time.time() - stored.get("started", 0) > FLOW_MAX_AGE:
        raise SignInRefused("no_flow", "This sign-in has expired or was already used. Please sign in again.", 400)
    cloud = cloud_from_key(stored["cloud"])
    if cloud.key != stored["cloud"]:
        raise SignInRefused("no_flow", "This sign-in has expired or was already used. Please sign in again.", 400)
    if params.get("error"):
        if params.get("error_subcode") == "cancel" or params.get("error") == "access_denied":
            raise SignInRefused("cancelled", "Sign-in was cancelled.", 400)
        raise SignInRefused("microsoft_error", "Microsoft could not sign you in "
                            f"({str(params.get('error'))[:60]}). Please try again.", 400)
    http = _session_for(cloud)
    try:
        result = _app(cloud, http).acquire_token_by_auth_code_flow(stored["flow"], params)
        if "error" in result:
            logger.info("sign-in token error: %s", result.get("error"))
            raise SignInRefused("token_error", "Microsoft did not confirm the sign-in. Please sign in again.", 400)
        claims = validate_id_token(result.get("id_token", ""), cloud, http)
    except ValueError:  # msal: state missing or different from the one this session started with
        raise SignInRefused("bad_state", "This sign-in did not start here. Please sign in again.", 400) from None
    except RuntimeError:  # msal: the ID token's nonce is not the one this flow sent
        raise SignInRefused("bad_nonce", "This sign-in could not be verified. Please sign in again.", 400) from None
    except (requests.RequestException, msal.exceptions.MsalServiceError):
        raise SignInRefused("login_unreachable", "Microsoft's sign-in service could not be reached. "
                            "Try again in a minute.", 503) from None
    finally:
        http.close()
    return match_employee(cloud, claims)


def _discovery(cloud: clouds.Cloud, tid: str, http: requests.Session) -> dict:
    key = f"signatures:oidc:{cloud.key}:{cloud.login_url}:{tid}"
    document = cache.get(key)
    if document is None:
        response = http.get(f"{cloud.login_url}/{tid}/v2.0/.well-known/openid-configuration", timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        document = response.json()
        cache.set(key, document, DISCOVERY_CACHE_SECONDS)
    return document


def _signing_key(cloud: clouds.Cloud, tid: str, kid: str, http: requests.Session):
    jwks_uri = _discovery(cloud, tid, http)["jwks_uri"]
    key = f"signatures:jwks:{jwks_uri}"
    for attempt in (1, 2):
        jwks = cache.get(key) if attempt == 1 else None
        if jwks is None:
            response = http.get(jwks_uri, timeout=HTTP_TIMEOUT)
            response.raise_for_status()
            jwks = response.json()
            cache.set(key, jwks, DISCOVERY_CACHE_SECONDS)
        for jwk in jwks.get("keys", []):
            if jwk.get("kid") == kid:
                return jwt.PyJWK.from_dict(jwk).key
        # An unknown kid may be a key rolled over since we cached the set: fetch it once more.
    return None


def validate_id_token(id_token: str, cloud: clouds.Cloud, http: requests.Session) -> dict:
    """The ID token's claims once its signature (the issuer's JWKS), `iss` (<login>/<tid>/v2.0), `aud` (our
    client id), `exp`/`nbf`/`iat` and `tid`/`oid` are checked. Raises SignInRefused otherwise."""
    refused = SignInRefused("bad_id_token", "Microsoft's answer could not be verified. Please sign in again.", 400)
    try:
        header = jwt.get_unverified_header(id_token)
        unverified = jwt.decode(id_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise refused from None
    tid = str(unverified.get("tid", ""))
    if not _is_guid(tid) or header.get("alg") not in ("RS256",):
        raise refused
    key = _signing_key(cloud, tid, header.get("kid", ""), http)
    if key is None:
        raise refused
    try:
        claims = jwt.decode(
            id_token, key, algorithms=["RS256"], audience=settings.ENTRA_CLIENT_ID,
            issuer=f"{cloud.login_url}/{tid}/v2.0", leeway=CLOCK_SKEW,
            options={"require": ["exp", "iat", "iss", "aud", "tid", "oid"]},
        )
    except jwt.PyJWTError as exc:
        logger.info("ID token refused: %s", exc)
        raise refused from None
    return claims


def _is_guid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def match_employee(cloud: clouds.Cloud, claims: dict) -> Employee:
    """The active employee with Graph id `oid` in a linked EntraLink of tenant `tid` in this cloud. Refused
    with a page in words for anyone else (guests have another oid per tenant and match nobody)."""
    # Across organisations on purpose: the person is not yet known to belong to any. (tid, oid) from a verified
    # ID token is the key; if two organisations link the same tenant, the older employee row wins.
    employee = (
        Employee.objects.select_related("organization", "link")
        .filter(links.holder_filter(), link__tenant_id__iexact=claims["tid"], link__cloud_key=cloud.key,
                graph_id=claims["oid"])
        .order_by("pk")
        .first()
    )
    if employee is None:
        raise SignInRefused(
            "no_employee",
            "There is no signature for this account. Your organisation may not use Signet, or your account is "
            "not among the people it syncs. Ask your IT team for a signature link.", 403)
    return employee


def remember(request, employee: Employee) -> None:
    """Keep only who signed in (in its own session key), with a new session id against fixation."""
    request.session.cycle_key()
    request.session[EMPLOYEE_SESSION_KEY] = {"id": employee.pk, "tid": employee.link.tenant_id,
                                             "oid": employee.graph_id}


def forget(request) -> None:
    """Sign the employee out of the signature page (the rest of the session is left alone)."""
    request.session.pop(EMPLOYEE_SESSION_KEY, None)


def signed_in_employee(request) -> Employee | None:
    """The employee this session signed in as, re-checked on every request (removed or unlinked: None)."""
    data = request.session.get(EMPLOYEE_SESSION_KEY)
    if not data:
        return None
    return (
        Employee.objects.select_related("organization", "link", "photo")
        .filter(links.holder_filter(), pk=data["id"], graph_id=data["oid"], link__tenant_id__iexact=data["tid"])
        .first()
    )

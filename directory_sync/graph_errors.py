"""Typed errors of the Microsoft Graph client and the words we show an admin for each.

Plain Python: no Django, no HTTP. `directory_sync.graph` raises these and re-exports them, so callers write
`graph.GraphThrottled`. Messages never carry secrets, tokens or Authorization headers: they are built from
Graph's and Entra's error bodies, status codes and our own text only.
"""

import email.utils
import re
from datetime import datetime, timezone
from urllib.parse import urlsplit

# Graph's codes for a delta token that can no longer be used (graph-facts 5 and 8.1; Graph spells
# SyncStateNotFound with either case). 410 Gone means the same whatever the code.
DELTA_RESET_CODES = {"syncstatenotfound", "resyncrequired"}


class GraphError(Exception):
    """A call to Microsoft Graph (or its login service) failed; `admin_message` says what to do about it."""

    def __init__(self, message="", *, status=None, code="", request_id="", admin_message="", permission=""):
        self.status = status
        self.code = code or ""
        self.message = message or ""
        self.request_id = request_id or ""
        self.permission = permission or ""
        self.admin_message = admin_message or _default_admin_message(status, self.code, self.message)
        super().__init__(self.admin_message)

    def __str__(self):
        parts = [self.admin_message]
        if self.status:
            parts.append(f"(HTTP {self.status}{' ' + self.code if self.code else ''})")
        if self.request_id:
            parts.append(f"request-id {self.request_id}")
        return " ".join(parts)


class GraphThrottled(GraphError):
    """Graph kept answering 429 or 503 after our retries; `retry_after` is its last advice in seconds."""

    def __init__(self, message="", *, retry_after=None, **kwargs):
        self.retry_after = retry_after
        kwargs.setdefault(
            "admin_message",
            "Microsoft Graph is limiting how fast we may read this directory; the sync will try again later.",
        )
        super().__init__(message, **kwargs)


class GraphAuthError(GraphError):
    """No app-only token: Entra refused the credentials, or the login service could not be used.

    `aadsts` is Entra's error number (int or None), `error` the OAuth error string; `is_transient` is True
    when trying again later may succeed without the admin changing anything (network, 5xx, throttling).
    """

    def __init__(self, message="", *, aadsts=None, error="", is_transient=False, **kwargs):
        self.aadsts = aadsts
        self.error = error or ""
        self.is_transient = is_transient
        kwargs.setdefault("code", f"AADSTS{aadsts}" if aadsts else self.error)
        kwargs.setdefault("admin_message", aadsts_admin_message(aadsts, self.error))
        super().__init__(message, **kwargs)


class GraphPermissionError(GraphError):
    """403: the app registration lacks the application permission named in `permission`."""


class GraphUnauthorized(GraphError):
    """401 even with a freshly issued token: the app's access to the tenant was probably revoked."""


class GraphNotFound(GraphError):
    """404: the object does not exist (or no longer does)."""


class GraphBadRequest(GraphError):
    """400 (or 501): Graph refused the request itself, e.g. an invalid $filter; the message quotes Graph."""


class DeltaTokenExpired(GraphError):
    """The saved delta link can no longer be used: the caller must restart with a full listing."""


# What the admin should do, by AADSTS number (entra-docs reference-error-codes; graph-facts 1.4).
AADSTS_MESSAGES = {
    7000215: "The client secret is wrong: copy the secret's Value (not its ID) from the app registration's "
    "Certificates & secrets page and save it again.",
    7000222: "The client secret has expired: create a new secret under Certificates & secrets in the app "
    "registration and save its Value here.",
    700027: "Entra could not verify the certificate: upload the certificate's public part to the app "
    "registration's Certificates & secrets page and make sure the private key saved here belongs to it.",
    7000229: "The app is not consented in this tenant (it has no service principal there): an administrator "
    "of the tenant must grant admin consent again.",
    700016: "The app was not found in this tenant: check the tenant ID and the application (client) ID; if "
    "both are right, an administrator of the tenant must grant admin consent again.",
    90002: "The tenant was not found: check the tenant ID (Directory ID) or domain, and that it belongs to "
    "the selected cloud.",
    65001: "Admin consent is missing: an administrator of the tenant must grant admin consent to the app.",
    90094: "This needs admin consent: an administrator of the tenant must grant admin consent to the app.",
    70011: "The requested scope is invalid: the Microsoft Graph address of the selected cloud does not match "
    "the tenant's cloud.",
    500011: "Microsoft Graph is not available in this tenant for the app: check that the selected cloud is "
    "the tenant's cloud, then grant admin consent again.",
    7000218: "No client secret or certificate was sent: save a client secret or a certificate for this link.",
}


def aadsts_admin_message(aadsts, error=""):
    """The admin-readable explanation of an Entra sign-in failure, with the fix when we know it."""
    if aadsts in AADSTS_MESSAGES:
        return AADSTS_MESSAGES[aadsts]
    if aadsts:
        return (
            f"Entra refused to issue a token (AADSTS{aadsts}); look the code up in Microsoft's AADSTS error "
            "reference, fix the app registration or credentials, and try again."
        )
    if error:
        return f"Entra refused to issue a token ({error}); check the tenant ID, client ID and credentials."
    return "Entra did not issue a token; check the tenant ID, client ID and credentials."


def parse_aadsts(result):
    """The first AADSTS number in an msal error result (error_codes first, else the description), or None."""
    codes = result.get("error_codes") or []
    if codes and str(codes[0]).isdigit():
        return int(codes[0])
    found = re.search(r"AADSTS(\d+)", result.get("error_description") or "")
    return int(found.group(1)) if found else None


def auth_error_from_result(result, credential):
    """The GraphAuthError for an msal result without an access token; the credential is redacted from it."""
    error = result.get("error") or ""
    lines = (result.get("error_description") or "").splitlines()
    return GraphAuthError(
        _redact(lines[0] if lines else error, credential),
        aadsts=parse_aadsts(result),
        error=error,
        is_transient=error == "temporarily_unavailable",
        request_id=result.get("correlation_id") or "",
    )


def _redact(text, credential):
    # Entra does not echo secrets, but a message must never be the place one leaks from.
    values = credential.values() if isinstance(credential, dict) else [credential]
    for value in values:
        if isinstance(value, str) and len(value) >= 6:
            text = text.replace(value, "[redacted]")
    return text


# Failures before Entra could judge the credentials: (transient?, what the admin reads).
LOGIN_ERRORS = {
    "login_unreachable": (
        True, "Could not reach the sign-in service at {login_url}; check the selected cloud, or try again "
        "later."
    ),
    "temporarily_unavailable": (
        True, "The sign-in service at {login_url} did not answer properly; the sync will try again later."
    ),
    "tenant_not_found": (
        False, "The sign-in service does not know the tenant '{tenant_id}': check the tenant ID (Directory "
        "ID) or domain, and that the tenant belongs to the selected cloud."
    ),
    "invalid_authority": (
        False, "The sign-in address {authority} is not usable: it must start with https:// and end with the "
        "tenant ID."
    ),
    "invalid_discovery": (
        False, "The sign-in service at {login_url} answered with an unusable OpenID configuration; check the "
        "selected cloud."
    ),
    "invalid_credential": (
        False, "The saved certificate or private key could not be used: upload the certificate and its "
        "private key again."
    ),
}


def login_error(kind, link, authority=""):
    """The GraphAuthError for a sign-in that failed before Entra judged the credentials (LOGIN_ERRORS)."""
    is_transient, template = LOGIN_ERRORS[kind]
    message = template.format(login_url=link.cloud.login_url, tenant_id=link.tenant_id, authority=authority)
    return GraphAuthError(kind, error=kind, is_transient=is_transient, admin_message=message)


FOREIGN_DELTA_LINK = (
    "The saved change-tracking link belongs to another Graph endpoint; a full listing will be made."
)

# Failures the client itself detects in Graph's answers (or refuses to risk), by kind.
CLIENT_ERRORS = {
    "network": "Could not reach Microsoft Graph (network error or timeout); the sync will try again later.",
    "incomplete_answer": "Microsoft Graph sent an incomplete answer; the sync will try again later.",
    "repeated_link": "Microsoft Graph returned the same page link twice; the listing was stopped.",
    "page_without_value": "Microsoft Graph returned a page without results; the listing was stopped.",
    "delta_without_link": "Microsoft Graph ended a change-tracking round without a delta link; the round was "
    "stopped.",
    "foreign_url": "Refused to send the app's token outside {graph_url}: {path}",
    "no_organization": "Microsoft Graph returned no organization for the tenant.",
    "batch_incomplete": "Microsoft Graph left out part of a batch answer.",
}


def client_error(kind, message="", *, status=None, **details):
    """The GraphError for a problem the client detected itself (kind: a key of CLIENT_ERRORS, kept as `code`)."""
    return GraphError(message or kind, status=status, code=kind,
                      admin_message=CLIENT_ERRORS[kind].format(**details))


def is_passing(error: GraphError) -> bool:
    """Throttling, a Graph outage or a failed connection: trouble that passes by itself, nothing to fix."""
    return (isinstance(error, GraphThrottled) or (error.status or 0) >= 500
            or error.code in ("network", "incomplete_answer"))


def parse_retry_after(value):
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP-date), or None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def required_permission(url):
    """The least-privileged application permission a Graph URL (absolute or relative) needs to be read."""
    path = urlsplit(url).path.lower()
    path = re.sub(r"^/(v1\.0|beta)(?=/)", "", path)
    if "/mailboxsettings" in path:
        return "MailboxSettings.Read"
    if path.startswith("/users"):
        return "User.Read.All"
    if path.startswith("/groups"):
        return "GroupMember.Read.All"
    if path.startswith("/contacts"):
        return "OrgContact.Read.All"
    if path.startswith("/organization"):
        return "Organization.Read.All"
    return "Directory.Read.All"


def permission_admin_message(permission):
    """Tell the admin which permission to grant and that consent must be granted again."""
    alternative = " (or Group.Read.All)" if permission == "GroupMember.Read.All" else ""
    return (
        f"The app is missing a permission: grant {permission}{alternative} in the app registration's API "
        "permissions (type Application) and grant admin consent again."
    )


def error_from_response(url, status, body, headers):
    """Build the typed GraphError for a Graph answer that is not a success (body: parsed JSON or None)."""
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code = str(error.get("code") or "")
    message = str(error.get("message") or "")
    inner = error.get("innerError") or error.get("innererror") or {}
    request_id = (inner.get("request-id") if isinstance(inner, dict) else "") or headers.get("request-id", "")
    common = {"status": status, "code": code, "request_id": request_id}
    if status == 410 or code.lower() in DELTA_RESET_CODES:
        admin_message = "The saved change-tracking link expired; a full listing will be made."
        return DeltaTokenExpired(message, admin_message=admin_message, **common)
    if status == 403:
        permission = required_permission(url)
        return GraphPermissionError(
            message, permission=permission, admin_message=permission_admin_message(permission), **common
        )
    if status == 401:
        return GraphUnauthorized(
            message,
            admin_message="Microsoft Graph refused the app's token: admin consent may have been revoked; an "
            "administrator of the tenant must grant admin consent again.",
            **common,
        )
    if status == 404:
        return GraphNotFound(message, admin_message=f"Not found in the directory: {_path(url)}.", **common)
    if status in (400, 501):
        admin_message = f"Microsoft Graph refused the request: {message or code or status}"
        return GraphBadRequest(message, admin_message=admin_message, **common)
    if status in (429, 503):
        return GraphThrottled(message, **common)
    return GraphError(message, **common)


def _path(url):
    # Never the query: nextLinks carry long opaque tokens that mean nothing to an admin.
    return urlsplit(url).path


def _default_admin_message(status, code, message):
    if status and status >= 500:
        return "Microsoft Graph had a server problem; the sync will try again later."
    if message:
        return f"Microsoft Graph returned an error: {message}"
    return f"Microsoft Graph returned an error{' (' + code + ')' if code else ''}."


# Entra's answers that mean the credentials themselves are wrong or expired (the admin must enter new ones).
CREDENTIAL_AADSTS = frozenset({7000215, 7000222, 700027, 7000218})


def failure_kind(exc: BaseException | None) -> str:
    """What a failed run needs, for the scheduler: "unauthorized" (Graph refused the token: consent revoked),
    "credentials" (wrong or expired secret or certificate), "consent" (any other refusal only an admin can
    fix), "other" (may heal by itself: throttling, outages, bugs), "" for no failure."""
    if exc is None:
        return ""
    if isinstance(exc, GraphUnauthorized):
        return "unauthorized"
    if isinstance(exc, GraphAuthError) and not exc.is_transient:
        if exc.aadsts in CREDENTIAL_AADSTS or exc.error == "invalid_credential":
            return "credentials"
        return "consent"
    return "other"

"""The identity platform's API: OpenID discovery, JWKS and the token endpoint (pages a browser sees: pages.py).

Docs: learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow, v2-oauth2-auth-code-flow,
v2-protocols-oidc, reference-error-codes.
"""
import base64
import hashlib
import time

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from entra_emulator import certs, web

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
GRAPH_RESOURCE_IDS = ("https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000")
MULTI_TENANT_SEGMENTS = ("organizations", "common")


def _tenant_or_error(server, request, segment):
    state = server.state
    if segment.lower() in MULTI_TENANT_SEGMENTS:
        return segment.lower(), None
    tenant = state.find_tenant(segment)
    if tenant is None:
        return None, web.aad_error(
            request, 400, "invalid_request", 90002,
            f"Tenant '{segment}' not found. Check to make sure you have the correct tenant ID and are signing "
            "into the correct cloud. Check with your subscription administrator, this may happen if there are "
            "no active subscriptions for the tenant.", state.login_url)
    return tenant, None


def openid_configuration(server, request, tenant):
    """OpenID discovery: token endpoint, issuer and JWKS on HTTPS; authorize and logout on the browser port."""
    state = server.state
    found, error = _tenant_or_error(server, request, tenant)
    if error:
        return error
    segment = found if isinstance(found, str) else found.id
    issuer_tid = "{tenantid}" if isinstance(found, str) else found.id
    login, browser = state.login_url, state.browser_url
    body = {
        "token_endpoint": f"{login}/{segment}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                  "client_secret_basic"],
        "jwks_uri": f"{login}/{segment}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{login}/{issuer_tid}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": f"{state.graph_url}/oidc/userinfo",
        "authorization_endpoint": f"{browser}/{segment}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{login}/{segment}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{browser}/{segment}/oauth2/v2.0/logout",
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
                             "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr",
                             "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": f"{login}/{segment}/kerberos",
        "tenant_region_scope": "NA",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": state.graph_url.split("://", 1)[1],
        "rbac_url": "https://pas.windows.net",
    }
    return web.json_response(request, body)


def jwks(server, request, tenant=None):
    """The signing keys (one RSA key) used for all tokens the emulator issues."""
    return web.json_response(request, {"keys": [certs.jwk(server.state.signing_key, server.state.kid)]})


def instance_discovery(server, request):
    """msal's instance discovery answer, for clients that do not pass instance_discovery=False."""
    state = server.state
    host = state.login_url.split("://", 1)[1]
    return web.json_response(request, {
        "tenant_discovery_endpoint": f"{state.login_url}/common/v2.0/.well-known/openid-configuration",
        "api-version": "1.1",
        "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
    })


# ----- token endpoint -----

class TokenError(Exception):
    def __init__(self, status, error, code, message):
        super().__init__(message)
        self.status, self.error, self.code, self.message = status, error, code, message


def token(server, request, tenant):
    """POST /{tenant}/oauth2/v2.0/token: client_credentials, authorization_code and refresh_token grants."""
    state = server.state
    found, error = _tenant_or_error(server, request, tenant)
    if error:
        return error
    form = request.form
    try:
        grant = form.get("grant_type")
        if not grant:
            raise TokenError(400, "invalid_request", 900144,
                             "The request body must contain the following parameter: 'grant_type'.")
        if grant == "client_credentials":
            body = _client_credentials(server, request, found, tenant)
        elif grant == "authorization_code":
            body = _authorization_code(server, request, found, tenant)
        elif grant == "refresh_token":
            body = _refresh(server, request, found, tenant)
        else:
            raise TokenError(400, "unsupported_grant_type", 70003,
                             "The app requested an unsupported grant type ('{}').".format(grant))
    except TokenError as exc:
        return web.aad_error(request, exc.status, exc.error, exc.code, exc.message, state.login_url)
    response = web.json_response(request, body)
    response.headers["Content-Type"] = "application/json; charset=utf-8"
    response.headers["Cache-Control"] = "no-store, no-cache"
    return response


def _client_id_and_secret(request):
    form = request.form
    client_id, secret = form.get("client_id"), form.get("client_secret")
    if request.authorization and request.authorization.type == "basic":
        client_id = client_id or request.authorization.username
        secret = secret or request.authorization.password
    return client_id, secret


def _authenticate(server, request, segment_used, tenant_for_aud):
    """Check the client credential (secret or certificate assertion); return (app, "secret"|"certificate")."""
    state = server.state
    form = request.form
    client_id, secret = _client_id_and_secret(request)
    if not client_id:
        raise TokenError(400, "invalid_request", 900144,
                         "The request body must contain the following parameter: 'client_id'.")
    app = state.apps.get(client_id)
    if app is None:
        name = tenant_for_aud.display_name if not isinstance(tenant_for_aud, str) else tenant_for_aud
        raise TokenError(400, "unauthorized_client", 700016,
                         f"Application with identifier '{client_id}' was not found in the directory '{name}'. "
                         "This can happen if the application has not been installed by the administrator of the "
                         "tenant or consented to by any user in the tenant. You may have sent your authentication "
                         "request to the wrong tenant.")
    assertion = form.get("client_assertion")
    if secret is None and assertion is None:
        raise TokenError(401, "invalid_client", 7000218,
                         "The request body must contain the following parameter: 'client_assertion' or "
                         "'client_secret'.")
    if assertion is not None:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise TokenError(400, "invalid_request", 50027,
                             "JWT token is invalid or malformed (client_assertion_type).")
        _check_assertion(server, request, app, assertion, segment_used, tenant_for_aud)
        return app, "certificate"
    if secret != app.secret:
        raise TokenError(401, "invalid_client", 7000215,
                         "Invalid client secret provided. Ensure the secret being sent in the request is the "
                         f"client secret value, not the client secret ID, for a secret added to app "
                         f"'{app.client_id}'.")
    if app.secret_expired:
        raise TokenError(401, "invalid_client", 7000222,
                         f"The provided client secret keys for app '{app.client_id}' are expired. Visit the "
                         "Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or "
                         "consider using certificate credentials for added security: https://aka.ms/certCreds.")
    return app, "secret"


def _check_assertion(server, request, app, assertion, segment_used, tenant):
    """Validate a client assertion: RS256 with x5t (SHA-1) or PS256 with x5t#S256, aud = token URL."""
    state = server.state

    def fail(message, code=700027):
        raise TokenError(401, "invalid_client", code, message)

    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        fail("Client assertion failed signature validation.", 50027)
    cert = app.certificate
    if cert is None:
        fail("Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of "
             "key used by client: '...'].")
    alg = header.get("alg")
    def same(value, expected):
        # Clients differ on padding and alphabet (msal sends url-safe with "=" padding).
        return str(value).rstrip("=").replace("+", "-").replace("/", "_") == expected

    if "x5t#S256" in header:
        matches = same(header["x5t#S256"], cert.x5t_s256)
    elif "x5t" in header:
        matches = same(header["x5t"], cert.x5t)
    else:
        matches = False
    if not matches:
        fail("The certificate with identifier used to sign the client assertion is not registered on "
             f"application. [Reason - The key was not found., Thumbprint of key used by client: "
             f"'{header.get('x5t') or header.get('x5t#S256')}'].")
    if alg not in ("RS256", "PS256"):
        fail(f"Client assertion uses an unsupported algorithm '{alg}'.")
    if "x5c" in header:
        # Subject name + issuer auth sends the chain; it must be the registered certificate.
        leaf = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
        if leaf.public_bytes(serialization.Encoding.DER) != cert.cert.public_bytes(serialization.Encoding.DER):
            fail("Client assertion certificate chain does not match the registered certificate.")
    audiences = {f"{state.login_url}/{segment_used}/oauth2/v2.0/token"}
    if not isinstance(tenant, str):
        audiences |= {f"{state.login_url}/{tenant.id}/oauth2/v2.0/token",
                      f"{state.login_url}/{tenant.id}/oauth2/token"}
    try:
        claims = jwt.decode(assertion, cert.key.public_key(), algorithms=[alg], audience=list(audiences),
                            issuer=app.client_id, options={"require": ["exp", "aud", "iss", "sub"]})
    except jwt.ExpiredSignatureError:
        fail("The provided client assertion is expired.", 700024)
    except jwt.InvalidAudienceError:
        fail("Client assertion audience claim does not match Realm issuer.", 700021)
    except jwt.InvalidSignatureError:
        fail("Client assertion failed signature validation.")
    except jwt.PyJWTError as exc:
        fail(f"Client assertion is not valid: {exc}.", 50027)
    if claims.get("sub") != app.client_id:
        fail("The client assertion's subject must be the client id.", 700023)


def _client_credentials(server, request, tenant, segment):
    state = server.state
    if isinstance(tenant, str):
        raise TokenError(400, "invalid_request", 9001023,
                         "The provided grant type is not supported over the /common or /consumers endpoints. "
                         "Please use the /organizations or tenant-specific endpoint.")
    app, via = _authenticate(server, request, segment, tenant)
    if not state.has_service_principal(app, tenant):
        raise TokenError(401, "invalid_client", 7000229,
                         f"The client application {app.client_id} is missing service principal in the tenant "
                         f"{tenant.id}. See instructions here: https://go.microsoft.com/fwlink/?linkid=2225119")
    scope = request.form.get("scope", "")
    scopes = scope.split()
    if not scopes:
        raise TokenError(400, "invalid_request", 900144,
                         "The request body must contain the following parameter: 'scope'.")
    if len(scopes) != 1 or not scopes[0].endswith("/.default"):
        raise TokenError(400, "invalid_scope", 1002012,
                         f"The provided value for scope {scope} is not valid. Client credential flows must have "
                         "a scope value with /.default suffixed to the resource identifier (application ID "
                         "URI).")
    resource = scopes[0][: -len("/.default")]
    if resource not in (state.graph_url, *GRAPH_RESOURCE_IDS):
        raise TokenError(400, "invalid_resource", 500011,
                         f"The resource principal named {resource} was not found in the tenant named "
                         f"{tenant.display_name}. This can happen if the application has not been installed by "
                         "the administrator of the tenant or consented to by any user in the tenant. You might "
                         "have sent your authentication request to the wrong tenant.")
    return state.app_token(app, tenant, via=via)


def _check_scopes(scope_text):
    for scope in scope_text.split():
        if scope.endswith("/.default") or "/" not in scope or scope.split("/")[-1]:
            continue
        raise TokenError(400, "invalid_scope", 70011,
                         f"The provided value for the input parameter 'scope' is not valid. The scope "
                         f"{scope} is not valid.")


def _authorization_code(server, request, tenant, segment):
    state = server.state
    form = request.form
    app, _ = _authenticate(server, request, segment, tenant)
    code = form.get("code", "")
    entry = state.codes.get(code)
    if entry is None:
        raise TokenError(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
    if entry["used"]:
        raise TokenError(400, "invalid_grant", 54005,
                         "OAuth2 Authorization code was already redeemed, please retry with a new valid code or "
                         "use an existing refresh token.")
    entry["used"] = True
    if entry["expires"] < time.time():
        raise TokenError(400, "invalid_grant", 70008,
                         "The provided authorization code or refresh token has expired due to inactivity. Send "
                         "a new interactive authorization request for this user and resource.")
    if entry["client_id"] != app.client_id:
        raise TokenError(400, "invalid_grant", 70000,
                         "The provided value for the 'code' parameter is not valid. The code was issued to a "
                         "different client.")
    if form.get("redirect_uri") != entry["redirect_uri"]:
        raise TokenError(400, "invalid_grant", 500112,
                         "The reply address does not match the reply address provided when requesting the "
                         "Authorization code.")
    if entry["code_challenge"]:
        verifier = form.get("code_verifier", "")
        if entry["code_challenge_method"] == "S256":
            computed = certs.b64url(hashlib.sha256(verifier.encode()).digest())
        else:
            computed = verifier
        if computed != entry["code_challenge"]:
            raise TokenError(400, "invalid_grant", 501481,
                             "The Code_Verifier does not match the code_challenge supplied in the authorization "
                             "request.")
    _check_scopes(form.get("scope", ""))
    user_tenant = state.tenants[entry["tenant_id"]]
    index, user = user_tenant.find_user(entry["user_id"])
    if user is None:
        raise TokenError(400, "invalid_grant", 50034, "The user account does not exist in the directory.")
    return state.user_tokens(app, user_tenant, user, entry["scopes"], nonce=entry["nonce"])


def _refresh(server, request, tenant, segment):
    state = server.state
    app, _ = _authenticate(server, request, segment, tenant)
    entry = state.refresh_tokens.pop(request.form.get("refresh_token", ""), None)
    if entry is None or entry["client_id"] != app.client_id:
        raise TokenError(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
    user_tenant = state.tenants[entry["tenant_id"]]
    _, user = user_tenant.find_user(entry["user_id"])
    if user is None:
        raise TokenError(400, "invalid_grant", 50034, "The user account does not exist in the directory.")
    scopes = request.form.get("scope", "").split() or entry["scopes"]
    return state.user_tokens(app, user_tenant, user, scopes)

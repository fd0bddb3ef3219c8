"""The pages a browser sees: admin consent (v2 and v1), employee sign-in (authorize) and sign-out.

Served on both listeners; discovery advertises them on the plain-HTTP browser port. Docs:
learn.microsoft.com/entra/identity-platform/v2-admin-consent, v2-oauth2-auth-code-flow.
"""
import html
import secrets
import time
from urllib.parse import urlencode

from werkzeug.utils import redirect

from entra_emulator import identity, web

PERMISSION_TEXT = {
    "User.Read.All": "Read all users' full profiles",
    "GroupMember.Read.All": "Read all group memberships",
    "Group.Read.All": "Read all groups",
    "OrgContact.Read.All": "Read organizational contacts",
    "Organization.Read.All": "Read organization information",
    "MailboxSettings.Read": "Read all user mailbox settings",
    "Directory.Read.All": "Read directory data",
}


def _error_page(code, title, message, status=400):
    return web.page(title, f"<h1>Sorry, but we're having trouble signing you in.</h1>"
                           f"<p id='error' class='error'>AADSTS{code}: {html.escape(message)}</p>", status)


def _params(request):
    return {k: v for k, v in (request.form if request.method == "POST" else request.args).items()
            if k not in ("action", "login", "admin")}


def _validate_app(server, params):
    """(app, None) when client_id and redirect_uri are acceptable; (None, error page) otherwise."""
    state = server.state
    client_id = params.get("client_id", "")
    app = state.apps.get(client_id)
    if app is None:
        return None, _error_page(
            700016, "Application not found",
            f"Application with identifier '{client_id}' was not found in the directory. This can happen if "
            "the application has not been installed by the administrator of the tenant or consented to by any "
            "user in the tenant.")
    redirect_uri = params.get("redirect_uri", "")
    if not app.redirect_allowed(redirect_uri):
        return None, _error_page(
            50011, "Redirect URI mismatch",
            f"The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs "
            f"configured for the application '{app.client_id}'. Make sure the redirect URI sent in the request "
            "matches one added to your application in the Azure portal. Navigate to "
            "https://aka.ms/redirectUriMismatchError to learn more about how to fix this.")
    return app, None


def _redirect_to(uri, params, response_mode="query"):
    params = {k: v for k, v in params.items() if v is not None}
    if response_mode == "form_post":
        return web.page("Working...", f"<form method='post' id='form_post' action='{html.escape(uri)}'>"
                                      f"{web.hidden_inputs(params)}<noscript><button>Continue</button></noscript>"
                                      "</form><script>document.getElementById('form_post').submit()</script>")
    separator = "#" if response_mode == "fragment" else ("&" if "?" in uri else "?")
    return redirect(f"{uri}{separator}{urlencode(params)}", code=302)


def admin_consent(server, request, tenant, version="v2"):
    """GET shows the consent page; POST action=accept|decline|cancel redirects as the v2 (or v1) doc says."""
    state = server.state
    with state.lock:
        params = _params(request)
        if tenant.lower() == "common" and version == "v2":
            return _error_page(90014, "Unsupported tenant", "The admin consent endpoint does not support the "
                                                            "/common tenant. Use /organizations or a tenant ID.")
        target = None
        if tenant.lower() not in identity.MULTI_TENANT_SEGMENTS:
            target = state.find_tenant(tenant)
            if target is None:
                return _error_page(90002, "Tenant not found", f"Tenant '{tenant}' not found.")
        app, error = _validate_app(server, params)
        if error:
            return error
        if version == "v2" and not params.get("scope"):
            return _error_page(900144, "Missing scope",
                               "The request body must contain the following parameter: 'scope'.")
        candidates = [target] if target else list(state.tenants.values())
        admins = [(t, t.admin()) for t in candidates if t.admin()]
        if request.method == "POST":
            return _consent_answer(server, request, app, params, admins, version)
        return _consent_page(state, request, app, params, admins)


def _consent_page(state, request, app, params, admins, message=""):
    options = "".join(
        f"<option value='{html.escape(a['userPrincipalName'])}'>{html.escape(a['userPrincipalName'])} "
        f"({html.escape(t.display_name)})</option>" for t, a in admins)
    perms = "".join(f"<li data-permission='{html.escape(p)}'>{html.escape(PERMISSION_TEXT.get(p, p))} "
                    f"<small>({html.escape(p)})</small></li>" for p in app.permissions)
    body = (
        "<h1>Permissions requested</h1>"
        f"<p><strong id='app-name'>{html.escape(app.display_name)}</strong><br><small>unverified publisher"
        f"</small></p>"
        f"{'<p id=error class=error>' + html.escape(message) + '</p>' if message else ''}"
        f"<form method='post' action='{html.escape(request.path)}'>{web.hidden_inputs(params)}"
        "<label for='admin'>Sign in as administrator</label>"
        f"<select id='admin' name='admin'>{options}</select>"
        "<p>This app would like to:</p>"
        f"<ul id='permissions'>{perms}</ul>"
        "<p><small>Accepting grants these permissions for your entire organization.</small></p>"
        # The primary button comes first in the document so that Enter accepts; CSS shows it on the right.
        "<div class='buttons'>"
        "<button type='submit' id='accept' name='action' value='accept' class='primary'>Accept</button>"
        "<button type='submit' id='cancel' name='action' value='cancel'>Cancel</button>"
        "<button type='submit' id='decline' name='action' value='decline'>Decline</button>"
        "</div></form>")
    return web.page("Permissions requested", body)


def _consent_answer(server, request, app, params, admins, version):
    state = server.state
    action = request.form.get("action")
    redirect_uri, stash = params["redirect_uri"], params.get("state")
    chosen = request.form.get("admin", "").lower()
    match = [(t, a) for t, a in admins if a["userPrincipalName"].lower() == chosen]
    if action == "cancel":
        if version == "v1":
            return _redirect_to(redirect_uri, {"error": "permission_denied",
                                               "error_description": "The admin canceled the request",
                                               "state": stash})
        return _redirect_to(redirect_uri, {"error": "access_denied", "error_subcode": "cancel",
                                           "state": stash})
    if not match:
        return _consent_page(state, request, app, params, admins, "Pick an administrator account.")
    tenant, _ = match[0]
    if action == "decline":
        body = web.aad_error_body(request, "consent_required", 65004,
                                  "The resource owner or authorization server denied the request.",
                                  state.login_url)
        description = body["error_description"].replace(" Trace ID:", "\r\nTrace ID:").replace(
            " Correlation ID:", "\r\nCorrelation ID:").replace(" Timestamp:", "\r\nTimestamp:")
        if version == "v1":
            return _redirect_to(redirect_uri, {"error": "permission_denied",
                                               "error_description": "The admin canceled the request",
                                               "state": stash})
        return _redirect_to(redirect_uri, {"error": "consent_required", "error_description": description,
                                           "admin_consent": "True", "state": stash})
    if action != "accept":
        return _consent_page(state, request, app, params, admins, "Choose Accept, Decline or Cancel.")
    state.consents[(app.client_id, tenant.id)] = set(app.permissions)
    state.save_consents()
    if version == "v1":
        return _redirect_to(redirect_uri, {"admin_consent": "True", "tenant": tenant.id, "state": stash})
    granted = " ".join(f"{state.graph_url}/{p}" for p in app.permissions)
    return _redirect_to(redirect_uri, {"admin_consent": "True", "tenant": tenant.id, "scope": granted,
                                       "state": stash})


def admin_consent_v1(server, request, tenant):
    """The older /{tenant}/adminconsent endpoint (no scope; failure is error=permission_denied)."""
    return admin_consent(server, request, tenant, version="v1")


def authorize(server, request, tenant):
    """Employee sign-in: GET shows the account form; POST signs the chosen user in and redirects with a code."""
    state = server.state
    with state.lock:
        params = _params(request)
        target = None
        if tenant.lower() not in identity.MULTI_TENANT_SEGMENTS:
            target = state.find_tenant(tenant)
            if target is None:
                return _error_page(90002, "Tenant not found", f"Tenant '{tenant}' not found.")
        app, error = _validate_app(server, params)
        if error:
            return error
        if params.get("response_type", "code") != "code":
            return _redirect_to(params["redirect_uri"], {
                "error": "unsupported_response_type", "state": params.get("state"),
                "error_description": "AADSTS700054: response_type 'id_token' is not enabled for the application."})
        mode = params.get("response_mode", "query")
        if params.get("prompt") == "none" and request.method == "GET":
            # There is no browser session to reuse, so silent sign-in always needs interaction.
            return _redirect_to(params["redirect_uri"], {
                "error": "login_required", "state": params.get("state"),
                "error_description": "AADSTS50058: A silent sign-in request was sent but no user is signed in."},
                mode)
        if request.method == "POST":
            if request.form.get("action") == "cancel":
                return _redirect_to(params["redirect_uri"], {
                    "error": "access_denied", "error_subcode": "cancel", "state": params.get("state"),
                    "error_description": "AADSTS50058: The user canceled the sign-in."}, mode)
            # A quick-pick button submits its own login value after the (maybe empty) text field's.
            login = next((v.strip() for v in reversed(request.form.getlist("login")) if v.strip()), "")
            user_tenant, user = _find_account(state, login, target)
            if user is None:
                return _signin_page(state, request, app, params, target,
                                    "We couldn't find an account with that username.", login)
            if not app.multi_tenant and user_tenant.id != app.home_tenant_id:
                return _signin_page(state, request, app, params, target,
                                    f"AADSTS50020: User account '{login}' from identity provider does not exist "
                                    f"in tenant and cannot access the application '{app.client_id}'.", login)
            if not user.get("accountEnabled", True):
                return _signin_page(state, request, app, params, target,
                                    "AADSTS50057: The user account is disabled.", login)
            code = secrets.token_urlsafe(48)
            state.codes[code] = {
                "client_id": app.client_id, "redirect_uri": params["redirect_uri"],
                "scopes": params.get("scope", "openid profile").split(), "nonce": params.get("nonce"),
                "code_challenge": params.get("code_challenge"),
                "code_challenge_method": params.get("code_challenge_method", "plain"),
                "tenant_id": user_tenant.id, "user_id": user["id"], "used": False,
                "expires": time.time() + 600,
            }
            return _redirect_to(params["redirect_uri"], {"code": code, "state": params.get("state"),
                                                         "session_state": secrets.token_hex(16)}, mode)
        return _signin_page(state, request, app, params, target, "", params.get("login_hint", ""))


def _find_account(state, login, target):
    tenants = [target] if target else list(state.tenants.values())
    for tenant in tenants:
        index, user = tenant.find_user(login)
        if user is not None:
            return tenant, user
    return None, None


def _signin_page(state, request, app, params, target, message, login):
    tenants = [target] if target else list(state.tenants.values())
    quick = []
    for tenant in tenants:
        for index in range(min(4, tenant.users.count)):
            user = tenant.users.get(index)
            if user and user.get("accountEnabled", True):
                quick.append(f"<button type='submit' name='login' value='{html.escape(user['userPrincipalName'])}'"
                             f" class='account' data-upn='{html.escape(user['userPrincipalName'])}'>"
                             f"{html.escape(user['displayName'])}<br><small>"
                             f"{html.escape(user['userPrincipalName'])}</small></button>")
    body = (
        f"<h1>Sign in</h1><p>to continue to <strong id='app-name'>{html.escape(app.display_name)}</strong></p>"
        f"{'<p id=error class=error>' + html.escape(message) + '</p>' if message else ''}"
        f"<form method='post' action='{html.escape(request.path)}'>{web.hidden_inputs(params)}"
        "<label for='login'>Email, phone, or Skype</label>"
        f"<input type='email' id='login' name='login' value='{html.escape(login)}' autocomplete='username'>"
        "<div class='buttons'>"
        "<button type='submit' id='signin' name='action' value='signin' class='primary'>Sign in</button>"
        "<button type='submit' id='cancel' name='action' value='cancel' formnovalidate>Cancel</button>"
        "</div>"
        f"<p><small>Or pick an account:</small></p><div class='accounts'>{''.join(quick)}</div>"
        "</form>")
    return web.page("Sign in to your account", body)


def logout(server, request, tenant):
    """Sign-out: redirect to post_logout_redirect_uri when given, otherwise say so."""
    target = request.args.get("post_logout_redirect_uri")
    if target:
        return redirect(target, code=302)
    return web.page("Signed out", "<h1 id='signed-out'>You signed out of your account</h1>"
                                  "<p>It's a good idea to close all browser windows.</p>")

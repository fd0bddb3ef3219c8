"""Microsoft Graph v1.0: authentication, listing rules, organization, users.

Docs: learn.microsoft.com/graph/api/user-list, user-get, user-list-manager, organization-list, paging,
aad-advanced-queries, errors. Groups and contacts: groups.py; delta: delta.py; photos: photos.py; $batch: batch.py.
"""
import base64
import json
from urllib.parse import quote

import jwt
from werkzeug.wrappers import Response

from entra_emulator import directory, odata, web
from entra_emulator.odata import QueryError

DIRECTORY_READ = {"Directory.Read.All", "Directory.ReadWrite.All"}
USER_READ = {"User.Read.All", "User.ReadWrite.All"} | DIRECTORY_READ
GROUP_READ = {"GroupMember.Read.All", "GroupMember.ReadWrite.All", "Group.Read.All", "Group.ReadWrite.All"} \
    | DIRECTORY_READ
CONTACT_READ = {"OrgContact.Read.All"} | DIRECTORY_READ
ORG_READ = {"Organization.Read.All", "Organization.ReadWrite.All"} | DIRECTORY_READ
MAILBOX_READ = {"MailboxSettings.Read", "MailboxSettings.ReadWrite"}
PHOTO_READ = USER_READ | {"ProfilePhoto.Read.All"}
DEFAULT_PAGE, MAX_PAGE, EXPAND_PAGE, EXPAND_ITEMS = 100, 999, 100, 20
LINK_SAFE = "$,()/:@='"          # characters Graph leaves readable in nextLinks


class Context:
    """One authenticated Graph request: the token's tenant and effective permissions."""

    def __init__(self, server, request, tenant, permissions, claims):
        self.server, self.state, self.request = server, server.state, request
        self.tenant, self.permissions, self.claims = tenant, permissions, claims
        self.args = request.args
        self.eventual = request.headers.get("ConsistencyLevel", "").lower() == "eventual"
        self.count_requested = self.args.get("$count", "").lower() == "true"
        self.advanced = self.eventual and self.count_requested

    def require(self, allowed):
        if not (self.permissions & allowed):
            raise GraphFailure(403, "Authorization_RequestDenied", "Insufficient privileges to complete the "
                                                                   "operation.")

    def can(self, allowed):
        return bool(self.permissions & allowed)

    def link(self, path, params):
        """An absolute Graph URL with query options kept readable, as Graph writes nextLinks."""
        query = "&".join(f"{k}={quote(str(v), safe=LINK_SAFE)}" for k, v in params.items())
        return f"{self.state.graph_url}/v1.0/{path}" + (f"?{query}" if query else "")


class GraphFailure(Exception):
    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def handle(server, request, handler, **values):
    """Authenticate the bearer token, run the handler, turn failures into Graph error bodies."""
    try:
        ctx = authenticate(server, request)
        with server.state.lock:
            return handler(ctx, **values)
    except GraphFailure as exc:
        return web.graph_error(request, exc.status, exc.code, exc.message, exc.headers)
    except QueryError as exc:
        return web.graph_error(request, exc.status, exc.code, exc.message)


def authenticate(server, request) -> Context:
    """Check signature, audience, expiry and tenant of the bearer token; 401 InvalidAuthenticationToken else."""
    state = server.state
    header = request.headers.get("Authorization", "")
    if not header:
        raise GraphFailure(401, "InvalidAuthenticationToken", "Access token is empty.")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or raw.count(".") != 2:
        raise GraphFailure(401, "InvalidAuthenticationToken", "CompactToken parsing failed with error code: "
                                                              "80049217")
    try:
        claims = jwt.decode(raw, state.public_key, algorithms=["RS256"],
                            audience=[state.graph_url, state.graph_url + "/"],
                            options={"require": ["exp", "tid", "aud"]})
    except jwt.ExpiredSignatureError:
        raise GraphFailure(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
    except jwt.InvalidAudienceError:
        raise GraphFailure(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid "
                                                              "audience.")
    except jwt.PyJWTError:
        raise GraphFailure(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid "
                                                              "signature.")
    with state.lock:
        tenant = state.tenants.get(claims["tid"])
        if tenant is None:
            raise GraphFailure(401, "InvalidAuthenticationToken", "Access token validation failure.")
        if "roles" in claims or claims.get("idtyp") == "app":
            granted = state.granted(claims.get("appid"), tenant.id)
            home = state.apps.get(claims.get("appid"))
            if granted is None and not (home and home.home_tenant_id == tenant.id):
                # Consent revoked after issue: the service principal is gone, so the token no longer maps to an
                # app in this tenant.
                raise GraphFailure(401, "InvalidAuthenticationToken", "Access token validation failure. The "
                                                                      "application is not present in the tenant.")
            permissions = set(claims.get("roles", ())) & (granted or set())
        else:
            permissions = set(claims.get("scp", "").split())
    return Context(server, request, tenant, permissions, claims)


# ----- shared helpers -----

def render(obj, props):
    """The object restricted to props (missing properties are null; internal keys never leak)."""
    out = {}
    for name in props:
        if name == "mailboxSettings":
            out[name] = _mailbox_settings(obj) if obj.get("_purpose") else None
            continue
        out[name] = obj.get(name)
    return out


def _mailbox_settings(user):
    return {"archiveFolder": None, "timeZone": "Pacific Standard Time", "dateFormat": "M/d/yyyy",
            "timeFormat": "h:mm tt", "delegateMeetingMessageDeliveryOptions": "sendToDelegateOnly",
            "userPurpose": user["_purpose"],
            "language": {"locale": "en-US", "displayName": "English (United States)"},
            "workingHours": None, "automaticRepliesSetting": None}


def encode_token(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_token(text: str) -> dict:
    try:
        return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, TypeError):
        raise GraphFailure(400, "Request_BadRequest", "Invalid skip token.")


def page_number(query_args) -> int:
    """1 for a first page, n for the n-th page of a listing (read from the opaque skiptoken)."""
    token = query_args.get("$skiptoken")
    if not token:
        return 1
    try:
        return int(decode_token(token).get("p", 1))
    except (GraphFailure, AttributeError, ValueError):
        return 1


def page_size(ctx, maximum=MAX_PAGE, default=DEFAULT_PAGE):
    raw = ctx.args.get("$top")
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not 1 <= value <= maximum:
        raise GraphFailure(400, "Request_BadRequest", f"Invalid page size specified: '{raw}'. Must be between 1 "
                                                      f"and {maximum} inclusive.")
    return value


def select(ctx, known, default, single_only=(), unselectable=(), collection=True):
    raw = ctx.args.get("$select")
    if not raw:
        return list(default)
    names = odata.parse_select(raw, known)
    for name in names:
        if name in unselectable:
            raise GraphFailure(400, "Request_BadRequest", f"Property '{name}' cannot be selected.")
        if collection and name in single_only:
            raise GraphFailure(501, "NotImplemented", "This operation target is not yet supported.")
    return names


def context_url(ctx, entity_set, props, explicit):
    suffix = f"({','.join(props)})" if explicit else ""
    return f"{ctx.state.graph_url}/v1.0/$metadata#{entity_set}{suffix}"


def _filter(ctx, resource):
    raw = ctx.args.get("$filter")
    if not raw:
        return None
    node = odata.parse(raw)
    odata.check(node, resource, ctx.advanced)
    return node


def _search_terms(ctx):
    raw = ctx.args.get("$search")
    if raw is None:
        return None
    if not ctx.eventual:
        raise GraphFailure(400, "Request_UnsupportedQuery", "Request with $search query parameter only works "
                                                            "through MSGraph with a special request header: "
                                                            "'ConsistencyLevel: eventual'")
    terms = []
    for clause in raw.replace(" OR ", " AND ").split(" AND "):
        clause = clause.strip().strip('"')
        prop, sep, value = clause.partition(":")
        if not sep:
            raise GraphFailure(400, "Request_UnsupportedQuery", "Syntax error: $search must be \"property:value\"")
        terms.append((prop, value.lower(), " OR " in raw))
    return terms


def _search_match(obj, terms):
    results = []
    for prop, value, _ in terms:
        text = str(obj.get(prop) or "").lower()
        results.append(any(word.startswith(value) for word in text.replace(".", " ").replace("@", " ").split())
                       or text.startswith(value))
    return any(results) if terms and terms[0][2] else all(results)


def _orderby(ctx, default_allowed, has_filter):
    raw = ctx.args.get("$orderby")
    if not raw:
        return None
    prop, _, direction = raw.strip().partition(" ")
    if (prop not in default_allowed or has_filter) and not ctx.advanced:
        raise GraphFailure(400, "Request_UnsupportedQuery", "Sorting not supported for current query.")
    return prop, direction.strip().lower() == "desc"


def list_collection(ctx, collection, entity_set, resource, props, explicit, *, expand=None, sort_allowed=(),
                    render_one=None):
    """One page of a directory collection: $filter/$search/$orderby/$top/$count/$skiptoken, with nextLink."""
    if "$skip" in ctx.args:
        raise GraphFailure(400, "Request_BadRequest", "'$skip' is not supported by the service.")
    top = page_size(ctx)
    if expand:
        top = min(top, EXPAND_PAGE)      # Graph caps directory pages at 100 objects when $expand is used.
    node = _filter(ctx, resource)
    terms = _search_terms(ctx)
    order = _orderby(ctx, sort_allowed, node is not None)
    render_one = render_one or (lambda obj: render(obj, props))
    token = decode_token(ctx.args["$skiptoken"]) if ctx.args.get("$skiptoken") else {"i": 0, "p": 1}

    def matches(obj):
        return (node is None or odata.evaluate(node, obj)) and (terms is None or _search_match(obj, terms))

    body = {"@odata.context": context_url(ctx, entity_set, props, explicit)}
    if order or terms:
        ordered = [obj for _, obj in collection.iter_from() if matches(obj)]
        if order:
            ordered.sort(key=lambda o: (str(o.get(order[0]) or "").lower()), reverse=order[1])
        offset = token.get("o", 0)
        chunk = ordered[offset:offset + top]
        more = offset + top < len(ordered)
        total = len(ordered)
        next_token = {"o": offset + top, "p": token["p"] + 1}
    else:
        chunk, last, more = [], None, False
        for index, obj in collection.iter_from(token.get("i", 0)):
            if not matches(obj):
                continue
            if len(chunk) == top:
                more = True
                break
            chunk.append(obj)
            last = index
        next_token = {"i": (last + 1) if last is not None else 0, "p": token["p"] + 1}
        total = None
    if ctx.advanced and token["p"] == 1:
        if total is None:
            total = sum(1 for _, obj in collection.iter_from() if matches(obj)) if (node or terms) \
                else collection.live_count()
        body["@odata.count"] = total
    if more:
        params = {k: v for k, v in ctx.args.items() if k != "$skiptoken"}
        params["$skiptoken"] = encode_token(next_token)
        body["@odata.nextLink"] = ctx.link(entity_set, params)
    body["value"] = [render_one(obj) for obj in chunk]
    return web.json_response(ctx.request, body)


def not_found_error(key):
    return GraphFailure(404, "Request_ResourceNotFound", f"Resource '{key}' does not exist or one of its queried "
                                                         "reference-property objects are not present.")


# ----- organization -----

def organization_list(ctx):
    ctx.require(ORG_READ)
    props, explicit = _org_select(ctx)
    return web.json_response(ctx.request, {
        "@odata.context": context_url(ctx, "organization", props, explicit),
        "value": [_org(ctx, props)]})


def organization_get(ctx, org_id):
    ctx.require(ORG_READ)
    if org_id.lower() != ctx.tenant.id:
        raise not_found_error(org_id)
    props, explicit = _org_select(ctx)
    body = {"@odata.context": context_url(ctx, "organization", props, explicit) + "/$entity"}
    body.update(_org(ctx, props))
    return web.json_response(ctx.request, body)


def _org_select(ctx):
    org = ctx.tenant.organization()
    raw = ctx.args.get("$select")
    if not raw:
        return list(org), False
    return odata.parse_select(raw, list(org), extra_ok=lambda n: False), True


def _org(ctx, props):
    org = ctx.tenant.organization()
    return {p: org.get(p) for p in props}


# ----- users -----

def _user_select(ctx, collection=True):
    names = select(ctx, directory.USER_PROPERTIES, directory.USER_DEFAULT_PROPERTIES,
                    directory.USER_SINGLE_ONLY, collection=collection)
    if "mailboxSettings" in names and not ctx.can(MAILBOX_READ):
        raise GraphFailure(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
    return names, bool(ctx.args.get("$select"))


def _manager_expand(ctx):
    raw = ctx.args.get("$expand")
    if not raw:
        return None
    name, _, inner = raw.partition("(")
    if name.strip() != "manager":
        raise GraphFailure(400, "Request_BadRequest", f"Could not find a property named '{name.strip()}' on type "
                                                      "'microsoft.graph.user'.")
    if ctx.advanced:
        raise GraphFailure(400, "Request_UnsupportedQuery", "Expand is not supported with advanced queries.")
    select = list(directory.USER_DEFAULT_PROPERTIES)
    for option in inner.rstrip(")").split(";"):
        key, _, value = option.partition("=")
        if key.strip() == "$select" and value:
            select = odata.parse_select(value, directory.USER_PROPERTIES)
    return select


def _with_manager(ctx, props, manager_props):
    def render_one(user):
        out = render(user, props)
        if manager_props is not None and user.get("_manager"):
            _, manager = ctx.tenant.find_user(user["_manager"])
            if manager is not None:
                out["manager"] = {"@odata.type": "#microsoft.graph.user", **render(manager, manager_props)}
        return out
    return render_one


def users_list(ctx):
    ctx.require(USER_READ)
    props, explicit = _user_select(ctx)
    manager_props = _manager_expand(ctx)
    return list_collection(ctx, ctx.tenant.users, "users", "User", props, explicit,
                           expand=manager_props is not None, sort_allowed=("displayName", "userPrincipalName"),
                           render_one=_with_manager(ctx, props, manager_props))


def users_count(ctx):
    ctx.require(USER_READ)
    return count_response(ctx, ctx.tenant.users, "User")


def count_response(ctx, collection, resource):
    if not ctx.eventual:
        raise GraphFailure(400, "Request_BadRequest", "$count is not currently supported.")
    raw = ctx.args.get("$filter")
    node = odata.parse(raw) if raw else None
    if node is not None:
        odata.check(node, resource, True)
    total = sum(1 for _, o in collection.iter_from() if node is None or odata.evaluate(node, o))
    return Response(str(total), content_type="text/plain; charset=utf-8")


def find_user(ctx, key):
    _, user = ctx.tenant.find_user(key)
    if user is None:
        raise not_found_error(key)
    return user


def user_get(ctx, key):
    ctx.require(USER_READ)
    user = find_user(ctx, key)
    props, explicit = _user_select(ctx, collection=False)
    body = {"@odata.context": context_url(ctx, "users", props, explicit) + "/$entity"}
    body.update(_with_manager(ctx, props, _manager_expand(ctx))(user))
    return web.json_response(ctx.request, body)


def me(ctx):
    """GET /me with a delegated token: the signed-in user (User.Read)."""
    if ctx.claims.get("idtyp") != "user":
        raise GraphFailure(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
    if not ctx.can({"User.Read", "User.ReadBasic.All"} | USER_READ):
        raise GraphFailure(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
    user = find_user(ctx, ctx.claims["oid"])
    props, explicit = _user_select(ctx, collection=False)
    body = {"@odata.context": context_url(ctx, "users", props, explicit) + "/$entity"}
    body.update(render(user, props))
    return web.json_response(ctx.request, body)


def userinfo(server, request):
    """The OIDC userinfo endpoint advertised by discovery (delegated tokens only)."""
    try:
        ctx = authenticate(server, request)
        if ctx.claims.get("idtyp") != "user":
            raise GraphFailure(401, "InvalidAuthenticationToken", "Access token is not a user token.")
        with server.state.lock:
            user = find_user(ctx, ctx.claims["oid"])
    except GraphFailure as exc:
        return web.graph_error(request, exc.status, exc.code, exc.message)
    return web.json_response(request, {
        "sub": ctx.claims.get("sub"), "name": user["displayName"], "family_name": user.get("surname"),
        "given_name": user.get("givenName"), "email": user.get("mail"), "picture":
        f"{server.state.graph_url}/v1.0/me/photo/$value"})


def user_manager(ctx, key):
    ctx.require(USER_READ)
    user = find_user(ctx, key)
    manager_id = user.get("_manager")
    _, manager = ctx.tenant.find_user(manager_id) if manager_id else (None, None)
    if manager is None:
        raise not_found_error("manager")
    props, explicit = _user_select(ctx, collection=False)
    body = {"@odata.context": f"{ctx.state.graph_url}/v1.0/$metadata#directoryObjects/$entity",
            "@odata.type": "#microsoft.graph.user"}
    body.update(render(manager, props))
    return web.json_response(ctx.request, body)


def user_direct_reports(ctx, key):
    ctx.require(USER_READ)
    user = find_user(ctx, key)
    props, explicit = _user_select(ctx)
    reports = [u for _, u in ctx.tenant.users.iter_from() if u.get("_manager") == user["id"]]
    return web.json_response(ctx.request, {
        "@odata.context": f"{ctx.state.graph_url}/v1.0/$metadata#directoryObjects",
        "value": [{"@odata.type": "#microsoft.graph.user", **render(u, props)} for u in reports]})


def user_mailbox_settings(ctx, key):
    if not ctx.can(MAILBOX_READ):
        raise GraphFailure(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
    user = find_user(ctx, key)
    if not user.get("_purpose"):
        raise GraphFailure(404, "MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, "
                                                               "or is hosted on-premise.")
    body = {"@odata.context": f"{ctx.state.graph_url}/v1.0/$metadata#users('{user['id']}')/mailboxSettings"}
    body.update(_mailbox_settings(user))
    return web.json_response(ctx.request, body)


def not_found(server, request, rest=""):
    """Graph's answer for an unknown segment."""
    segment = rest.split("/")[0] if rest else ""
    return web.graph_error(request, 400, "BadRequest", f"Resource not found for the segment '{segment}'.")

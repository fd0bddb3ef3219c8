"""The control API (JSON under /_emulator/, no auth) and a small Python client for it.

Every call is listed in entra_emulator/README.md.
"""
import json

from werkzeug.wrappers import Response

from entra_emulator import directory

FAULT_KINDS = {"status", "truncate", "cut", "latency", "fail_from_page"}
INTERNAL = {"manager": "_manager", "mailboxPurpose": "_purpose"}


class ControlError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message


def reply(body, status=200):
    return Response(json.dumps(body, ensure_ascii=False), status=status, content_type="application/json")


def handle(server, request, handler, **values):
    """Run a control handler under the state lock; errors become {"error": message}."""
    try:
        body = json.loads(request.get_data() or b"{}") if request.mimetype == "application/json" else {}
    except ValueError:
        return reply({"error": "body is not JSON"}, 400)
    try:
        with server.state.lock:
            result = handler(server, request, body if isinstance(body, dict) else {"items": body}, **values)
    except ControlError as exc:
        return reply({"error": exc.message}, exc.status)
    if isinstance(result, Response):
        return result
    return reply(result if result is not None else {"ok": True})


def public(obj):
    """A stored object as JSON: Graph properties plus manager / mailboxPurpose / hasPhoto / members."""
    out = {k: v for k, v in obj.items() if not k.startswith("_")}
    if "_manager" in obj:
        out["manager"] = obj["_manager"]
        out["mailboxPurpose"] = obj.get("_purpose")
    if "_members" in obj:
        out["members"] = [{"id": m, "kind": k} for m, k in obj["_members"].items()]
    return out


def _tenant(server, key):
    tenant = server.state.find_tenant(key)
    if tenant is None:
        raise ControlError(404, f"unknown tenant {key!r}")
    return tenant


def _user_index(tenant, key):
    index, _ = tenant.find_user(key)
    if index is None:
        raise ControlError(404, f"unknown user {key!r}")
    return index


def _index(collection, object_id):
    index = collection.index_of(object_id)
    if index is None:
        raise ControlError(404, f"unknown {collection.kind} {object_id!r}")
    return index


def _internal(fields):
    return {INTERNAL.get(k, k): v for k, v in fields.items()}


# ----- whole emulator -----

def reset(server, request, body):
    server.state.reset()


def get_state(server, request, body):
    return server.state.describe()


def set_token_lifetime(server, request, body):
    seconds = int(body.get("seconds", 3599))
    if seconds < 1:
        raise ControlError(400, "seconds must be positive")
    server.state.token_lifetime = seconds
    return {"seconds": seconds}


def expire_delta_tokens(server, request, body):
    mode = body.get("mode", "syncStateNotFound")
    if mode not in ("syncStateNotFound", "410"):
        raise ControlError(400, "mode is syncStateNotFound or 410")
    tenants = [_tenant(server, body["tenant"])] if body.get("tenant") else server.state.tenants.values()
    for tenant in tenants:
        tenant.delta_epoch += 1
        tenant.delta_expiry_mode = mode
    return {"expired": [t.id for t in tenants], "mode": mode}


def throttle_set(server, request, body):
    try:
        limit = {"limit": int(body["limit"]), "window": float(body.get("window", 10)),
                 "retry_after": int(body.get("retry_after", 1))}
    except (KeyError, TypeError, ValueError):
        raise ControlError(400, "give limit (requests), window (seconds) and retry_after (seconds)")
    server.state.throttle, server.state.throttle_windows = limit, {}
    return limit


def throttle_clear(server, request, body):
    server.state.throttle, server.state.throttle_windows = None, {}


# ----- users -----

def user_add(server, request, body, tenant):
    t = _tenant(server, tenant)
    user = t.add_user(_internal(body))
    return reply(public(user), 201)


def user_get(server, request, body, tenant, key):
    t = _tenant(server, tenant)
    return public(t.users.get(_user_index(t, key)))


def user_update(server, request, body, tenant, key):
    t = _tenant(server, tenant)
    return public(t.update_user(_user_index(t, key), _internal(body)))


def user_delete(server, request, body, tenant, key):
    t = _tenant(server, tenant)
    soft = request.args.get("soft", "").lower() in ("1", "true", "yes")
    t.remove_user(_user_index(t, key), soft=soft)
    return {"deleted": key, "reason": "changed" if soft else "deleted"}


def user_restore(server, request, body, tenant, key):
    t = _tenant(server, tenant)
    index = t.users.ids.get(key)
    if index is None or t.users.removed.get(index) != "changed":
        raise ControlError(404, f"no soft-deleted user {key!r}")
    t.restore_user(index)
    return public(t.users.get(index))


def photo_set(server, request, body, tenant, key):
    t = _tenant(server, tenant)
    index = _user_index(t, key)
    if request.mimetype.startswith("image/"):
        data = request.get_data()
    else:
        data = directory.solid_photo(tuple(body.get("color", (200, 30, 30))), int(body.get("size", 64)))
    # Photos are not tracked by delta (a navigation property), so no property change is recorded.
    t.users.materialise(index)["_photo"] = data
    return {"bytes": len(data)}


def photo_delete(server, request, body, tenant, key):
    t = _tenant(server, tenant)
    t.users.materialise(_user_index(t, key))["_photo"] = None


# ----- groups and contacts -----

def group_add(server, request, body, tenant):
    t = _tenant(server, tenant)
    group = t.add_group(body)
    index = t.groups.index_of(group["id"])
    for member in body.get("members", ()):
        try:
            t.add_member(index, member)
        except KeyError:
            raise ControlError(404, f"unknown member {member!r}")
    return reply(public(t.groups.get(index)), 201)


def group_update(server, request, body, tenant, group_id):
    t = _tenant(server, tenant)
    return public(t.groups.update(_index(t.groups, group_id), body))


def group_delete(server, request, body, tenant, group_id):
    t = _tenant(server, tenant)
    soft = request.args.get("soft", "").lower() in ("1", "true", "yes")
    t.remove_group(_index(t.groups, group_id), soft=soft)


def member_add(server, request, body, tenant, group_id):
    t = _tenant(server, tenant)
    try:
        added = t.add_member(_index(t.groups, group_id), body.get("id", ""))
    except KeyError:
        raise ControlError(404, f"unknown member {body.get('id')!r}")
    return {"added": added}


def member_remove(server, request, body, tenant, group_id, member_id):
    t = _tenant(server, tenant)
    return {"removed": t.remove_member(_index(t.groups, group_id), member_id)}


def contact_add(server, request, body, tenant):
    t = _tenant(server, tenant)
    return reply(public(t.add_contact(body)), 201)


def contact_update(server, request, body, tenant, contact_id):
    t = _tenant(server, tenant)
    return public(t.contacts.update(_index(t.contacts, contact_id), body))


def contact_delete(server, request, body, tenant, contact_id):
    t = _tenant(server, tenant)
    t.remove_contact(_index(t.contacts, contact_id))


# ----- apps and consent -----

def _app(server, client_id):
    app = server.state.apps.get(client_id)
    if app is None:
        raise ControlError(404, f"unknown app {client_id!r}")
    return app


def consent_grant(server, request, body, tenant, client_id):
    t, app = _tenant(server, tenant), _app(server, client_id)
    permissions = set(body.get("permissions") or app.permissions)
    server.state.consents[(app.client_id, t.id)] = permissions
    server.state.save_consents()
    return {"permissions": sorted(permissions)}


def consent_revoke(server, request, body, tenant, client_id):
    t, app = _tenant(server, tenant), _app(server, client_id)
    revoked = server.state.consents.pop((app.client_id, t.id), None) is not None
    server.state.save_consents()
    return {"revoked": revoked}


def permission_grant(server, request, body, tenant, client_id, permission):
    t, app = _tenant(server, tenant), _app(server, client_id)
    granted = server.state.consents.get((app.client_id, t.id))
    if granted is None:
        raise ControlError(409, "the app has no consent in that tenant")
    granted.add(permission)
    server.state.save_consents()
    return {"permissions": sorted(granted)}


def permission_revoke(server, request, body, tenant, client_id, permission):
    t, app = _tenant(server, tenant), _app(server, client_id)
    granted = server.state.consents.get((app.client_id, t.id))
    if granted is None:
        raise ControlError(409, "the app has no consent in that tenant")
    granted.discard(permission)
    server.state.save_consents()
    return {"permissions": sorted(granted)}


def secret_expire(server, request, body, client_id):
    app = _app(server, client_id)
    app.secret_expired = bool(body.get("expired", True))
    return {"secret_expired": app.secret_expired}


def redirect_uris_set(server, request, body, client_id):
    app = _app(server, client_id)
    uris = body.get("redirect_uris")
    if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
        raise ControlError(400, "redirect_uris must be a list of strings")
    app.redirect_uris = list(uris)
    return {"redirect_uris": app.redirect_uris}


# ----- faults and the request log -----

def parse_fault_spec(spec: str) -> dict:
    """'429 path=/v1.0/users* count=2 retry_after=3' -> a fault dict (see README, "Faults")."""
    words = spec.split()
    if not words:
        raise ControlError(400, "empty fault spec")
    head, fault = words[0], {}
    if head.isdigit():
        fault.update(kind="status", status=int(head))
    else:
        fault["kind"] = head
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep:
            raise ControlError(400, f"bad fault option {word!r} (use key=value)")
        fault[key] = value
    return fault


def _clean_fault(fault: dict) -> dict:
    fault = {k: v for k, v in fault.items() if v is not None}
    if "spec" in fault:
        fault = {**parse_fault_spec(fault.pop("spec")), **fault}
    kind = str(fault.get("kind", ""))
    if kind.isdigit():
        fault["kind"], fault["status"] = "status", int(kind)
    if fault.get("kind") not in FAULT_KINDS:
        raise ControlError(400, f"fault kind must be a status code or one of {sorted(FAULT_KINDS)}")
    for key in ("count", "status", "page"):
        if key in fault:
            fault[key] = int(fault[key])
    for key in ("retry_after", "delay"):
        if key in fault:
            fault[key] = float(fault[key]) if "." in str(fault[key]) else int(fault[key])
    if fault["kind"] == "status" and "status" not in fault:
        raise ControlError(400, "a status fault needs a status")
    if fault["kind"] == "latency" and "delay" not in fault:
        raise ControlError(400, "a latency fault needs delay=seconds")
    return fault


def fault_add(server, request, body):
    items = body.get("items") if "items" in body else [body]
    added = [server.state.add_fault(_clean_fault(dict(item))) for item in items]
    return reply({"faults": added}, 201)


def faults_list(server, request, body):
    return {"faults": server.state.faults}


def faults_clear(server, request, body):
    server.state.faults.clear()


def requests_list(server, request, body):
    return {"requests": list(server.state.request_log)}


def requests_clear(server, request, body):
    server.state.request_log.clear()


ROUTES = [
    ("/_emulator/reset", ["POST"], reset),
    ("/_emulator/state", ["GET"], get_state),
    ("/_emulator/token-lifetime", ["PUT", "POST"], set_token_lifetime),
    ("/_emulator/delta/expire", ["POST"], expire_delta_tokens),
    ("/_emulator/throttle", ["PUT", "POST"], throttle_set),
    ("/_emulator/throttle", ["DELETE"], throttle_clear),
    ("/_emulator/tenants/<tenant>/users", ["POST"], user_add),
    ("/_emulator/tenants/<tenant>/users/<key>", ["GET"], user_get),
    ("/_emulator/tenants/<tenant>/users/<key>", ["PATCH"], user_update),
    ("/_emulator/tenants/<tenant>/users/<key>", ["DELETE"], user_delete),
    ("/_emulator/tenants/<tenant>/users/<key>/restore", ["POST"], user_restore),
    ("/_emulator/tenants/<tenant>/users/<key>/photo", ["PUT"], photo_set),
    ("/_emulator/tenants/<tenant>/users/<key>/photo", ["DELETE"], photo_delete),
    ("/_emulator/tenants/<tenant>/groups", ["POST"], group_add),
    ("/_emulator/tenants/<tenant>/groups/<group_id>", ["PATCH"], group_update),
    ("/_emulator/tenants/<tenant>/groups/<group_id>", ["DELETE"], group_delete),
    ("/_emulator/tenants/<tenant>/groups/<group_id>/members", ["POST"], member_add),
    ("/_emulator/tenants/<tenant>/groups/<group_id>/members/<member_id>", ["DELETE"], member_remove),
    ("/_emulator/tenants/<tenant>/contacts", ["POST"], contact_add),
    ("/_emulator/tenants/<tenant>/contacts/<contact_id>", ["PATCH"], contact_update),
    ("/_emulator/tenants/<tenant>/contacts/<contact_id>", ["DELETE"], contact_delete),
    ("/_emulator/tenants/<tenant>/consents/<client_id>", ["POST", "PUT"], consent_grant),
    ("/_emulator/tenants/<tenant>/consents/<client_id>", ["DELETE"], consent_revoke),
    ("/_emulator/tenants/<tenant>/consents/<client_id>/permissions/<permission>", ["PUT", "POST"],
     permission_grant),
    ("/_emulator/tenants/<tenant>/consents/<client_id>/permissions/<permission>", ["DELETE"], permission_revoke),
    ("/_emulator/apps/<client_id>/expire-secret", ["POST"], secret_expire),
    ("/_emulator/apps/<client_id>/redirect-uris", ["PUT"], redirect_uris_set),
    ("/_emulator/faults", ["POST"], fault_add),
    ("/_emulator/faults", ["GET"], faults_list),
    ("/_emulator/faults", ["DELETE"], faults_clear),
    ("/_emulator/requests", ["GET"], requests_list),
    ("/_emulator/requests", ["DELETE"], requests_clear),
]

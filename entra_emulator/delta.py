"""Graph delta query for users, groups (with members@delta) and org contacts.

Docs: learn.microsoft.com/graph/delta-query-overview, delta-query-users, delta-query-groups, api/user-delta.
"""
import time

from entra_emulator import directory, graph, odata, web

DELTA_PAGE = 200
DELTA_MEMBER_SLICE = 1000
SYNC_STATE_NOT_FOUND = ("The sync state generation is not found. The delta token is expired and data must be "
                        "synchronized again.")
DELTA_KINDS = {
    "users": ("users", graph.USER_READ, directory.USER_PROPERTIES + ("manager",), directory.USER_DEFAULT_PROPERTIES),
    "groups": ("groups", graph.GROUP_READ, directory.GROUP_PROPERTIES + ("members",),
               directory.GROUP_DEFAULT_PROPERTIES),
    "contacts": ("contacts", graph.CONTACT_READ, directory.CONTACT_PROPERTIES, directory.CONTACT_PROPERTIES),
}


def _delta_gone(ctx, kind):
    if ctx.tenant.delta_expiry_mode == "410":
        raise graph.GraphFailure(410, "resyncRequired", "The delta token is no longer valid, and the app must reset "
                                                  "the sync state.",
                           {"Location": f"{ctx.state.graph_url}/v1.0/{kind}/delta?$deltatoken="})
    raise graph.GraphFailure(400, "syncStateNotFound", SYNC_STATE_NOT_FOUND)


def delta(ctx, kind):
    """A page of a delta round: nextLink pages, then a deltaLink whose later use returns only changes."""
    attr, permission, known, default = DELTA_KINDS[kind]
    ctx.require(permission)
    tenant, state = ctx.tenant, ctx.state
    collection = getattr(tenant, attr)
    args = ctx.args
    if args.get("$skiptoken"):
        token = graph.decode_token(args["$skiptoken"])
        round_ = state.delta_rounds.get(token.get("r", ""))
        if round_ is None or round_["tenant"] != tenant.id or round_["epoch"] != tenant.delta_epoch:
            _delta_gone(ctx, kind)
        offset, page = token["o"], token["p"]
    else:
        for option in ("$top", "$orderby", "$expand") if kind == "users" else ("$top", "$orderby"):
            if option in args:
                raise graph.GraphFailure(400, "Request_UnsupportedQuery", f"Unsupported query option '{option}' for "
                                                                    "delta.")
        delta_token = args.get("$deltatoken")
        if delta_token is not None and delta_token != "latest" and delta_token != "":
            old = graph.decode_token(delta_token)
            if (old.get("g") != state.generation or old.get("e") != tenant.delta_epoch or old.get("k") != kind
                    or old.get("tid") != tenant.id
                    or time.time() - old.get("t", 0) > 7 * 86400):
                _delta_gone(ctx, kind)
            select, ids, since = old.get("sel"), old.get("ids"), old["s"]
        else:
            select = odata.parse_select(args["$select"], known) if args.get("$select") else None
            if select and kind == "users" and set(select) & directory.USER_SINGLE_ONLY:
                raise graph.GraphFailure(501, "NotImplemented", "This operation target is not yet supported.")
            ids = _delta_ids(args.get("$filter"))
            since = None
        if delta_token == "latest":
            entries = []
        else:
            entries = _delta_entries(tenant, kind, collection, select, ids, since)
        round_ = {"tenant": tenant.id, "epoch": tenant.delta_epoch, "kind": kind, "select": select, "ids": ids,
                  "entries": entries, "seq": tenant.seq, "initial": since is None}
        token = {"r": state.new_round(round_)}
        offset, page = 0, 1
    size = DELTA_PAGE
    prefer = ctx.request.headers.get("Prefer", "")
    for part in prefer.split(","):
        name, _, value = part.strip().partition("=")
        if name == "odata.maxpagesize" and value.isdigit():
            size = max(1, min(int(value), graph.MAX_PAGE))
    minimal = "return=minimal" in prefer
    entries = round_["entries"]
    chunk = entries[offset:offset + size]
    select = round_["select"]
    tracked = list(select or default)
    body = {"@odata.context": graph.context_url(ctx, kind, tracked, bool(select))}
    if offset + size < len(entries):
        body["@odata.nextLink"] = ctx.link(f"{kind}/delta", {"$skiptoken": graph.encode_token(
            {"r": token["r"], "o": offset + size, "p": page + 1})})
    else:
        body["@odata.deltaLink"] = ctx.link(f"{kind}/delta", {"$deltatoken": graph.encode_token({
            "k": kind, "s": round_["seq"], "sel": select, "ids": round_["ids"], "g": state.generation,
            "e": tenant.delta_epoch, "t": int(time.time()), "tid": tenant.id})})
    body["value"] = [_render_delta(ctx, kind, collection, entry, tracked, minimal) for entry in chunk]
    return web.json_response(ctx.request, body)


def _delta_ids(raw):
    if not raw:
        return None
    node = odata.parse(raw)
    ids = []

    def walk(n):
        if n[0] == "or":
            walk(n[1])
            walk(n[2])
        elif n[0] == "cmp" and n[1] == "eq" and n[2] == ("path", ["id"]) and n[3][0] == "lit":
            ids.append(str(n[3][1]).lower())
        else:
            raise graph.GraphFailure(400, "Request_UnsupportedQuery", "Delta query only supports filtering by id: "
                                                                "$filter=id eq '...' or id eq '...'.")
    walk(node)
    if len(ids) > 50:
        raise graph.GraphFailure(400, "Request_UnsupportedQuery", "At most 50 ids can be used in a delta filter.")
    return ids


def _delta_entries(tenant, kind, collection, select, ids, since):
    """(index, status, changed properties, member changes) for the round; status full|updated|removed."""
    tracked = set(select) if select else None
    members_tracked = kind == "groups" and (select is None or "members" in select)
    manager_tracked = kind == "users" and select is not None and "manager" in select
    wanted = set(ids) if ids is not None else None

    def keep(index):
        if wanted is None:
            return True
        obj = collection.items.get(index) or collection.get(index)
        return obj is not None and obj["id"].lower() in wanted

    entries = []
    if since is None:
        for index in range(collection.count):
            if index in collection.removed or not keep(index):
                continue
            if members_tracked:
                group = collection.get(index)
                members = [(k, m, False) for m, k in group["_members"].items()]
                entries.extend(_member_slices(index, "full", None, members))
            else:
                entries.append((index, "full", None, None))
        return entries
    member_changes = tenant.member_changes_since(since) if members_tracked else {}
    seen = set()
    for index, status, changed in collection.changes_since(since):
        if not keep(index):
            continue
        if status == "updated":
            names = {("manager" if n == "_manager" else n) for n in changed}
            if tracked is not None:
                names &= tracked | ({"manager"} if manager_tracked else set())
            elif kind == "users":
                names &= set(directory.USER_DEFAULT_PROPERTIES)
            names.discard("_members")
            if not names and not (kind == "groups" and collection.get(index)["id"] in member_changes):
                continue
            changed = names
        status = {"new": "full"}.get(status, status)
        seen.add(index)
        members = None
        if members_tracked and status != "removed":
            group = collection.get(index)
            if status == "full":
                members = [(k, m, False) for m, k in group["_members"].items()]
            else:
                members = member_changes.get(group["id"], [])
        if members:
            entries.extend(_member_slices(index, status, changed, members))
        else:
            entries.append((index, status, changed, None))
    for group_id, changes in member_changes.items():
        index = collection.index_of(group_id)
        if index is None or index in seen or not keep(index):
            continue
        entries.extend(_member_slices(index, "updated", set(), changes))
    return entries


def _member_slices(index, status, changed, members):
    if not members:
        return [(index, status, changed, [])]
    return [(index, status if start == 0 else "members", changed, members[start:start + DELTA_MEMBER_SLICE])
            for start in range(0, len(members), DELTA_MEMBER_SLICE)]


def _render_delta(ctx, kind, collection, entry, tracked, minimal):
    index, status, changed, members = entry
    reason = collection.removed.get(index)
    if status == "removed" or reason is not None:
        obj = collection.items[index]
        return {"id": obj["id"], "@removed": {"reason": reason or "deleted"}}
    obj = collection.get(index)
    props = [p for p in tracked if p not in ("manager", "members")]
    if status == "members":
        out = {"id": obj["id"]}
    elif status == "updated" and minimal:
        out = {"id": obj["id"], **graph.render(obj, [p for p in props if p in (changed or ())])}
    else:
        out = graph.render(obj, props)
        out["id"] = obj["id"]
    if kind == "users" and "manager" in tracked and (status == "full" or "manager" in (changed or ())):
        previous = collection.previous_manager.get(index) if status != "full" else None
        if obj.get("_manager"):
            out["manager@delta"] = [{"@odata.type": "#microsoft.graph.user", "id": obj["_manager"]}]
        elif previous:
            out["manager@delta"] = [{"@odata.type": "#microsoft.graph.user", "id": previous,
                                     "@removed": {"reason": "deleted"}}]
        else:
            out["manager@delta"] = []
    if members is not None:
        out["members@delta"] = [
            {"@odata.type": directory.ODATA_TYPES[k], "id": m, **({"@removed": {"reason": "deleted"}}
                                                                 if removed else {})}
            for k, m, removed in members]
    return out

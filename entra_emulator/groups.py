"""Graph groups, direct and transitive members, org contacts.

Docs: learn.microsoft.com/graph/api/group-list, group-get, group-list-members, group-list-transitivemembers,
orgcontact-list, orgcontact-get.
"""
from entra_emulator import directory, graph, odata, web

def _group_select(ctx, collection=True):
    names = graph.select(ctx, directory.GROUP_PROPERTIES, directory.GROUP_DEFAULT_PROPERTIES,
                    directory.GROUP_SINGLE_ONLY, directory.GROUP_UNSELECTABLE, collection=collection)
    return names, bool(ctx.args.get("$select"))


def _member_view(ctx, kind, obj, props=None):
    """A member object with @odata.type; only type and id when the app cannot read that kind."""
    out = {"@odata.type": directory.ODATA_TYPES[kind], "id": obj["id"]}
    readable = {"user": graph.USER_READ | graph.GROUP_READ, "group": graph.GROUP_READ, "contact": graph.CONTACT_READ}[kind]
    defaults = {"user": directory.USER_DEFAULT_PROPERTIES, "group": directory.GROUP_DEFAULT_PROPERTIES,
                "contact": directory.CONTACT_PROPERTIES}[kind]
    wanted = props or defaults
    if not ctx.can(readable):
        out.update({p: None for p in wanted if p != "id"})
        return out
    known = {"user": directory.USER_PROPERTIES, "group": directory.GROUP_PROPERTIES,
             "contact": directory.CONTACT_PROPERTIES}[kind]
    out.update(graph.render(obj, [p for p in wanted if p in known]))
    return out


def _members_expand(ctx):
    raw = ctx.args.get("$expand")
    if not raw:
        return False
    if raw.split("(")[0].strip() != "members":
        raise graph.GraphFailure(400, "Request_BadRequest", f"Could not find a property named '{raw}' on type "
                                                      "'microsoft.graph.group'.")
    return True


def _group_renderer(ctx, props, expand_members):
    def render_one(group):
        out = graph.render(group, props)
        if expand_members:
            members = list(group["_members"].items())[:graph.EXPAND_ITEMS]
            out["members"] = [_member_view(ctx, kind, ctx.tenant.find_object(mid)[1])
                              for mid, kind in members if ctx.tenant.find_object(mid)[1] is not None]
        return out
    return render_one


def groups_list(ctx):
    ctx.require(graph.GROUP_READ)
    props, explicit = _group_select(ctx)
    expand = _members_expand(ctx)
    return graph.list_collection(ctx, ctx.tenant.groups, "groups", "Group", props, explicit, expand=expand,
                           sort_allowed=("displayName",), render_one=_group_renderer(ctx, props, expand))


def groups_count(ctx):
    ctx.require(graph.GROUP_READ)
    return graph.count_response(ctx, ctx.tenant.groups, "Group")


def _group(ctx, group_id):
    index = ctx.tenant.groups.index_of(group_id)
    if index is None:
        raise graph.not_found_error(group_id)
    return index, ctx.tenant.groups.get(index)


def group_get(ctx, group_id):
    ctx.require(graph.GROUP_READ)
    _, group = _group(ctx, group_id)
    props, explicit = _group_select(ctx, collection=False)
    body = {"@odata.context": graph.context_url(ctx, "groups", props, explicit) + "/$entity"}
    body.update(_group_renderer(ctx, props, _members_expand(ctx))(group))
    return web.json_response(ctx.request, body)


def transitive_members(tenant, group):
    """All nested members of a group, each once, in discovery order; cycles end where they loop."""
    seen, out, stack = {group["id"]}, [], list(reversed(list(group["_members"].items())))
    while stack:
        member_id, kind = stack.pop()
        if member_id in seen:
            continue
        seen.add(member_id)
        _, obj = tenant.find_object(member_id)
        if obj is None:
            continue
        out.append((kind, obj))
        if kind == "group":
            stack.extend(reversed(list(obj["_members"].items())))
    return out


CASTS = {"microsoft.graph.user": "user", "microsoft.graph.group": "group", "microsoft.graph.orgContact": "contact"}


def group_members(ctx, group_id, cast=None, transitive=False):
    ctx.require(graph.GROUP_READ)
    _, group = _group(ctx, group_id)
    if cast is not None and cast not in CASTS:
        raise graph.GraphFailure(400, "Request_BadRequest", f"Resource not found for the segment '{cast}'.")
    if "$skip" in ctx.args:
        raise graph.GraphFailure(400, "Request_BadRequest", "'$skip' is not supported by the service.")
    top = graph.page_size(ctx)
    if transitive:
        members = transitive_members(ctx.tenant, group)
    else:
        members = [(kind, ctx.tenant.find_object(mid)[1]) for mid, kind in group["_members"].items()]
        members = [(k, o) for k, o in members if o is not None]
    if cast:
        members = [(k, o) for k, o in members if k == CASTS[cast]]
    props = None
    if ctx.args.get("$select"):
        props = odata.parse_select(ctx.args["$select"], set(directory.USER_PROPERTIES) |
                                   set(directory.GROUP_PROPERTIES) | set(directory.CONTACT_PROPERTIES))
    token = graph.decode_token(ctx.args["$skiptoken"]) if ctx.args.get("$skiptoken") else {"o": 0, "p": 1}
    offset = token.get("o", 0)
    chunk = members[offset:offset + top]
    segment = "transitiveMembers" if transitive else "members"
    body = {"@odata.context": f"{ctx.state.graph_url}/v1.0/$metadata#directoryObjects"}
    if ctx.advanced and token["p"] == 1:
        body["@odata.count"] = len(members)
    if offset + top < len(members):
        params = {k: v for k, v in ctx.args.items() if k != "$skiptoken"}
        params["$skiptoken"] = graph.encode_token({"o": offset + top, "p": token["p"] + 1})
        path = f"groups/{group['id']}/{segment}" + (f"/{cast}" if cast else "")
        body["@odata.nextLink"] = ctx.link(path, params)
    body["value"] = [_member_view(ctx, kind, obj, props) for kind, obj in chunk]
    return web.json_response(ctx.request, body)


def group_transitive_members(ctx, group_id, cast=None):
    return group_members(ctx, group_id, cast, transitive=True)


def _contact_select(ctx):
    names = graph.select(ctx, directory.CONTACT_PROPERTIES, directory.CONTACT_PROPERTIES)
    return names, bool(ctx.args.get("$select"))


def contacts_list(ctx):
    ctx.require(graph.CONTACT_READ)
    props, explicit = _contact_select(ctx)
    return graph.list_collection(ctx, ctx.tenant.contacts, "contacts", "OrgContact", props, explicit,
                           sort_allowed=("displayName",))


def contact_get(ctx, contact_id):
    ctx.require(graph.CONTACT_READ)
    contact = ctx.tenant.contacts.find(contact_id)
    if contact is None:
        raise graph.not_found_error(contact_id)
    props, explicit = _contact_select(ctx)
    body = {"@odata.context": graph.context_url(ctx, "contacts", props, explicit) + "/$entity"}
    body.update(graph.render(contact, props))
    return web.json_response(ctx.request, body)

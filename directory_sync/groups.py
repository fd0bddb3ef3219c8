"""Groups, their membership (direct from Graph, transitive computed here) and organisational contacts of a link.

Both come from delta rounds: the first round of a link (or after an expired delta link) lists everything, later
rounds only changes, so an unchanged directory costs one request per resource. Nested membership is computed
locally from the direct edges, cycle-safe, instead of one transitiveMembers call per group.
"""
import hashlib
import json

from django.db import transaction

from directory_sync import bulk, graph_reads
from directory_sync.models import INDEXED_TEXT_LENGTH, DirectoryGroup, GroupMembership, OrgContact

GROUP_SELECT = ("id", "displayName", "mail", "description", "mailEnabled", "securityEnabled", "groupTypes",
                "members")
CONTACT_SELECT = ("id", "displayName", "givenName", "surname", "mail", "mailNickname", "jobTitle", "department",
                  "companyName", "phones", "addresses", "proxyAddresses")
_TYPES = {"#microsoft.graph.user": "user", "#microsoft.graph.group": "group",
          "#microsoft.graph.orgContact": "contact"}
CHUNK = 999


def _hash(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def _pages(ctx, resource, select, full):
    """The delta pages of a round (a full one when `full` or the saved link expired) and whether it is full."""
    saved = getattr(ctx.settings, f"{resource[:-1]}_delta_link")
    if full or not saved:
        return graph_reads.iter_delta(ctx.link, resource, select=list(select), stats=ctx.stats), True
    pages = graph_reads.iter_delta(ctx.link, resource, select=list(select), delta_link=saved, stats=ctx.stats)
    return pages, False


def sync_groups(ctx, *, full: bool, writer=None) -> tuple[str, bool, set]:
    """Apply one groups delta round: (its delta link, whether it was a full round, graph ids of users whose
    transitive groups changed). Groups are written at once; membership rows go through `writer` (default: the
    run's), so they are in only once it is closed. DeltaTokenExpired propagates from the first page."""
    pages, is_full = _pages(ctx, "groups", GROUP_SELECT, full)
    known = dict(DirectoryGroup.objects.filter(link=ctx.link).values_list("graph_id", "content_hash"))
    seen, removed, adds, drops = set(), set(), {}, {}
    delta_link = ""
    for page in pages:
        rows = {}
        for item in page.items:
            gid = str(item.get("id") or "")
            if not gid:
                continue
            if "@removed" in item:
                removed.add(gid)
                seen.discard(gid)
                continue
            removed.discard(gid)
            seen.add(gid)
            for entry in item.get("members@delta") or ():
                member = str(entry.get("id") or "")
                kind = _TYPES.get(entry.get("@odata.type"), "other")
                target = drops if "@removed" in entry else adds
                other = adds if target is drops else drops
                target.setdefault(gid, {})[member] = kind
                other.get(gid, {}).pop(member, None)
            props = {key: value for key, value in item.items() if key != "members@delta" and not key.startswith("@")}
            if len(props) > 1:  # a members-only slice of a large group carries just its id
                rows[gid] = props
        _write_groups(ctx, rows, known)
        ctx.run.groups_seen = len(seen)
        delta_link = page.delta_link or delta_link
    if is_full:
        if seen or not known:
            removed |= {gid for gid in known if gid not in seen}
        else:
            ctx.error("The groups listing came back empty; no group was removed.")
    _mark_groups_removed(ctx, removed)
    changed = _write_memberships(ctx, adds, drops, is_full, removed, writer or ctx.writer)
    return delta_link, is_full, changed


def _write_groups(ctx, rows: dict, known: dict) -> None:
    objects = []
    for gid, props in rows.items():
        digest = _hash(props)
        if known.get(gid) == digest:
            continue
        known[gid] = digest
        objects.append(DirectoryGroup(
            organization_id=ctx.link.organization_id, link=ctx.link, graph_id=gid,
            display_name=str(props.get("displayName") or "")[:INDEXED_TEXT_LENGTH],
            mail=str(props.get("mail") or "")[:INDEXED_TEXT_LENGTH], description=str(props.get("description") or ""),
            raw=props, content_hash=digest, removed_at=None, created_at=ctx.now, updated_at=ctx.now))
    if objects:
        DirectoryGroup.objects.bulk_create(
            objects, update_conflicts=True, unique_fields=["link", "graph_id"],
            update_fields=["display_name", "mail", "description", "raw", "content_hash", "removed_at", "updated_at"])


def _mark_groups_removed(ctx, removed: set) -> None:
    if not removed:
        return
    gone = DirectoryGroup.objects.filter(link=ctx.link, graph_id__in=removed, removed_at=None)
    with transaction.atomic():
        GroupMembership.objects.filter(group__in=gone).delete()
        gone.update(removed_at=ctx.now, content_hash="", updated_at=ctx.now)


def _write_memberships(ctx, adds: dict, drops: dict, is_full: bool, removed: set, writer) -> set:
    """Bring the membership rows to the new direct edges and their transitive closure; return the user ids whose
    set of groups changed. Nothing is read or written when a delta round changed no membership."""
    if not is_full and not any(adds.values()) and not any(drops.values()) and not removed:
        return set()
    group_pks = dict(DirectoryGroup.objects.filter(link=ctx.link, removed_at=None).values_list("graph_id", "pk"))
    existing = {}  # (group pk, member) -> (kind, is_direct)
    for gpk, member, kind, direct in GroupMembership.objects.filter(link=ctx.link).values_list(
            "group_id", "member_graph_id", "member_type", "is_direct").iterator(chunk_size=10000):
        existing[(gpk, member)] = (kind, direct)
    direct: dict[int, dict] = {}
    if not is_full:
        for (gpk, member), (kind, is_direct) in existing.items():
            if is_direct:
                direct.setdefault(gpk, {})[member] = kind
    for gid, members in drops.items():
        if gid in group_pks:
            for member in members:
                direct.get(group_pks[gid], {}).pop(member, None)
    for gid, members in adds.items():
        if gid in group_pks:
            direct.setdefault(group_pks[gid], {}).update(members)
    wanted = _closure(direct, group_pks)
    inserts = [key for key in wanted if key not in existing]
    updates = [key for key in wanted if key in existing and existing[key] != wanted[key]]
    deletes = [key for key in existing if key not in wanted]
    changed_users = {member for key in inserts + updates + deletes for member in [key[1]]
                     if (wanted.get(key) or existing.get(key))[0] == "user"}
    # Written through a writer (bulk.PageWriter): the database works on these rows while the users are fetched,
    # mapped and written. Deletions go first, in the same queue, so the order holds.
    writer = writer or bulk.InlineWriter()
    by_group: dict[int, list] = {}
    for gpk, member in deletes:
        by_group.setdefault(gpk, []).append(member)
    for gpk, members in by_group.items():
        for start in range(0, len(members), CHUNK):
            writer.submit(_delete_members, gpk, members[start:start + CHUNK])
    org, link = ctx.link.organization_id, ctx.link.pk
    changes = inserts + updates
    ctx.written[GroupMembership] += len(changes) + len(deletes)
    for start in range(0, len(changes), 5 * CHUNK):
        writer.submit(bulk.upsert, GroupMembership,
                      ["organization_id", "link_id", "group_id", "member_graph_id", "member_type", "is_direct"],
                      [(org, link, gpk, member, *wanted[(gpk, member)]) for gpk, member in changes[start:start + 5 * CHUNK]],
                      conflict=["group", "member_graph_id"], update=["member_type", "is_direct"])
    return changed_users


def _delete_members(group_pk, members) -> None:
    GroupMembership.objects.filter(group_id=group_pk, member_graph_id__in=members).delete()


def _closure(direct: dict, group_pks: dict) -> dict:
    """{(group pk, member): (kind, is_direct)}: every direct edge, plus each user reachable through nested
    groups. A visited set makes cycles (A in B in A) terminate."""
    parents: dict[int, set] = {}
    for gpk, members in direct.items():
        for member, kind in members.items():
            if kind == "group" and member in group_pks:
                parents.setdefault(group_pks[member], set()).add(gpk)
    ancestors: dict[int, set] = {}

    def up(gpk):
        if gpk not in ancestors:
            found, stack = set(), [gpk]
            while stack:
                for parent in parents.get(stack.pop(), ()):
                    if parent not in found:
                        found.add(parent)
                        stack.append(parent)
            found.discard(gpk)
            ancestors[gpk] = found
        return ancestors[gpk]

    wanted = {}
    for gpk, members in direct.items():
        for member, kind in members.items():
            wanted[(gpk, member)] = (kind, True)
    for gpk, members in direct.items():
        above = up(gpk)
        if not above:
            continue
        for member, kind in members.items():
            if kind != "user":
                continue
            for parent in above:
                wanted.setdefault((parent, member), ("user", False))
    return wanted


def sync_contacts(ctx, *, full: bool) -> tuple[str, bool]:
    """Apply one org contacts delta round: (its delta link, whether it was a full round)."""
    pages, is_full = _pages(ctx, "contacts", CONTACT_SELECT, full)
    known = dict(OrgContact.objects.filter(link=ctx.link).values_list("graph_id", "content_hash"))
    seen, removed, delta_link = set(), set(), ""
    for page in pages:
        objects = []
        for item in page.items:
            cid = str(item.get("id") or "")
            if not cid:
                continue
            if "@removed" in item:
                removed.add(cid)
                seen.discard(cid)
                continue
            removed.discard(cid)
            seen.add(cid)
            props = {key: value for key, value in item.items() if not key.startswith("@")}
            digest = _hash(props)
            if known.get(cid) == digest:
                continue
            known[cid] = digest
            objects.append(OrgContact(
                organization_id=ctx.link.organization_id, link=ctx.link, graph_id=cid, fields=props,
                display_name=str(props.get("displayName") or "")[:INDEXED_TEXT_LENGTH],
                mail=str(props.get("mail") or "")[:INDEXED_TEXT_LENGTH], content_hash=digest, removed_at=None,
                created_at=ctx.now, updated_at=ctx.now))
        if objects:
            OrgContact.objects.bulk_create(
                objects, update_conflicts=True, unique_fields=["link", "graph_id"],
                update_fields=["fields", "display_name", "mail", "content_hash", "removed_at", "updated_at"])
        ctx.run.contacts_seen = len(seen)
        delta_link = page.delta_link or delta_link
    if is_full and seen:
        removed |= {cid for cid in known if cid not in seen}
    if removed:
        OrgContact.objects.filter(link=ctx.link, graph_id__in=removed, removed_at=None).update(
            removed_at=ctx.now, content_hash="", updated_at=ctx.now)
    return delta_link, is_full

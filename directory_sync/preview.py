"""What a configuration would do, before it is saved: the same rules as the sync over the last fetched directory.

The last fetched directory is the stored Graph values (`Employee.source`) of every active or excluded employee
of the link; removed people left Entra (or the filters) already and are not counted. Rows are streamed in
chunks as tuples, so memory stays flat and 100,000 people take a few seconds at most.
"""

import dataclasses
from collections import Counter
from dataclasses import dataclass, field

from django.db.models import Q

from directory_sync import rules
from directory_sync.models import Employee, GroupMembership

CHUNK = 2000
MATCH_LIMIT = 10

# Which preset a reason of rules.map_user belongs to (the heuristic mailbox reason counts for both mailbox
# presets: rooms and shared mailboxes cannot be told apart without mailboxSettings).
PRESET_REASONS = {
    "exclude_disabled": ("disabled account",),
    "exclude_guests": ("guest account",),
    "exclude_unlicensed": ("no licence assigned",),
    "exclude_rooms_equipment": ("room mailbox", "equipment mailbox", "shared, room or equipment mailbox"),
    "exclude_shared_mailboxes": ("shared mailbox", "shared, room or equipment mailbox"),
}


@dataclass
class Preview:
    """The outcome of a configuration over the stored directory: counts, exclusions by reason, matches."""

    total: int = 0
    included: int = 0
    excluded: int = 0
    added: int = 0  # excluded now, included with this configuration
    removed: int = 0  # active now, excluded with this configuration
    reasons: Counter = field(default_factory=Counter)
    matches: list = field(
        default_factory=list
    )  # [{"employee", "included", "email", "email_source", "lines"}]
    query: str = ""

    @property
    def top_reasons(self):
        return self.reasons.most_common(20)


def _rows(link):
    return (
        Employee.objects.filter(link=link)
        .exclude(status=Employee.Status.REMOVED)
        .order_by()
        .values_list("graph_id", "status", "source", "manager_graph_id")
    )


def _scoped_groups(link, config) -> dict:
    if not config.scope_group_ids:
        return {}
    groups: dict[str, set] = {}
    rows = GroupMembership.objects.filter(
        link=link, group__graph_id__in=list(config.scope_group_ids), group__removed_at=None
    ).values_list("member_graph_id", "group__graph_id")
    for member, group in rows.iterator(chunk_size=CHUNK):
        groups.setdefault(member, set()).add(group)
    return groups


def _managers(link, config) -> dict:
    """graph id -> the manager properties the configuration reads, for every stored employee of the link."""
    names = rules.manager_select(config)
    if not names:
        return {}
    found = {}
    for gid, source in (
        Employee.objects.filter(link=link)
        .order_by()
        .values_list("graph_id", "source")
        .iterator(chunk_size=CHUNK)
    ):
        found[gid] = {name: source.get(name) for name in names if name in source}
    return found


def preview_config(link, config: rules.SyncConfig, query: str = "") -> Preview:
    """Map every stored user of `link` with `config`: how many would be in, out (by reason), added and removed;
    for people whose name or email contains `query`, the rules' trace (rules.explain)."""
    result = Preview(query=query.strip())
    groups = _scoped_groups(link, config)
    managers = _managers(link, config)
    wanted = set()
    if result.query:
        needle = result.query
        wanted = set(
            Employee.objects.filter(link=link)
            .exclude(status=Employee.Status.REMOVED)
            .filter(Q(display_name__icontains=needle) | Q(email__icontains=needle))
            .order_by("display_name")
            .values_list("graph_id", flat=True)[:MATCH_LIMIT]
        )
    counting = _verdict_config(config)
    for gid, status, source, manager_id in _rows(link).iterator(chunk_size=CHUNK):
        manager = managers.get(manager_id) if manager_id else None
        if manager_id and manager is None and managers:
            manager = {"id": manager_id}
        scoped = frozenset(groups.get(gid, ()))
        mapped = rules.map_user(config if gid in wanted else counting, source, manager, scoped)
        result.total += 1
        if mapped.included:
            result.included += 1
            if status == Employee.Status.EXCLUDED:
                result.added += 1
        else:
            result.excluded += 1
            result.reasons.update(_reason_key(reason) for reason in mapped.reasons)
            if status == Employee.Status.ACTIVE:
                result.removed += 1
        if gid in wanted:
            result.matches.append(
                {
                    "graph_id": gid,
                    "name": mapped.fields.get("display_name") or source.get("displayName") or gid,
                    "included": mapped.included,
                    "email": mapped.email,
                    "email_source": mapped.email_source,
                    "lines": rules.explain(config, source, manager, scoped),
                    "fields": [
                        (spec.label, mapped.fields.get(spec.key, ""))
                        for spec in config.fields
                        if spec.source != "photo"
                    ],
                }
            )
    result.matches.sort(key=lambda match: str(match["name"]).lower())
    return result


def _verdict_config(config: rules.SyncConfig) -> rules.SyncConfig:
    """The configuration with only the mapped fields its rules read: the verdict and the email are the same,
    and mapping the other fields of 100,000 people would only cost time."""
    read = {rule.field for rule in config.rules}
    return dataclasses.replace(config, fields=tuple(spec for spec in config.fields if spec.key in read))


def _reason_key(reason: str) -> str:
    # The heuristic's reason is long (it explains the permission to grant); the count table shows its head.
    return reason.split(":", 1)[0] if reason.startswith("shared, room or equipment mailbox") else reason


def preset_counts(link, config: rules.SyncConfig) -> dict:
    """For each exclusion preset, how many stored users of the link it excludes on its own (whether or not it is
    switched on), from the same rules as the sync."""
    probe = rules.SyncConfig(
        fields=(),
        email_steps=config.email_steps,
        exclude_disabled=True,
        exclude_guests=True,
        exclude_unlicensed=True,
        exclude_rooms_equipment=True,
        exclude_shared_mailboxes=True,
    )
    counts = dict.fromkeys(PRESET_REASONS, 0)
    for (source,) in (
        Employee.objects.filter(link=link)
        .exclude(status=Employee.Status.REMOVED)
        .order_by()
        .values_list("source")
        .iterator(chunk_size=CHUNK)
    ):
        reasons = rules.map_user(probe, source).reasons
        for preset, heads in PRESET_REASONS.items():
            if any(reason.startswith(heads) for reason in reasons):
                counts[preset] += 1
    return counts

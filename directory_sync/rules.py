"""Sync rules: field mapping, email fallback and filters, as pure functions of (config, one Graph user).

No Django and no I/O: the engine, the preview and the settings views call the same functions, and the engine
adapts its models to these plain dataclasses. A user is never dropped silently: every excluded user carries
reasons in words, and `explain` gives the preview's "why is this person in or out" trace. Validating, storing
and fingerprinting a configuration live in `rules_config`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass

from directory_sync import fields as catalogue
from directory_sync import odata, odata_eval

__all__ = [
    "AttributeRule", "ConfigError", "EmailSteps", "MappedUser", "RuleError", "SyncConfig", "explain",
    "find_duplicate_emails", "graph_select", "manager_select", "map_user", "needs_mailbox_settings",
    "needs_manager", "resolve_email", "rule_matches",
]

OPERATORS = ("equals", "not_equals", "contains", "starts_with", "is_empty", "is_not_empty", "regex")
ACTIONS = ("include", "exclude")
EMAIL_SOURCES = ("mail", "proxyAddresses", "otherMails", "userPrincipalName")
_OPERATOR_WORDS = {
    "equals": "equals", "not_equals": "does not equal", "contains": "contains", "starts_with": "starts with",
    "is_empty": "is empty", "is_not_empty": "is not empty", "regex": "matches the pattern",
}
_HEURISTIC_MAILBOX = (
    "shared, room or equipment mailbox by heuristic: sign-in is disabled, no licence is assigned and it "
    "has a mailbox address (grant MailboxSettings.Read so the sync can tell these mailboxes apart)"
)


class ConfigError(ValueError):
    """A stored or submitted configuration that cannot be read; the message is written for the admin."""


class RuleError(ConfigError):
    """An attribute rule the admin cannot save."""


@dataclass(frozen=True)
class EmailSteps:
    """Which email fallback steps run, in the fixed order mail -> proxyAddresses -> otherMails -> UPN."""

    mail: bool = True
    proxy_addresses: bool = True
    other_mails: bool = True
    upn: bool = False  # off by default: a UPN is a sign-in name and often does not receive mail


@dataclass(frozen=True)
class AttributeRule:
    """Include or exclude users whose `field` satisfies `op` `value`. `field` is a mapped key (its source is
    read; a key wins over a Graph name it shadows) or any source path fields.parse_source accepts."""

    field: str
    op: str
    value: str = ""
    action: str = "exclude"
    case_sensitive: bool = False

    def describe(self) -> str:
        """The rule in words, e.g. "department equals 'Sales'"."""
        words = _OPERATOR_WORDS.get(self.op, self.op)
        if self.op in ("is_empty", "is_not_empty"):
            return f"{self.field} {words}"
        return f"{self.field} {words} '{self.value}'" + (" (case-sensitive)" if self.case_sensitive else "")


@dataclass(frozen=True)
class SyncConfig:
    """Everything that decides which users become employees and what their fields hold."""

    fields: tuple[catalogue.FieldSpec, ...] = catalogue.DEFAULT_FIELDS
    email_steps: EmailSteps = EmailSteps()
    odata_filter: str = ""
    rules: tuple[AttributeRule, ...] = ()
    scope_group_ids: frozenset[str] = frozenset()
    exclude_disabled: bool = True
    exclude_guests: bool = True
    exclude_unlicensed: bool = False
    exclude_rooms_equipment: bool = True
    exclude_shared_mailboxes: bool = True

    @functools.cached_property
    def field_readers(self) -> tuple:
        """(key, reader) per mapped field, in order, built once per configuration (the reader is None for the
        resolved email): map_user runs for every user of a sync."""
        parsed = [(spec.key, _parse(spec.source)) for spec in self.fields]
        return tuple((key, None if source.kind == "email" else catalogue.text_reader(source))
                     for key, source in parsed)

    @classmethod
    def default(cls) -> SyncConfig:
        """The configuration a newly linked Entra tenant starts with."""
        return cls()


@dataclass(frozen=True)
class MappedUser:
    """One Graph user after mapping and filtering: `reasons` says why an excluded user is out, `warnings`
    what an admin may want to check (no email, a UPN or onmicrosoft.com email)."""

    graph_id: str
    fields: dict[str, str]
    email: str
    email_source: str
    included: bool
    reasons: tuple[str, ...]
    warnings: tuple[str, ...] = ()

    @property
    def content_hash(self) -> str:
        """A hash of the mapped result (fields, email, verdict); computed on demand: the sync keys its rows on
        a hash of the inputs instead, so it is not paid for every user."""
        return _content_hash(self.fields, self.email, self.email_source, self.included, self.reasons)


# ---------------------------------------------------------------- sources, $select


@functools.lru_cache(maxsize=1024)
def _parse(source: str) -> catalogue.Source:
    return catalogue.parse_source(source)


def _rule_source(config: SyncConfig, rule_field: str) -> str:
    """A rule names a mapped key (its source is used) or a Graph source path."""
    for spec in config.fields:
        if spec.key == rule_field:
            return spec.source
    return rule_field


def _email_select(steps: EmailSteps) -> set[str]:
    wanted = zip((steps.mail, steps.proxy_addresses, steps.other_mails, steps.upn), EMAIL_SOURCES)
    return {name for on, name in wanted if on}


def graph_select(config: SyncConfig) -> list[str]:
    """The sorted top-level user properties to $select: `id`, the mapping, the email fallback, the presets,
    the rules, and the OData filter's properties (delta rounds cannot filter server-side, so the engine
    re-applies the filter locally). Never `mailboxSettings` or `manager`: see needs_mailbox_settings and
    needs_manager."""
    select = {"id"} | _email_select(config.email_steps)
    sources = [spec.source for spec in config.fields]
    sources += [_rule_source(config, rule.field) for rule in config.rules]
    for source in sources:
        parsed = _parse(source)
        if parsed.select:
            select.add(parsed.select)
    if config.exclude_disabled:
        select.add("accountEnabled")
    if config.exclude_guests:
        select.add("userType")
    if config.exclude_unlicensed:
        select.add("assignedLicenses")
    if config.exclude_rooms_equipment or config.exclude_shared_mailboxes:
        select |= {"accountEnabled", "assignedLicenses", "mail"}  # the heuristic's inputs
    select |= odata.validate_filter(config.odata_filter).select
    return sorted(select)


def manager_select(config: SyncConfig) -> list[str]:
    """The sorted manager properties the mapping, rules and filter read ([] when no manager is needed)."""
    names = set()
    sources = [spec.source for spec in config.fields] + [_rule_source(config, r.field) for r in config.rules]
    for source in sources:
        parsed = _parse(source)
        if parsed.kind == "manager":
            names.add(parsed.name)
    if odata.validate_filter(config.odata_filter).uses_manager:
        names.add("id")
    return sorted(names | {"id"}) if names else []


def needs_manager(config: SyncConfig) -> bool:
    """True when the engine must fetch each user's manager (a relationship, not a $select property)."""
    return bool(manager_select(config))


def needs_mailbox_settings(config: SyncConfig) -> bool:
    """True when reading `mailboxSettings.userPurpose` per user would sharpen the mailbox presets. It
    cannot be selected on /users (graph-facts 4.2) and needs MailboxSettings.Read; else a heuristic runs."""
    return config.exclude_rooms_equipment or config.exclude_shared_mailboxes


# ---------------------------------------------------------------- email


def _email_trace(config: SyncConfig, user: dict) -> tuple[str, str, list[str]]:
    """Run the enabled fallback steps; return (email, source, notes on the steps that found nothing)."""
    steps, notes = config.email_steps, []
    if steps.mail:
        email = _clean(user.get("mail"))
        if email:
            return email, "mail", notes
        notes.append("mail is empty")
    if steps.proxy_addresses:
        # Only the upper-case "SMTP:" prefix marks the primary address; "smtp:" entries are aliases, and other
        # prefixes (SIP:, X500:, ...) are not email addresses at all.
        for entry in _strings(user.get("proxyAddresses")):
            email = _clean(entry[5:]) if entry.startswith("SMTP:") else ""
            if email:
                return email, "proxyAddresses", notes
        notes.append("proxyAddresses has no primary SMTP: address")
    if steps.other_mails:
        for entry in _strings(user.get("otherMails")):
            email = _clean(entry)
            if email:
                return email, "otherMails", notes
        notes.append("otherMails is empty")
    if steps.upn:
        email = _clean(user.get("userPrincipalName"))
        if "#EXT#" in email.upper():
            notes.append("userPrincipalName is a guest's #EXT# sign-in name, never an email address")
        elif email:
            return email, "userPrincipalName", notes
        else:
            notes.append("userPrincipalName is empty")
    return "", "", notes


def _clean(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def _strings(value) -> list[str]:
    return [entry for entry in value if isinstance(entry, str)] if isinstance(value, list) else []


def resolve_email(config: SyncConfig, user: dict) -> tuple[str, str]:
    """Return (email, source) from the first enabled step that has one: mail, the primary SMTP: proxy address,
    the first otherMails entry, then the UPN (never a guest's #EXT# UPN); ("", "") when none has one."""
    email, source, _ = _email_trace(config, user)
    return email, source


def find_duplicate_emails(mapped_users) -> dict[str, list[str]]:
    """Map each lower-cased email that two or more Graph ids resolve to onto those ids, in the order seen.
    The engine keeps and flags such people rather than aborting the run."""
    seen: dict[str, list[str]] = {}
    for mapped in mapped_users:
        if mapped.email:
            ids = seen.setdefault(mapped.email.lower(), [])
            if mapped.graph_id not in ids:
                ids.append(mapped.graph_id)
    return {email: ids for email, ids in seen.items() if len(ids) > 1}


# ---------------------------------------------------------------- filters


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str, case_sensitive: bool) -> re.Pattern:
    return re.compile(pattern, 0 if case_sensitive else re.IGNORECASE)


def _rule_values(config: SyncConfig, rule: AttributeRule, user: dict, manager, email: str) -> list[str]:
    parsed = _parse(_rule_source(config, rule.field))
    if parsed.kind == "email":
        return [email] if email else []
    return catalogue.read_values(parsed, user, manager)


def rule_matches(rule: AttributeRule, values: list[str]) -> bool:
    """True when the rule's condition holds; on a list (e.g. proxyAddresses) it holds if any entry satisfies
    it, and not_equals holds when no entry equals the value."""
    if rule.op == "is_empty":
        return not any(value.strip() for value in values)
    if rule.op == "is_not_empty":
        return any(value.strip() for value in values)
    if rule.op == "regex":
        pattern = _compiled(rule.value, rule.case_sensitive)
        return any(pattern.search(value) for value in values)
    fold = (lambda text: text) if rule.case_sensitive else str.casefold
    target = fold(rule.value)
    test = {
        "equals": lambda text: text == target, "not_equals": lambda text: text == target,
        "contains": lambda text: target in text, "starts_with": lambda text: text.startswith(target),
    }[rule.op]
    hit = any(test(fold(value)) for value in values)
    return not hit if rule.op == "not_equals" else hit


def _mailbox_checks(config: SyncConfig, user: dict) -> tuple[list[str], list[str]]:
    """Return (reasons, passes) of the room/equipment and shared mailbox presets."""
    if not (config.exclude_rooms_equipment or config.exclude_shared_mailboxes):
        return [], []
    settings = user.get("mailboxSettings")
    purpose = settings.get("userPurpose") if isinstance(settings, dict) else None
    if isinstance(purpose, str) and purpose:
        # mailboxSettings.userPurpose: user, linked, shared, room, equipment, others (graph-facts 4.7)
        if config.exclude_rooms_equipment and purpose in ("room", "equipment"):
            return [f"{purpose} mailbox"], []
        if config.exclude_shared_mailboxes and purpose == "shared":
            return ["shared mailbox"], []
        return [], [f"mailbox purpose is '{purpose}'"]
    # Without userPurpose, a disabled, unlicensed account that still has a mailbox address is what Exchange
    # creates for shared, room and equipment mailboxes (graph-facts 4.7). The three cannot be told apart this
    # way, so either preset applies it, and the reason says it is a guess.
    licenses = user.get("assignedLicenses")
    unlicensed = isinstance(licenses, list) and not licenses
    if user.get("accountEnabled") is False and unlicensed and _clean(user.get("mail")):
        return [_HEURISTIC_MAILBOX], []
    return [], ["does not look like a shared, room or equipment mailbox"]


def _evaluate(config, user, manager, group_ids, email) -> tuple[list[str], list[str]]:
    """Run every filter; return (reasons for exclusion, lines saying which checks passed)."""
    reasons, passes = [], []
    if config.odata_filter:
        if odata_eval.matches(config.odata_filter, user, manager):
            passes.append(f"matches the directory filter ({config.odata_filter})")
        else:
            reasons.append(f"outside the directory filter ({config.odata_filter})")
    if config.exclude_disabled:
        if user.get("accountEnabled") is False:
            reasons.append("disabled account")
        else:
            passes.append("account is not disabled")
    if config.exclude_guests:
        if isinstance(user.get("userType"), str) and user["userType"].lower() == "guest":
            reasons.append("guest account")
        else:
            passes.append("not a guest account")
    if config.exclude_unlicensed:
        licenses = user.get("assignedLicenses")
        if isinstance(licenses, list) and not licenses:
            reasons.append("no licence assigned")
        else:
            passes.append("has a licence (or licences unknown)")
    mailbox_reasons, mailbox_passes = _mailbox_checks(config, user)
    reasons += mailbox_reasons
    passes += mailbox_passes
    if config.scope_group_ids:
        if config.scope_group_ids & frozenset(group_ids):
            passes.append("member of a scoped group")
        else:
            reasons.append("not a member of the scoped groups")
    includes = [rule for rule in config.rules if rule.action == "include"]
    matched_include = None
    for rule in config.rules:
        if rule_matches(rule, _rule_values(config, rule, user, manager, email)):
            if rule.action == "exclude":
                reasons.append(f"excluded by rule: {rule.describe()}")
            elif matched_include is None:
                matched_include = rule
    if includes and matched_include is None:
        reasons.append("matches no include rule (" + "; ".join(rule.describe() for rule in includes) + ")")
    elif matched_include is not None:
        passes.append(f"included by rule: {matched_include.describe()}")
    return reasons, passes


# ---------------------------------------------------------------- mapping


def _content_hash(values: dict, email: str, email_source: str, included: bool, reasons) -> str:
    payload = {"fields": values, "email": email, "email_source": email_source, "included": included,
               "reasons": list(reasons)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _warnings(email: str, source: str) -> tuple[str, ...]:
    if not email:
        return ("no email address found",)
    notes = []
    if source == "userPrincipalName":
        notes.append("email taken from userPrincipalName, which may not receive mail")
    if email.lower().endswith(".onmicrosoft.com"):
        notes.append("email is an onmicrosoft.com address")
    return tuple(notes)


def map_user(config: SyncConfig, user: dict, manager: dict | None = None,
             group_ids: frozenset[str] = frozenset()) -> MappedUser:
    """Map one Graph user: every configured key present ("" when missing), values exactly as Graph sent them,
    the resolved email and its source, and the filter verdict with reasons for every exclusion."""
    email, email_source, _ = _email_trace(config, user)
    values = {key: email if read is None else read(user, manager) for key, read in config.field_readers}
    reasons, _ = _evaluate(config, user, manager, group_ids, email)
    included = not reasons
    return MappedUser(
        graph_id=str(user.get("id") or ""),
        fields=values,
        email=email,
        email_source=email_source,
        included=included,
        reasons=tuple(reasons),
        warnings=_warnings(email, email_source),
    )


def explain(config: SyncConfig, user: dict, manager: dict | None = None,
            group_ids: frozenset[str] = frozenset()) -> list[str]:
    """The preview's trace for one user: where the email came from, each check, and the verdict, in words."""
    email, source, notes = _email_trace(config, user)
    lines = [f"Email {email} from {source}" + (f" ({'; '.join(notes)})" if notes else "") if email
             else "No email address: " + ("; ".join(notes) or "every email step is switched off")]
    reasons, passes = _evaluate(config, user, manager, group_ids, email)
    lines += [f"Passed: {line}" for line in passes]
    lines += [f"Excluded: {reason}" for reason in reasons]
    lines.append("Included" if not reasons else "Not included")
    return lines


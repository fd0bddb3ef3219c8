"""Which template an employee gets: the first matching rule in the admin's order, else the default template."""
from dataclasses import dataclass

from directory_sync.models import DirectoryGroup, GroupMembership
from signatures.models import SignatureRule, SignatureTemplate, ensure_default_templates
from tenants.models import EntraLink


@dataclass(frozen=True)
class Assignment:
    """The chosen template (new mail), the reply template (the same unless a rule says otherwise), the rule
    that chose them (None for the default) and why, in words ("Rule 2: department is Sales")."""

    template: SignatureTemplate
    reply_template: SignatureTemplate
    rule: SignatureRule | None
    reason: str


def describe_rule(rule: SignatureRule, groups: dict | None = None, links: dict | None = None) -> str:
    """A rule's condition in words: "department is Sales", "member of Engineering (or a nested group)"."""
    if rule.kind == SignatureRule.Kind.GROUP:
        name = (groups or {}).get(rule.value) if groups is not None else _group_name(rule)
        return f"member of {name or 'a group no longer in the directory'} (or a nested group)"
    if rule.kind == SignatureRule.Kind.LINK:
        name = (links or {}).get(rule.value) if links is not None else _link_name(rule)
        return f"from the Entra tenant {name or '(unlinked)'}"
    return f"{rule.kind} is {rule.value}"


def _group_name(rule):
    group = DirectoryGroup.objects.for_org(rule.organization_id).filter(graph_id=rule.value).first()
    return group.display_name if group else None


def _link_name(rule):
    link = EntraLink.objects.for_org(rule.organization_id).filter(uid=rule.value).first()
    return link.name if link else None


def rule_names(organization) -> tuple[dict, dict]:
    """Names for describing many rules at once: ({group graph id: name}, {link uid: name})."""
    groups = dict(DirectoryGroup.objects.for_org(organization).filter(removed_at=None)
                  .values_list("graph_id", "display_name"))
    links = {str(uid): name for uid, name in EntraLink.objects.for_org(organization).values_list("uid", "name")}
    return groups, links


def employee_group_ids(employee) -> set[str]:
    """Graph ids of every group the employee belongs to, directly or through nested groups (in its link)."""
    return set(
        GroupMembership.objects.for_org(employee.organization_id)
        .filter(link_id=employee.link_id, member_graph_id=employee.graph_id, group__removed_at=None)
        .values_list("group__graph_id", flat=True)
    )


def rule_matches(rule: SignatureRule, employee, group_ids: set[str]) -> bool:
    """True when the employee meets the rule's condition. Text comparisons ignore case and outer spaces."""
    if rule.kind == SignatureRule.Kind.GROUP:
        return rule.value in group_ids
    if rule.kind == SignatureRule.Kind.LINK:
        return str(employee.link.uid) == rule.value
    fields = employee.fields or {}
    actual = fields.get(rule.kind) or (employee.department if rule.kind == "department" else "")
    return str(actual or "").strip().casefold() == rule.value.strip().casefold()


def resolve(employee) -> Assignment:
    """The employee's templates and the reason, checking rules in order (group rules read memberships once)."""
    organization = employee.organization
    rules = list(SignatureRule.objects.for_org(organization).select_related("template", "reply_template"))
    group_ids = None
    for position, rule in enumerate(rules, start=1):
        if rule.kind == SignatureRule.Kind.GROUP and group_ids is None:
            group_ids = employee_group_ids(employee)
        if rule_matches(rule, employee, group_ids or set()):
            reason = f"Rule {position}: {describe_rule(rule)}"
            return Assignment(rule.template, rule.reply_template or rule.template, rule, reason)
    default = default_template(organization)
    return Assignment(default, default, None, "Default template")


def default_template(organization) -> SignatureTemplate:
    """The organisation's default template; the shipped ones are created first if it has none, and the oldest
    template is promoted when none is marked default."""
    templates = SignatureTemplate.objects.for_org(organization)
    template = templates.filter(is_default=True).first()
    if template is None:
        ensure_default_templates(organization)
        template = templates.filter(is_default=True).first() or templates.order_by("created_at", "pk").first()
    return template

"""Check connectivity: can Signet read, from a linked tenant, everything a sync needs? Reported per permission.

A check is a list of steps run in order; each reads one thing through directory_sync.graph and may leave facts
(a user id, a group id) for the steps after it. To add a check (e.g. how many users the filters would match),
append a Step to STEPS or pass your own list to `check_connectivity`.
"""
from dataclasses import dataclass, field
from typing import Callable

from django.utils import timezone
from django.utils.formats import date_format

from directory_sync import graph, graph_errors, graph_reads, rules
from tenants import secrets as crypto
from tenants.models import EntraLink

OK, FAILING, NOT_CHECKED = "ok", "failing", "not_checked"

# Application permissions a sync uses (graph-facts 1.6): (name, what it is for, required).
PERMISSIONS = (
    ("Organization.Read.All", "read the tenant's name and domains", True),
    ("User.Read.All", "read users, their managers and photos", True),
    ("GroupMember.Read.All", "read groups and their members (Group.Read.All also works)", True),
    ("OrgContact.Read.All", "read organisational contacts", True),
    ("MailboxSettings.Read", "recognise shared, room and equipment mailboxes (optional)", False),
)
# Entra answers meaning the app is no longer consented in the tenant (graph-facts 1.4).
CONSENT_CODES = {7000229, 700016, 65001, 90094}
SECRET_EXPIRED_CODE = 7000222
PASSING_TROUBLE = ("Nothing to change on your side: Microsoft was busy or unreachable just now. Run the check "
                   "again in a few minutes; syncs retry by themselves.")


@dataclass
class StepResult:
    key: str
    label: str
    permission: str
    status: str
    detail: str = ""
    fix: str = ""
    problem: str = ""  # "secret_expired" or "consent" (the link's status changes), "passing" (nothing to fix)


@dataclass
class Step:
    """One read: `run(link, facts)` returns a sentence saying what it found (and may add to `facts`), raises a
    GraphError, or raises Skip when an earlier step left nothing to read."""

    key: str
    label: str
    permission: str
    run: Callable[[EntraLink, dict], str]


class Skip(Exception):
    """The step cannot run (nothing to read); the message says why."""


@dataclass
class CheckReport:
    steps: list[StepResult] = field(default_factory=list)

    def as_dict(self, checked_at) -> dict:
        permissions = [_permission_row(name, purpose, required, self.steps)
                       for name, purpose, required in PERMISSIONS]
        ok = all(step.status != FAILING for step in self.steps if _is_required(step.permission))
        summary = "Everything Signet needs can be read." if ok else self._problem(permissions)
        return {
            "ok": ok,
            "checked_at": checked_at.isoformat(),
            "summary": summary,
            "steps": [step.__dict__ for step in self.steps],
            "permissions": permissions,
        }


    def _problem(self, permissions):
        failing = [step for step in self.steps if step.status == FAILING and _is_required(step.permission)]
        passing = [step for step in failing if step.problem == "passing"]
        if passing:
            # Throttled or unreachable steps say nothing about permissions: no "missing permissions" summary.
            return f"{passing[0].detail} {PASSING_TROUBLE}"
        missing = [row["name"] for row in permissions if row["status"] == FAILING and row["required"]]
        if len(missing) > 1:
            return (f"The app is missing {len(missing)} permissions: {', '.join(missing)}. Grant them in the app "
                    "registration's API permissions (type Application) and grant admin consent again.")
        return failing[0].fix or failing[0].detail


def _is_required(permission):
    return any(name == permission and required for name, _, required in PERMISSIONS) or not permission


def _permission_row(name, purpose, required, steps):
    mine = [step for step in steps if step.permission == name]
    failing = [step for step in mine if step.status == FAILING]
    status = FAILING if failing else OK if any(step.status == OK for step in mine) else NOT_CHECKED
    return {"name": name, "purpose": purpose, "required": required, "status": status,
            "fix": failing[0].fix if failing else ""}


def _graph_url(link, path):
    return f"{link.cloud.graph_url}/v1.0{path}"


def _read_token(link, facts):
    graph.acquire_token(link)
    return "Signed in to the tenant with the app."


def _read_organization(link, facts):
    org = graph_reads.get_organization(link)
    domain = graph_reads.initial_domain(org)
    return f"{org.get('displayName') or org.get('id')}" + (f" ({domain})" if domain else "")


def _read_user(link, facts):
    select = ",".join(rules.graph_select(rules.SyncConfig.default()))
    users = graph.get_json(link, _graph_url(link, f"/users?$top=1&$select={select}")).get("value") or []
    if not users:
        raise Skip("The directory has no users.")
    facts["user_id"] = users[0]["id"]
    return f"Read a user with the default fields ({users[0].get('displayName') or users[0]['id']})."


def _read_photo(link, facts):
    if "user_id" not in facts:
        raise Skip("No user to read a photo of.")
    photo = graph_reads.get_photo(link, facts["user_id"], size="48x48")
    return "Read the user's photo." if photo else "Photos can be read (this user has none)."


def _read_mailbox_settings(link, facts):
    if "user_id" not in facts:
        raise Skip("No user to read mailbox settings of.")
    try:
        graph.get_json(link, _graph_url(link, f"/users/{facts['user_id']}/mailboxSettings"))
    except graph.GraphNotFound:
        return "Mailbox settings can be read (this user has no mailbox)."
    return "Read the user's mailbox settings."


def _read_group(link, facts):
    groups = graph.get_json(link, _graph_url(link, "/groups?$top=1&$select=id,displayName")).get("value") or []
    if not groups:
        raise Skip("The directory has no groups.")
    facts["group_id"] = groups[0]["id"]
    return f"Read a group ({groups[0].get('displayName') or groups[0]['id']})."


def _read_members(link, facts):
    if "group_id" not in facts:
        raise Skip("No group to read the members of.")
    url = _graph_url(link, f"/groups/{facts['group_id']}/members?$top=1&$select=id")
    graph.get_json(link, url)
    return "Read the group's members."


def _read_contact(link, facts):
    contacts = graph.get_json(link, _graph_url(link, "/contacts?$top=1&$select=id,displayName")).get("value") or []
    if not contacts:
        return "Contacts can be read (the directory has none)."
    return f"Read an organisational contact ({contacts[0].get('displayName') or contacts[0]['id']})."


STEPS = [
    Step("token", "Get a token", "", _read_token),
    Step("organization", "Read the organisation", "Organization.Read.All", _read_organization),
    Step("user", "Read one user", "User.Read.All", _read_user),
    Step("photo", "Read one photo", "User.Read.All", _read_photo),
    Step("mailbox_settings", "Read mailbox settings", "MailboxSettings.Read", _read_mailbox_settings),
    Step("group", "Read one group", "GroupMember.Read.All", _read_group),
    Step("members", "Read a group's members", "GroupMember.Read.All", _read_members),
    Step("contact", "Read one organisational contact", "OrgContact.Read.All", _read_contact),
]


def token_fix(link: EntraLink, error: graph.GraphAuthError) -> str:
    """What the admin should do when no token could be had, in the words of this link's kind of credential."""
    if error.aadsts == SECRET_EXPIRED_CODE and link.credential_expires_on:
        when = date_format(link.credential_expires_on, "j F Y")
        return (f"The client secret expired on {when}: create a new one in Certificates & secrets of the app "
                "registration and paste it here (Edit).")
    if error.aadsts in CONSENT_CODES and not link.uses_own_app:
        return ("Signet's app is no longer consented in this tenant: grant admin consent again (Link again "
                "on this page, signed in as a Global Administrator of the tenant).")
    return error.admin_message


def run_steps(link: EntraLink, steps=None) -> CheckReport:
    """Run the steps in order and report each; after a failed token nothing else is tried."""
    report, facts = CheckReport(), {}
    token_failed = False
    for step in steps if steps is not None else STEPS:
        result = StepResult(step.key, step.label, step.permission, NOT_CHECKED)
        report.steps.append(result)
        if token_failed:
            result.detail = "Not checked: no token."
            continue
        try:
            result.detail = step.run(link, facts)
            result.status = OK
        except Skip as skipped:
            result.detail = str(skipped)
        except crypto.SecretUnreadable:
            result.status, result.detail = FAILING, "The saved credential cannot be decrypted."
            result.fix = ("The saved secret or private key can no longer be decrypted (the encryption keys "
                          "changed): paste the client secret or upload the certificate again (Edit).")
            token_failed = True
        except graph.GraphAuthError as error:  # (before GraphError: it is a subclass)
            result.status, result.detail, result.fix = FAILING, error.admin_message, token_fix(link, error)
            if error.aadsts == SECRET_EXPIRED_CODE:
                result.problem = "secret_expired"
            elif error.aadsts in CONSENT_CODES:
                result.problem = "consent"
            token_failed = True
        except graph.GraphError as error:
            result.status, result.detail, result.fix = FAILING, error.admin_message, error.admin_message
            if graph_errors.is_passing(error):
                result.fix, result.problem = PASSING_TROUBLE, "passing"
            if isinstance(error, graph.GraphUnauthorized):
                # A token was issued but Graph refuses it: the app's access was revoked; nothing else will work.
                result.problem = "consent"
                token_failed = True
    return report


def check_connectivity(link: EntraLink, steps=None) -> dict:
    """Check the link now, store the result in `last_check`/`last_check_at` (and the link's status when consent
    was revoked or the secret expired), and return it."""
    report = run_steps(link, steps)
    now = timezone.now()
    result = report.as_dict(now)
    link.last_check, link.last_check_at = result, now
    fields = ["last_check", "last_check_at", "updated_at"]
    if link.is_active:
        status = _status_after(report)
        if status and status != link.status:
            link.status = status
            fields.append("status")
    link.save(update_fields=fields)
    return result


def _status_after(report: CheckReport) -> str:
    problems = {step.problem for step in report.steps}
    if "secret_expired" in problems:
        return EntraLink.Status.CREDENTIALS_EXPIRED
    if "consent" in problems:
        return EntraLink.Status.NEEDS_CONSENT
    if any(step.key == "token" and step.status == OK for step in report.steps):
        return EntraLink.Status.LINKED
    return ""

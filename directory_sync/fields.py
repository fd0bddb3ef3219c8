"""The employee field catalogue: which Graph user values can become employee fields, and how to read them.

Pure Python (no Django): the engine, the settings views and the preview all share these rules. Sources are
checked when the admin saves a mapping, so a typo never surfaces for the first time in a night-time sync.
"""

from __future__ import annotations

import difflib
import keyword
import re
from dataclasses import dataclass

__all__ = [
    "DEFAULT_FIELDS",
    "EMAIL_SOURCE",
    "PHOTO_SOURCE",
    "FieldError",
    "FieldSpec",
    "Source",
    "USER_PROPERTIES",
    "parse_source",
    "read_values",
    "text_of",
    "validate_field_specs",
    "validate_source",
]


class FieldError(ValueError):
    """A field mapping the admin cannot save; the message is written for the admin."""


@dataclass(frozen=True)
class FieldSpec:
    """One employee field: `key` is the template placeholder, `label` the column, `source` a Graph path."""

    key: str
    label: str
    source: str


EMAIL_SOURCE = "email"  # the resolved email (mail, proxyAddresses, otherMails, UPN): rules.resolve_email
PHOTO_SOURCE = "photo"  # the user's photo: the engine downloads it, the mapping outputs nothing for it

# Structural properties of microsoft.graph.user (v1.0 CSDL, /work/shared/reference/graph-user-properties.txt,
# msgraph-metadata commit f54f11b6). Embedded so that validation needs no file at run time.
USER_PROPERTIES = frozenset(
    """
    id deletedDateTime aboutMe accountEnabled ageGroup assignedLicenses assignedPlans authorizationInfo
    birthday businessPhones city companyName consentProvidedForMinor country createdDateTime creationType
    customSecurityAttributes department deviceEnrollmentLimit displayName employeeHireDate employeeId
    employeeLeaveDateTime employeeOrgData employeeType externalUserState externalUserStateChangeDateTime
    faxNumber givenName hireDate identities identityParentId imAddresses interests isManagementRestricted
    isResourceAccount jobTitle lastPasswordChangeDateTime legalAgeGroupClassification licenseAssignmentStates
    mail mailboxSettings mailNickname mobilePhone mySite officeLocation onPremisesDistinguishedName
    onPremisesDomainName onPremisesExtensionAttributes onPremisesImmutableId onPremisesLastSyncDateTime
    onPremisesProvisioningErrors onPremisesSamAccountName onPremisesSecurityIdentifier onPremisesSyncEnabled
    onPremisesUserPrincipalName otherMails passwordPolicies passwordProfile pastProjects postalCode
    preferredDataLocation preferredLanguage preferredName print provisionedPlans proxyAddresses
    responsibilities schools securityIdentifier serviceProvisioningErrors showInAddressList signInActivity
    signInSessionsValidFromDateTime skills state streetAddress surname usageLocation userPrincipalName
    userType
    """.split()
)

# Graph returns these only on GET of a single user; selecting them on /users answers 501 Not Implemented
# (graph-facts 4.2, user resource page). A sync reads users in lists, so they cannot be mapped.
SINGLE_USER_ONLY = frozenset(
    "aboutMe birthday hireDate interests mySite pastProjects preferredName responsibilities schools skills "
    "mailboxSettings".split()
)

# Structured values (complex types or collections of them, per the CSDL). They have no single text form, so
# the admin maps one of their parts instead (see _PART_HINTS) or uses a filter preset.
COMPLEX_PROPERTIES = frozenset(
    "assignedLicenses assignedPlans authorizationInfo customSecurityAttributes employeeOrgData identities "
    "licenseAssignmentStates onPremisesExtensionAttributes onPremisesProvisioningErrors passwordProfile "
    "print provisionedPlans serviceProvisioningErrors signInActivity".split()
)

# Collections of strings: mapping the whole property joins the entries; `name[N]` picks one entry.
STRING_COLLECTIONS = frozenset({"businessPhones", "imAddresses", "otherMails", "proxyAddresses"})

EMPLOYEE_ORG_DATA_PARTS = frozenset({"costCenter", "division"})

# Manager properties worth printing in a signature. The manager may be a user or an orgContact
# (user-list-manager page); properties an orgContact lacks simply read as "".
MANAGER_PROPERTIES = frozenset(
    "id displayName givenName surname mail jobTitle department companyName mobilePhone officeLocation "
    "userPrincipalName".split()
)

_PART_HINTS = {
    "onPremisesExtensionAttributes": "onPremisesExtensionAttributes.extensionAttribute1 (1 to 15)",
    "employeeOrgData": "employeeOrgData.costCenter or employeeOrgData.division",
    "assignedLicenses": "the 'exclude unlicensed accounts' filter",
}

DEFAULT_FIELDS = (
    FieldSpec("first_name", "First name", "givenName"),
    FieldSpec("last_name", "Last name", "surname"),
    FieldSpec("display_name", "Display name", "displayName"),
    FieldSpec("email", "Email", EMAIL_SOURCE),
    FieldSpec("phone", "Phone", "businessPhones[0]"),
    FieldSpec("job_title", "Job title", "jobTitle"),
    FieldSpec("department", "Department", "department"),
    FieldSpec("mobile", "Mobile", "mobilePhone"),
    FieldSpec("fax", "Fax", "faxNumber"),
    FieldSpec("company", "Company", "companyName"),
    FieldSpec("street", "Street", "streetAddress"),
    FieldSpec("city", "City", "city"),
    FieldSpec("state", "State", "state"),
    FieldSpec("postal_code", "Postal code", "postalCode"),
    FieldSpec("country", "Country", "country"),
    FieldSpec("photo", "Photo", PHOTO_SOURCE),
)

# Directory extensions are named extension_<owning app id without hyphens>_<name> (graph-facts 4.5).
_EXTENSION_RE = re.compile(r"extension_[0-9a-fA-F]{32}_[A-Za-z0-9_]{1,120}")
_INDEX_RE = re.compile(r"([A-Za-z]+)\[(\d{1,2})\]")
_EXTENSION_ATTRIBUTE_RE = re.compile(r"extensionAttribute(\d{1,2})")
# Keys become template placeholders ({{ first_name }}), so they must be plain lower-case identifiers.
_KEY_RE = re.compile(r"[a-z][a-z0-9_]{0,49}")
_TEMPLATE_WORDS = frozenset({"true", "false", "none", "and", "or", "not", "in", "is", "if", "else", "loop"})
MAX_LABEL_LENGTH = 100


@dataclass(frozen=True)
class Source:
    """A parsed source path: `select` is the top-level Graph property to $select ("" when none is needed)."""

    kind: str  # "property", "index", "part", "manager", "email" or "photo"
    select: str
    name: str  # the property read (inside the manager or the complex value for "manager" and "part")
    index: int = 0


def _suggestion(name: str) -> str:
    """Return ' Did you mean ...?' for the closest valid source, or '' when nothing is close."""
    candidates = sorted(
        (USER_PROPERTIES - SINGLE_USER_ONLY - COMPLEX_PROPERTIES)
        | {EMAIL_SOURCE, PHOTO_SOURCE, "businessPhones[0]", "employeeOrgData.costCenter",
           "employeeOrgData.division", "onPremisesExtensionAttributes.extensionAttribute1"}
        | {f"manager.{p}" for p in MANAGER_PROPERTIES}
    )
    for candidate in candidates:
        if candidate.lower() == name.lower():
            return f" Did you mean '{candidate}'? Graph property names are case-sensitive."
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def parse_source(source: str) -> Source:
    """Parse a source path, raising FieldError (with a suggestion) for anything a sync could not read."""
    if not isinstance(source, str) or not source.strip():
        raise FieldError("Choose a Graph property for this field.")
    if source != source.strip():
        raise FieldError(f"Remove the spaces around '{source.strip()}'.")
    if source in (EMAIL_SOURCE, PHOTO_SOURCE):
        return Source(kind=source, select="", name=source)
    if source.startswith("extension_"):
        if not _EXTENSION_RE.fullmatch(source):
            raise FieldError(
                f"'{source}' is not a directory extension name: it must read extension_<application id "
                "without hyphens, 32 hexadecimal characters>_<attribute name>, for example "
                "extension_0123456789abcdef0123456789abcdef_costCentre."
            )
        return Source(kind="property", select=source, name=source)
    indexed = _INDEX_RE.fullmatch(source)
    if indexed:
        name, index = indexed.group(1), int(indexed.group(2))
        if name not in STRING_COLLECTIONS:
            raise FieldError(
                f"'{name}' is not a list of text values, so '[{index}]' cannot pick an entry from it. "
                "Lists are: "
                + ", ".join(sorted(STRING_COLLECTIONS)) + "."
            )
        return Source(kind="index", select=name, name=name, index=index)
    if "." in source:
        return _parse_dotted(source)
    if source in SINGLE_USER_ONLY:
        raise FieldError(
            f"Microsoft Graph returns '{source}' only when reading one user, never in the user list a sync "
            "reads, so it cannot be mapped."
        )
    if source in COMPLEX_PROPERTIES:
        hint = _PART_HINTS.get(source)
        raise FieldError(
            f"'{source}' is a structured value, not text." + (f" Use {hint} instead." if hint else "")
        )
    if source not in USER_PROPERTIES:
        raise FieldError(f"'{source}' is not a Microsoft Graph user property." + _suggestion(source))
    return Source(kind="property", select=source, name=source)


def _parse_dotted(source: str) -> Source:
    """Parse `parent.part` sources: extension attributes, employeeOrgData parts and manager properties."""
    parent, _, part = source.partition(".")
    if parent == "onPremisesExtensionAttributes":
        match = _EXTENSION_ATTRIBUTE_RE.fullmatch(part)
        if not match or not 1 <= int(match.group(1)) <= 15:
            raise FieldError(
                f"'{source}' does not exist: onPremisesExtensionAttributes has extensionAttribute1 to "
                "extensionAttribute15."
            )
        return Source(kind="part", select=parent, name=part)
    if parent == "employeeOrgData":
        if part not in EMPLOYEE_ORG_DATA_PARTS:
            raise FieldError(
                f"'{source}' does not exist: use employeeOrgData.costCenter or employeeOrgData.division."
            )
        return Source(kind="part", select=parent, name=part)
    if parent == "manager":
        if part not in MANAGER_PROPERTIES:
            raise FieldError(
                f"'{source}' cannot be mapped: the manager's properties are "
                + ", ".join(f"manager.{p}" for p in sorted(MANAGER_PROPERTIES)) + "."
            )
        return Source(kind="manager", select="", name=part)
    raise FieldError(f"'{source}' is not a Microsoft Graph user property." + _suggestion(source))


def validate_source(source: str) -> None:
    """Raise FieldError with an admin-readable message unless `source` is a path a sync can read."""
    parse_source(source)


def validate_field_specs(specs) -> None:
    """Raise FieldError unless keys are unique template-safe slugs, labels are set and sources are valid."""
    specs = tuple(specs)
    if not specs:
        raise FieldError("Map at least one field.")
    seen: set[str] = set()
    for spec in specs:
        if not isinstance(spec, FieldSpec):
            raise FieldError(f"Not a field: {spec!r}.")
        if not isinstance(spec.key, str) or not _KEY_RE.fullmatch(spec.key):
            raise FieldError(
                f"'{spec.key}' cannot be a field key: use lower-case letters, digits and underscores, "
                "starting with a letter (at most 50 characters), for example 'cost_centre'."
            )
        if keyword.iskeyword(spec.key) or spec.key in _TEMPLATE_WORDS:
            raise FieldError(f"'{spec.key}' is a reserved word in templates; choose another key.")
        if spec.key in seen:
            raise FieldError(f"The key '{spec.key}' is used by two fields; each key must be unique.")
        seen.add(spec.key)
        if not isinstance(spec.label, str) or not spec.label.strip():
            raise FieldError(f"Give the field '{spec.key}' a column name.")
        if len(spec.label) > MAX_LABEL_LENGTH:
            raise FieldError(f"The column name of '{spec.key}' is longer than {MAX_LABEL_LENGTH} characters.")
        try:
            parse_source(spec.source)
        except FieldError as error:
            raise FieldError(f"Field '{spec.label}': {error}") from None


def text_of(value) -> str:
    """Return Graph's value as text exactly as Graph sent it: "" for null or structured values, JSON spelling
    for booleans and numbers, entries joined with ", " for lists (empty entries dropped)."""
    if value is None or isinstance(value, dict):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return ", ".join(text for text in (_scalar_text(item) for item in value) if text)
    return ""


def _scalar_text(value) -> str:
    """Text of one list entry: nested lists and objects have no text form."""
    return "" if isinstance(value, (list, dict)) else text_of(value)


def read_values(source: Source, user: dict, manager: dict | None = None) -> list[str]:
    """Return the source's value(s) in `user` as strings (one per entry for whole lists, [] if absent).
    The email and photo sources are not read here (see rules.resolve_email; photos belong to the engine)."""
    if source.kind == "manager":
        value = (manager or {}).get(source.name)
    elif source.kind == "part":
        parent = user.get(source.select)
        value = parent.get(source.name) if isinstance(parent, dict) else None
    elif source.kind == "index":
        entries = user.get(source.name)
        value = entries[source.index] if isinstance(entries, list) and source.index < len(entries) else None
        value = _scalar_text(value)
    elif source.kind == "property":
        value = user.get(source.name)
    else:
        return []
    if isinstance(value, list):
        return [text for text in (_scalar_text(item) for item in value) if text]
    text = text_of(value)
    return [text] if text else []


def text_reader(source: Source):
    """A function (user, manager) -> the source's text, always equal to ", ".join(read_values(source, ...)) but
    built once per source: a sync reads every mapped field of every user (1.5 million reads for 100,000 people
    and the 15 default fields), and the generic path's lists and branches were most of the mapping's time."""
    name = source.name
    if source.kind == "property":
        def read(user, manager):
            value = user.get(name)
            return value if value.__class__ is str else text_of(value)
    elif source.kind == "part":
        select = source.select

        def read(user, manager):
            parent = user.get(select)
            return text_of(parent.get(name)) if isinstance(parent, dict) else ""
    elif source.kind == "index":
        index = source.index

        def read(user, manager):
            entries = user.get(name)
            return _scalar_text(entries[index]) if isinstance(entries, list) and index < len(entries) else ""
    elif source.kind == "manager":
        def read(user, manager):
            return text_of(manager.get(name)) if manager else ""
    else:  # email and photo are not read from the user (see read_values)
        def read(user, manager):
            return ""
    return read

"""Input checking of the sync settings pages. The field and rule tables post their rows as parallel lists
(`key`, `label`, `source`, ...), so one form holds the whole table and row buttons (up, down, remove) can be
plain submit buttons: the page works without JavaScript and unsaved edits survive every round trip."""

import re

from django import forms

from directory_sync import fields, rules
from directory_sync.models import SyncSettings

MAX_ROWS = 200
EXTENSION_ATTRIBUTES = [f"onPremisesExtensionAttributes.extensionAttribute{n}" for n in range(1, 16)]
MANAGER_SOURCES = [f"manager.{name}" for name in sorted(fields.MANAGER_PROPERTIES)]


def property_choices() -> list[str]:
    """Every source the Fields picker offers: user properties a listing can read, list entries, extension
    attributes 1–15, employeeOrgData parts, the manager's properties, the resolved email and the photo."""
    plain = sorted(fields.USER_PROPERTIES - fields.SINGLE_USER_ONLY - fields.COMPLEX_PROPERTIES)
    indexed = [f"{name}[0]" for name in sorted(fields.STRING_COLLECTIONS)]
    parts = [f"employeeOrgData.{part}" for part in sorted(fields.EMPLOYEE_ORG_DATA_PARTS)]
    return [
        fields.EMAIL_SOURCE,
        fields.PHOTO_SOURCE,
        *plain,
        *indexed,
        *EXTENSION_ATTRIBUTES,
        *parts,
        *MANAGER_SOURCES,
    ]


def key_from_label(label: str, taken) -> str:
    """A template-safe key for a new field (e.g. "Cost centre" -> "cost_centre"), unique among `taken`."""
    base = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")
    if not base or not base[0].isalpha():
        base = f"field_{base}" if base else "field"
    base = base[:45]
    key, n = base, 1
    while key in taken:
        n += 1
        key = f"{base}_{n}"
    return key


def posted_field_specs(data) -> list[fields.FieldSpec]:
    """The field table as posted, in row order (validation happens on save)."""
    keys, labels, sources = data.getlist("key"), data.getlist("label"), data.getlist("source")
    rows = list(zip(keys, labels, sources))[:MAX_ROWS]
    return [fields.FieldSpec(key.strip(), label.strip(), source.strip()) for key, label, source in rows]


def apply_row_action(rows: list, action: str) -> list:
    """Apply "up:N", "down:N" or "remove:N" to a posted table (other actions leave it as it is)."""
    verb, _, index = action.partition(":")
    if not index.isdigit() or int(index) >= len(rows):
        return rows
    i, rows = int(index), list(rows)
    if verb == "up" and i > 0:
        rows[i - 1], rows[i] = rows[i], rows[i - 1]
    elif verb == "down" and i < len(rows) - 1:
        rows[i + 1], rows[i] = rows[i], rows[i + 1]
    elif verb == "remove":
        del rows[i]
    return rows


def new_field_spec(data, specs) -> fields.FieldSpec:
    """The field the admin is adding (raises fields.FieldError with the reason when it cannot be mapped)."""
    source = data.get("new_source", "").strip()
    label = data.get("new_label", "").strip() or source
    fields.validate_source(source)
    key = data.get("new_key", "").strip() or key_from_label(label, {spec.key for spec in specs})
    spec = fields.FieldSpec(key, label, source)
    fields.validate_field_specs([*specs, spec])
    return spec


def posted_rules(data) -> list[rules.AttributeRule]:
    """The attribute rule table as posted, in row order; `rule_case` holds the indexes of case-sensitive rows."""
    case = set(data.getlist("rule_case"))
    rows = zip(
        data.getlist("rule_field"),
        data.getlist("rule_op"),
        data.getlist("rule_value"),
        data.getlist("rule_action"),
    )
    return [
        rules.AttributeRule(field.strip(), op, value, action, str(i) in case)
        for i, (field, op, value, action) in enumerate(list(rows)[:MAX_ROWS])
    ]


class EmailStepsForm(forms.Form):
    mail = forms.BooleanField(required=False, label="mail (the mailbox address)")
    proxy_addresses = forms.BooleanField(required=False, label="proxyAddresses (the primary SMTP: address)")
    other_mails = forms.BooleanField(required=False, label="otherMails (the first one)")
    upn = forms.BooleanField(
        required=False,
        label="userPrincipalName (the sign-in name)",
        help_text="A sign-in name often receives no mail; guests' #EXT# names are never used.",
    )

    def clean(self):
        data = super().clean()
        if not any(data.get(name) for name in ("mail", "proxy_addresses", "other_mails", "upn")):
            raise forms.ValidationError("Turn on at least one email source.")
        return data

    def steps(self) -> rules.EmailSteps:
        return rules.EmailSteps(
            **{
                name: bool(self.cleaned_data.get(name))
                for name in ("mail", "proxy_addresses", "other_mails", "upn")
            }
        )


PRESETS = [
    (
        "exclude_disabled",
        "Disabled accounts",
        "Sign-in blocked. Careful: Exchange rooms and shared mailboxes are disabled accounts too.",
    ),
    ("exclude_guests", "Guests", "userType is Guest (people from other organisations)."),
    ("exclude_rooms_equipment", "Rooms and equipment", "Room and equipment mailboxes."),
    ("exclude_shared_mailboxes", "Shared mailboxes", "Mailboxes several people use, such as info@."),
    ("exclude_unlicensed", "Unlicensed accounts", "Accounts without any Microsoft 365 licence."),
]


class FiltersForm(forms.Form):
    odata_filter = forms.CharField(
        required=False,
        max_length=3000,
        label="Directory filter (OData $filter)",
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text="Sent to Microsoft Graph, e.g. department eq 'Sales' or startsWith(jobTitle,'Head'). "
        "Leave empty to read every user.",
    )
    exclude_disabled = forms.BooleanField(required=False)
    exclude_guests = forms.BooleanField(required=False)
    exclude_rooms_equipment = forms.BooleanField(required=False)
    exclude_shared_mailboxes = forms.BooleanField(required=False)
    exclude_unlicensed = forms.BooleanField(required=False)


class CleanupForm(forms.ModelForm):
    class Meta:
        model = SyncSettings
        fields = ["cleanup_enabled", "removal_threshold_percent", "removal_threshold_count"]
        labels = {
            "cleanup_enabled": "Remove people who left Entra or no longer match the filters",
            "removal_threshold_percent": "Hold a sync that would remove more than this percentage of people",
            "removal_threshold_count": "…or more than this many people (whichever is lower)",
        }
        help_texts = {
            "cleanup_enabled": "Removal is soft: removed people can be restored for 30 days.",
        }

    def clean_removal_threshold_percent(self):
        value = self.cleaned_data["removal_threshold_percent"]
        if value > 100:
            raise forms.ValidationError("A percentage is at most 100.")
        return value

"""Forms of the signatures pages: templates (checked by the sandbox before saving) and assignment rules."""
from django import forms

from directory_sync.models import DirectoryGroup
from signatures import rendering
from signatures.models import SignatureRule, SignatureTemplate
from tenants.models import EntraLink


def known_placeholders(organization) -> set[str]:
    """The placeholders a template of this organisation may use: the standard ones plus every field key its
    links map (an admin may add custom fields)."""
    from directory_sync.models import SyncSettings

    known = set(rendering.PLACEHOLDERS)
    for config in SyncSettings.objects.for_org(organization).values_list("config", flat=True):
        for field in (config or {}).get("fields", []):
            if isinstance(field, dict) and field.get("key") and field.get("source") != "photo":
                known.add(str(field["key"]))
    return known


class SignatureTemplateForm(forms.ModelForm):
    class Meta:
        model = SignatureTemplate
        fields = ["name", "html", "text", "is_default"]
        labels = {"html": "HTML", "is_default": "Default template (for everyone no rule matches)"}
        widgets = {
            "html": forms.Textarea(attrs={"rows": 22, "spellcheck": "false", "class": "code"}),
            "text": forms.Textarea(attrs={"rows": 10, "spellcheck": "false", "class": "code"}),
        }

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.organization = organization
        self.instance.organization = organization
        self.known = known_placeholders(organization)
        self.notes = []  # problems that do not block saving (unknown placeholders), shown after save

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        others = SignatureTemplate.objects.for_org(self.organization).filter(name__iexact=name)
        if self.instance.pk:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise forms.ValidationError("Another template already has this name.")
        return name

    def _check(self, field: str, *, text: bool):
        source = self.cleaned_data.get(field, "")
        problems = rendering.check_template(source, self.known, text=text)
        blocking = [str(p) for p in problems if p.is_blocking]
        self.notes += [f"{'Plain text' if text else 'HTML'}, {p}" for p in problems if not p.is_blocking]
        if blocking:
            raise forms.ValidationError(blocking)
        return source

    def clean_html(self):
        return self._check("html", text=False)

    def clean_text(self):
        return self._check("text", text=True)

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        # A template that parses can still fail on real values (a budget, a bad <style>): try it once.
        sample = {key: "" for key in self.known}
        sample.update(first_name="Ada", last_name="Lovelace", display_name="Ada Lovelace",
                      org_name=self.organization.name)
        try:
            rendering.render_signature(cleaned["html"], sample, text_source=cleaned.get("text") or None)
        except rendering.TemplateProblemError as exc:
            raise forms.ValidationError([str(p) for p in exc.problems]) from None
        return cleaned


class SignatureRuleForm(forms.ModelForm):
    group = forms.ModelChoiceField(queryset=DirectoryGroup.objects.none(), required=False,
                                   help_text="Members of nested groups count too.")
    link = forms.ModelChoiceField(queryset=EntraLink.objects.none(), required=False, label="Entra tenant")
    text_value = forms.CharField(required=False, max_length=255, label="Value",
                                 help_text="For department and company: compared ignoring upper and lower case.")

    class Meta:
        model = SignatureRule
        fields = ["kind", "template", "reply_template"]
        labels = {"kind": "When", "template": "Use template", "reply_template": "For replies and forwards"}

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.organization = organization
        self.instance.organization = organization
        templates = SignatureTemplate.objects.for_org(organization)
        self.fields["template"].queryset = templates
        self.fields["reply_template"].queryset = templates
        self.fields["reply_template"].empty_label = "The same template"
        self.fields["group"].queryset = DirectoryGroup.objects.for_org(organization).filter(removed_at=None)
        self.fields["link"].queryset = EntraLink.objects.for_org(organization)
        # Fields in the order the admin reads the sentence.
        self.order_fields(["kind", "text_value", "group", "link", "template", "reply_template"])
        rule = self.instance
        if rule.pk:
            if rule.kind == SignatureRule.Kind.GROUP:
                self.initial["group"] = self.fields["group"].queryset.filter(graph_id=rule.value).first()
            elif rule.kind == SignatureRule.Kind.LINK:
                self.initial["link"] = self.fields["link"].queryset.filter(uid=rule.value).first()
            else:
                self.initial["text_value"] = rule.value

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind")
        if kind == SignatureRule.Kind.GROUP:
            if not cleaned.get("group"):
                self.add_error("group", "Choose the group.")
            else:
                self.instance.value = cleaned["group"].graph_id
        elif kind == SignatureRule.Kind.LINK:
            if not cleaned.get("link"):
                self.add_error("link", "Choose the Entra tenant.")
            else:
                self.instance.value = str(cleaned["link"].uid)
        elif kind:
            value = (cleaned.get("text_value") or "").strip()
            if not value:
                self.add_error("text_value", "Type the value to compare with.")
            self.instance.value = value
        return cleaned

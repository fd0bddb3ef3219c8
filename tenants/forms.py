from django import forms
from django.contrib.auth import get_user_model, password_validation

from tenants.models import Invitation, Membership, Organization, Role


class SignUpForm(forms.Form):
    email = forms.EmailField(widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}))
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 10 characters, not only numbers, not a common password.",
    )
    organization_name = forms.CharField(label="Organisation name", max_length=200)

    def __init__(self, *args, with_organization=True, **kwargs):
        super().__init__(*args, **kwargs)
        if not with_organization:
            del self.fields["organization_name"]

    def clean_email(self):
        email = self.cleaned_data["email"].strip()
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email already exists. Sign in instead.")
        return email

    def clean(self):
        cleaned = super().clean()
        password = cleaned.get("password")
        if password:
            user = get_user_model()(username=cleaned.get("email", ""), email=cleaned.get("email", ""))
            try:
                password_validation.validate_password(password, user)
            except forms.ValidationError as error:
                self.add_error("password", error)
        return cleaned


class OrganizationForm(forms.ModelForm):
    website = forms.URLField(required=False, assume_scheme="https")
    logo_url = forms.URLField(label="Logo URL (https)", required=False, assume_scheme="https")

    class Meta:
        model = Organization
        fields = ["name", "website", "logo_url"]
        labels = {"name": "Organisation name"}


class InviteForm(forms.ModelForm):
    class Meta:
        model = Invitation
        fields = ["email", "role"]

    def __init__(self, *args, inviter: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        # Only an owner may make another owner.
        roles = [Role.ADMIN, Role.EDITOR] if inviter.role != Role.OWNER else [Role.OWNER, Role.ADMIN, Role.EDITOR]
        self.fields["role"].choices = [(r.value, r.label) for r in roles]
        self.fields["role"].initial = Role.EDITOR
        self.fields["role"].help_text = "Editors edit signature templates only; admins also link and sync."


class MemberRoleForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["role"]

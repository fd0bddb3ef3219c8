"""Forms for linking Entra tenants. Secret fields never render a value back, not even after a failed POST."""
from django import forms

from tenants import clouds, linking
from tenants.models import EntraLink


class SecretTextarea(forms.Textarea):
    """A textarea that never puts its value back into the page (for private keys)."""

    def format_value(self, value):
        return None


class ConsentStartForm(forms.Form):
    name = forms.CharField(label="Name of this link", max_length=100, initial="Entra ID",
                           help_text="For example the company or the tenant, e.g. “Contoso UK”.")
    cloud = forms.ChoiceField(label="Cloud", initial=clouds.GLOBAL)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cloud"].choices = clouds.available_choices()


class OwnAppForm(forms.Form):
    SECRET, PEM, PFX = "secret", "pem", "pfx"
    KEEP = "•••• saved; leave empty to keep"

    name = forms.CharField(label="Name of this link", max_length=100, initial="Entra ID")
    cloud = forms.ChoiceField(label="Cloud", initial=clouds.GLOBAL)
    tenant = forms.CharField(label="Tenant ID or domain", max_length=256,
                             help_text="The Directory (tenant) ID, or a domain such as contoso.onmicrosoft.com.")
    client_id = forms.CharField(label="Application (client) ID", max_length=36)
    credential = forms.ChoiceField(label="Credential", widget=forms.RadioSelect, initial=SECRET, choices=[
        (SECRET, "Client secret"), (PEM, "Certificate (PEM files)"), (PFX, "Certificate (PFX file)")])
    client_secret = forms.CharField(label="Client secret (its Value)", required=False, strip=True,
                                    widget=forms.PasswordInput(attrs={"autocomplete": "off"}))
    secret_expires_on = forms.DateField(label="Secret expires on", required=False,
                                        widget=forms.DateInput(attrs={"type": "date"}),
                                        help_text="Shown under Expires in Certificates & secrets; we warn 30 days "
                                                  "before.")
    private_key_pem = forms.CharField(label="Private key (PEM)", required=False, widget=SecretTextarea(
        attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}))
    certificate_pem = forms.CharField(label="Certificate (PEM)", required=False,
                                      widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}))
    pfx_file = forms.FileField(label="PFX file", required=False)
    passphrase = forms.CharField(label="Passphrase of the key or PFX (not stored)", required=False, strip=False,
                                 widget=forms.PasswordInput(attrs={"autocomplete": "off"}))

    def __init__(self, *args, link: EntraLink | None = None, **kwargs):
        self.link = link
        if link is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": link.name, "cloud": link.cloud_key, "tenant": link.tenant_id,
                "client_id": link.own_client_id,
                "credential": self.PEM if link.auth_method == EntraLink.AuthMethod.CERTIFICATE else self.SECRET,
                "secret_expires_on": link.secret_expires_on, "certificate_pem": link.certificate_pem,
            }
        super().__init__(*args, **kwargs)
        self.fields["cloud"].choices = clouds.available_choices()
        if self.keeps_credential:
            self.fields["client_secret"].help_text = self.KEEP
            self.fields["private_key_pem"].help_text = self.KEEP

    @property
    def keeps_credential(self) -> bool:
        return self.link is not None and self.link.uses_own_app and self.link.has_credential

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("credential")
        cleaned["certificate"] = None
        try:
            if kind == self.PFX and cleaned.get("pfx_file"):
                cleaned["certificate"] = linking.load_pfx(cleaned["pfx_file"].read(),
                                                          cleaned.get("passphrase", ""))
            elif kind == self.PFX and not self.keeps_credential:
                self.add_error("pfx_file", "Choose the PFX file.")
            elif kind == self.PEM and cleaned.get("private_key_pem"):
                cleaned["certificate"] = linking.load_certificate(
                    cleaned["private_key_pem"], cleaned.get("certificate_pem", ""), cleaned.get("passphrase", ""))
            elif kind == self.PEM and not self.keeps_credential:
                self.add_error("private_key_pem", "Paste the private key.")
            elif kind == self.SECRET and not cleaned.get("client_secret") and not self.keeps_credential:
                self.add_error("client_secret", "Paste the client secret's Value.")
        except linking.LinkError as error:
            self.add_error(None, error.admin_message)
        if kind != self.SECRET:
            cleaned["client_secret"] = ""
        return cleaned


class LinkRenameForm(forms.ModelForm):
    """Admin-consent links have nothing secret to edit: only their name."""

    class Meta:
        model = EntraLink
        fields = ["name"]

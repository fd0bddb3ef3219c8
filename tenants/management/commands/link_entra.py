"""Link an Entra tenant to an organisation with its own app registration, from the command line."""
from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from tenants import clouds, linking
from tenants.models import LinkAttempt, Organization


class Command(BaseCommand):
    help = ("Link a tenant through an own app registration (client secret, PEM certificate + key, or PFX), "
            "validated exactly as the Integration page does.")

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="the organisation's slug")
        parser.add_argument("--name", required=True, help="the link's name")
        parser.add_argument("--cloud", default=clouds.GLOBAL, choices=[key for key, _ in clouds.CHOICES])
        parser.add_argument("--tenant", required=True, help="tenant GUID or domain (contoso.onmicrosoft.com)")
        parser.add_argument("--client-id", required=True)
        credential = parser.add_mutually_exclusive_group(required=True)
        credential.add_argument("--client-secret-file", type=Path, help="a file holding the secret (not an "
                                "argument, so it stays out of shell history and process lists)")
        credential.add_argument("--certificate", type=Path, help="PEM certificate (with --private-key)")
        credential.add_argument("--pfx", type=Path, help="PFX / PKCS#12 file")
        parser.add_argument("--private-key", type=Path, help="PEM private key (with --certificate)")
        parser.add_argument("--passphrase-file", type=Path, help="passphrase of the PFX or private key")
        parser.add_argument("--secret-expires", type=date.fromisoformat, help="YYYY-MM-DD")

    def handle(self, *args, **options):
        organization = Organization.objects.filter(slug=options["org"]).first()
        if organization is None:
            raise CommandError(f"No organisation with slug {options['org']!r}.")
        passphrase = _read(options["passphrase_file"]).strip("\r\n") if options["passphrase_file"] else ""
        secret, certificate = "", None
        try:
            if options["client_secret_file"]:
                secret = _read(options["client_secret_file"]).strip()
            elif options["pfx"]:
                certificate = linking.load_pfx(_read(options["pfx"], binary=True), passphrase)
            else:
                if not options["private_key"]:
                    raise CommandError("--certificate needs --private-key.")
                certificate = linking.load_certificate(_read(options["private_key"]),
                                                       _read(options["certificate"]), passphrase)
            link = linking.link_own_app(
                organization, name=options["name"], cloud_key=options["cloud"], tenant=options["tenant"],
                client_id=options["client_id"], client_secret=secret, certificate=certificate,
                secret_expires_on=options["secret_expires"], method=LinkAttempt.Method.COMMAND)
        except linking.LinkError as error:
            raise CommandError(error.admin_message) from None
        self.stdout.write(f"Linked {link.tenant_name} ({link.tenant_id}) to {organization.slug} as “{link.name}”.")


def _read(path: Path, binary=False):
    try:
        return path.read_bytes() if binary else path.read_text()
    except OSError as error:
        raise CommandError(f"Cannot read {path}: {error.strerror}.") from None

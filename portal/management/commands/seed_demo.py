"""Create (or refresh) the demo organisation, its owner and its link to the emulator's tenant.

Run by `manage.py demo` with the custom cloud pointed at the emulator. Idempotent: a second run resets the owner's
password to the one it prints and reuses the organisation and link. The last line of output is JSON for the caller.
"""
import json
import secrets
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from tenants import clouds, connectivity, linking, onboarding
from tenants.models import EntraLink, Membership, Organization

DEMO_EMAIL = "admin@demo.signet.test"
DEMO_ORG = "Contoso (demo)"


class Command(BaseCommand):
    help = "Create the demo organisation, owner and Entra link (uses the emulator facts file)."

    def add_arguments(self, parser):
        parser.add_argument("--emulator-facts", required=True, help="path of the emulator's emulator.json")

    def handle(self, *args, emulator_facts, **options):
        facts = json.loads(Path(emulator_facts).read_text())
        if not clouds.custom_cloud().is_configured:
            raise CommandError("ENTRA_CUSTOM_LOGIN_URL and ENTRA_CUSTOM_GRAPH_URL must point at the emulator.")
        password = secrets.token_urlsafe(12)
        with transaction.atomic():
            User = get_user_model()
            user = User.objects.filter(email__iexact=DEMO_EMAIL).first()
            if user is None:
                user = onboarding.create_user(DEMO_EMAIL, password)
            else:
                user.set_password(password)
                user.save(update_fields=["password"])
            organization = Organization.objects.filter(memberships__user=user, name=DEMO_ORG).first()
            if organization is None:
                organization = onboarding.create_organization(user, DEMO_ORG)
            Membership.objects.filter(user=user, organization=organization).update(role="owner")
        link = _link_emulator_tenant(organization, facts)
        self.stdout.write(f"Linked {link.tenant_name} ({link.tenant_id}) to {organization.name}.")
        # The dashboard then opens on a real connectivity result rather than "not checked yet".
        result = connectivity.check_connectivity(link)
        self.stdout.write(f"Connectivity: {result.get('summary', '')}")
        self.stdout.write(json.dumps({
            "email": DEMO_EMAIL, "password": password, "organization": organization.name, "slug": organization.slug,
            "link_id": link.pk,
        }))


def _link_emulator_tenant(organization, facts) -> EntraLink:
    """Link the emulator's tenant with its pre-consented own app registration, validated like the form does."""
    tenant, own_app = facts["tenant"], facts["own_app"]
    try:
        return linking.link_own_app(
            organization, name=tenant["display_name"], cloud_key=clouds.CUSTOM, tenant=tenant["id"],
            client_id=own_app["client_id"], client_secret=own_app["client_secret"],
        )
    except linking.LinkError as error:
        raise CommandError(f"Linking the emulator's tenant failed: {error.admin_message}") from None

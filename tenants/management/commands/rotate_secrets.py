"""Re-encrypt every stored secret under the newest key of FIELD_ENCRYPTION_KEYS."""
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from tenants import secrets
from tenants.models import EntraLink

ENCRYPTED_FIELDS = ("client_secret_encrypted", "private_key_encrypted")


def rotate_all() -> int:
    """Re-encrypt each link's secret and private key with the newest key; returns how many values were rewritten.
    Raises secrets.SecretUnreadable (naming no secret) when a value was written with a key no longer configured."""
    rotated = 0
    for link_id in EntraLink.objects.values_list("pk", flat=True):
        with transaction.atomic():
            link = EntraLink.objects.select_for_update().get(pk=link_id)
            changed = [name for name in ENCRYPTED_FIELDS if getattr(link, name)]
            for name in changed:
                setattr(link, name, secrets.rotate(getattr(link, name)))
            if changed:
                link.save(update_fields=changed)
                rotated += len(changed)
    return rotated


class Command(BaseCommand):
    help = "Re-encrypt every stored client secret and private key with the first key of FIELD_ENCRYPTION_KEYS."

    def handle(self, *args, **options):
        try:
            count = rotate_all()
        except secrets.SecretUnreadable as error:
            raise CommandError(f"{error} Put the old key back in FIELD_ENCRYPTION_KEYS (after the new "
                               "one), run rotate_secrets, then remove it.") from None
        self.stdout.write(f"Re-encrypted {count} secret{'s' if count != 1 else ''} with the newest key.")

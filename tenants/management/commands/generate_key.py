"""Print a new Fernet key for FIELD_ENCRYPTION_KEYS."""
from django.core.management.base import BaseCommand

from tenants import secrets


class Command(BaseCommand):
    help = "Print a new key for FIELD_ENCRYPTION_KEYS (put it first in the list, then run rotate_secrets)."

    def handle(self, *args, **options):
        self.stdout.write(secrets.generate_key())

"""Secrets at rest: client secrets, private keys and passphrases are Fernet tokens in the database.

Keys come from FIELD_ENCRYPTION_KEYS (newest first). MultiFernet decrypts with any listed key and encrypts with the
first, so a new key is added in front, `manage.py rotate_secrets` re-encrypts every row, and the old key is removed.
"""
import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretUnreadable(Exception):
    """A stored secret could not be decrypted with any configured key (the key it was written with is gone)."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        if not settings.DEBUG:
            raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty.")
        # Development only: a stable key derived from SECRET_KEY, so the demo needs no configuration.
        derived = base64.urlsafe_b64encode(hashlib.sha256(settings.SECRET_KEY.encode()).digest())
        return MultiFernet([Fernet(derived)])
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    """Encrypt with the newest key; the empty string stays empty (no secret stored)."""
    if not plaintext:
        return ""
    return _current().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """Decrypt with whichever configured key wrote it; raise SecretUnreadable (without the token) otherwise."""
    if not token:
        return ""
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("A stored secret cannot be decrypted with the configured keys.") from None


def rotate(token: str) -> str:
    """Re-encrypt a token under the newest key (MultiFernet.rotate keeps the original timestamp)."""
    if not token:
        return ""
    try:
        return _current().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("A stored secret cannot be decrypted with the configured keys.") from None


def generate_key() -> str:
    """A new Fernet key for FIELD_ENCRYPTION_KEYS."""
    return Fernet.generate_key().decode()

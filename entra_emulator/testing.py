"""What tests import: the Emulator, its control client, and the fixed portal-app credentials the fixtures use."""
from entra_emulator.client import ControlClient
from entra_emulator.server import Emulator
from entra_emulator.state import PRODUCT_PERMISSIONS

# The portal's multi-tenant app as the test fixtures register it (settings under test use the same values).
PORTAL_CLIENT_ID = "5f1c7c52-3b8e-4a53-9d7e-2b6a0c1e9a01"
PORTAL_CLIENT_SECRET = "pOr8Q~test-portal-secret-not-for-production"
PORTAL_REDIRECT_URIS = (
    "http://localhost/entra/consent/callback",
    "http://127.0.0.1/entra/consent/callback",
    "http://localhost/signin/callback",
    "http://127.0.0.1/signin/callback",
)

__all__ = ["ControlClient", "Emulator", "PORTAL_CLIENT_ID", "PORTAL_CLIENT_SECRET", "PORTAL_REDIRECT_URIS",
           "PRODUCT_PERMISSIONS"]

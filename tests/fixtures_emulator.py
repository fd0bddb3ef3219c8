"""pytest fixtures for the Entra/Graph emulator (loaded from tests/conftest.py through pytest_plugins).

- `emulator` (session): one in-process emulator on free ports, 150 users, in a temporary directory.
- `emulator_reset` (function): the same emulator, restored to its seeded state before the test
  (consents, users, faults, request log, token lifetime, delta tokens).
- `emulator_http` (function): a requests.Session that trusts the emulator's CA.
"""

import pytest

from entra_emulator import testing


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    emu = testing.Emulator(
        data_dir=tmp_path_factory.mktemp("entra-emulator"),
        seed=42,
        users=150,
        groups=20,
        contacts=20,
        portal_client_id=testing.PORTAL_CLIENT_ID,
        portal_client_secret=testing.PORTAL_CLIENT_SECRET,
        portal_redirect_uris=list(testing.PORTAL_REDIRECT_URIS),
    )
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture
def emulator_reset(emulator):
    emulator.state.reset()
    yield emulator


@pytest.fixture
def emulator_http(emulator):
    session = emulator.session()
    yield session
    session.close()

"""Fixtures shared by every test: organisations and people in each role, and a linked tenant for each."""
import pytest

from tests import factories

# The in-process Entra/Graph emulator: session-scoped `emulator`, `emulator_reset`, `emulator_http`.
pytest_plugins = ["tests.fixtures_emulator"]


@pytest.fixture
def emu(emulator_reset, settings):
    """The emulator, freshly reset, with the portal pointed at it: the custom cloud and Signet's multi-tenant app.
    SITE_URL is a loopback address, which Entra (and the emulator) match on any port; browser tests set it to
    their live server."""
    from entra_emulator import testing

    settings.ENTRA_CUSTOM_LOGIN_URL = emulator_reset.login_url
    settings.ENTRA_CUSTOM_GRAPH_URL = emulator_reset.graph_url
    settings.ENTRA_CUSTOM_CA_BUNDLE = emulator_reset.ca_bundle
    settings.ENTRA_CUSTOM_BROWSER_LOGIN_URL = emulator_reset.browser_url
    settings.ENTRA_CLIENT_ID = testing.PORTAL_CLIENT_ID
    settings.ENTRA_CLIENT_SECRET = testing.PORTAL_CLIENT_SECRET
    settings.SITE_URL = "http://127.0.0.1:8000"
    return emulator_reset


@pytest.fixture
def organization(db):
    return factories.make_organization("Acme")


@pytest.fixture
def other_org(db):
    return factories.make_organization("Globex")


@pytest.fixture
def org_owner(organization):
    return factories.owner_of(organization)


@pytest.fixture
def org_admin(organization):
    return factories.make_member(organization, "admin", "admin@acme.test")


@pytest.fixture
def org_editor(organization):
    return factories.make_member(organization, "editor", "editor@acme.test")


@pytest.fixture
def other_org_admin(other_org):
    return factories.make_member(other_org, "admin", "admin@globex.test")


@pytest.fixture
def link(organization):
    return factories.make_link(organization, name="Acme HQ")


@pytest.fixture
def other_link(other_org):
    return factories.make_link(other_org, name="Globex HQ")


# --- Browser tests: Playwright driving Debian's Chromium (never a downloaded browser) ----------------------------
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser():
    import os

    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), "Chromium is missing: apt-get install chromium (the browser tests need it)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(ignore_https_errors=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()

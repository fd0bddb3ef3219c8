"""Fakes of the login and Graph endpoints for the Graph client tests (`responses`, no network): a link and
cloud as plain objects, a recording token endpoint, and the fixtures that test_graph.py and
test_graph_reads.py import. They live here, not in conftest.py: there `link` and `fake_sleep` would replace
the database link and the engine's sleep for every directory_sync test, and `fresh_clients` would become
autouse for all of them."""

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import pytest
import responses

from directory_sync import graph

LOGIN = "https://login.example.test"
GRAPH = "https://graph.example.test"
TENANT = "11111111-2222-3333-4444-555555555555"
SECRET = "s3cr3t~Value.ThatMustNeverLeak"
USERS_URL = f"{GRAPH}/v1.0/users?$select=id,displayName&$top=999"
ORG_URL = f"{GRAPH}/v1.0/organization?$select=id,displayName,verifiedDomains"
USER = "#microsoft.graph.user"


@dataclass(frozen=True)
class Cloud:
    key: str = "custom"
    login_url: str = LOGIN
    graph_url: str = GRAPH
    ca_bundle: str | None = None
    instance_discovery: bool = False
    proxies: dict = field(default_factory=dict)


@dataclass(eq=False)
class Link:
    pk: int | None = 1
    tenant_id: str = TENANT
    client_id: str = "app-client-id"
    credential: object = SECRET
    cloud: Cloud = field(default_factory=Cloud)

    def client_credential(self):
        return self.credential


class FakeSleep:
    def __init__(self):
        self.calls = []

    def __call__(self, seconds):
        self.calls.append(seconds)


class MaxJitter:
    """Back-off always takes its upper bound, so waits are predictable."""

    def uniform(self, low, high):
        return high


@pytest.fixture(autouse=True)
def fresh_clients(monkeypatch):
    # Each test gets new msal apps: no token cache or msal replay cache leaks between tests.
    monkeypatch.setattr(graph, "_clients", OrderedDict())
    monkeypatch.delenv("MSAL_FORCE_REGION", raising=False)


@pytest.fixture
def fake_sleep(monkeypatch):
    recorder = FakeSleep()
    monkeypatch.setattr(graph, "sleep", recorder)
    monkeypatch.setattr(graph, "random", MaxJitter())
    return recorder


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


class Login:
    """Fake discovery document and token endpoint for one tenant; records the token requests."""

    def __init__(self, rsps, tenant=TENANT, login_url=LOGIN):
        self.token_requests = []
        self.issued = 0
        self.answers = []  # queued (status, body) answers, used before issuing tokens
        self.token_url = f"{login_url}/{tenant}/oauth2/v2.0/token"
        rsps.add(
            responses.GET,
            f"{login_url}/{tenant}/v2.0/.well-known/openid-configuration",
            json={
                "authorization_endpoint": f"{login_url}/{tenant}/oauth2/v2.0/authorize",
                "token_endpoint": self.token_url,
                "issuer": f"{login_url}/{tenant}/v2.0",
            },
        )
        rsps.add_callback(responses.POST, self.token_url, callback=self._token)

    def _token(self, request):
        self.token_requests.append(parse_qs(request.body))
        if self.answers:
            status, body = self.answers.pop(0)
            return status, {}, json.dumps(body)
        self.issued += 1
        body = {"access_token": f"tok-{self.issued}", "token_type": "Bearer", "expires_in": 3599}
        return 200, {}, json.dumps(body)


@pytest.fixture
def login(rsps):
    return Login(rsps)


@pytest.fixture
def link(login):
    return Link()


def bearer(call):
    return call.request.headers["Authorization"]


def graph_calls(rsps):
    return [call for call in rsps.calls if call.request.url.startswith(GRAPH)]


def graph_error(code, message=""):
    return {"error": {"code": code, "message": message}}


def aad_error(code, error="invalid_client", text="Something is wrong."):
    return {
        "error": error,
        "error_description": f"AADSTS{code}: {text}\r\nTrace ID: t\r\nCorrelation ID: c\r\nTimestamp: now",
        "error_codes": [code],
        "correlation_id": "corr-1",
    }

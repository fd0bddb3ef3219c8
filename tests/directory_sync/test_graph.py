"""Graph client tests (directory_sync/graph.py) against `responses` fakes of discovery, the token endpoint and
Graph (no network): tokens, retries, typed errors, batches."""

import json
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from types import SimpleNamespace

import pytest
import requests
import responses

from directory_sync import graph, graph_reads
from tests.directory_sync.graph_fakes import (
    GRAPH, LOGIN, ORG_URL, SECRET, TENANT, USERS_URL, Cloud, Link, Login, aad_error, bearer, graph_calls,
    graph_error,
)

# The fixtures, imported so that pytest finds them in this module.
from tests.directory_sync.graph_fakes import fake_sleep, fresh_clients, link, login, rsps  # noqa: F401


# --- tokens -----------------------------------------------------------------------------------------------


def test_token_acquired_once_and_reused_across_pages(rsps, login, link):
    next_link = f"{GRAPH}/v1.0/next?p=2"
    rsps.add(responses.GET, USERS_URL, json={"value": [{"id": "u1"}], "@odata.nextLink": next_link})
    rsps.add(responses.GET, f"{GRAPH}/v1.0/next?p=2", json={"value": [{"id": "u2"}]})

    pages = list(graph_reads.iter_user_pages(link, ["id", "displayName"]))
    list(graph_reads.iter_user_pages(link, ["id", "displayName"]))  # a second run in the same worker

    assert pages == [[{"id": "u1"}], [{"id": "u2"}]]
    assert len(login.token_requests) == 1
    assert login.token_requests[0]["scope"] == [f"{GRAPH}/.default"]
    assert login.token_requests[0]["grant_type"] == ["client_credentials"]
    assert {bearer(call) for call in graph_calls(rsps)} == {"Bearer tok-1"}


def test_each_link_gets_its_own_app(rsps, login):
    other_login = Login(rsps, tenant="other-tenant")
    rsps.add(responses.GET, ORG_URL, json={"value": [{}]})

    graph_reads.get_organization(Link(pk=1))
    graph_reads.get_organization(Link(pk=2, tenant_id="other-tenant"))

    assert len(login.token_requests) == 1
    assert len(other_login.token_requests) == 1


def test_changed_credential_builds_a_new_app(rsps, login):
    rsps.add(responses.GET, ORG_URL, json={"value": [{}]})
    link = Link()
    graph_reads.get_organization(link)
    link.credential = "a-new-secret-value"
    graph_reads.get_organization(link)

    assert [r["client_secret"] for r in login.token_requests] == [[SECRET], ["a-new-secret-value"]]


def test_forget_link_drops_the_cached_app(rsps, login, link):
    graph.acquire_token(link)
    graph.forget_link(link)
    assert graph.acquire_token(link) == "tok-2"
    assert len(login.token_requests) == 2


@pytest.mark.parametrize(
    "code, status, words",
    [
        (7000215, 401, "copy the secret's Value (not its ID)"),
        (7000222, 401, "secret has expired"),
        (7000229, 401, "must grant admin consent again"),
        (700016, 400, "must grant admin consent again"),
        (90002, 400, "tenant was not found"),
        (700027, 401, "certificate"),
        (12345, 400, "AADSTS12345"),
    ],
)
def test_token_errors_become_graph_auth_errors(rsps, login, code, status, words):
    login.answers.append((status, aad_error(code, text=f"echo {SECRET}")))

    with pytest.raises(graph.GraphAuthError) as caught:
        graph.acquire_token(Link())

    assert caught.value.aadsts == code
    assert caught.value.error == "invalid_client"
    assert words in caught.value.admin_message
    assert not caught.value.is_transient
    assert SECRET not in str(caught.value) and SECRET not in caught.value.message


def test_aadsts_read_from_description_when_codes_missing(rsps, login):
    description = "AADSTS90002: Tenant not found."
    login.answers.append((400, {"error": "invalid_request", "error_description": description}))
    with pytest.raises(graph.GraphAuthError) as caught:
        graph.acquire_token(Link())
    assert caught.value.aadsts == 90002


def test_fixed_credentials_work_after_forget_link(rsps, login, link):
    # msal replays a 400 for 60 s inside one app; forgetting the link gives a fresh app.
    login.answers.append((400, aad_error(7000215)))
    with pytest.raises(graph.GraphAuthError):
        graph.acquire_token(link)
    graph.forget_link(link)
    assert graph.acquire_token(link) == "tok-1"


def test_unknown_tenant_at_discovery(rsps):
    rsps.add(
        responses.GET,
        f"{LOGIN}/nope.example/v2.0/.well-known/openid-configuration",
        status=400,
        json={"error": "invalid_tenant", "error_description": "AADSTS90002: Tenant 'nope.example' not found"},
    )
    with pytest.raises(graph.GraphAuthError) as caught:
        graph.acquire_token(Link(pk=None, tenant_id="nope.example"))
    assert caught.value.error == "tenant_not_found"
    assert "nope.example" in caught.value.admin_message


def test_unreachable_login_host_is_transient(rsps):
    rsps.add(
        responses.GET,
        f"{LOGIN}/{TENANT}/v2.0/.well-known/openid-configuration",
        body=requests.ConnectionError("refused"),
    )
    with pytest.raises(graph.GraphAuthError) as caught:
        graph.acquire_token(Link())
    assert caught.value.is_transient
    assert LOGIN in caught.value.admin_message


def test_token_endpoint_5xx_is_transient(rsps, login):
    login.answers.append((500, {"error": "server_error"}))
    with pytest.raises(graph.GraphAuthError) as caught:
        graph.acquire_token(Link())
    assert caught.value.is_transient


def test_unreadable_private_key_is_reported(rsps, login):
    link = Link(credential={"private_key": "not a key", "thumbprint": "AB" * 20})
    with pytest.raises(graph.GraphAuthError) as caught:
        graph.acquire_token(link)
    assert caught.value.error == "invalid_credential"
    assert "not a key" not in str(caught.value)


def test_global_cloud_uses_tenant_authority_without_instance_discovery(rsps):
    cloud = Cloud(key="global", login_url="https://login.microsoftonline.com", instance_discovery=True)
    global_login = Login(rsps, login_url="https://login.microsoftonline.com")
    assert graph.acquire_token(Link(cloud=cloud)) == "tok-1"
    assert [call.request.url.split("?")[0] for call in rsps.calls] == [
        f"https://login.microsoftonline.com/{TENANT}/v2.0/.well-known/openid-configuration",
        global_login.token_url,
    ]


def test_custom_ca_bundle_is_trusted_despite_environment(rsps, login, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    link = Link(cloud=Cloud(ca_bundle="/tmp/emulator-ca.pem"))
    rsps.add(responses.GET, ORG_URL, json={"value": [{}]})
    graph_reads.get_organization(link)
    assert {call.request.req_kwargs["verify"] for call in rsps.calls} == {"/tmp/emulator-ca.pem"}
    assert {call.request.req_kwargs["timeout"] for call in rsps.calls} == {graph.TIMEOUT}


# --- retries ----------------------------------------------------------------------------------------------


def test_retry_after_is_honoured(rsps, login, link, fake_sleep):
    rsps.add(responses.GET, USERS_URL, status=429, headers={"Retry-After": "5"})
    rsps.add(responses.GET, USERS_URL, json={"value": [{"id": "u1"}]})
    stats = graph.RequestStats()

    assert list(graph_reads.iter_user_pages(link, ["id", "displayName"], stats=stats)) == [[{"id": "u1"}]]
    assert fake_sleep.calls == [5]
    assert stats == graph.RequestStats(requests=2, retries=1, throttled=1, waited_seconds=5)


def test_503_retry_after_as_http_date(rsps, login, link, fake_sleep):
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    rsps.add(responses.GET, USERS_URL, status=503, headers={"Retry-After": when})
    rsps.add(responses.GET, USERS_URL, json={"value": []})

    assert list(graph_reads.iter_user_pages(link, ["id", "displayName"])) == [[]]
    assert len(fake_sleep.calls) == 1 and 28 <= fake_sleep.calls[0] <= 30


def test_throttling_that_never_ends_raises_graph_throttled(rsps, login, link, fake_sleep):
    rsps.add(responses.GET, USERS_URL, status=429, headers={"Retry-After": "10"})
    with pytest.raises(graph.GraphThrottled) as caught:
        graph.get_json(link, USERS_URL)
    assert len(fake_sleep.calls) == graph.MAX_ATTEMPTS - 1
    assert caught.value.retry_after == 10


def test_a_page_a_person_waits_on_gives_up_within_its_bound(rsps, login, link, fake_sleep, monkeypatch):
    """Under answer_within (a web page's calls) a 30 s Retry-After is not waited out: the admin gets the
    throttling message at once instead of a gateway timeout; the same answer is waited out by a sync."""
    clock = [1000.0]  # graph's clock, moved on by each (fake) sleep
    monkeypatch.setattr(graph, "time", SimpleNamespace(monotonic=lambda: clock[0]))

    def sleep(seconds):
        fake_sleep(seconds)
        clock[0] += seconds

    monkeypatch.setattr(graph, "sleep", sleep)
    rsps.add(responses.GET, USERS_URL, status=429, headers={"Retry-After": "30"})
    with graph.answer_within(20), pytest.raises(graph.GraphThrottled) as caught:
        graph.get_json(link, USERS_URL)
    assert fake_sleep.calls == []
    assert "limiting how fast" in caught.value.admin_message
    rsps.replace(responses.GET, USERS_URL, status=429, headers={"Retry-After": "5"})
    with graph.answer_within(20), pytest.raises(graph.GraphThrottled):
        graph.get_json(link, USERS_URL)
    assert fake_sleep.calls == [5, 5, 5, 5]  # 4 waits fit in 20 s, a 5th would not
    fake_sleep.calls.clear()
    rsps.replace(responses.GET, USERS_URL, status=429, headers={"Retry-After": "30"})
    with pytest.raises(graph.GraphThrottled):
        graph.get_json(link, USERS_URL)
    assert fake_sleep.calls[:2] == [30, 30]


def test_answer_within_bounds_the_socket_timeouts_too():
    assert graph._timeout() == graph.TIMEOUT
    with graph.answer_within(4):
        connect, read = graph._timeout()
        assert connect <= 4 and read <= 4
    assert graph._timeout() == graph.TIMEOUT


def test_retry_after_beyond_the_budget_raises_at_once(rsps, login, link, fake_sleep):
    rsps.add(responses.GET, USERS_URL, status=429, headers={"Retry-After": "3600"})
    with pytest.raises(graph.GraphThrottled) as caught:
        graph.get_json(link, USERS_URL)
    assert fake_sleep.calls == []
    assert caught.value.retry_after == 3600


def test_server_errors_back_off_exponentially_then_give_up(rsps, login, link, fake_sleep):
    rsps.add(responses.GET, USERS_URL, status=500, json=graph_error("generalException", "boom"))
    with pytest.raises(graph.GraphError) as caught:
        graph.get_json(link, USERS_URL)
    assert not isinstance(caught.value, graph.GraphThrottled)
    assert caught.value.status == 500
    assert fake_sleep.calls == [1, 2, 4, 8, 16, 32, 60]
    assert len(graph_calls(rsps)) == graph.MAX_ATTEMPTS


def test_connection_error_then_success(rsps, login, link, fake_sleep):
    rsps.add(responses.GET, USERS_URL, body=requests.ConnectionError("reset"))
    rsps.add(responses.GET, USERS_URL, json={"value": [{"id": "u1"}]})
    assert graph.get_json(link, USERS_URL) == {"value": [{"id": "u1"}]}
    assert fake_sleep.calls == [1]


def test_cut_off_json_is_retried(rsps, login, link, fake_sleep):
    rsps.add(responses.GET, USERS_URL, body='{"value": [{"id": "u1"}, {"id": "u')
    rsps.add(responses.GET, USERS_URL, json={"value": [{"id": "u1"}, {"id": "u2"}]})
    assert graph.get_json(link, USERS_URL)["value"] == [{"id": "u1"}, {"id": "u2"}]
    assert len(fake_sleep.calls) == 1


def test_expired_token_is_renewed_once(rsps, login, link, fake_sleep):
    expired = {"error": {"code": "InvalidAuthenticationToken", "message": "Access token has expired."}}
    rsps.add(responses.GET, USERS_URL, status=401, json=expired)
    rsps.add(responses.GET, USERS_URL, json={"value": []})

    assert graph.get_json(link, USERS_URL) == {"value": []}
    assert [bearer(call) for call in graph_calls(rsps)] == ["Bearer tok-1", "Bearer tok-2"]
    assert fake_sleep.calls == []


def test_second_401_raises_unauthorized_without_leaking(rsps, login, link, fake_sleep):
    rsps.add(responses.GET, USERS_URL, status=401, json={"error": {"code": "InvalidAuthenticationToken"}})
    with pytest.raises(graph.GraphUnauthorized) as caught:
        graph.get_json(link, USERS_URL)
    assert len(graph_calls(rsps)) == 2
    assert "admin consent" in caught.value.admin_message
    for text in (str(caught.value), caught.value.message, caught.value.admin_message, repr(caught.value)):
        assert SECRET not in text and "tok-1" not in text and "tok-2" not in text and "Bearer" not in text


# --- typed errors -----------------------------------------------------------------------------------------


def test_403_names_the_missing_permission(rsps, login, link):
    body = {"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete "
                      "the operation.", "innerError": {"request-id": "req-42"}}}
    url = f"{GRAPH}/v1.0/groups/g1/transitiveMembers?$select=id&$top=999"
    rsps.add(responses.GET, url, status=403, json=body)

    with pytest.raises(graph.GraphPermissionError) as caught:
        list(graph_reads.iter_group_member_pages(link, "g1"))

    assert caught.value.permission == "GroupMember.Read.All"
    assert "grant GroupMember.Read.All" in caught.value.admin_message
    assert "admin consent again" in caught.value.admin_message
    assert caught.value.request_id == "req-42"
    assert caught.value.code == "Authorization_RequestDenied"


@pytest.mark.parametrize(
    "url, permission",
    [
        (f"{GRAPH}/v1.0/users?$select=id", "User.Read.All"),
        ("/users/u1/photo/$value", "User.Read.All"),
        (f"{GRAPH}/v1.0/users/u1/manager", "User.Read.All"),
        (f"{GRAPH}/v1.0/users/u1/mailboxSettings", "MailboxSettings.Read"),
        (f"{GRAPH}/v1.0/users/delta?$deltatoken=x", "User.Read.All"),
        (f"{GRAPH}/v1.0/groups/g1/members", "GroupMember.Read.All"),
        (f"{GRAPH}/v1.0/contacts", "OrgContact.Read.All"),
        (f"{GRAPH}/v1.0/organization", "Organization.Read.All"),
        (f"{GRAPH}/beta/organization", "Organization.Read.All"),
        (f"{GRAPH}/v1.0/applications", "Directory.Read.All"),
    ],
)
def test_required_permission(url, permission):
    assert graph.required_permission(url) == permission


def test_bad_filter_quotes_graphs_message(rsps, login, link):
    message = "Unsupported or invalid query filter clause specified for property 'companyName'"
    url = f"{USERS_URL}&$filter=companyName%20eq%20%27X%27"
    rsps.add(responses.GET, url, status=400, json=graph_error("Request_UnsupportedQuery", message))
    with pytest.raises(graph.GraphBadRequest) as caught:
        list(graph_reads.iter_user_pages(link, ["id", "displayName"], odata_filter="companyName eq 'X'"))
    assert message in caught.value.admin_message
    assert caught.value.status == 400


def test_404_is_not_found(rsps, login, link):
    missing = graph_error("Request_ResourceNotFound")
    rsps.add(responses.GET, f"{GRAPH}/v1.0/users/gone", status=404, json=missing)
    with pytest.raises(graph.GraphNotFound):
        graph.get_json(link, f"{GRAPH}/v1.0/users/gone")


# --- batch ------------------------------------------------------------------------------------------------


def test_batch_retries_throttled_inner_requests(rsps, login, link, fake_sleep):
    batch_url = f"{GRAPH}/v1.0/$batch"
    rsps.add(responses.POST, batch_url, json={"responses": [
        {"id": "1", "status": 200, "headers": {}, "body": {"id": "m1"}},
        {"id": "2", "status": 429, "headers": {"Retry-After": "7"}, "body": graph_error("TooManyRequests")},
        {"id": "3", "status": 404, "headers": {}, "body": {"error": {"code": "Request_ResourceNotFound"}}},
    ]})
    retried = {"responses": [{"id": "2", "status": 200, "body": {"id": "m2"}}]}
    rsps.add(responses.POST, batch_url, json=retried)
    requests_ = [{"id": str(n), "method": "GET", "url": f"/users/u{n}/manager"} for n in (1, 2, 3)]

    results = graph.batch(link, requests_)

    assert {key: value["status"] for key, value in results.items()} == {"1": 200, "2": 200, "3": 404}
    assert fake_sleep.calls == [7]
    resent = json.loads(graph_calls(rsps)[1].request.body)
    assert [item["id"] for item in resent["requests"]] == ["2"]
    assert isinstance(graph.batch_error("/users/u3/manager", results["3"]), graph.GraphNotFound)


def test_batch_splits_into_twenty(rsps, login, link):
    def answer(request):
        items = json.loads(request.body)["requests"]
        return 200, {}, json.dumps({"responses": [{"id": i["id"], "status": 200, "body": {}} for i in items]})

    rsps.add_callback(responses.POST, f"{GRAPH}/v1.0/$batch", callback=answer)
    results = graph.batch(link, [{"id": str(n), "method": "GET", "url": f"/users/u{n}"} for n in range(45)])

    assert len(results) == 45
    assert [len(json.loads(c.request.body)["requests"]) for c in graph_calls(rsps)] == [20, 20, 5]

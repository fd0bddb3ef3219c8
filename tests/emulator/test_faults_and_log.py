"""Fault injection, the request log, and $batch."""
import json
import time

import pytest
import requests


def get(emu, http, path, **headers):
    headers.setdefault("Authorization", f"Bearer {emu.access_token()}")
    url = path if path.startswith("https://") else f"{emu.graph_url}/v1.0{path}"
    return http.get(url, headers=headers)


def test_429_with_retry_after_hits_only_the_next_k_matching_requests(emulator_reset, emulator_http):
    emu = emulator_reset
    emu.control.add_fault("429 path=/v1.0/users count=2 retry_after=3")
    assert get(emu, emulator_http, "/groups").status_code == 200
    for _ in range(2):
        throttled = get(emu, emulator_http, "/users")
        assert throttled.status_code == 429
        assert throttled.headers["Retry-After"] == "3"
        assert throttled.json()["error"]["code"] == "TooManyRequests"
    assert get(emu, emulator_http, "/users").status_code == 200
    log = emu.control.requests()
    assert [(e["path"], e["status"], e["retry_after"]) for e in log] == [
        ("/v1.0/groups", 200, None), ("/v1.0/users", 429, "3"), ("/v1.0/users", 429, "3"),
        ("/v1.0/users", 200, None)]
    assert emu.control.faults() == []


@pytest.mark.parametrize("status, retry_after", [(503, 7), (500, None), (502, None)])
def test_server_error_faults(emulator_reset, emulator_http, status, retry_after):
    emu = emulator_reset
    emu.control.add_fault(kind=str(status), path="/v1.0/users*", retry_after=retry_after)
    response = get(emu, emulator_http, "/users?$top=5")
    assert response.status_code == status
    assert response.headers.get("Retry-After") == (str(retry_after) if retry_after else None)
    assert "error" in response.json()
    assert get(emu, emulator_http, "/users?$top=5").status_code == 200


def test_truncate_sends_half_a_json_body(emulator_reset, emulator_http):
    emu = emulator_reset
    emu.control.add_fault("truncate path=/v1.0/users")
    response = get(emu, emulator_http, "/users")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_cut_closes_the_connection_mid_body(emulator_reset, emulator_http):
    emu = emulator_reset
    emu.control.add_fault("cut path=/v1.0/users")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        get(emu, emulator_http, "/users")
    assert get(emu, emulator_http, "/users").status_code == 200


def test_latency_delays_the_answer(emulator_reset, emulator_http):
    emu = emulator_reset
    emu.control.add_fault("latency path=/v1.0/organization delay=0.6")
    started = time.monotonic()
    assert get(emu, emulator_http, "/organization").status_code == 200
    assert time.monotonic() - started >= 0.6
    assert emu.control.requests()[-1]["faults"] == ["latency"]


def test_fail_from_page_k_on(emulator_reset, emulator_http):
    emu = emulator_reset
    emu.control.add_fault("fail_from_page path=/v1.0/users page=3 status=503 count=5")
    first = get(emu, emulator_http, "/users?$top=10").json()
    second = get(emu, emulator_http, first["@odata.nextLink"]).json()
    failed = get(emu, emulator_http, second["@odata.nextLink"])
    assert failed.status_code == 503
    assert get(emu, emulator_http, "/users?$top=10").status_code == 200      # page 1 is still fine


def test_token_endpoint_fault_has_identity_shape(emulator_reset, emulator_http):
    emu = emulator_reset
    emu.control.add_fault(kind="429", path="*/oauth2/v2.0/token", retry_after=2)
    response = emulator_http.post(f"{emu.login_url}/{emu.tenant.id}/oauth2/v2.0/token", data={
        "client_id": emu.own_app.client_id, "client_secret": emu.own_app.client_secret,
        "grant_type": "client_credentials", "scope": f"{emu.graph_url}/.default"})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert response.json()["error"] == "temporarily_unavailable"


def test_bad_fault_spec_is_refused(emulator_reset):
    with pytest.raises(RuntimeError):
        emulator_reset.control.add_fault("explode path=/x")


def test_request_log_records_headers_and_can_be_cleared(emulator_reset, emulator_http):
    emu = emulator_reset
    get(emu, emulator_http, "/users?$count=true&$filter=endsWith(mail,'@contoso.com')", ConsistencyLevel="eventual")
    emulator_http.get(f"{emu.graph_url}/v1.0/users")
    first, second = emu.control.requests()
    assert first["method"] == "GET"
    assert first["path"] == "/v1.0/users?$count=true&$filter=endsWith(mail,'@contoso.com')"
    assert first["authorization"] is True and first["consistencylevel"] == "eventual"
    assert first["status"] == 200 and first["time"]
    assert second["authorization"] is False and second["status"] == 401
    emu.control.clear_requests()
    assert emu.control.requests() == []


def test_reset_clears_faults_and_log(emulator_reset, emulator_http):
    emu = emulator_reset
    emu.control.add_fault("500 count=10")
    get(emu, emulator_http, "/users")
    emu.control.reset()
    assert emu.control.faults() == [] and emu.control.requests() == []
    assert get(emu, emulator_http, "/users").status_code == 200


def batch(emu, http, steps):
    return http.post(f"{emu.graph_url}/v1.0/$batch", json={"requests": steps},
                     headers={"Authorization": f"Bearer {emu.access_token()}"})


def test_batch_answers_each_step_with_status_headers_body(emulator_reset, emulator_http):
    emu = emulator_reset
    admin = emu.tenant.admin()
    response = batch(emu, emulator_http, [
        {"id": "1", "method": "GET", "url": f"/users/{admin['id']}?$select=id,displayName"},
        {"id": "2", "method": "GET", "url": "/users/nobody@contoso.com"},
        {"id": "3", "method": "GET", "url": f"/users/{admin['id']}/photo/$value", "dependsOn": ["1"]},
        {"id": "4", "method": "GET", "url": "/organization", "dependsOn": ["2"]},
        {"id": "5", "method": "GET", "url": "/users?$count=true&$filter=endsWith(mail,'@contoso.com')&$top=1",
         "headers": {"ConsistencyLevel": "eventual"}},
    ])
    assert response.status_code == 200
    by_id = {r["id"]: r for r in response.json()["responses"]}
    assert by_id["1"]["status"] == 200 and by_id["1"]["body"]["displayName"] == admin["displayName"]
    assert by_id["2"]["status"] == 404 and by_id["2"]["body"]["error"]["code"] == "Request_ResourceNotFound"
    assert by_id["3"]["status"] == 200 and by_id["3"]["headers"]["Content-Type"] == "image/jpeg"
    assert by_id["4"]["status"] == 424
    assert by_id["5"]["status"] == 200 and "@odata.count" in by_id["5"]["body"]


def test_batch_step_can_be_throttled_on_its_own(emulator_reset, emulator_http):
    emu = emulator_reset
    emu.control.add_fault("429 path=/v1.0/organization retry_after=4")
    response = batch(emu, emulator_http, [{"id": "a", "method": "GET", "url": "/organization"},
                                          {"id": "b", "method": "GET", "url": "/users?$top=1"}])
    by_id = {r["id"]: r for r in response.json()["responses"]}
    assert by_id["a"]["status"] == 429 and by_id["a"]["headers"]["Retry-After"] == "4"
    assert by_id["b"]["status"] == 200
    assert [e["batch_step"] for e in emu.control.requests()] == [True, True, False]


def test_batch_over_20_requests_is_400(emulator_reset, emulator_http):
    steps = [{"id": str(i), "method": "GET", "url": "/organization"} for i in range(21)]
    assert batch(emulator_reset, emulator_http, steps).status_code == 400


def test_throttle_limits_requests_per_app_and_tenant(emulator_reset, emulator_http):
    emu = emulator_reset
    emu.control.set_throttle(limit=3, window=30, retry_after=5)
    statuses = [get(emu, emulator_http, "/organization").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    assert emu.control.requests()[-1]["retry_after"] == "5"
    emu.control.clear_throttle()
    assert get(emu, emulator_http, "/organization").status_code == 200

"""Graph users: paging, $select, filters and the advanced-query rule, single user, manager, auth errors."""
import time

import jwt
import pytest

from entra_emulator import directory, testing

DEFAULT = set(directory.USER_DEFAULT_PROPERTIES)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    with testing.Emulator(data_dir=tmp_path_factory.mktemp("big"), users=10_000, groups=10, contacts=5) as emu:
        yield emu


def get(emu, http, path, token=None, **headers):
    headers["Authorization"] = f"Bearer {token or emu.access_token()}"
    url = path if path.startswith("https://") else f"{emu.graph_url}/v1.0{path}"
    return http.get(url, headers=headers)


def walk(emu, http, path):
    """Follow nextLinks to the end; return (users, page count)."""
    users, pages, url = [], 0, path
    token = emu.access_token()
    while url:
        body = get(emu, http, url, token).json()
        users.extend(body["value"])
        pages += 1
        url = body.get("@odata.nextLink")
    return users, pages


def test_paging_reaches_the_end_of_10000_users_at_top_999(big):
    with big.session() as http:
        users, pages = walk(big, http, "/users?$top=999&$select=id,displayName")
    assert len(users) == 10_000
    assert len({u["id"] for u in users}) == 10_000
    assert pages == 11


def test_paging_reaches_the_end_of_10000_users_at_the_default_100(big):
    with big.session() as http:
        users, pages = walk(big, http, "/users")
    assert len({u["id"] for u in users}) == 10_000
    assert pages == 100


def test_next_link_keeps_query_options_and_is_opaque(emulator_reset, emulator_http):
    body = get(emulator_reset, emulator_http, "/users?$top=5&$select=id,mail").json()
    link = body["@odata.nextLink"]
    assert "$select=id,mail" in link and "$top=5" in link and "$skiptoken=" in link
    second = get(emulator_reset, emulator_http, link).json()
    assert set(second["value"][0]) == {"id", "mail"}
    assert {u["id"] for u in second["value"]}.isdisjoint({u["id"] for u in body["value"]})


def test_default_properties_without_select(emulator_reset, emulator_http):
    body = get(emulator_reset, emulator_http, "/users?$top=3").json()
    assert body["@odata.context"] == f"{emulator_reset.graph_url}/v1.0/$metadata#users"
    for user in body["value"]:
        assert set(user) == DEFAULT


def test_select_returns_exactly_the_selected_properties(emulator_reset, emulator_http):
    wanted = {"id", "proxyAddresses", "employeeOrgData", "onPremisesExtensionAttributes", "accountEnabled",
              "usageLocation"}
    body = get(emulator_reset, emulator_http, "/users?$select=" + ",".join(sorted(wanted))).json()
    for user in body["value"]:
        assert set(user) == wanted


def test_collection_only_restriction_answers_501_but_single_user_allows_it(emulator_reset, emulator_http):
    emu = emulator_reset
    response = get(emu, emulator_http, "/users?$select=id,skills")
    assert response.status_code == 501
    assert response.json()["error"]["code"] == "NotImplemented"
    assert get(emu, emulator_http, "/users?$select=mailboxSettings").status_code == 501
    admin = emu.tenant.admin()
    single = get(emu, emulator_http, f"/users/{admin['id']}?$select=id,mailboxSettings").json()
    assert single["mailboxSettings"]["userPurpose"] == "user"


def test_unknown_select_property_is_400(emulator_reset, emulator_http):
    response = get(emulator_reset, emulator_http, "/users?$select=id,nonsense")
    assert response.status_code == 400
    assert "nonsense" in response.json()["error"]["message"]


@pytest.mark.parametrize("top", ["0", "1000", "-1", "abc"])
def test_top_outside_1_to_999_is_400(emulator_reset, emulator_http, top):
    response = get(emulator_reset, emulator_http, f"/users?$top={top}")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (f"Invalid page size specified: '{top}'. Must be between 1 and "
                                                    "999 inclusive.")


def test_skip_is_not_supported(emulator_reset, emulator_http):
    assert get(emulator_reset, emulator_http, "/users?$skip=5").status_code == 400


@pytest.mark.parametrize("clause, message_part", [
    ("endsWith(mail,'@contoso.com')", "Operator 'endsWith' is not supported"),
    ("accountEnabled ne false", "Operator 'ne' is not supported"),
    ("not(startsWith(displayName,'A'))", "Operator 'not' is not supported"),
    ("companyName eq 'Contoso Ltd'", "property 'companyName' of resource 'User'"),
    ("employeeOrgData/costCenter eq 'CC-1001'", "property 'employeeOrgData/costCenter'"),
])
def test_advanced_filters_need_consistency_level_and_count(emulator_reset, emulator_http, clause, message_part):
    emu = emulator_reset
    refused = get(emu, emulator_http, f"/users?$filter={clause}")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "Request_UnsupportedQuery"
    assert message_part in refused.json()["error"]["message"]
    header_only = get(emu, emulator_http, f"/users?$filter={clause}", ConsistencyLevel="eventual")
    assert header_only.status_code == 400
    accepted = get(emu, emulator_http, f"/users?$filter={clause}&$count=true&$top=999",
                   ConsistencyLevel="eventual")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["@odata.count"] == len(accepted.json()["value"])


def test_endswith_finds_guests_by_ext_upn(emulator_reset, emulator_http):
    body = get(emulator_reset, emulator_http,
               "/users?$filter=endsWith(userPrincipalName,'onmicrosoft.com')&$count=true&$select=id,userType",
               ConsistencyLevel="eventual").json()
    assert body["@odata.count"] == 1
    assert body["value"][0]["userType"] == "Guest"


def test_count_true_without_header_is_ignored(emulator_reset, emulator_http):
    body = get(emulator_reset, emulator_http, "/users?$count=true&$top=2").json()
    assert "@odata.count" not in body
    counted = get(emulator_reset, emulator_http, "/users?$count=true&$top=2", ConsistencyLevel="eventual").json()
    assert counted["@odata.count"] == 150


def test_count_segment_needs_the_header(emulator_reset, emulator_http):
    refused = get(emulator_reset, emulator_http, "/users/$count")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "Request_BadRequest"
    assert get(emulator_reset, emulator_http, "/users/$count", ConsistencyLevel="eventual").text == "150"


@pytest.mark.parametrize("clause, expected", [
    ("startsWith(displayName,'Noah')", {"Noah Nomail"}),
    ("proxyAddresses/any(p:startsWith(p,'smtp:noah.alias'))", {"Noah Nomail"}),
    ("proxyAddresses/any(p:p eq 'SMTP:noah.primary@contoso.com')", {"Noah Nomail"}),
    ("otherMails/any(m:m eq 'olivia.private@example.net')", {"Olivia Othermail"}),
    ("mail eq 'sam.duplicate@contoso.com'", {"Sam Duplicate", "Samantha Duplicate"}),
    ("userType eq 'Guest'", {"Grace Guest"}),
    ("accountEnabled eq false and startsWith(displayName,'Dan')", {"Dan Disabled"}),
    ("displayName in ('Pat', 'Projector 3')", {"Pat", "Projector 3"}),
    ("surname eq 'O''Brien-Đặng'", {"Chloé O'Brien-Đặng"}),
    ("givenName eq 'Uma' or givenName eq 'Olivia'", None),
    ("createdDateTime le 2019-03-01T09:00:00Z", {"Megan Bowen", "Noah Nomail"}),
    ("assignedLicenses/any(a:a/skuId eq 6fd2c87f-b296-42f0-b197-1e91e994b900) and startsWith(displayName,'Zoë')",
     {"Zoë Ångström-Müller"}),
])
def test_default_filters_work_without_advanced_query(emulator_reset, emulator_http, clause, expected):
    response = get(emulator_reset, emulator_http, f"/users?$filter={clause}&$select=displayName,givenName")
    assert response.status_code == 200, response.text
    names = {u["displayName"] for u in response.json()["value"]}
    if expected is None:
        assert {"Uma Upnonly", "Olivia Othermail"} <= names
        assert all(u["givenName"] in ("Uma", "Olivia") for u in response.json()["value"])
    else:
        assert names == expected


def test_unsupported_filter_property_is_refused(emulator_reset, emulator_http):
    response = get(emulator_reset, emulator_http, "/users?$filter=aboutMe eq 'x'")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "Request_UnsupportedQuery"


def test_search_needs_consistency_level(emulator_reset, emulator_http):
    refused = get(emulator_reset, emulator_http, '/users?$search="displayName:noah"')
    assert refused.status_code == 400
    found = get(emulator_reset, emulator_http, '/users?$search="displayName:noah"', ConsistencyLevel="eventual")
    assert [u["displayName"] for u in found.json()["value"]] == ["Noah Nomail"]


def test_single_user_by_id_and_by_upn_including_guest_ext_upn(emulator_reset, emulator_http):
    emu = emulator_reset
    guest = emu.tenant.users.get(4)
    by_id = get(emu, emulator_http, f"/users/{guest['id']}").json()
    assert set(by_id) == DEFAULT | {"@odata.context"}
    by_upn = get(emu, emulator_http, "/users/" + guest["userPrincipalName"].replace("#", "%23")).json()
    assert by_upn["id"] == guest["id"]
    missing = get(emu, emulator_http, "/users/nobody@contoso.com")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "Request_ResourceNotFound"


def test_manager_and_expand_manager(emulator_reset, emulator_http):
    emu = emulator_reset
    worker = emu.tenant.users.get(40)
    manager = get(emu, emulator_http, f"/users/{worker['id']}/manager").json()
    assert manager["@odata.type"] == "#microsoft.graph.user"
    assert manager["id"] == worker["_manager"]
    top = get(emu, emulator_http, f"/users/{emu.tenant.admin()['id']}/manager")
    assert top.status_code == 404
    expanded = get(emu, emulator_http, "/users?$top=999&$select=id&$expand=manager($select=id,displayName)").json()
    assert len(expanded["value"]) == 100      # pages are capped at 100 with $expand
    with_manager = [u for u in expanded["value"] if "manager" in u]
    assert with_manager and set(with_manager[0]["manager"]) == {"@odata.type", "id", "displayName"}


def test_hard_cases_are_present(emulator_reset, emulator_http):
    body = get(emulator_reset, emulator_http, "/users?$top=30&$select=displayName,jobTitle,mail,userPrincipalName,"
               "companyName,proxyAddresses,otherMails,userType,accountEnabled").json()
    users = {u["displayName"]: u for u in body["value"]}
    assert users["Xavier Script"]["jobTitle"] == "<script>alert(1)</script>"
    assert users["{{7*7}} Template"]["companyName"] == "{% debug %}"
    assert "山田 太郎" in users and "ليلى حداد" in users and "נועה כהן" in users
    assert "#EXT#" in users["Grace Guest"]["userPrincipalName"]
    assert users["Uma Upnonly"]["mail"] is None and users["Uma Upnonly"]["proxyAddresses"] == []
    assert users["Conf Room Adams"]["accountEnabled"] is False


def test_request_ids_are_on_every_response_and_client_request_id_is_echoed(emulator_reset, emulator_http):
    response = get(emulator_reset, emulator_http, "/users?$top=1", **{"client-request-id": "abc-123"})
    assert response.headers["client-request-id"] == "abc-123"
    assert response.headers["request-id"]
    error = get(emulator_reset, emulator_http, "/users/missing", **{"client-request-id": "xyz"})
    assert error.json()["error"]["innerError"]["client-request-id"] == "xyz"
    assert error.json()["error"]["innerError"]["request-id"] == error.headers["request-id"]


def test_missing_bad_and_expired_tokens_are_401(emulator_reset, emulator_http):
    emu = emulator_reset
    assert emulator_http.get(f"{emu.graph_url}/v1.0/users").json()["error"]["code"] == "InvalidAuthenticationToken"
    assert get(emu, emulator_http, "/users", token="not.a.token").status_code == 401
    claims = jwt.decode(emu.access_token(), options={"verify_signature": False})
    token = emu.state.sign({**claims, "exp": int(time.time()) - 5})
    expired = get(emu, emulator_http, "/users", token=token)
    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_token_sees_only_its_own_tenant(emulator_reset, emulator_http):
    emu = emulator_reset
    emu.control.grant_consent(emu.second_tenant.id, emu.portal_app.client_id)
    token = emu.access_token(emu.portal_app, emu.second_tenant)
    users = get(emu, emulator_http, "/users?$top=999&$select=userPrincipalName", token=token).json()["value"]
    assert len(users) == 60
    assert all(not u["userPrincipalName"].endswith("contoso.com") for u in users)
    contoso_admin = emu.tenant.admin()["id"]
    assert get(emu, emulator_http, f"/users/{contoso_admin}", token=token).status_code == 404


def test_organization_has_initial_domain(emulator_reset, emulator_http):
    org = get(emulator_reset, emulator_http, "/organization").json()["value"][0]
    assert org["id"] == emulator_reset.tenant.id
    initial = [d for d in org["verifiedDomains"] if d["isInitial"]]
    assert [d["name"] for d in initial] == ["contoso.onmicrosoft.com"]


def test_organization_needs_organization_permission(emulator_reset, emulator_http):
    emu = emulator_reset
    emu.control.revoke_permission(emu.tenant.id, emu.own_app.client_id, "Organization.Read.All")
    assert get(emu, emulator_http, "/organization").status_code == 403
    emu.control.grant_permission(emu.tenant.id, emu.own_app.client_id, "Directory.Read.All")
    assert get(emu, emulator_http, "/organization").status_code == 200


def test_mailbox_settings_purpose_and_permission(emulator_reset, emulator_http):
    emu = emulator_reset
    room = emu.tenant.users.get(6)
    assert get(emu, emulator_http, f"/users/{room['id']}/mailboxSettings").json()["userPurpose"] == "room"
    guest = emu.tenant.users.get(4)
    assert get(emu, emulator_http, f"/users/{guest['id']}/mailboxSettings").status_code == 404
    emu.control.revoke_permission(emu.tenant.id, emu.own_app.client_id, "MailboxSettings.Read")
    denied = get(emu, emulator_http, f"/users/{room['id']}/mailboxSettings")
    assert denied.status_code == 403


def test_unknown_segment_is_400(emulator_reset, emulator_http):
    response = get(emulator_reset, emulator_http, "/devices")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Resource not found for the segment 'devices'."


def test_orderby_display_name_by_default_other_properties_need_advanced_query(emulator_reset, emulator_http):
    emu = emulator_reset
    body = get(emu, emulator_http, "/users?$orderby=displayName&$top=999&$select=displayName").json()
    names = [u["displayName"].lower() for u in body["value"]]
    assert names == sorted(names) and len(names) == 150
    assert get(emu, emulator_http, "/users?$orderby=createdDateTime").status_code == 400
    both = get(emu, emulator_http, "/users?$orderby=displayName&$filter=startsWith(displayName,'A')")
    assert both.status_code == 400
    advanced = get(emu, emulator_http, "/users?$orderby=displayName&$filter=startsWith(displayName,'A')"
                   "&$count=true", ConsistencyLevel="eventual")
    assert advanced.status_code == 200 and advanced.json()["@odata.count"] >= 1

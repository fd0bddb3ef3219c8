"""Delta rounds for users, groups and contacts: full round, then only changes; token expiry."""


def get(emu, http, url, **headers):
    headers["Authorization"] = f"Bearer {emu.access_token()}"
    if not url.startswith("https://"):
        url = f"{emu.graph_url}/v1.0{url}"
    return http.get(url, headers=headers)


def round_(emu, http, url, **headers):
    """Follow nextLinks until the deltaLink; return (items, deltaLink, page count)."""
    items, pages = [], 0
    while True:
        response = get(emu, http, url, **headers)
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["value"])
        pages += 1
        if "@odata.deltaLink" in body:
            assert "@odata.nextLink" not in body
            return items, body["@odata.deltaLink"], pages
        url = body["@odata.nextLink"]


def test_full_user_round_pages_then_delta_link_with_nothing_new(emulator_reset, emulator_http):
    emu = emulator_reset
    items, link, pages = round_(emu, emulator_http, "/users/delta?$select=displayName,mail",
                                Prefer="odata.maxpagesize=40")
    assert pages == 4
    assert len({u["id"] for u in items}) == 150
    assert set(items[0]) == {"id", "displayName", "mail"}
    again, next_link, _ = round_(emu, emulator_http, link)
    assert again == []
    assert "$deltatoken=" in next_link


def test_later_round_reports_adds_updates_and_removals(emulator_reset, emulator_http):
    emu = emulator_reset
    _, link, _ = round_(emu, emulator_http, "/users/delta?$select=displayName,jobTitle,mail")
    tenant = emu.tenant.id
    added = emu.control.add_user(tenant, displayName="Nina New", mail="nina.new@contoso.com",
                                 userPrincipalName="nina.new@contoso.com")
    changed = emu.tenant.users.get(30)
    emu.control.update_user(tenant, changed["id"], jobTitle="Chief Delta Officer")
    hard_deleted = emu.tenant.users.get(31)["id"]
    soft_deleted = emu.tenant.users.get(32)["id"]
    emu.control.delete_user(tenant, hard_deleted)
    emu.control.delete_user(tenant, soft_deleted, soft=True)
    emu.control.update_user(tenant, emu.tenant.users.get(33)["id"], city="Untracked City")   # not selected
    items, link2, _ = round_(emu, emulator_http, link)
    by_id = {i["id"]: i for i in items}
    assert set(by_id) == {added["id"], changed["id"], hard_deleted, soft_deleted}
    assert by_id[added["id"]]["displayName"] == "Nina New"
    assert by_id[changed["id"]]["jobTitle"] == "Chief Delta Officer"
    assert by_id[changed["id"]]["displayName"] == changed["displayName"]     # unchanged values come too
    assert by_id[hard_deleted] == {"id": hard_deleted, "@removed": {"reason": "deleted"}}
    assert by_id[soft_deleted] == {"id": soft_deleted, "@removed": {"reason": "changed"}}
    minimal_check = emu.control.update_user(tenant, changed["id"], jobTitle="Back Again")
    minimal, _, _ = round_(emu, emulator_http, link2, Prefer="return=minimal")
    assert minimal == [{"id": minimal_check["id"], "jobTitle": "Back Again"}]


def test_restored_user_comes_back_without_annotation(emulator_reset, emulator_http):
    emu = emulator_reset
    user = emu.tenant.users.get(40)
    emu.control.delete_user(emu.tenant.id, user["id"], soft=True)
    _, link, _ = round_(emu, emulator_http, "/users/delta?$select=displayName")
    emu.control.restore_user(emu.tenant.id, user["id"])
    items, _, _ = round_(emu, emulator_http, link)
    assert items == [{"id": user["id"], "displayName": user["displayName"]}]


def test_manager_changes_show_as_manager_delta(emulator_reset, emulator_http):
    emu = emulator_reset
    _, link, _ = round_(emu, emulator_http, "/users/delta?$select=displayName,manager")
    user, boss = emu.tenant.users.get(50), emu.tenant.users.get(27)
    emu.control.update_user(emu.tenant.id, user["id"], manager=boss["id"])
    items, link2, _ = round_(emu, emulator_http, link)
    assert items[0]["id"] == user["id"]
    assert items[0]["manager@delta"] == [{"@odata.type": "#microsoft.graph.user", "id": boss["id"]}]
    emu.control.update_user(emu.tenant.id, user["id"], manager=None)
    items, _, _ = round_(emu, emulator_http, link2)
    assert items[0]["manager@delta"] == [{"@odata.type": "#microsoft.graph.user", "id": boss["id"],
                                          "@removed": {"reason": "deleted"}}]


def test_group_round_has_members_delta_then_member_changes(emulator_reset, emulator_http):
    emu = emulator_reset
    items, link, _ = round_(emu, emulator_http, "/groups/delta")
    by_name = {g["displayName"]: g for g in items if "displayName" in g}
    all_company = by_name["All Company"]
    assert len(all_company["members@delta"]) == 150
    assert all_company["members@delta"][0]["@odata.type"] == "#microsoft.graph.user"
    partners = by_name["External Partners"]["members@delta"]
    assert {m["@odata.type"] for m in partners} == {"#microsoft.graph.orgContact", "#microsoft.graph.user"}
    group_id = all_company["id"]
    leaving, joining = emu.tenant.users.get(60)["id"], emu.tenant.contacts.get(0)["id"]
    emu.control.remove_member(emu.tenant.id, group_id, leaving)
    emu.control.add_member(emu.tenant.id, group_id, joining)
    deleted_group = by_name["Project Haddad 13"]["id"]
    emu.control.delete_group(emu.tenant.id, deleted_group)
    changes, _, _ = round_(emu, emulator_http, link)
    by_id = {g["id"]: g for g in changes}
    assert by_id[group_id]["members@delta"] == [
        {"@odata.type": "#microsoft.graph.user", "id": leaving, "@removed": {"reason": "deleted"}},
        {"@odata.type": "#microsoft.graph.orgContact", "id": joining},
    ]
    assert by_id[deleted_group] == {"id": deleted_group, "@removed": {"reason": "deleted"}}


def test_deleting_a_user_reports_it_removed_from_its_groups(emulator_reset, emulator_http):
    emu = emulator_reset
    _, link, _ = round_(emu, emulator_http, "/groups/delta?$select=displayName,members")
    user = emu.tenant.users.get(70)["id"]
    emu.control.delete_user(emu.tenant.id, user)
    changes, _, _ = round_(emu, emulator_http, link)
    removals = [m for g in changes for m in g.get("members@delta", []) if m["id"] == user]
    assert removals and all(m["@removed"] == {"reason": "deleted"} for m in removals)


def test_group_select_without_members_does_not_track_members(emulator_reset, emulator_http):
    emu = emulator_reset
    items, link, _ = round_(emu, emulator_http, "/groups/delta?$select=displayName")
    assert all("members@delta" not in g for g in items)
    group = items[0]["id"]
    emu.control.add_member(emu.tenant.id, group, emu.tenant.contacts.get(1)["id"])
    changes, _, _ = round_(emu, emulator_http, link)
    assert changes == []


def test_contacts_delta(emulator_reset, emulator_http):
    emu = emulator_reset
    items, link, _ = round_(emu, emulator_http, "/contacts/delta")
    assert len(items) == 20
    contact = emu.control.add_contact(emu.tenant.id, givenName="Dora", surname="Delta", mail="dora@litware.example")
    emu.control.delete_contact(emu.tenant.id, items[5]["id"])
    changes, _, _ = round_(emu, emulator_http, link)
    assert {c["id"] for c in changes} == {contact["id"], items[5]["id"]}


def test_expired_delta_token_is_sync_state_not_found(emulator_reset, emulator_http):
    emu = emulator_reset
    _, link, _ = round_(emu, emulator_http, "/users/delta?$select=id")
    first = get(emu, emulator_http, "/users/delta?$select=id", Prefer="odata.maxpagesize=10").json()
    emu.control.expire_delta_tokens()
    for url in (link, first["@odata.nextLink"]):
        response = get(emu, emulator_http, url)
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "syncStateNotFound"
        assert error["message"] == ("The sync state generation is not found. The delta token is expired and data "
                                    "must be synchronized again.")


def test_expiry_mode_410_points_to_a_fresh_round(emulator_reset, emulator_http):
    emu = emulator_reset
    _, link, _ = round_(emu, emulator_http, "/users/delta")
    emu.control.expire_delta_tokens(mode="410")
    response = get(emu, emulator_http, link)
    assert response.status_code == 410
    assert response.headers["Location"].endswith("/v1.0/users/delta?$deltatoken=")


def test_garbage_delta_token_is_refused(emulator_reset, emulator_http):
    response = get(emulator_reset, emulator_http, "/users/delta?$deltatoken=bm9wZQ")
    assert response.status_code == 400


def test_deltatoken_latest_returns_only_a_delta_link(emulator_reset, emulator_http):
    emu = emulator_reset
    body = get(emu, emulator_http, "/users/delta?$deltatoken=latest").json()
    assert body["value"] == [] and "@odata.deltaLink" in body
    emu.control.update_user(emu.tenant.id, emu.tenant.users.get(80)["id"], displayName="Renamed Person")
    items, _, _ = round_(emu, emulator_http, body["@odata.deltaLink"])
    assert [i["displayName"] for i in items] == ["Renamed Person"]


def test_delta_filter_by_ids(emulator_reset, emulator_http):
    emu = emulator_reset
    a, b = emu.tenant.users.get(90)["id"], emu.tenant.users.get(91)["id"]
    items, _, _ = round_(emu, emulator_http, f"/users/delta?$filter=id eq '{a}' or id eq '{b}'")
    assert {i["id"] for i in items} == {a, b}

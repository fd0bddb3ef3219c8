"""Groups, members (direct and transitive), org contacts and photos."""
import io

from PIL import Image


def get(emu, http, path, token=None, **headers):
    headers["Authorization"] = f"Bearer {token or emu.access_token()}"
    url = path if path.startswith("https://") else f"{emu.graph_url}/v1.0{path}"
    return http.get(url, headers=headers)


def group_id(emu, name):
    return next(g["id"] for _, g in emu.tenant.groups.iter_from() if g["displayName"] == name)


def test_groups_list_pages_and_select(emulator_reset, emulator_http):
    emu = emulator_reset
    body = get(emu, emulator_http, "/groups?$top=7&$select=id,displayName,groupTypes").json()
    assert len(body["value"]) == 7 and "@odata.nextLink" in body
    assert set(body["value"][0]) == {"id", "displayName", "groupTypes"}
    rest = get(emu, emulator_http, body["@odata.nextLink"]).json()
    assert len(body["value"]) + len(rest["value"]) + len(
        get(emu, emulator_http, rest["@odata.nextLink"]).json()["value"]) == 20
    default = get(emu, emulator_http, "/groups?$top=1").json()["value"][0]
    assert "securityEnabled" in default and "unseenCount" not in default
    assert get(emu, emulator_http, "/groups?$select=unseenCount").status_code == 501


def test_members_carry_odata_type_and_page(emulator_reset, emulator_http):
    emu = emulator_reset
    all_company = group_id(emu, "All Company")
    first = get(emu, emulator_http, f"/groups/{all_company}/members?$top=60&$select=id,displayName").json()
    assert len(first["value"]) == 60
    assert all(m["@odata.type"] == "#microsoft.graph.user" for m in first["value"])
    total = len(first["value"])
    url = first.get("@odata.nextLink")
    while url:
        page = get(emu, emulator_http, url).json()
        total += len(page["value"])
        url = page.get("@odata.nextLink")
    assert total == 150
    partners = get(emu, emulator_http, f"/groups/{group_id(emu, 'External Partners')}/members").json()["value"]
    assert {m["@odata.type"] for m in partners} == {"#microsoft.graph.orgContact", "#microsoft.graph.user"}
    users_only = get(emu, emulator_http, f"/groups/{group_id(emu, 'External Partners')}/members/"
                                         "microsoft.graph.user").json()["value"]
    assert [m["@odata.type"] for m in users_only] == ["#microsoft.graph.user"]


def test_transitive_members_flatten_nesting_and_survive_cycles(emulator_reset, emulator_http):
    emu = emulator_reset
    engineering = group_id(emu, "Dept Engineering")
    direct = get(emu, emulator_http, f"/groups/{engineering}/members?$top=999").json()["value"]
    nested = get(emu, emulator_http, f"/groups/{engineering}/transitiveMembers?$top=999").json()["value"]
    assert "#microsoft.graph.group" in {m["@odata.type"] for m in direct}
    assert {m["id"] for m in direct} <= {m["id"] for m in nested}
    alpha, beta = group_id(emu, "Cycle Alpha"), group_id(emu, "Cycle Beta")
    cycle = get(emu, emulator_http, f"/groups/{alpha}/transitiveMembers").json()["value"]
    ids = [m["id"] for m in cycle]
    assert len(ids) == len(set(ids))
    assert beta in ids and alpha not in ids
    assert {emu.tenant.users.get(1)["id"], emu.tenant.users.get(2)["id"]} <= set(ids)


def test_contacts_without_contact_permission_are_limited_in_member_lists(emulator_reset, emulator_http):
    emu = emulator_reset
    emu.control.revoke_permission(emu.tenant.id, emu.own_app.client_id, "OrgContact.Read.All")
    members = get(emu, emulator_http, f"/groups/{group_id(emu, 'External Partners')}/members").json()["value"]
    contact = next(m for m in members if m["@odata.type"] == "#microsoft.graph.orgContact")
    assert contact["id"] and contact["displayName"] is None


def test_groups_need_group_permission(emulator_reset, emulator_http):
    emu = emulator_reset
    emu.control.revoke_permission(emu.tenant.id, emu.own_app.client_id, "GroupMember.Read.All")
    assert get(emu, emulator_http, "/groups").status_code == 403
    emu.control.grant_permission(emu.tenant.id, emu.own_app.client_id, "Group.Read.All")
    assert get(emu, emulator_http, "/groups").status_code == 200


def test_contacts_list_and_get(emulator_reset, emulator_http):
    emu = emulator_reset
    contacts = get(emu, emulator_http, "/contacts?$top=999").json()["value"]
    assert len(contacts) == 20
    assert any(c["mail"] is None for c in contacts)
    one = get(emu, emulator_http, f"/contacts/{contacts[2]['id']}").json()
    assert one["displayName"] == "Søren Kierkegård"
    assert one["addresses"][0]["city"] == "Portland"


def test_photo_value_metadata_and_missing_photo(emulator_reset, emulator_http):
    emu = emulator_reset
    admin = emu.tenant.admin()
    raw = get(emu, emulator_http, f"/users/{admin['id']}/photo/$value")
    assert raw.status_code == 200
    assert raw.headers["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(raw.content)).format == "JPEG"
    meta = get(emu, emulator_http, f"/users/{admin['id']}/photo").json()
    assert meta["@odata.mediaContentType"] == "image/jpeg"
    assert meta["@odata.mediaEtag"].startswith('"') and meta["width"] == 96
    nobody = emu.tenant.users.get(1)
    missing = get(emu, emulator_http, f"/users/{nobody['id']}/photo/$value")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "ImageNotFound"


def test_photo_set_and_delete_through_control_api(emulator_reset, emulator_http):
    emu = emulator_reset
    user = emu.tenant.users.get(1)
    emu.control.set_photo(emu.tenant.id, user["id"], color=(0, 128, 0))
    first = get(emu, emulator_http, f"/users/{user['id']}/photo").json()["@odata.mediaEtag"]
    emu.control.set_photo(emu.tenant.id, user["id"], color=(0, 0, 200))
    second = get(emu, emulator_http, f"/users/{user['id']}/photo").json()["@odata.mediaEtag"]
    assert first != second
    emu.control.delete_photo(emu.tenant.id, user["id"])
    assert get(emu, emulator_http, f"/users/{user['id']}/photo/$value").status_code == 404


def test_photo_sizes_up_to_the_original(emulator_reset, emulator_http):
    emu = emulator_reset
    admin = emu.tenant.admin()["id"]
    sizes = [p["id"] for p in get(emu, emulator_http, f"/users/{admin}/photos").json()["value"]]
    assert sizes == ["48X48", "64X64", "96X96"]
    small = get(emu, emulator_http, f"/users/{admin}/photos/48x48/$value")
    assert Image.open(io.BytesIO(small.content)).size == (48, 48)
    assert get(emu, emulator_http, f"/users/{admin}/photos/48x48").json()["width"] == 48
    assert get(emu, emulator_http, f"/users/{admin}/photos/240x240/$value").status_code == 404

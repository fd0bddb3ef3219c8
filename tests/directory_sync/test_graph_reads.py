"""Graph reads (directory_sync/graph_reads.py) against `responses` fakes: paging, listings, single objects and
delta rounds (no network)."""

import pytest
import responses

from directory_sync import graph, graph_reads
from tests.directory_sync.graph_fakes import GRAPH, ORG_URL, TENANT, USER, USERS_URL, graph_calls, graph_error

# The fixtures, imported so that pytest finds them in this module.
from tests.directory_sync.graph_fakes import fresh_clients, link, login, rsps  # noqa: F401


# --- paging -----------------------------------------------------------------------------------------------


def test_paging_follows_next_link_verbatim_and_resends_consistency_level(rsps, login, link):
    encoded_filter = "endsWith%28mail%2C%27%40contoso.com%27%29"
    first = f"{GRAPH}/v1.0/users?$select=id&$top=999&$filter={encoded_filter}&$count=true"
    next_link = f"{GRAPH}/v1.0/users?$select=id&$top=999&$count=true&$skiptoken=RFNwdAIAAQAAAC%3D%3D"
    rsps.add(responses.GET, first, json={"value": [{"id": "u1"}], "@odata.nextLink": next_link})
    rsps.add(responses.GET, next_link, json={"value": [{"id": "u2"}]})

    odata_filter = "endsWith(mail,'@contoso.com')"
    pages = list(graph_reads.iter_user_pages(link, ["id"], odata_filter=odata_filter, advanced=True))

    assert pages == [[{"id": "u1"}], [{"id": "u2"}]]
    calls = graph_calls(rsps)
    assert [call.request.url for call in calls] == [first, next_link]
    assert [call.request.headers.get("ConsistencyLevel") for call in calls] == ["eventual", "eventual"]


def test_repeated_next_link_raises(rsps, login, link):
    loop = f"{GRAPH}/v1.0/users?$skiptoken=same"
    rsps.add(responses.GET, USERS_URL, json={"value": [], "@odata.nextLink": loop})
    rsps.add(responses.GET, loop, json={"value": [{"id": "u1"}], "@odata.nextLink": loop})

    pages = graph_reads.iter_user_pages(link, ["id", "displayName"])
    with pytest.raises(graph.GraphError, match="same page link twice"):
        for _ in range(5):  # bounded, so a missing check fails instead of hanging
            next(pages)
    assert len(graph_calls(rsps)) == 2


def test_page_without_value_raises(rsps, login, link):
    rsps.add(responses.GET, USERS_URL, json={"@odata.context": "x"})
    with pytest.raises(graph.GraphError, match="without results"):
        list(graph_reads.iter_user_pages(link, ["id", "displayName"]))


def test_next_link_to_another_host_never_gets_the_token(rsps, login, link):
    evil = "https://evil.example/v1.0/users"
    rsps.add(responses.GET, USERS_URL, json={"value": [], "@odata.nextLink": evil})
    with pytest.raises(graph.GraphError, match="Refused to send"):
        list(graph_reads.iter_user_pages(link, ["id", "displayName"]))
    assert not [call for call in rsps.calls if "evil" in call.request.url]


def test_group_member_listing_is_transitive_and_keeps_types(rsps, login, link):
    url = f"{GRAPH}/v1.0/groups/g1/transitiveMembers?$select=id&$top=999"
    members = [{"@odata.type": USER, "id": "u1"}, {"@odata.type": "#microsoft.graph.group", "id": "g2"}]
    rsps.add(responses.GET, url, json={"value": members})
    assert list(graph_reads.iter_group_member_pages(link, "g1")) == [members]


def test_contacts_and_groups_listings(rsps, login, link):
    rsps.add(responses.GET, f"{GRAPH}/v1.0/contacts?$select=id,mail&$top=999", json={"value": [{"id": "c1"}]})
    rsps.add(responses.GET, f"{GRAPH}/v1.0/groups?$select=id&$top=999", json={"value": [{"id": "g1"}]})
    assert list(graph_reads.iter_contact_pages(link, ["id", "mail"])) == [[{"id": "c1"}]]
    assert list(graph_reads.iter_group_pages(link, ["id"])) == [[{"id": "g1"}]]


# --- single objects ---------------------------------------------------------------------------------------


def test_manager_404_is_none(rsps, login, link):
    missing = graph_error("Request_ResourceNotFound")
    rsps.add(responses.GET, f"{GRAPH}/v1.0/users/u1/manager", status=404, json=missing)
    rsps.add(responses.GET, f"{GRAPH}/v1.0/users/u2/manager", json={"@odata.type": USER, "id": "m1"})
    assert graph_reads.get_manager(link, "u1") is None
    assert graph_reads.get_manager(link, "u2")["id"] == "m1"


def test_photo_bytes_etag_and_404(rsps, login, link):
    users = f"{GRAPH}/v1.0/users"
    rsps.add(responses.GET, f"{users}/u1/photo/$value", body=b"\xff\xd8jpeg", headers={"ETag": '"abc"'})
    rsps.add(responses.GET, f"{users}/u2/photo/$value", status=404, json=graph_error("ImageNotFound"))
    rsps.add(responses.GET, f"{GRAPH}/v1.0/users/u1/photos/240x240/$value", body=b"small")
    assert graph_reads.get_photo(link, "u1") == (b"\xff\xd8jpeg", '"abc"')
    assert graph_reads.get_photo(link, "u2") is None
    assert graph_reads.get_photo(link, "u1", size="240x240") == (b"small", None)


def test_photo_etag_from_metadata(rsps, login, link):
    users = f"{GRAPH}/v1.0/users"
    rsps.add(responses.GET, f"{users}/u1/photo", json={"id": "240x240", "@odata.mediaEtag": 'W/"e1"'})
    rsps.add(responses.GET, f"{users}/u2/photo", status=404, json=graph_error("ImageNotFound"))
    rsps.add(responses.GET, f"{GRAPH}/v1.0/users/u3/photo", json={"id": "1X1", "@odata.mediaEtag": ""})
    assert graph_reads.get_photo_etag(link, "u1") == 'W/"e1"'
    assert graph_reads.get_photo_etag(link, "u2") is None
    assert graph_reads.get_photo_etag(link, "u3") is None


def test_guest_upn_is_quoted_in_the_path(rsps, login, link):
    url = f"{GRAPH}/v1.0/users/ann_x.com%23EXT%23@t.onmicrosoft.com/manager"
    rsps.add(responses.GET, url, json={"id": "m"})
    assert graph_reads.get_manager(link, "ann_x.com#EXT#@t.onmicrosoft.com") == {"id": "m"}


def test_organization_and_initial_domain(rsps, login, link):
    org = {
        "id": TENANT,
        "displayName": "Contoso",
        "verifiedDomains": [
            {"name": "contoso.com", "isInitial": False},
            {"name": "contoso.onmicrosoft.com", "isInitial": True},
        ],
    }
    rsps.add(responses.GET, ORG_URL, json={"value": [org]})
    assert graph_reads.get_organization(link) == org
    assert graph_reads.initial_domain(org) == "contoso.onmicrosoft.com"
    assert graph_reads.initial_domain({"verifiedDomains": []}) == ""


# --- delta ------------------------------------------------------------------------------------------------


def test_delta_round_yields_pages_then_delta_link(rsps, login, link):
    start = f"{GRAPH}/v1.0/users/delta?$select=id,displayName"
    page2 = f"{GRAPH}/v1.0/users/delta?$skiptoken=p2"
    final = f"{GRAPH}/v1.0/users/delta?$deltatoken=d1"
    removed = {"id": "u9", "@removed": {"reason": "changed"}}
    rsps.add(responses.GET, start, json={"value": [{"id": "u1"}], "@odata.nextLink": page2})
    rsps.add(responses.GET, page2, json={"value": [removed], "@odata.deltaLink": final})

    pages = list(graph_reads.iter_delta(link, "users", select=["id", "displayName"]))

    assert pages == [graph_reads.DeltaPage([{"id": "u1"}], None), graph_reads.DeltaPage([removed], final)]
    assert "$top" not in graph_calls(rsps)[0].request.url


def test_delta_continues_from_saved_link_and_keeps_member_changes(rsps, login, link):
    saved = f"{GRAPH}/v1.0/groups/delta?$deltatoken=old"
    change = {"@odata.type": USER, "id": "u1", "@removed": {"reason": "deleted"}}
    group = {"id": "g1", "members@delta": [change]}
    new_link = f"{GRAPH}/v1.0/groups/delta?$deltatoken=new"
    rsps.add(responses.GET, saved, json={"value": [group], "@odata.deltaLink": new_link})

    pages = list(graph_reads.iter_delta(link, "groups", select=["id", "members"], delta_link=saved))

    assert pages[0].items == [group]
    assert pages[0].delta_link.endswith("$deltatoken=new")
    assert graph_calls(rsps)[0].request.url == saved


@pytest.mark.parametrize(
    "status, body",
    [
        (410, {"error": {"code": "resyncRequired", "message": "Gone"}}),
        (400, {"error": {"code": "syncStateNotFound", "message": "The sync state generation is not found"}}),
        (400, {"error": {"code": "SyncStateNotFound", "message": "generation=149"}}),
    ],
)
def test_expired_delta_token(rsps, login, link, status, body):
    saved = f"{GRAPH}/v1.0/users/delta?$deltatoken=old"
    rsps.add(responses.GET, saved, status=status, json=body)
    with pytest.raises(graph.DeltaTokenExpired):
        list(graph_reads.iter_delta(link, "users", select=["id"], delta_link=saved))


def test_delta_link_of_another_graph_endpoint_restarts(rsps, login, link):
    # e.g. the link moved to another cloud: the old link is useless and must not receive the new token
    with pytest.raises(graph.DeltaTokenExpired):
        old = "https://graph.old.test/v1.0/users/delta?$deltatoken=x"
        list(graph_reads.iter_delta(link, "users", select=["id"], delta_link=old))
    assert len(rsps.calls) == 0


def test_delta_round_cut_short_raises(rsps, login, link):
    rsps.add(responses.GET, f"{GRAPH}/v1.0/contacts/delta?$select=id", json={"value": [{"id": "c1"}]})
    with pytest.raises(graph.GraphError, match="without a delta link"):
        list(graph_reads.iter_delta(link, "contacts", select=["id"]))


def test_delta_rejects_unknown_resource(link):
    with pytest.raises(ValueError):
        list(graph_reads.iter_delta(link, "devices", select=["id"]))

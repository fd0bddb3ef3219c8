"""What Signet reads from Microsoft Graph: paged listings (users, groups, members, contacts), delta rounds and
single objects (organization, manager, photos).

Built on graph.py's client (tokens, retries, typed errors): these functions only say which URL to ask and how
to walk the answer. Like graph.py they know nothing of Django models; see it for what a *link* is.
Protocol facts: /work/shared/reference/graph-facts.md.
"""

from dataclasses import dataclass, field
from urllib.parse import quote

from directory_sync import graph, graph_errors
from directory_sync.graph_errors import DeltaTokenExpired, GraphNotFound

PAGE_SIZE = 999  # Graph's maximum $top for users, groups, members and contacts (graph-facts 4.1, 6)
DELTA_RESOURCES = ("users", "groups", "contacts")
DEFAULT_GROUP_SELECT = (
    "id", "displayName", "mail", "mailEnabled", "securityEnabled", "groupTypes", "description",
)


@dataclass
class DeltaPage:
    """One page of a delta round; `delta_link` is set only on the round's last page."""

    items: list = field(default_factory=list)
    delta_link: str | None = None


# --- Listings -----------------------------------------------------------------------------------------------


def _graph(link, path):
    return f"{link.cloud.graph_url}/v1.0{path}"


def _iter_raw_pages(link, url, headers, stats):
    seen = set()
    while url:
        if url in seen:
            raise graph_errors.client_error("repeated_link")
        seen.add(url)
        page = graph.get_json(link, url, headers=headers, stats=stats)
        if not isinstance(page.get("value"), list):
            raise graph_errors.client_error("page_without_value")
        yield page
        url = page.get("@odata.nextLink")


def iter_pages(link, url, *, headers=None, stats=None):
    """Yield each page's list of objects, following @odata.nextLink verbatim and resending `headers`.
    Docs: learn.microsoft.com/graph/paging"""
    for page in _iter_raw_pages(link, url, headers, stats):
        yield page["value"]


def iter_user_pages(link, select, *, odata_filter="", advanced=False, stats=None):
    """Yield pages (≤999) of users with the selected properties; `advanced` adds $count + ConsistencyLevel.
    Docs: learn.microsoft.com/graph/api/user-list"""
    url = _graph(link, f"/users?$select={','.join(select)}&$top={PAGE_SIZE}")
    if odata_filter:
        url += f"&$filter={quote(odata_filter, safe='')}"
    headers = None
    if advanced:
        url += "&$count=true"
        headers = {"ConsistencyLevel": "eventual"}
    return iter_pages(link, url, headers=headers, stats=stats)


def iter_group_pages(link, select=DEFAULT_GROUP_SELECT, *, odata_filter="", stats=None):
    """Yield pages of groups. Docs: learn.microsoft.com/graph/api/group-list"""
    url = _graph(link, f"/groups?$select={','.join(select)}&$top={PAGE_SIZE}")
    if odata_filter:
        url += f"&$filter={quote(odata_filter, safe='')}"
    return iter_pages(link, url, stats=stats)


def iter_group_member_pages(link, group_id, *, transitive=True, select=("id",), stats=None):
    """Yield pages of a group's members (nested ones too when `transitive`), each with `@odata.type`.
    Docs: learn.microsoft.com/graph/api/group-list-transitivemembers"""
    relation = "transitiveMembers" if transitive else "members"
    path = f"/groups/{_quote_id(group_id)}/{relation}?$select={','.join(select)}&$top={PAGE_SIZE}"
    return iter_pages(link, _graph(link, path), stats=stats)


def iter_contact_pages(link, select, *, stats=None):
    """Yield pages of organisational contacts. Docs: learn.microsoft.com/graph/api/orgcontact-list"""
    url = _graph(link, f"/contacts?$select={','.join(select)}&$top={PAGE_SIZE}")
    return iter_pages(link, url, stats=stats)


def iter_delta(link, resource, *, select, delta_link=None, stats=None):
    """Yield one delta round's `DeltaPage`s (items as sent, `@removed` included); the last has the deltaLink.
    DeltaTokenExpired: restart with a full listing. Docs: learn.microsoft.com/graph/delta-query-overview"""
    if resource not in DELTA_RESOURCES:
        raise ValueError(f"delta is not supported for {resource!r}")
    # No $top: delta on directory objects does not support it (graph-facts 5); Graph picks the page size.
    if delta_link and not delta_link.startswith(f"{link.cloud.graph_url}/"):
        raise DeltaTokenExpired("foreign delta link", admin_message=graph_errors.FOREIGN_DELTA_LINK)
    url = delta_link or _graph(link, f"/{resource}/delta?$select={','.join(select)}")
    for page in _iter_raw_pages(link, url, None, stats):
        final = page.get("@odata.deltaLink")
        if not final and not page.get("@odata.nextLink"):
            raise graph_errors.client_error("delta_without_link")
        yield DeltaPage(items=page["value"], delta_link=final)


# --- Single objects -----------------------------------------------------------------------------------------


def _quote_id(object_id):
    # Ids are GUIDs, but a UPN may be passed too and guests' UPNs contain '#'.
    return quote(str(object_id), safe="@")


def get_manager(link, user_id, *, select=None, stats=None):
    """The user's manager (a user or an orgContact, with `@odata.type`), or None when there is none.
    Docs: learn.microsoft.com/graph/api/user-list-manager"""
    url = _graph(link, f"/users/{_quote_id(user_id)}/manager")
    if select:
        url += f"?$select={','.join(select)}"
    try:
        return graph.get_json(link, url, stats=stats)
    except GraphNotFound:
        return None


def get_organization(link, *, stats=None) -> dict:
    """The tenant's organization object (id, displayName, verifiedDomains).
    Docs: learn.microsoft.com/graph/api/organization-list"""
    url = _graph(link, "/organization?$select=id,displayName,verifiedDomains")
    page = graph.get_json(link, url, stats=stats)
    orgs = page.get("value") or []
    if not orgs:
        raise graph_errors.client_error("no_organization")
    return orgs[0]


def initial_domain(org) -> str:
    """The tenant's initial `*.onmicrosoft.com` domain from an organization object, or "" if absent."""
    for domain in org.get("verifiedDomains") or []:
        if domain.get("isInitial"):
            return domain.get("name") or ""
    return ""


def _photo_path(user_id, size):
    if size:
        return f"/users/{_quote_id(user_id)}/photos/{quote(str(size), safe='')}"
    return f"/users/{_quote_id(user_id)}/photo"


def get_photo(link, user_id, size=None, *, stats=None):
    """The user's photo as (bytes, etag) (largest size unless `size`, e.g. "240x240"), or None if none.
    Docs: learn.microsoft.com/graph/api/profilephoto-get"""
    answer = graph.get_bytes(link, _graph(link, _photo_path(user_id, size) + "/$value"), stats=stats)
    if answer is None:
        return None
    content, headers = answer
    return content, headers.get("ETag")


def get_photo_etag(link, user_id, size=None, *, stats=None):
    """The photo's `@odata.mediaEtag` (changes when the photo does), or None when the user has no photo.
    Docs: learn.microsoft.com/graph/api/profilephoto-get"""
    try:
        meta = graph.get_json(link, _graph(link, _photo_path(user_id, size)), stats=stats)
    except GraphNotFound:
        return None
    # A user without a photo may get 200 with a 1x1 placeholder and an empty media ETag (graph-facts 7).
    return meta.get("@odata.mediaEtag") or None


"""Organisation scoping, walked over every URL of the site (ARCHITECTURE.md: "a test walks every URL with another
organisation's ids and expects 404"): whatever a view does, it only reaches the organisation in its URL, and only
for members of it."""
import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from signatures.models import SignatureRule, SignatureTemplate
from tenants.models import Invitation as OrgInvitation, Membership
from tests import factories
from tests.directory_sync import sync_factories as sf

pytestmark = pytest.mark.django_db

# A POST-only view answers a GET with 405 (and a GET-only view a POST) before it looks at anything: that reveals
# the URL pattern, which is public, and nothing of any organisation. The other method must meet the 404.
REFUSED = {404, 405}

# Values for the non-id parts of some URLs; an id part gets an object of the organisation the case wants.
WORDS = {"direction": "up", "decision": "approve"}


def _org_routes():
    """(url name, route) of every URL under /o/<org_slug>/."""
    def walk(patterns, prefix, namespace):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                ns = ":".join(filter(None, [namespace, pattern.namespace]))
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), ns)
            elif isinstance(pattern, URLPattern) and "<slug:org_slug>" in prefix + str(pattern.pattern):
                name = ":".join(filter(None, [namespace, pattern.name]))
                yield name, prefix + str(pattern.pattern)

    return sorted(set(walk(get_resolver().url_patterns, "", "")))


ROUTES = _org_routes()


def _objects(organization):
    """One object of each kind an organisation URL can address, all belonging to `organization`."""
    link = factories.make_link(organization)
    template = SignatureTemplate.objects.create(organization=organization, name="T", html="<p>{{ first_name }}</p>")
    owner = factories.owner_of(organization)
    return {
        "link_id": link.pk,
        "employee_id": sf.make_employee(link, "Ada Lovelace").pk,
        "run_id": sf.make_run(link, status="held").pk,
        "template_id": template.pk,
        "rule_id": SignatureRule.objects.create(organization=organization, kind="department", value="Sales",
                                                template=template).pk,
        "membership_id": Membership.objects.get(organization=organization, user=owner).pk,
        "invitation_id": OrgInvitation.objects.create(organization=organization, email="x@y.test",
                                                      token_hash="h" * 64).pk,
    }


def _path(route, slug, ids):
    def fill(match):
        name = match.group(2)
        return slug if name == "org_slug" else str(ids.get(name, WORDS.get(name)))

    return "/" + re.sub(r"<(\w+):(\w+)>", fill, route)


def test_the_walk_sees_every_part_of_the_site():
    names = {name.split(":")[0] for name, _ in ROUTES}
    assert {"dashboard", "tenants", "directory_sync", "signatures"} <= names | {"dashboard"}
    assert len(ROUTES) >= 40


@pytest.mark.parametrize("name,route", ROUTES, ids=[name for name, _ in ROUTES])
def test_outsiders_get_404_everywhere(client, organization, other_org, other_org_admin, name, route):
    path = _path(route, organization.slug, _objects(organization))
    client.force_login(other_org_admin)
    statuses = {client.get(path).status_code, client.post(path).status_code}
    assert statuses <= REFUSED and 404 in statuses, (path, statuses)


@pytest.mark.parametrize("name,route", [(n, r) for n, r in ROUTES if re.search(r"<int:\w+_id>", r)],
                         ids=[n for n, r in ROUTES if re.search(r"<int:\w+_id>", r)])
def test_another_organisations_ids_through_your_own_slug_are_404(client, organization, other_org, name, route):
    theirs = _objects(other_org)
    path = _path(route, organization.slug, theirs)
    client.force_login(factories.owner_of(organization))
    statuses = {client.get(path).status_code, client.post(path).status_code}
    assert statuses <= REFUSED and 404 in statuses, (path, statuses)

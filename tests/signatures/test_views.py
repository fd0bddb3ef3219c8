"""Signature pages: outsiders get 404 everywhere, roles, templates, rules, employees, links, photos, CSP."""
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from signatures import links
from signatures.models import SignatureAccess, SignatureRule, SignatureTemplate, ensure_default_templates
from signatures.views import SIGNATURE_CSP
from tests import factories
from tests.signatures.conftest import make_employee, make_group, make_photo

pytestmark = pytest.mark.django_db


@pytest.fixture
def template(organization):
    ensure_default_templates(organization)
    return SignatureTemplate.objects.for_org(organization).get(name="Classic")


@pytest.fixture
def rule(organization, template):
    return SignatureRule.objects.create(organization=organization, kind="department", value="Sales",
                                        template=template)


def org_urls(slug, template, rule, employee):
    """Every organisation URL of the app, as (method, url)."""
    return [
        ("get", reverse("signatures:template_list", args=[slug])),
        ("get", reverse("signatures:template_new", args=[slug])),
        ("post", reverse("signatures:template_preview", args=[slug])),
        ("get", reverse("signatures:template_edit", args=[slug, template.pk])),
        ("post", reverse("signatures:template_duplicate", args=[slug, template.pk])),
        ("get", reverse("signatures:template_delete", args=[slug, template.pk])),
        ("get", reverse("signatures:rule_list", args=[slug])),
        ("get", reverse("signatures:rule_new", args=[slug])),
        ("get", reverse("signatures:rule_edit", args=[slug, rule.pk])),
        ("post", reverse("signatures:rule_move", args=[slug, rule.pk, "up"])),
        ("post", reverse("signatures:rule_delete", args=[slug, rule.pk])),
        ("get", reverse("signatures:employee_list", args=[slug])),
        ("get", reverse("signatures:employee_search", args=[slug])),
        ("post", reverse("signatures:links_send", args=[slug])),
        ("get", reverse("signatures:employee_detail", args=[slug, employee.pk])),
        ("post", reverse("signatures:employee_link_create", args=[slug, employee.pk])),
        ("post", reverse("signatures:employee_links_revoke", args=[slug, employee.pk])),
    ]


def test_outsider_gets_404_on_every_url(client, other_org_admin, organization, template, rule, employee):
    client.force_login(other_org_admin)
    for method, url in org_urls(organization.slug, template, rule, employee):
        assert getattr(client, method)(url).status_code == 404, url


def test_other_organisations_objects_are_404_through_my_own_slug(client, org_admin, other_link, organization):
    ensure_default_templates(other_link.organization)
    foreign_template = SignatureTemplate.objects.for_org(other_link.organization).first()
    foreign_rule = SignatureRule.objects.create(organization=other_link.organization, kind="company", value="X",
                                                template=foreign_template)
    foreign_employee = make_employee(other_link)
    client.force_login(org_admin)
    for method, url in org_urls(organization.slug, foreign_template, foreign_rule, foreign_employee):
        if any(part in url for part in (f"/{foreign_template.pk}/", f"/{foreign_rule.pk}/",
                                        f"/{foreign_employee.pk}/")):
            assert getattr(client, method)(url).status_code == 404, url
    assert foreign_rule.template == foreign_template and SignatureRule.objects.filter(pk=foreign_rule.pk).exists()


def test_anonymous_is_sent_to_login(client, organization, template, rule, employee):
    for method, url in org_urls(organization.slug, template, rule, employee):
        assert getattr(client, method)(url).status_code == 302, url


def test_editor_manages_templates_and_rules_but_not_links(client, org_editor, organization, template, rule, employee):
    client.force_login(org_editor)
    slug = organization.slug
    admin_only = {reverse("signatures:links_send", args=[slug]),
                  reverse("signatures:employee_link_create", args=[slug, employee.pk]),
                  reverse("signatures:employee_links_revoke", args=[slug, employee.pk])}
    for method, url in org_urls(slug, template, rule, employee):
        status = getattr(client, method)(url).status_code
        if url in admin_only:
            assert status == 403, url
        else:
            assert status in (200, 302), url
    assert not SignatureAccess.objects.exists()


def test_template_list_creates_the_shipped_templates(client, org_editor, organization):
    client.force_login(org_editor)
    response = client.get(reverse("signatures:template_list", args=[organization.slug]))
    assert response.status_code == 200
    assert b"Classic" in response.content and b"Modern" in response.content


def test_create_edit_duplicate_delete_template(client, org_editor, organization, template):
    client.force_login(org_editor)
    slug = organization.slug
    response = client.post(reverse("signatures:template_new", args=[slug]), {
        "name": "Sales", "html": "<p>{{ first_name }}{% if mobile %} M {{ mobile }}{% endif %}</p>", "text": "",
        "is_default": "on"})
    created = SignatureTemplate.objects.for_org(organization).get(name="Sales")
    assert response.status_code == 302 and created.updated_by == org_editor
    assert list(SignatureTemplate.objects.for_org(organization).filter(is_default=True)) == [created]
    client.post(reverse("signatures:template_edit", args=[slug, created.pk]),
                {"name": "Sales", "html": "<b>{{ job_title }}</b>", "text": "{{ job_title }}"})  # unticked
    created.refresh_from_db()
    assert created.html == "<b>{{ job_title }}</b>" and created.is_default  # the default cannot be unticked away
    client.post(reverse("signatures:template_duplicate", args=[slug, created.pk]))
    copy = SignatureTemplate.objects.for_org(organization).get(name="Sales (copy)")
    assert copy.html == created.html and not copy.is_default
    assert client.post(reverse("signatures:template_delete", args=[slug, created.pk])).status_code == 200
    assert SignatureTemplate.objects.filter(pk=created.pk).exists()  # the default is kept
    client.post(reverse("signatures:template_delete", args=[slug, copy.pk]))
    assert not SignatureTemplate.objects.filter(pk=copy.pk).exists()


def test_template_used_by_a_rule_cannot_be_deleted(client, org_editor, organization, rule):
    other = SignatureTemplate.objects.create(organization=organization, name="Other", html="x")
    rule.template = other
    rule.save()
    client.force_login(org_editor)
    response = client.post(reverse("signatures:template_delete", args=[organization.slug, other.pk]))
    assert b"Rules use this template" in response.content
    assert SignatureTemplate.objects.filter(pk=other.pk).exists()


MALICIOUS_TEMPLATES = [
    "{{ first_name.__class__.__mro__ }}",
    "{{ ''.__class__ }}",
    "{{ first_name|attr('__class__') }}",
    "{% for i in range(10**9) %}x{% endfor %}",
    "{% include '/etc/passwd' %}",
    "{% extends 'base.html' %}",
    "{{ config }}{{ self.__init__ }}",
    "{% set x = 'a' * 10**8 %}{{ x }}",
    "{{ 'a' * 100000000 }}",
    "{{ lipsum.__globals__ }}",
    "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ 99999999999999**99999999999999 }}",
    "{{ first_name[0:10**9] }}{{ ().__class__.__base__.__subclasses__() }}",
]
# Legal but greedy: they render, within the renderer's budgets, and reveal nothing.
CONTAINED_TEMPLATES = [
    "{{ 9**9**9 }}",
    "{{ (first_name ~ first_name ~ first_name)|replace('', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx') }}",
    "{{ [first_name, first_name]|join(first_name * 100) * 50 }}",
]


@pytest.mark.parametrize("source", CONTAINED_TEMPLATES)
def test_greedy_templates_are_contained(client, org_editor, organization, source):
    client.force_login(org_editor)
    started = time.monotonic()
    preview = client.post(reverse("signatures:template_preview", args=[organization.slug]),
                          {"html": source, "text": ""}).json()
    assert time.monotonic() - started < 5
    if preview["ok"]:
        assert len(preview["html"]) <= 100_000 and "<class" not in preview["html"]
    else:
        assert preview["problems"]


@pytest.mark.parametrize("source", MALICIOUS_TEMPLATES)
def test_malicious_templates_are_refused_by_the_editor_quickly(client, org_editor, organization, source):
    client.force_login(org_editor)
    started = time.monotonic()
    response = client.post(reverse("signatures:template_new", args=[organization.slug]),
                           {"name": "Evil", "html": source, "text": ""})
    preview = client.post(reverse("signatures:template_preview", args=[organization.slug]),
                          {"html": source, "text": ""})
    assert time.monotonic() - started < 5
    assert response.status_code == 200  # the form comes back with the problem
    assert not SignatureTemplate.objects.filter(name="Evil").exists()
    assert preview.json()["ok"] is False and preview.json()["problems"]


def test_problems_are_reported_with_line_numbers(client, org_editor, organization):
    client.force_login(org_editor)
    response = client.post(reverse("signatures:template_new", args=[organization.slug]),
                           {"name": "Broken", "html": "<p>\n{% if mobile %}\n{{ mobile }}\n</p>", "text": ""})
    assert "line 2: the block `{% if mobile %}` is never closed" in response.content.decode()


def test_preview_renders_as_the_chosen_employee_and_escapes(client, org_editor, organization, link):
    employee = make_employee(link, first_name="<b>Bob</b>", job_title="{{7*7}}")
    client.force_login(org_editor)
    response = client.post(reverse("signatures:template_preview", args=[organization.slug]),
                           {"html": "<p>{{ first_name }} {{ job_title }} {{ nickname }}</p>", "text": "",
                            "employee": str(employee.pk)})
    data = response.json()
    assert data["ok"] and "&lt;b&gt;Bob&lt;/b&gt; {{7*7}}" in data["html"] and "49" not in data["html"]
    assert data["text"] == "<b>Bob</b> {{7*7}}"
    assert any("nickname" in problem for problem in data["problems"])


def test_preview_of_another_organisations_employee_is_404(client, org_editor, organization, other_link):
    client.force_login(org_editor)
    response = client.post(reverse("signatures:template_preview", args=[organization.slug]),
                           {"html": "x", "employee": str(make_employee(other_link).pk)})
    assert response.status_code == 404


def test_employee_search_stays_in_the_organisation(client, org_editor, organization, link, other_link):
    make_employee(link, display_name="Grace Hopper")
    make_employee(other_link, display_name="Grace Kelly")
    client.force_login(org_editor)
    results = client.get(reverse("signatures:employee_search", args=[organization.slug]), {"q": "grace"}).json()
    assert [r["name"] for r in results["results"]] == ["Grace Hopper"]


def test_rule_create_move_and_describe(client, org_editor, organization, link, template):
    client.force_login(org_editor)
    slug = organization.slug
    group = make_group(link, "Sales Team")
    client.post(reverse("signatures:rule_new", args=[slug]), {"kind": "department", "text_value": "Sales",
                                                              "template": template.pk})
    client.post(reverse("signatures:rule_new", args=[slug]), {"kind": "group", "group": group.pk,
                                                              "template": template.pk})
    client.post(reverse("signatures:rule_new", args=[slug]), {"kind": "link", "link": link.pk,
                                                              "template": template.pk})
    rules = list(SignatureRule.objects.for_org(organization))
    assert [(r.kind, r.value) for r in rules] == [("department", "Sales"), ("group", group.graph_id),
                                                  ("link", str(link.uid))]
    client.post(reverse("signatures:rule_move", args=[slug, rules[2].pk, "up"]))
    client.post(reverse("signatures:rule_move", args=[slug, rules[0].pk, "down"]))
    assert [r.kind for r in SignatureRule.objects.for_org(organization)] == ["link", "department", "group"]
    page = client.get(reverse("signatures:rule_list", args=[slug])).content.decode()
    assert "member of Sales Team (or a nested group)" in page and "from the Entra tenant Acme HQ" in page


def test_rule_form_needs_a_value_and_rejects_foreign_templates(client, org_editor, organization, other_org):
    ensure_default_templates(other_org)
    foreign = SignatureTemplate.objects.for_org(other_org).first()
    client.force_login(org_editor)
    response = client.post(reverse("signatures:rule_new", args=[organization.slug]),
                           {"kind": "department", "text_value": "", "template": foreign.pk})
    assert response.status_code == 200 and not SignatureRule.objects.exists()


def test_employee_detail_shows_reason_and_sandboxed_preview(client, org_editor, organization, link, rule):
    employee = make_employee(link, department="Sales", job_title="<script>alert(1)</script>")
    client.force_login(org_editor)
    response = client.get(reverse("signatures:employee_detail", args=[organization.slug, employee.pk]))
    page = response.content.decode()
    assert "Rule 1: department is Sales" in page
    assert '<iframe class="signature-frame" id="employee-preview" sandbox srcdoc="' in page
    assert "<script>alert" not in page
    assert response["Content-Security-Policy"] == SIGNATURE_CSP
    assert "Copy signed link" not in page  # editors see no links


def test_admin_creates_copies_and_revokes_links(client, org_admin, organization, employee):
    client.force_login(org_admin)
    slug = organization.slug
    client.post(reverse("signatures:employee_link_create", args=[slug, employee.pk]))
    access = SignatureAccess.objects.get(employee=employee)
    page = client.get(reverse("signatures:employee_detail", args=[slug, employee.pk])).content.decode()
    assert links.url_for(access) in page
    client.post(reverse("signatures:employee_links_revoke", args=[slug, employee.pk]))
    access.refresh_from_db()
    assert access.revoked_at is not None


def test_no_link_for_a_removed_employee(client, org_admin, organization, link):
    gone = make_employee(link, status="removed", removed=True)
    client.force_login(org_admin)
    client.post(reverse("signatures:employee_link_create", args=[organization.slug, gone.pk]))
    assert not SignatureAccess.objects.exists()


def test_employee_list_is_searchable_and_paged(client, org_editor, organization, link):
    for n in range(55):
        make_employee(link, display_name=f"Person {n:02d}")
    make_employee(link, display_name="Zed Sales", department="Sales")
    client.force_login(org_editor)
    url = reverse("signatures:employee_list", args=[organization.slug])
    first = client.get(url).content.decode()
    assert "Person 00" in first and "Zed Sales" not in first and "Page 1 of 2" in first
    assert "Zed Sales" in client.get(url, {"q": "sales"}).content.decode()


def test_send_links_queues_the_task(client, org_admin, organization, link, django_capture_on_commit_callbacks,
                                    monkeypatch):
    from signatures import tasks

    calls = []
    monkeypatch.setattr(tasks.send_signature_links, "delay", lambda *args: calls.append(args))
    a, b = make_employee(link), make_employee(link)
    client.force_login(org_admin)
    url = reverse("signatures:links_send", args=[organization.slug])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"scope": "selected", "employees": [a.pk, "999999", "x"]})
        client.post(url, {"scope": "all"})
    assert calls == [(organization.pk, [a.pk], org_admin.pk), (organization.pk, None, org_admin.pk)]
    assert b.pk not in calls[0][1]


# ---- the employee's page by signed link --------------------------------------------------------------------


def test_signature_page_by_link(client, link, employee):
    token = links.token_for(links.issue(employee))
    response = client.get(reverse("signatures:page_by_link", args=[token]))
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == SIGNATURE_CSP
    assert response["Cache-Control"] == "private, no-store" and response["Referrer-Policy"] == "no-referrer"
    page = response.content.decode()
    assert "Ada Lovelace" in page and 'id="signature-data"' in page and "Copy signature" in page
    download = client.get(reverse("signatures:download_by_link", args=[token]))
    assert download["Content-Disposition"] == 'attachment; filename="signature.htm"'
    assert b"Ada Lovelace" in download.content and download.content.startswith(b"<!DOCTYPE html>")


def test_expired_tampered_and_revoked_links_are_refused(client, employee):
    expired = links.issue(employee)
    SignatureAccess.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    revoked = links.issue(employee)
    SignatureAccess.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    good_access = links.issue(employee)
    good = links.token_for(good_access)
    assert client.get(reverse("signatures:page_by_link", args=[good])).status_code == 200
    links.revoke_all(employee)
    for token, words in ((links.token_for(expired), "expired"), (links.token_for(revoked), "withdrawn"),
                         (good[:-2] + "xx", "not valid"), (good, "withdrawn")):
        for name in ("signatures:page_by_link", "signatures:download_by_link"):
            response = client.get(reverse(name, args=[token]))
            assert response.status_code == 404 and words in response.content.decode()
            assert b"Ada Lovelace" not in response.content


def test_removed_employees_link_stops_working(client, employee):
    token = links.token_for(links.issue(employee))
    assert client.get(reverse("signatures:page_by_link", args=[token])).status_code == 200
    employee.status, employee.removed_at = "removed", timezone.now()
    employee.save()
    assert client.get(reverse("signatures:page_by_link", args=[token])).status_code == 404


def test_a_link_of_organisation_a_shows_nothing_of_organisation_b(client, link, other_link):
    mine = make_employee(link, display_name="Alice Acme", department="Sales")
    theirs = make_employee(other_link, display_name="Bob Globex", department="Sales")
    make_photo(theirs)
    b_template = SignatureTemplate.objects.create(organization=other_link.organization, name="B",
                                                  html="<p>GLOBEX-ONLY {{ display_name }}</p>", is_default=True)
    SignatureRule.objects.create(organization=other_link.organization, kind="department", value="Sales",
                                 template=b_template)
    page = client.get(reverse("signatures:page_by_link", args=[links.token_for(links.issue(mine))])).content
    assert b"Alice Acme" in page
    assert b"GLOBEX-ONLY" not in page and b"Bob Globex" not in page and str(theirs.photo.uid).encode() not in page
    assert b"Globex" not in page


# ---- photos ------------------------------------------------------------------------------------------------


def test_photo_is_cacheable_with_etag_and_resizes(client, employee):
    photo = make_photo(employee, size=200)
    url = reverse("signatures:photo", args=[photo.uid])
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"] == "public, max-age=86400"
    assert bytes(response.content) == bytes(photo.jpeg)
    assert client.get(url, HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304
    from PIL import Image
    import io

    small = client.get(url, {"s": "96"})
    assert Image.open(io.BytesIO(small.content)).size == (96, 96) and small["ETag"] != response["ETag"]
    assert client.get(url, {"s": "5000"}).content == response.content  # unknown sizes serve the original


def test_photo_of_removed_employee_or_unknown_uid_is_404(client, link):
    gone = make_employee(link, status="removed", removed=True)
    photo = make_photo(gone)
    assert client.get(reverse("signatures:photo", args=[photo.uid])).status_code == 404
    import uuid

    assert client.get(reverse("signatures:photo", args=[uuid.uuid4()])).status_code == 404


def test_photo_url_in_signature_points_at_the_portal(client, settings, link):
    settings.SITE_URL = "https://sig.example"
    employee = make_employee(link)
    photo = make_photo(employee)
    page = client.get(reverse("signatures:page_by_link", args=[links.token_for(links.issue(employee))]))
    assert f"https://sig.example/p/{photo.uid}.jpg".encode() in page.content


def test_no_photo_hides_the_image(client, link):
    employee = make_employee(link)
    page = client.get(reverse("signatures:page_by_link", args=[links.token_for(links.issue(employee))]))
    assert b"/p/" not in page.content


def test_signature_home_without_sign_in_offers_microsoft(client, settings):
    settings.ENTRA_CLIENT_ID, settings.ENTRA_CLIENT_SECRET = "client", "secret"
    page = client.get(reverse("signatures:signature_home")).content.decode()
    assert "Sign in with Microsoft" in page and "?cloud=global" in page


def test_member_of_two_orgs_reaches_only_by_slug(client, organization, other_org, template, rule, employee):
    user = factories.make_member(organization, "editor", "both@example.com")
    from tenants.models import Membership

    Membership.objects.create(user=user, organization=other_org, role="editor")
    client.force_login(user)
    response = client.get(reverse("signatures:template_edit", args=[other_org.slug, template.pk]))
    assert response.status_code == 404


def test_cached_page_follows_template_employee_and_organisation_changes(client, link, employee):
    url = reverse("signatures:page_by_link", args=[links.token_for(links.issue(employee))])
    assert b"Ada Lovelace" in client.get(url).content
    template = SignatureTemplate.objects.for_org(link.organization).get(is_default=True)
    template.html = "<p>NEW LOOK {{ job_title }}</p>"
    template.save()
    assert b"NEW LOOK Analyst" in client.get(url).content
    employee.fields["job_title"] = "Chief"
    employee.content_hash = "changed"
    employee.save()
    assert b"NEW LOOK Chief" in client.get(url).content
    SignatureRule.objects.create(organization=link.organization, kind="department", value="Engineering",
                                 template=SignatureTemplate.objects.for_org(link.organization).get(name="Modern"))
    assert b"NEW LOOK" not in client.get(url).content
    organization = link.organization
    organization.name = "Acme Renamed"
    organization.save()
    assert b"Acme Renamed" in client.get(url).content


def test_link_check_and_resolve_agree(link, employee):
    access = links.issue(employee)
    token = links.token_for(access)
    access_id, version, last_used = links.check(token)
    assert access_id == access.pk and last_used is None and version[0] == employee.pk
    links.revoke_all(employee)
    with pytest.raises(links.LinkRefused, match=links.REVOKED):
        links.check(token)


def test_changes_are_audited(client, org_admin, organization, employee, template):
    from portal.models import AuditEvent

    client.force_login(org_admin)
    slug = organization.slug
    client.post(reverse("signatures:template_edit", args=[slug, template.pk]),
                {"name": "Classic", "html": "<p>{{ first_name }}</p>", "text": ""})
    client.post(reverse("signatures:rule_new", args=[slug]), {"kind": "company", "text_value": "Acme",
                                                              "template": template.pk})
    client.post(reverse("signatures:employee_link_create", args=[slug, employee.pk]))
    client.post(reverse("signatures:employee_links_revoke", args=[slug, employee.pk]))
    actions = list(AuditEvent.objects.filter(organization=organization).order_by("id")
                   .values_list("action", "actor_email"))
    assert actions == [("template.updated", "admin@acme.test"), ("signature_rule.created", "admin@acme.test"),
                       ("signature_link.created", "admin@acme.test"), ("signature_link.revoked", "admin@acme.test")]
    assert AuditEvent.objects.get(action="template.updated").details["changed"] == ["html", "text"]

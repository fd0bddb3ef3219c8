"""The admin's sync pages: access by role and organisation, Sync Now, progress, held removals, history, and the
Employees, Groups and Contacts views."""

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from directory_sync import directory_views, engine, tasks, views
from directory_sync.models import Employee, PendingRemoval, SyncRun, SyncSettings
from portal.models import AuditEvent
from tests.directory_sync import sync_factories as sf

pytestmark = pytest.mark.django_db


@pytest.fixture
def data(link):
    alice = sf.make_employee(link, "Alice Archer", department="Sales")
    bob = sf.make_employee(link, "Bob Baker", department="Support")
    guest = sf.make_employee(link, "Gina Guest", userType="Guest")
    group = sf.make_group(link, "All staff", members=[alice.graph_id, bob.graph_id])
    contact = sf.make_contact(link, "Carla Contractor", mail="carla@vendor.test", companyName="Vendor")
    run = sf.make_run(
        link, diff={"added": [{"id": alice.graph_id, "name": "Alice Archer", "status": "active"}]}
    )
    return {
        "alice": alice,
        "bob": bob,
        "guest": guest,
        "group": group,
        "contact": contact,
        "run": run,
        "link": link,
    }


def _pages(slug, data):
    link, run, alice = data["link"].pk, data["run"].pk, data["alice"].pk
    return [
        ("directory_sync:employee_list", [slug]),
        ("directory_sync:employee_export", [slug]),
        ("directory_sync:employee_detail", [slug, alice]),
        ("directory_sync:group_list", [slug]),
        ("directory_sync:group_export", [slug]),
        ("directory_sync:contact_list", [slug]),
        ("directory_sync:contact_export", [slug]),
        ("directory_sync:run_list", [slug]),
        ("directory_sync:run_detail", [slug, run]),
        ("directory_sync:link_progress", [slug, link]),
        ("directory_sync:link_panel", [slug, link]),
        ("directory_sync:fields_edit", [slug, link]),
        ("directory_sync:email_rules_edit", [slug, link]),
        ("directory_sync:filters_edit", [slug, link]),
        ("directory_sync:cleanup_edit", [slug, link]),
    ]


POSTS = [
    ("directory_sync:link_sync_now", "link"),
    ("directory_sync:fields_edit", "link"),
    ("directory_sync:email_rules_edit", "link"),
    ("directory_sync:filters_edit", "link"),
    ("directory_sync:cleanup_edit", "link"),
    ("directory_sync:employee_restore", "alice"),
]


def _post_url(name, kind, slug, data):
    return reverse(name, args=[slug, data[kind].pk])


def test_every_page_is_404_for_an_outsider(client, other_org_admin, data, organization):
    client.force_login(other_org_admin)
    for name, args in _pages(organization.slug, data):
        assert client.get(reverse(name, args=args)).status_code == 404, name
    for name, kind in POSTS:
        assert client.post(_post_url(name, kind, organization.slug, data)).status_code == 404, name
    url = reverse("directory_sync:run_decide", args=[organization.slug, data["run"].pk, "approve"])
    assert client.post(url).status_code == 404
    for name, kind in POSTS[:1]:
        assert client.get(_post_url(name, kind, organization.slug, data)).status_code == 404, name


def test_ids_of_another_organisation_are_404_through_my_own_slug(client, org_admin, organization, other_link):
    other = sf.make_employee(other_link, "Olga Other")
    run = sf.make_run(other_link)
    client.force_login(org_admin)
    slug = organization.slug
    assert client.get(reverse("directory_sync:employee_detail", args=[slug, other.pk])).status_code == 404
    assert client.get(reverse("directory_sync:run_detail", args=[slug, run.pk])).status_code == 404
    assert client.get(reverse("directory_sync:fields_edit", args=[slug, other_link.pk])).status_code == 404
    assert client.post(reverse("directory_sync:link_sync_now", args=[slug, other_link.pk])).status_code == 404
    assert client.post(reverse("directory_sync:employee_restore", args=[slug, other.pk])).status_code == 404
    assert client.post(reverse("directory_sync:run_decide", args=[slug, run.pk, "reject"])).status_code == 404
    # Filters never reach across organisations either.
    page = client.get(reverse("directory_sync:employee_list", args=[slug]), {"link": other_link.pk})
    assert b"Olga Other" not in page.content


def test_editor_reads_every_page_and_cannot_post(client, org_editor, data, organization):
    client.force_login(org_editor)
    for name, args in _pages(organization.slug, data):
        assert client.get(reverse(name, args=args)).status_code == 200, name
    settings_page = client.get(
        reverse("directory_sync:fields_edit", args=[organization.slug, data["link"].pk])
    )
    assert b"<fieldset disabled>" in settings_page.content
    for name, kind in POSTS:
        assert client.post(_post_url(name, kind, organization.slug, data)).status_code == 403, name
    url = reverse("directory_sync:run_decide", args=[organization.slug, data["run"].pk, "approve"])
    assert client.post(url).status_code == 403
    assert not SyncRun.objects.filter(trigger=SyncRun.Trigger.MANUAL).exists()


# --- Sync Now and progress ----------------------------------------------------------------------------------


def test_sync_now_creates_one_pending_run_and_enqueues_it_after_commit(
    client, org_admin, organization, link, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(tasks.sync_link, "delay", lambda *args, **kwargs: sent.append((args, kwargs)))
    client.force_login(org_admin)
    url = reverse("directory_sync:link_sync_now", args=[organization.slug, link.pk])
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(url, HTTP_ACCEPT="application/json")
    with django_capture_on_commit_callbacks(execute=True):
        second = client.post(url, HTTP_ACCEPT="application/json")
    run = SyncRun.objects.get(link=link)
    assert (first.status_code, first.json()["started"], first.json()["run_id"]) == (202, True, run.pk)
    assert (second.status_code, second.json()["started"]) == (409, False)
    assert "already running" in second.json()["message"]
    assert (run.status, run.trigger) == (SyncRun.Status.PENDING, SyncRun.Trigger.MANUAL)
    assert sent == [((link.pk,), {"trigger": "manual", "run_id": run.pk})]


def test_sync_now_without_javascript_redirects_with_a_message(
    client, org_admin, organization, link, monkeypatch
):
    monkeypatch.setattr(tasks.sync_link, "delay", lambda *args, **kwargs: None)
    client.force_login(org_admin)
    url = reverse("directory_sync:link_sync_now", args=[organization.slug, link.pk])
    client.post(url)
    response = client.post(url, follow=True)
    assert b"A sync is already running" in response.content


def test_a_running_run_with_a_live_claim_blocks_sync_now_and_a_stale_pending_one_does_not(
    client, org_admin, organization, link, monkeypatch
):
    monkeypatch.setattr(tasks.sync_link, "delay", lambda *args, **kwargs: None)
    client.force_login(org_admin)
    url = reverse("directory_sync:link_sync_now", args=[organization.slug, link.pk])
    running = sf.make_run(link, status=SyncRun.Status.RUNNING)
    link.sync_claimed_at = timezone.now()
    link.save()
    assert client.post(url, HTTP_ACCEPT="application/json").status_code == 409
    # The worker died: its claim went stale, and an old pending run was never picked up.
    link.sync_claimed_at = timezone.now() - engine.CLAIM_STALE_AFTER - timedelta(minutes=1)
    link.save()
    stale = sf.make_run(link, status=SyncRun.Status.PENDING, created_at=timezone.now() - timedelta(hours=1))
    assert client.post(url, HTTP_ACCEPT="application/json").status_code == 202
    stale.refresh_from_db()
    assert stale.status == SyncRun.Status.SKIPPED
    assert running.pk != stale.pk


def test_progress_reports_the_running_run_against_the_last_full_listing(
    client, org_editor, organization, link
):
    sf.make_run(link, seen=200, is_full=True, created_at=timezone.now() - timedelta(hours=3))
    sf.make_run(link, seen=3, created_at=timezone.now() - timedelta(hours=1))  # a delta round: changes only
    sf.make_run(link, status=SyncRun.Status.RUNNING, phase="users", users_processed=50, pages_fetched=1)
    link.sync_claimed_at = timezone.now()
    link.save()
    client.force_login(org_editor)
    url = reverse("directory_sync:link_progress", args=[organization.slug, link.pk])
    data = client.get(url).json()
    assert data["active"] is True
    assert (data["users_processed"], data["pages_fetched"], data["expected"], data["percent"]) == (
        50,
        1,
        200,
        25,
    )
    # The worker died: its claim goes stale and the page stops showing the run as going.
    link.sync_claimed_at = timezone.now() - engine.CLAIM_STALE_AFTER - timedelta(minutes=1)
    link.save()
    assert client.get(url).json()["active"] is False


def test_the_chart_carries_the_employee_count_across_delta_rounds(link):
    full = sf.make_run(link, seen=100, is_full=True)
    delta = sf.make_run(link, seen=7, added=5, removed=2)
    again = sf.make_run(link, seen=104, is_full=True)
    assert views.employee_series([full, delta, again]) == [100, 103, 104]


def test_dashboard_panel_shows_counts_chart_and_the_held_removals(client, org_admin, organization, data):
    link = data["link"]
    held = sf.make_run(link, status=SyncRun.Status.HELD, held=2)
    for employee in (data["alice"], data["bob"]):
        PendingRemoval.objects.create(
            organization=organization,
            link=link,
            run=held,
            employee=employee,
            reason="not in the directory any more",
        )
    client.force_login(org_admin)
    page = client.get(reverse("dashboard", args=[organization.slug])).content.decode()
    assert 'class="count-employees"' in page and ">2</a>" in page  # Alice and Bob; the guest is excluded
    assert "1 excluded" in page
    assert "2 removals waiting for approval" in page and "Alice Archer" in page and "Bob Baker" in page
    assert "<svg" in page and "<rect" in page
    assert "Sync now" in page


def test_approving_held_removals_removes_exactly_those_people_once(client, org_admin, organization, data):
    link = data["link"]
    held = sf.make_run(link, status=SyncRun.Status.HELD, held=1)
    PendingRemoval.objects.create(
        organization=organization,
        link=link,
        run=held,
        employee=data["alice"],
        reason="not in the directory any more",
    )
    client.force_login(org_admin)
    url = reverse("directory_sync:run_decide", args=[organization.slug, held.pk, "approve"])
    client.post(url)
    client.post(url)
    statuses = dict(Employee.objects.filter(link=link).values_list("display_name", "status"))
    assert statuses == {"Alice Archer": "removed", "Bob Baker": "active", "Gina Guest": "excluded"}
    held.refresh_from_db()
    assert (held.removals_decision, held.decided_by, held.removed) == ("approved", org_admin, 1)
    assert AuditEvent.objects.filter(action="sync.removals_approved").count() == 1


def test_rejecting_held_removals_removes_nobody(client, org_admin, organization, data):
    link = data["link"]
    held = sf.make_run(link, status=SyncRun.Status.HELD, held=1)
    PendingRemoval.objects.create(
        organization=organization, link=link, run=held, employee=data["alice"], reason="gone"
    )
    client.force_login(org_admin)
    client.post(reverse("directory_sync:run_decide", args=[organization.slug, held.pk, "reject"]))
    assert not Employee.objects.filter(status=Employee.Status.REMOVED).exists()
    held.refresh_from_db()
    assert held.removals_decision == "rejected"


# --- history ------------------------------------------------------------------------------------------------


def test_run_detail_shows_the_diff_in_words(client, org_editor, organization, link):
    run = sf.make_run(
        link,
        errors=["Photos were not updated: permission missing."],
        diff={
            "added": [{"id": "1", "name": "Ann New", "status": "active"}],
            "updated": [{"id": "2", "name": "Uma Updated", "changes": {"job_title": ["Clerk", "Manager"]}}],
            "removed": [{"name": "Rex Removed", "reason": "not in the directory any more"}],
            "excluded": [{"id": "3", "name": "Gus Guest", "reasons": ["guest account"]}],
        },
    )
    client.force_login(org_editor)
    page = client.get(reverse("directory_sync:run_detail", args=[organization.slug, run.pk])).content.decode()
    for text in (
        "Ann New",
        "Uma Updated",
        "<del>Clerk</del> → <ins>Manager</ins>",
        "Rex Removed",
        "not in the directory any more",
        "Gus Guest",
        "guest account",
        "Photos were not updated",
    ):
        assert text in page


def test_history_lists_runs_of_the_chosen_link(client, org_editor, organization, link):
    other = sf.make_run(
        sf_link := __import__("tests.factories", fromlist=["make_link"]).make_link(
            organization, name="Second"
        ),
        seen=77,
    )
    sf.make_run(link, seen=12, trigger=SyncRun.Trigger.MANUAL)
    client.force_login(org_editor)
    url = reverse("directory_sync:run_list", args=[organization.slug])
    page = client.get(url, {"link": link.pk}).content.decode()
    assert "Sync Now" in page and "<td>12</td>" in page and "<td>77</td>" not in page
    assert other.link_id == sf_link.pk


@pytest.mark.parametrize("view", ["directory_sync:employee_list", "directory_sync:run_list"])
def test_list_pages_run_a_constant_number_of_queries(client, org_admin, organization, link, view):
    def queries(rows):
        Employee.objects.all().delete()
        SyncRun.objects.all().delete()
        sf.make_employees(link, rows)
        for _ in range(rows):
            sf.make_run(link)
        with CaptureQueriesContext(connection) as context:
            response = client.get(reverse(view, args=[organization.slug]), {"per_page": rows})
        assert response.status_code == 200
        return len(context.captured_queries)

    client.force_login(org_admin)
    assert queries(10) == queries(100)


# --- Employees, Groups, Contacts ---------------------------------------------------------------------------


def test_employee_columns_follow_the_configured_order(client, org_editor, organization, data):
    settings = engine.sync_settings_for(data["link"])
    config = settings.sync_config()
    by_key = {spec.key: spec for spec in config.fields}
    order = ["department", "display_name", "email"]
    settings.set_sync_config(type(config)(fields=tuple(by_key[key] for key in order)))
    settings.save()
    client.force_login(org_editor)
    page = client.get(reverse("directory_sync:employee_list", args=[organization.slug])).content.decode()
    heads = [page.index(f'data-key="{key}"') for key in order]
    assert heads == sorted(heads)


@pytest.mark.parametrize("indexed", [False, True], ids=["table-scan", "trigram-index"])
def test_employee_search_and_filters(client, org_editor, organization, data, monkeypatch, indexed):
    monkeypatch.setattr(directory_views, "has_search_index", lambda: indexed)
    client.force_login(org_editor)
    url = reverse("directory_sync:employee_list", args=[organization.slug])

    def names(**params):
        content = client.get(url, params).content.decode()
        return [name for name in ("Alice Archer", "Bob Baker", "Gina Guest") if name in content]

    assert names() == ["Alice Archer", "Bob Baker"]
    assert names(q="bak") == ["Bob Baker"]
    assert (
        client.get(url, {"q": "a", "status": "all"}).context["count"] == 3
    )  # counted in the page's own scan
    assert names(q="alice@") == ["Alice Archer"]
    assert names(department="Support") == ["Bob Baker"]
    assert names(status="excluded") == ["Gina Guest"]
    assert names(status="all", email_source="mail") == ["Alice Archer", "Bob Baker", "Gina Guest"]
    assert names(email_source="none") == []


def test_employee_paging_walks_forward_and_back_by_cursor(client, org_editor, organization, link):
    sf.make_employees(link, 25)
    client.force_login(org_editor)
    url = reverse("directory_sync:employee_list", args=[organization.slug])
    first = client.get(url, {"per_page": 10})
    assert first.context["count"] == 25 and first.context["previous_query"] == ""
    second = client.get(url + "?" + first.context["next_query"])
    names = [row["employee"].display_name for row in second.context["rows"]]
    assert names == [f"Person {i:06d}" for i in range(10, 20)]
    third = client.get(url + "?" + second.context["next_query"])
    assert len(third.context["rows"]) == 5 and third.context["next_query"] == ""
    back = client.get(url + "?" + third.context["previous_query"])
    assert [row["employee"].display_name for row in back.context["rows"]] == names


def test_employee_page_shows_mapped_values_source_email_source_and_groups(
    client, org_editor, organization, data
):
    client.force_login(org_editor)
    url = reverse("directory_sync:employee_detail", args=[organization.slug, data["alice"].pk])
    page = client.get(url).content.decode()
    assert "alice@contoso.com" in page and 'class="email-source">mail<' in page
    assert "<code>accountEnabled</code>" in page and "All staff" in page


def test_directory_values_are_escaped(client, org_editor, organization, link):
    sf.make_employee(link, "<script>alert(1)</script> X", department="<b>Ops</b>")
    client.force_login(org_editor)
    for name in ("directory_sync:employee_list", "dashboard"):
        page = client.get(reverse(name, args=[organization.slug])).content.decode()
        assert "<script>alert(1)</script>" not in page and "<b>Ops</b>" not in page
    assert (
        "&lt;script&gt;alert(1)&lt;/script&gt;"
        in client.get(reverse("directory_sync:employee_list", args=[organization.slug])).content.decode()
    )


def test_csv_export_streams_the_current_view_and_defuses_formulas(
    client, org_editor, organization, link, data
):
    sf.make_employee(link, "=HYPERLINK(evil) Eve", department="Sales")
    client.force_login(org_editor)
    url = reverse("directory_sync:employee_export", args=[organization.slug])
    response = client.get(url, {"department": "Sales"})
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert header[:3] == ["First name", "Last name", "Display name"]
    names = sorted(row[2] for row in body)
    assert names == ["'=HYPERLINK(evil) Eve", "Alice Archer"]


def test_groups_and_contacts_lists(client, org_editor, organization, data):
    client.force_login(org_editor)
    groups = client.get(reverse("directory_sync:group_list", args=[organization.slug])).content.decode()
    assert "All staff" in groups and "<td>2</td>" in groups
    contacts = client.get(reverse("directory_sync:contact_list", args=[organization.slug]), {"q": "carla"})
    assert "Carla Contractor" in contacts.content.decode() and "Vendor" in contacts.content.decode()


def test_restore_brings_a_removed_person_back(client, org_admin, organization, link):
    gone = sf.make_employee(
        link,
        "Rita Removed",
        status=Employee.Status.REMOVED,
        overrides={"removed_at": timezone.now(), "removal_reason": "gone"},
    )
    client.force_login(org_admin)
    page = client.get(reverse("directory_sync:cleanup_edit", args=[organization.slug, link.pk]))
    assert b"Rita Removed" in page.content
    client.post(reverse("directory_sync:employee_restore", args=[organization.slug, gone.pk]))
    gone.refresh_from_db()
    assert gone.status == Employee.Status.ACTIVE
    assert AuditEvent.objects.filter(action="sync.employee_restored").exists()


def test_settings_exist_for_each_link_shown(client, org_admin, organization, link):
    client.force_login(org_admin)
    client.get(reverse("directory_sync:fields_edit", args=[organization.slug, link.pk]))
    assert SyncSettings.objects.filter(link=link).exists()


def test_deciding_never_redirects_off_site(client, org_admin, organization, link):
    held = sf.make_run(link, status=SyncRun.Status.HELD)
    client.force_login(org_admin)
    url = reverse("directory_sync:run_decide", args=[organization.slug, held.pk, "reject"])
    response = client.post(url, {"next": "https://evil.example/phish"})
    assert response["Location"] == reverse("dashboard", args=[organization.slug])


def test_paging_through_people_with_the_same_name_loses_and_repeats_nobody(
    client, org_editor, organization, link
):
    for _ in range(15):
        sf.make_employee(link, "Sam Same")
    client.force_login(org_editor)
    url = reverse("directory_sync:employee_list", args=[organization.slug])
    first = client.get(url, {"per_page": 10})
    second = client.get(url + "?" + first.context["next_query"])
    seen = [row["employee"].pk for row in first.context["rows"] + second.context["rows"]]
    assert sorted(seen) == sorted(Employee.objects.values_list("pk", flat=True)) and len(set(seen)) == 15
    back = client.get(url + "?" + second.context["previous_query"])
    assert [row["employee"].pk for row in back.context["rows"]] == seen[:10]

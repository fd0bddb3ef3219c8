"""The sync settings pages: fields table editing, email rules, filters with validation and preview, clean-up."""

import pytest
from django.urls import reverse

from directory_sync import engine, graph, graph_reads, rules, rules_config, settings_views
from directory_sync.models import SyncSettings
from portal.models import AuditEvent
from tests.directory_sync import sync_factories as sf

pytestmark = pytest.mark.django_db


def _fields_post(specs, action, **extra):
    return {
        "key": [s.key for s in specs],
        "label": [s.label for s in specs],
        "source": [s.source for s in specs],
        "action": action,
        **extra,
    }


def _config(link):
    return SyncSettings.objects.get(link=link).sync_config()


@pytest.fixture
def admin_client(client, org_admin):
    client.force_login(org_admin)
    return client


def test_fields_reorder_rename_remove_then_save_records_an_audit_event(admin_client, organization, link):
    url = reverse("directory_sync:fields_edit", args=[organization.slug, link.pk])
    specs = list(engine.sync_settings_for(link).sync_config().fields)
    page = admin_client.post(url, _fields_post(specs, "down:0"))
    moved = page.context["specs"]
    assert [s.key for s in moved[:2]] == ["last_name", "first_name"]
    assert [s.key for s in _config(link).fields[:2]] == ["first_name", "last_name"]  # nothing saved yet
    moved = [s if s.key != "mobile" else type(s)(s.key, "Cell", s.source) for s in moved]
    page = admin_client.post(url, _fields_post(moved, "remove:2"))
    remaining = page.context["specs"]
    assert "display_name" not in [s.key for s in remaining]
    response = admin_client.post(url, _fields_post(remaining, "save"))
    assert response.status_code == 302
    saved = _config(link).fields
    assert [s.key for s in saved[:2]] == ["last_name", "first_name"]
    assert {s.key: s.label for s in saved}["mobile"] == "Cell"
    event = AuditEvent.objects.get(action="sync.fields_changed")
    assert event.organization == organization and event.actor.email == "admin@acme.test"
    assert "fields" in event.details["changes"]


def test_adding_a_field_validates_the_graph_property(admin_client, organization, link):
    url = reverse("directory_sync:fields_edit", args=[organization.slug, link.pk])
    specs = list(engine.sync_settings_for(link).sync_config().fields)
    bad = admin_client.post(url, _fields_post(specs, "add", new_source="jobtitle", new_label="Role"))
    assert "Did you mean &#x27;jobTitle&#x27;?" in bad.content.decode()
    assert len(bad.context["specs"]) == len(specs)
    added = admin_client.post(
        url,
        _fields_post(
            specs,
            "add",
            new_source="onPremisesExtensionAttributes.extensionAttribute7",
            new_label="Cost centre",
        ),
    )
    new = added.context["specs"][-1]
    assert (new.key, new.label) == ("cost_centre", "Cost centre")
    admin_client.post(url, _fields_post(added.context["specs"], "save"))
    assert _config(link).fields[-1].source == "onPremisesExtensionAttributes.extensionAttribute7"
    extension = admin_client.post(url, _fields_post(specs, "add", new_source="extension_123_cost"))
    assert "is not a directory extension name" in extension.content.decode()


def test_the_picker_offers_extension_attributes_and_manager_fields(admin_client, organization, link):
    page = admin_client.get(reverse("directory_sync:fields_edit", args=[organization.slug, link.pk]))
    content = page.content.decode()
    assert 'value="onPremisesExtensionAttributes.extensionAttribute15"' in content
    assert 'value="manager.mail"' in content and 'value="officeLocation"' in content
    assert 'value="aboutMe"' not in content  # not readable in a listing


def test_email_rules_save_and_warn_about_the_upn(admin_client, organization, link):
    url = reverse("directory_sync:email_rules_edit", args=[organization.slug, link.pk])
    assert "may bounce" in admin_client.get(url).content.decode()
    admin_client.post(url, {"mail": "on", "upn": "on", "action": "save"})
    steps = _config(link).email_steps
    assert (steps.mail, steps.proxy_addresses, steps.other_mails, steps.upn) == (True, False, False, True)
    assert AuditEvent.objects.filter(action="sync.email_changed").exists()
    none = admin_client.post(url, {"action": "save"})
    assert "Turn on at least one email source" in none.content.decode()


def test_an_invalid_filter_is_refused_with_its_position_in_words(admin_client, organization, link):
    url = reverse("directory_sync:filters_edit", args=[organization.slug, link.pk])
    page = admin_client.post(
        url, {"odata_filter": "department eq 'Sales' and", "action": "save", "exclude_disabled": "on"}
    )
    content = page.content.decode()
    assert "The filter is not valid" in content and "at character" in content
    assert _config(link).odata_filter == ""
    assert not AuditEvent.objects.filter(action="sync.filters_changed").exists()


def test_filter_preview_counts_and_explains_without_saving(admin_client, organization, link):
    for name in ("Ann Sales", "Sam Sales"):
        sf.make_employee(link, name, department="Sales")
    sf.make_employee(link, "Olly Ops", department="Operations")
    sf.make_employee(link, "Gail Guest", userType="Guest", department="Sales")
    url = reverse("directory_sync:filters_edit", args=[organization.slug, link.pk])
    page = admin_client.post(
        url,
        {
            "odata_filter": "department eq 'Sales'",
            "exclude_guests": "on",
            "exclude_disabled": "on",
            "rule_field": ["display_name"],
            "rule_op": ["starts_with"],
            "rule_value": ["Sam"],
            "rule_action": ["exclude"],
            "action": "preview",
            "preview_q": "olly",
        },
    )
    result = page.context["result"]
    assert (result.total, result.included, result.excluded, result.removed) == (4, 1, 3, 2)
    assert result.reasons["outside the directory filter (department eq 'Sales')"] == 1
    assert result.reasons["guest account"] == 1
    assert result.reasons["excluded by rule: display_name starts with 'Sam'"] == 1
    [olly] = result.matches
    assert olly["included"] is False and olly["email_source"] == "mail"
    assert "Excluded: outside the directory filter (department eq 'Sales')" in olly["lines"]
    assert _config(link).odata_filter == ""  # a preview saves nothing
    saved = admin_client.post(
        url, {"odata_filter": "department eq 'Sales'", "exclude_guests": "on", "action": "save"}
    )
    assert saved.status_code == 302
    assert _config(link).odata_filter == "department eq 'Sales'" and _config(link).exclude_disabled is False


def test_presets_show_how_many_synced_people_each_excludes(admin_client, organization, link):
    sf.make_employee(link, "Gail Guest", userType="Guest")
    sf.make_employee(link, "Dan Disabled", accountEnabled=False)
    sf.make_employee(link, "Uri Unlicensed", assignedLicenses=[])
    sf.make_employee(link, "Nora Normal")
    page = admin_client.get(reverse("directory_sync:filters_edit", args=[organization.slug, link.pk]))
    counts = {p["name"]: p["count"] for p in page.context["presets"]}
    assert counts == {
        "exclude_disabled": 1,
        "exclude_guests": 1,
        "exclude_rooms_equipment": 0,
        "exclude_shared_mailboxes": 0,
        "exclude_unlicensed": 1,
    }


def test_attribute_rule_rows_and_group_scope_are_saved(admin_client, organization, link):
    member = sf.make_employee(link, "Mia Member")
    group = sf.make_group(link, "Signature users", members=[member.graph_id])
    sf.make_group(link, "Other group")
    url = reverse("directory_sync:filters_edit", args=[organization.slug, link.pk])
    added = admin_client.post(url, {"action": "add_rule", "exclude_disabled": "on"})
    assert len(added.context["rule_rows"]) == 1
    admin_client.post(
        url,
        {
            "rule_field": ["department"],
            "rule_op": ["equals"],
            "rule_value": ["Temp"],
            "rule_action": ["exclude"],
            "rule_case": ["0"],
            "scope_group": [group.graph_id],
            "exclude_disabled": "on",
            "action": "save",
        },
    )
    config = _config(link)
    assert config.rules == (rules.AttributeRule("department", "equals", "Temp", "exclude", True),)
    assert config.scope_group_ids == frozenset({group.graph_id})
    search = admin_client.get(url, {"group_q": "other"}).content.decode()
    assert "Other group" in search and "Signature users" in search  # the chosen group always stays listed


def test_testing_the_filter_against_graph_reports_graphs_answer(
    admin_client, organization, link, monkeypatch
):
    def refuse(*args, **kwargs):
        raise graph.GraphBadRequest(
            "bad", status=400, admin_message="Microsoft Graph refused the request: nope"
        )

    monkeypatch.setattr(graph_reads, "iter_user_pages", refuse)
    url = reverse("directory_sync:filters_edit", args=[organization.slug, link.pk])
    page = admin_client.post(url, {"odata_filter": "department eq 'Sales'", "action": "test_graph"})
    assert "Microsoft Graph refused the request: nope" in page.content.decode()
    monkeypatch.setattr(graph_reads, "iter_user_pages", lambda *a, **k: iter([[{"id": "1"}, {"id": "2"}]]))
    assert settings_views.test_filter_against_graph(link, "department eq 'Sales'") == (
        True,
        "Microsoft Graph accepted the filter: 2 users match.",
    )


def test_cleanup_settings_save_with_an_audit_event(admin_client, organization, link):
    url = reverse("directory_sync:cleanup_edit", args=[organization.slug, link.pk])
    admin_client.post(
        url, {"cleanup_enabled": "on", "removal_threshold_percent": "5", "removal_threshold_count": "50"}
    )
    settings = SyncSettings.objects.get(link=link)
    assert (
        settings.cleanup_enabled,
        settings.removal_threshold_percent,
        settings.removal_threshold_count,
    ) == (True, 5, 50)
    event = AuditEvent.objects.get(action="sync.cleanup_changed")
    assert event.details["after"]["cleanup_enabled"] is True
    bad = admin_client.post(url, {"removal_threshold_percent": "150", "removal_threshold_count": "1"})
    assert "at most 100" in bad.content.decode()


def test_a_saved_mapping_change_makes_the_next_sync_a_full_one_but_a_reorder_does_not(
    admin_client, organization, link
):
    settings = engine.sync_settings_for(link)
    settings.last_fingerprint = rules_config.fingerprint(settings.sync_config())
    settings.user_delta_link = "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=x"
    settings.last_full_sync_at = settings.delta_saved_at = settings.updated_at
    settings.save()
    url = reverse("directory_sync:fields_edit", args=[organization.slug, link.pk])
    specs = list(settings.sync_config().fields)
    admin_client.post(url, _fields_post(list(reversed(specs)), "save"))
    settings.refresh_from_db()
    assert engine._full_reason(settings, settings.sync_config(), False) == ""
    added = admin_client.post(
        url, _fields_post(specs, "add", new_source="officeLocation", new_label="Office")
    )
    admin_client.post(url, _fields_post(added.context["specs"], "save"))
    settings.refresh_from_db()
    assert (
        engine._full_reason(settings, settings.sync_config(), False) == "the field mapping or filters changed"
    )


def test_fields_preview_shows_a_persons_values_under_the_unsaved_mapping(admin_client, organization, link):
    sf.make_employee(link, "Ada Lovelace", officeLocation="Analytical Engine Room")
    url = reverse("directory_sync:fields_edit", args=[organization.slug, link.pk])
    specs = list(engine.sync_settings_for(link).sync_config().fields)
    added = admin_client.post(
        url, _fields_post(specs, "add", new_source="officeLocation", new_label="Office")
    )
    page = admin_client.post(url, _fields_post(added.context["specs"], "preview", preview_q="ada"))
    [match] = page.context["result"].matches
    assert ("Office", "Analytical Engine Room") in match["fields"]
    assert "Analytical Engine Room" in page.content.decode()
    assert "office" not in [spec.key for spec in engine.sync_settings_for(link).sync_config().fields]

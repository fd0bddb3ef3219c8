"""Sync models: settings validation and thresholds, uniqueness per link, organisation scoping."""
import pytest
from django.db import IntegrityError

from directory_sync import engine, rules
from directory_sync.models import Employee, SyncRun, SyncSettings


def test_settings_start_with_the_default_rules_and_clean_up_off(link):
    settings = engine.sync_settings_for(link)
    assert settings.sync_config() == rules.SyncConfig.default()
    assert (settings.cleanup_enabled, settings.removal_threshold_percent, settings.removal_threshold_count) == (
        False, 10, 500)
    assert settings.sync_photos and settings.sync_contacts and settings.organization == link.organization


def test_settings_refuse_an_invalid_configuration(link):
    settings = engine.sync_settings_for(link)
    settings.config = {**settings.config, "odata_filter": "department eq"}
    with pytest.raises(ValueError):
        settings.save()
    with pytest.raises(rules.RuleError):
        settings.set_sync_config(rules.SyncConfig(rules=(rules.AttributeRule("department", "bogus", "x"),)))


@pytest.mark.parametrize("active,limit", [(0, 0), (5, 0), (9, 0), (10, 1), (50, 5), (500, 50), (4999, 499),
                                          (5000, 500), (5010, 500), (100_000, 500)])
def test_removal_limit_is_the_lower_of_percent_and_count(link, active, limit):
    assert SyncSettings(link=link, organization=link.organization).removal_limit(active) == limit


def test_one_employee_per_graph_id_and_link(link, other_link):
    Employee.objects.create(organization=link.organization, link=link, graph_id="g1", content_hash="x")
    Employee.objects.create(organization=other_link.organization, link=other_link, graph_id="g1", content_hash="x")
    with pytest.raises(IntegrityError):
        Employee.objects.create(organization=link.organization, link=link, graph_id="g1", content_hash="y")


def test_employee_rows_are_scoped_by_organisation(link, other_link):
    Employee.objects.create(organization=link.organization, link=link, graph_id="g1", content_hash="x")
    assert Employee.objects.for_org(other_link.organization).count() == 0
    assert Employee.objects.for_org(link.organization).count() == 1


@pytest.mark.parametrize("seconds,text", [(0.8645, "0.9 s"), (59.4, "59.4 s"), (72, "1 min 12 s"), (7500, "2 h 5 min")])
def test_run_duration_reads_in_words(seconds, text):
    from datetime import datetime, timedelta, timezone as tz

    start = datetime(2026, 1, 1, tzinfo=tz.utc)
    run = SyncRun(started_at=start, finished_at=start + timedelta(seconds=seconds))
    assert run.duration_text == text
    assert SyncRun(started_at=start).duration_text == ""


def test_json_text_columns_round_trip_and_edit_as_json(link):
    """Employee.source and .fields are JSON text in the database (JSONTextField) but dicts in Python, and the
    admin edits them as JSON."""
    source = {"id": "u1", "displayName": "Zoë \"Z\" O'Neil", "businessPhones": ["+1 555"], "accountEnabled": True}
    employee = Employee.objects.create(organization=link.organization, link=link, graph_id="u1",
                                       fields={"display_name": "Zoë"}, source=source, content_hash="x")
    stored = Employee.objects.values_list("source", "fields").get(pk=employee.pk)
    assert stored == (source, {"display_name": "Zoë"})
    field = Employee._meta.get_field("fields").formfield()
    assert field.clean(field.prepare_value({"a": "b"})) == {"a": "b"}


def test_the_admin_change_page_shows_json_text_columns_as_json(admin_client, link):
    from django.urls import reverse

    employee = Employee.objects.create(organization=link.organization, link=link, graph_id="u2",
                                       fields={"display_name": "Ada"}, source={"id": "u2"}, content_hash="x")
    page = admin_client.get(reverse("admin:directory_sync_employee_change", args=[employee.pk]))
    assert page.status_code == 200
    assert "{&quot;display_name&quot;: &quot;Ada&quot;}" in page.content.decode()

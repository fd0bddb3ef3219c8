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

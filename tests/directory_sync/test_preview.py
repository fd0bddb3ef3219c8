"""The preview runs the sync's rules over the stored directory: counts, reasons, traces, preset counts."""

import dataclasses

import pytest

from directory_sync import preview, rules
from directory_sync.models import Employee
from tests.directory_sync import sync_factories as sf

pytestmark = pytest.mark.django_db
DEFAULT = rules.SyncConfig.default()


@pytest.fixture
def people(link):
    return {
        "ann": sf.make_employee(link, "Ann Sales", department="Sales"),
        "bob": sf.make_employee(link, "Bob Ops", department="Operations"),
        "gil": sf.make_employee(link, "Gil Guest", userType="Guest"),
        "old": sf.make_employee(link, "Old Removed", status=Employee.Status.REMOVED),
    }


def test_counts_follow_the_same_rules_as_the_sync(link, people):
    result = preview.preview_config(link, DEFAULT)
    assert (result.total, result.included, result.excluded, result.added, result.removed) == (3, 2, 1, 0, 0)
    assert result.reasons == {"guest account": 1}


def test_a_new_configuration_adds_and_removes_against_the_current_status(link, people):
    config = dataclasses.replace(
        DEFAULT, exclude_guests=False, rules=(rules.AttributeRule("department", "equals", "operations"),)
    )
    result = preview.preview_config(link, config)
    assert (result.included, result.added, result.removed) == (2, 1, 1)
    assert result.reasons == {"excluded by rule: department equals 'operations'": 1}


def test_a_search_explains_each_matching_person(link, people):
    result = preview.preview_config(link, DEFAULT, query="gil")
    [match] = result.matches
    assert match["name"] == "Gil Guest" and match["included"] is False
    assert match["lines"][0] == "Email gil@contoso.com from mail"
    assert "Excluded: guest account" in match["lines"] and match["lines"][-1] == "Not included"
    assert preview.preview_config(link, DEFAULT, query="removed").matches == []


def test_email_fallback_source_is_explained(link):
    sf.make_employee(
        link, "Pat Proxy", mail=None, proxyAddresses=["smtp:alias@x.com", "SMTP:pat@contoso.com"]
    )
    [match] = preview.preview_config(link, DEFAULT, query="pat").matches
    assert (match["email"], match["email_source"]) == ("pat@contoso.com", "proxyAddresses")


def test_group_scope_uses_the_synced_memberships(link, people):
    group = sf.make_group(link, "Signature", members=[people["ann"].graph_id])
    result = preview.preview_config(
        link, dataclasses.replace(DEFAULT, scope_group_ids=frozenset({group.graph_id}))
    )
    assert result.included == 1 and result.reasons["not a member of the scoped groups"] == 2


def test_manager_rules_read_the_stored_manager(link):
    boss = sf.make_employee(link, "Bea Boss", department="Board")
    sf.make_employee(link, "Wes Worker", overrides={"manager_graph_id": boss.graph_id})
    config = dataclasses.replace(
        DEFAULT, rules=(rules.AttributeRule("manager.displayName", "equals", "Bea Boss"),)
    )
    result = preview.preview_config(link, config, query="wes")
    assert result.excluded == 1 and result.matches[0]["included"] is False


def test_preset_counts_each_preset_on_its_own(link, people):
    sf.make_employee(link, "Dee Disabled Guest", accountEnabled=False, userType="Guest")
    counts = preview.preset_counts(link, dataclasses.replace(DEFAULT, exclude_guests=False))
    assert (
        counts["exclude_guests"] == 2
        and counts["exclude_disabled"] == 1
        and counts["exclude_unlicensed"] == 0
    )

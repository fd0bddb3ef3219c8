"""Validating, storing and fingerprinting a sync configuration (directory_sync.rules_config)."""

import dataclasses

import pytest

from directory_sync import fields, rules, rules_config
from directory_sync.fields import FieldSpec
from directory_sync.odata import FilterError
from directory_sync.rules import AttributeRule, EmailSteps, SyncConfig

# A config with every preset off, so each test switches on only what it checks.
BARE = SyncConfig(exclude_disabled=False, exclude_guests=False, exclude_unlicensed=False,
                  exclude_rooms_equipment=False, exclude_shared_mailboxes=False)


@pytest.mark.parametrize(("rule", "message"), [
    (AttributeRule("", "equals", "x"), "Choose the field"),
    (AttributeRule("departmnt", "equals", "x"), "Did you mean 'department'?"),
    (AttributeRule("photo", "is_empty"), "cannot test the photo"),
    (AttributeRule("department", "like", "x"), "Unknown rule operator 'like'"),
    (AttributeRule("department", "equals", "x", action="skip"), "includes or excludes"),
    (AttributeRule("department", "equals", ""), "needs a value"),
    (AttributeRule("department", "regex", "("), "not a valid regular expression"),
    (AttributeRule("department", "regex", "a" * 201), "longer than 200"),
    (AttributeRule("department", "regex", "(a+)+$"), "repeats a group"),
    (AttributeRule("department", "regex", r"(\w*\s?)*x"), "repeats a group"),
    (AttributeRule("department", "equals", "x", case_sensitive="yes"), "malformed"),
])
def test_invalid_rules_are_rejected(rule, message):
    with pytest.raises(rules.RuleError) as error:
        rules_config.validate_rules([rule])
    assert message in str(error.value)


def test_valid_rules_pass_validation():
    rules_config.validate_rules([
        AttributeRule("department", "regex", r"^(sales|it)$"), AttributeRule("mobile", "is_empty"),
        AttributeRule("userType", "equals", "Guest", action="include"),
        AttributeRule("email", "contains", "@"),
    ])


def test_validate_config():
    rules_config.validate_config(SyncConfig.default())
    with pytest.raises(FilterError):
        rules_config.validate_config(dataclasses.replace(BARE, odata_filter="displayName = 'x'"))
    with pytest.raises(fields.FieldError):
        rules_config.validate_config(dataclasses.replace(BARE, fields=(FieldSpec("x", "X", "nope"),)))
    with pytest.raises(rules.ConfigError, match="at least one email source"):
        rules_config.validate_config(dataclasses.replace(BARE, email_steps=EmailSteps(False, False, False, False)))
    with pytest.raises(rules.ConfigError, match="group id"):
        rules_config.validate_config(dataclasses.replace(BARE, scope_group_ids=frozenset({""})))


def test_config_round_trips_through_json_types():
    config = SyncConfig(
        fields=(FieldSpec("boss", "Boss", "manager.mail"),), email_steps=EmailSteps(upn=True),
        odata_filter="city eq 'Oslo'", rules=(AttributeRule("city", "regex", "^O", "include", True),),
        scope_group_ids=frozenset({"g2", "g1"}), exclude_unlicensed=True,
    )
    data = rules_config.config_to_dict(config)
    assert data["scope_group_ids"] == ["g1", "g2"]
    assert rules_config.config_from_dict(data) == config


def test_config_from_dict_fills_defaults_and_rejects_malformed_data():
    assert rules_config.config_from_dict({}) == SyncConfig.default()
    for bad in [[], {"fields": [{"key": "a"}]}, {"email_steps": {"fax": True}}, {"exclude_guests": "yes"},
                {"rules": [{"op": "equals"}]}, {"odata_filter": 3}]:
        with pytest.raises(rules.ConfigError):
            rules_config.config_from_dict(bad)


def test_fingerprint_changes_with_mapping_and_filters_only():
    base = SyncConfig.default()
    changed = [
        dataclasses.replace(base, fields=base.fields[:-1]),
        dataclasses.replace(base, fields=(FieldSpec("first_name", "First", "surname"),) + base.fields[1:]),
        dataclasses.replace(base, email_steps=EmailSteps(upn=True)),
        dataclasses.replace(base, odata_filter="city eq 'Oslo'"),
        dataclasses.replace(base, rules=(AttributeRule("city", "is_empty"),)),
        dataclasses.replace(base, scope_group_ids=frozenset({"g"})),
        dataclasses.replace(base, exclude_unlicensed=True),
    ]
    prints = {rules_config.fingerprint(config) for config in changed}
    assert len(prints) == len(changed) and rules_config.fingerprint(base) not in prints
    relabelled = dataclasses.replace(base, fields=(FieldSpec("first_name", "Given name", "givenName"),)
                                     + base.fields[1:])
    assert rules_config.fingerprint(relabelled) == rules_config.fingerprint(base)
    assert rules_config.fingerprint(dataclasses.replace(base, fields=base.fields[::-1])) == rules_config.fingerprint(base)

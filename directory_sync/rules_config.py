"""Validation and storage of a sync configuration: what may be saved, its JSON form, and its fingerprint.

Pure like `rules` (no Django and no I/O): the model stores config_to_dict's output in a JSONField and reads it
back with config_from_dict, the settings views validate a submitted configuration before saving it, and the
engine compares fingerprints to decide when a full reconciliation is due.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict

from directory_sync import fields as catalogue
from directory_sync import odata, rules

__all__ = ["config_from_dict", "config_to_dict", "fingerprint", "validate_config", "validate_rules"]

MAX_REGEX_LENGTH = 200
# A group holding a quantifier that is itself repeated, as in (a+)+ or (\w*\s?)*: the classic shape of
# catastrophic backtracking. `re` has no time limit, so such patterns are refused when saved.
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*[+*{]")


def validate_rules(attribute_rules, specs=catalogue.DEFAULT_FIELDS) -> None:
    """Raise RuleError unless every rule names a readable field, a known operator and action, and a value
    (a valid, bounded regular expression for `regex`)."""
    keys = {spec.key: spec.source for spec in specs}
    for rule in attribute_rules:
        if not isinstance(rule, rules.AttributeRule):
            raise rules.RuleError(f"Not a rule: {rule!r}.")
        if not isinstance(rule.field, str) or not rule.field.strip():
            raise rules.RuleError("Choose the field a rule tests.")
        try:
            parsed = catalogue.parse_source(keys.get(rule.field, rule.field))
        except catalogue.FieldError as error:
            raise rules.RuleError(
                f"Rule on '{rule.field}': it is neither a mapped field nor readable: {error}"
            ) from None
        if parsed.kind == "photo":
            raise rules.RuleError("Rules cannot test the photo.")
        if rule.op not in rules.OPERATORS:
            operators = ", ".join(rules.OPERATORS)
            raise rules.RuleError(f"Unknown rule operator '{rule.op}': use one of {operators}.")
        if rule.action not in rules.ACTIONS:
            raise rules.RuleError(f"A rule either includes or excludes, not '{rule.action}'.")
        if not isinstance(rule.value, str) or not isinstance(rule.case_sensitive, bool):
            raise rules.RuleError(f"Rule '{rule.describe()}' has a malformed value.")
        if rule.op not in ("is_empty", "is_not_empty") and not rule.value:
            raise rules.RuleError(f"Rule on '{rule.field}' needs a value to compare with.")
        if rule.op == "regex":
            _check_pattern(rule.value)


def _check_pattern(pattern: str) -> None:
    if len(pattern) > MAX_REGEX_LENGTH:
        raise rules.RuleError(f"The pattern is longer than {MAX_REGEX_LENGTH} characters.")
    if _NESTED_QUANTIFIER.search(pattern):
        raise rules.RuleError("The pattern repeats a group that itself repeats, such as (a+)+, which can "
                              "take forever to test; simplify it.")
    try:
        re.compile(pattern)
    except re.error as error:
        raise rules.RuleError(f"The pattern is not a valid regular expression: {error.msg} at character "
                              f"{(error.pos or 0) + 1}.") from None


def validate_config(config: rules.SyncConfig) -> None:
    """Raise FieldError, RuleError, FilterError or ConfigError unless the whole configuration can be saved."""
    catalogue.validate_field_specs(config.fields)
    validate_rules(config.rules, config.fields)
    odata.validate_filter(config.odata_filter)
    if not any(asdict(config.email_steps).values()):
        raise rules.ConfigError("Turn on at least one email source.")
    if not all(isinstance(group_id, str) and group_id for group_id in config.scope_group_ids):
        raise rules.ConfigError("Group scoping holds an empty or malformed group id.")


_PRESETS = ("exclude_disabled", "exclude_guests", "exclude_unlicensed", "exclude_rooms_equipment",
            "exclude_shared_mailboxes")


def config_to_dict(config: rules.SyncConfig) -> dict:
    """A JSON-serialisable dict of the configuration (for a JSONField and the preview)."""
    return {
        "version": 1,
        "fields": [asdict(spec) for spec in config.fields],
        "email_steps": asdict(config.email_steps),
        "odata_filter": config.odata_filter,
        "rules": [asdict(rule) for rule in config.rules],
        "scope_group_ids": sorted(config.scope_group_ids),
        **{name: getattr(config, name) for name in _PRESETS},
    }


def config_from_dict(data: dict) -> rules.SyncConfig:
    """Rebuild a configuration from config_to_dict's output; missing keys take defaults, malformed data raises
    ConfigError. The result still goes through validate_config before it is saved."""
    if not isinstance(data, dict):
        raise rules.ConfigError("The stored sync configuration is not an object.")
    default = rules.SyncConfig.default()
    try:
        specs = tuple(catalogue.FieldSpec(str(f["key"]), str(f["label"]), str(f["source"]))
                      for f in data["fields"]) if "fields" in data else default.fields
        steps = rules.EmailSteps(**{k: _boolean(v) for k, v in data.get("email_steps", {}).items()})
        attribute_rules = tuple(
            rules.AttributeRule(str(r["field"]), str(r["op"]), str(r.get("value", "")),
                                str(r.get("action", "exclude")), _boolean(r.get("case_sensitive", False)))
            for r in data.get("rules", [])
        )
        groups = frozenset(str(group_id) for group_id in data.get("scope_group_ids", []))
        presets = {name: _boolean(data.get(name, getattr(default, name))) for name in _PRESETS}
        odata_filter = data.get("odata_filter", "")
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise rules.ConfigError(f"The stored sync configuration is malformed: {error!r}") from None
    if not isinstance(odata_filter, str):
        raise rules.ConfigError("The stored directory filter is not text.")
    return rules.SyncConfig(fields=specs, email_steps=steps, odata_filter=odata_filter, rules=attribute_rules,
                            scope_group_ids=groups, **presets)


def _boolean(value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def fingerprint(config: rules.SyncConfig) -> str:
    """A hash that changes whenever what is fetched, mapped or filtered changes (labels and column order do
    not count): when it differs from the last run's, the engine forces a full reconciliation."""
    data = config_to_dict(config)
    data["fields"] = sorted((spec.key, spec.source) for spec in config.fields)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

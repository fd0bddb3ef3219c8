import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from directory_sync import fields, rules, rules_config
from directory_sync.fields import FieldSpec
from directory_sync.rules import AttributeRule, EmailSteps, SyncConfig

# A config with every preset off, so each test switches on only what it checks.
BARE = SyncConfig(exclude_disabled=False, exclude_guests=False, exclude_unlicensed=False,
                  exclude_rooms_equipment=False, exclude_shared_mailboxes=False)
GUEST_UPN = "ada_gmail.com#EXT#@contoso.onmicrosoft.com"


# ---------------------------------------------------------------- email fallback


@pytest.mark.parametrize(("steps", "user", "email", "source"), [
    (EmailSteps(), {"mail": "Ada@Contoso.com"}, "Ada@Contoso.com", "mail"),
    (EmailSteps(), {"mail": "  ada@contoso.com \n"}, "ada@contoso.com", "mail"),
    (EmailSteps(), {"mail": "a@x", "proxyAddresses": ["SMTP:p@x"]}, "a@x", "mail"),
    (EmailSteps(), {"mail": None, "proxyAddresses": ["smtp:alias@x", "SMTP:Primary@X"]}, "Primary@X",
     "proxyAddresses"),
    (EmailSteps(), {"mail": "", "proxyAddresses": ["SMTP:  p@x  "]}, "p@x", "proxyAddresses"),
    (EmailSteps(), {"proxyAddresses": ["smtp:alias@x"]}, "", ""),
    (EmailSteps(), {"proxyAddresses": ["Smtp:mixed@x", "sMTP:mixed2@x"]}, "", ""),
    (EmailSteps(), {"proxyAddresses": ["SIP:ada@x", "X500:/o=Org/cn=ada", "smtp:alias@x"],
                    "otherMails": ["other@x"]}, "other@x", "otherMails"),
    (EmailSteps(), {"proxyAddresses": ["SMTP:"], "otherMails": ["o@x"]}, "o@x", "otherMails"),
    (EmailSteps(), {"proxyAddresses": None, "otherMails": None}, "", ""),
    (EmailSteps(), {"proxyAddresses": [], "otherMails": []}, "", ""),
    (EmailSteps(), {"proxyAddresses": "SMTP:not-a-list@x"}, "", ""),
    (EmailSteps(), {"otherMails": ["", "  ", " first@x ", "second@x"]}, "first@x", "otherMails"),
    (EmailSteps(), {"userPrincipalName": "ada@contoso.com"}, "", ""),  # UPN is off by default
    (EmailSteps(upn=True), {"userPrincipalName": "ada@contoso.com"}, "ada@contoso.com", "userPrincipalName"),
    (EmailSteps(upn=True), {"userPrincipalName": GUEST_UPN}, "", ""),
    (EmailSteps(upn=True), {"userPrincipalName": GUEST_UPN.lower()}, "", ""),
    (EmailSteps(upn=True), {"otherMails": ["o@x"], "userPrincipalName": "u@x"}, "o@x", "otherMails"),
    (EmailSteps(mail=False), {"mail": "a@x", "proxyAddresses": ["SMTP:p@x"]}, "p@x", "proxyAddresses"),
    (EmailSteps(proxy_addresses=False), {"proxyAddresses": ["SMTP:p@x"], "otherMails": ["o@x"]}, "o@x",
     "otherMails"),
    (EmailSteps(other_mails=False), {"otherMails": ["o@x"]}, "", ""),
    (EmailSteps(mail=False, proxy_addresses=False, other_mails=False, upn=True),
     {"mail": "a@x", "userPrincipalName": "u@x"}, "u@x", "userPrincipalName"),
    (EmailSteps(mail=False, proxy_addresses=False, other_mails=False, upn=False), {"mail": "a@x"}, "", ""),
])
def test_email_fallback(steps, user, email, source):
    config = dataclasses.replace(BARE, email_steps=steps)
    assert rules.resolve_email(config, user) == (email, source)
    mapped = rules.map_user(config, {"id": "u1", **user})
    assert (mapped.email, mapped.email_source, mapped.fields["email"]) == (email, source, email)


def test_guest_upn_is_skipped_with_a_reason_in_the_trace():
    config = dataclasses.replace(BARE, email_steps=EmailSteps(upn=True))
    lines = rules.explain(config, {"id": "g", "userPrincipalName": GUEST_UPN})
    assert "guest's #EXT# sign-in name" in lines[0]
    assert rules.map_user(config, {"id": "g", "userPrincipalName": GUEST_UPN}).warnings == (
        "no email address found",)


def test_email_trace_says_where_the_email_came_from():
    lines = rules.explain(BARE, {"id": "u", "mail": None, "proxyAddresses": ["SMTP:p@x"]})
    assert lines[0] == "Email p@x from proxyAddresses (mail is empty)"


@pytest.mark.parametrize(("user", "warnings"), [
    ({"mail": "a@x.com"}, ()),
    ({"mail": "a@contoso.onmicrosoft.com"}, ("email is an onmicrosoft.com address",)),
    ({"userPrincipalName": "u@x.com"}, ("email taken from userPrincipalName, which may not receive mail",)),
    ({}, ("no email address found",)),
])
def test_email_warnings(user, warnings):
    config = dataclasses.replace(BARE, email_steps=EmailSteps(upn=True))
    assert rules.map_user(config, {"id": "u", **user}).warnings == warnings


def test_duplicate_emails_are_found_case_insensitively_and_both_kept():
    mapped = [rules.map_user(BARE, user) for user in [
        {"id": "1", "mail": "Ada@X.com"}, {"id": "2", "proxyAddresses": ["SMTP:ada@x.COM"]},
        {"id": "3", "mail": "bob@x.com"}, {"id": "1", "mail": "ada@x.com"}, {"id": "4"}, {"id": "5"},
    ]]
    assert rules.find_duplicate_emails(mapped) == {"ada@x.com": ["1", "2"]}
    assert all(m.included for m in mapped)


# ---------------------------------------------------------------- mapping


def test_every_configured_key_is_present_and_values_are_verbatim():
    user = {
        "id": "u1", "givenName": "<script>alert(1)</script>", "surname": "{{7*7}}", "displayName": " Ada ",
        "mail": "ada@x.com", "businessPhones": ["+47 1", "+47 2"], "jobTitle": None,
    }
    mapped = rules.map_user(BARE, user)
    assert list(mapped.fields) == [spec.key for spec in fields.DEFAULT_FIELDS]
    assert mapped.fields["first_name"] == "<script>alert(1)</script>"
    assert mapped.fields["last_name"] == "{{7*7}}"
    assert mapped.fields["display_name"] == " Ada "
    assert mapped.fields["phone"] == "+47 1"
    assert mapped.fields["job_title"] == ""
    assert mapped.fields["photo"] == ""
    assert mapped.graph_id == "u1"


def test_custom_fields_read_lists_parts_extensions_and_the_manager():
    ext = "extension_0123456789abcdef0123456789abcdef_costCentre"
    config = dataclasses.replace(BARE, fields=(
        FieldSpec("phones", "Phones", "businessPhones"),
        FieldSpec("second", "Second phone", "businessPhones[1]"),
        FieldSpec("custom", "Custom 5", "onPremisesExtensionAttributes.extensionAttribute5"),
        FieldSpec("division", "Division", "employeeOrgData.division"),
        FieldSpec("cost", "Cost centre", ext),
        FieldSpec("boss", "Manager", "manager.displayName"),
        FieldSpec("boss_mail", "Manager email", "manager.mail"),
        FieldSpec("enabled", "Enabled", "accountEnabled"),
    ))
    user = {"id": "u", "businessPhones": ["1", "2"],
            "onPremisesExtensionAttributes": {"extensionAttribute5": "E5"},
            "employeeOrgData": {"division": "R&D", "costCenter": None}, ext: "CC-1", "accountEnabled": True}
    mapped = rules.map_user(config, user, manager={"id": "m", "displayName": "Grace", "mail": None})
    assert mapped.fields == {"phones": "1, 2", "second": "2", "custom": "E5", "division": "R&D",
                             "cost": "CC-1", "boss": "Grace", "boss_mail": "", "enabled": "true"}
    assert rules.map_user(config, user).fields["boss"] == ""


def test_content_hash_is_stable_and_tracks_changes():
    user = {"id": "u", "givenName": "Ada", "mail": "a@x"}
    first = rules.map_user(BARE, user)
    assert first.content_hash == rules.map_user(BARE, dict(reversed(list(user.items())))).content_hash
    assert first.content_hash != rules.map_user(BARE, {**user, "givenName": "Ida"}).content_hash
    moved = {**user, "mail": None, "otherMails": ["a@x"]}  # same email, another source
    assert first.content_hash != rules.map_user(BARE, moved).content_hash
    disabled = dataclasses.replace(BARE, exclude_disabled=True)
    assert first.content_hash != rules.map_user(disabled, {**user, "accountEnabled": False}).content_hash
    assert len(first.content_hash) == 64


# ---------------------------------------------------------------- presets


def _mailbox(purpose=None, **extra):
    user = {"id": "m", "mail": "room@x", "accountEnabled": False, "assignedLicenses": [], **extra}
    if purpose:
        user["mailboxSettings"] = {"userPurpose": purpose}
    return user


@pytest.mark.parametrize(("preset", "user", "reasons"), [
    ("exclude_disabled", {"accountEnabled": False}, ["disabled account"]),
    ("exclude_disabled", {"accountEnabled": True}, []),
    ("exclude_disabled", {}, []),
    ("exclude_guests", {"userType": "Guest"}, ["guest account"]),
    ("exclude_guests", {"userType": "guest"}, ["guest account"]),
    ("exclude_guests", {"userType": "Member"}, []),
    ("exclude_guests", {}, []),
    ("exclude_unlicensed", {"assignedLicenses": []}, ["no licence assigned"]),
    ("exclude_unlicensed", {"assignedLicenses": [{"skuId": "s"}]}, []),
    ("exclude_unlicensed", {}, []),
    ("exclude_rooms_equipment", _mailbox("room"), ["room mailbox"]),
    ("exclude_rooms_equipment", _mailbox("equipment"), ["equipment mailbox"]),
    ("exclude_rooms_equipment", _mailbox("shared"), []),
    ("exclude_rooms_equipment", _mailbox("user"), []),
    ("exclude_shared_mailboxes", _mailbox("shared"), ["shared mailbox"]),
    ("exclude_shared_mailboxes", _mailbox("room"), []),
    ("exclude_shared_mailboxes", _mailbox("linked"), []),
    ("exclude_shared_mailboxes", _mailbox(), [rules._HEURISTIC_MAILBOX]),
    ("exclude_rooms_equipment", _mailbox(), [rules._HEURISTIC_MAILBOX]),
    ("exclude_rooms_equipment", _mailbox(accountEnabled=True), []),
    ("exclude_rooms_equipment", _mailbox(assignedLicenses=[{"skuId": "s"}]), []),
    ("exclude_rooms_equipment", _mailbox(mail=None), []),
    ("exclude_rooms_equipment", _mailbox(assignedLicenses=None), []),
])
def test_presets(preset, user, reasons):
    mapped = rules.map_user(dataclasses.replace(BARE, **{preset: True}), {"id": "u", **user})
    assert list(mapped.reasons) == reasons
    assert mapped.included is (not reasons)
    assert rules.map_user(BARE, {"id": "u", **user}).included


def test_heuristic_reason_says_it_is_a_guess():
    assert "by heuristic" in rules._HEURISTIC_MAILBOX


def test_default_config_excludes_disabled_guests_rooms_and_shared_but_not_unlicensed():
    default = SyncConfig.default()
    assert rules.map_user(default, {"id": "u", "accountEnabled": True, "userType": "Member",
                                    "assignedLicenses": []}).included
    guest = rules.map_user(default, {"id": "g", "accountEnabled": False, "userType": "Guest"})
    assert guest.reasons == ("disabled account", "guest account")


# ---------------------------------------------------------------- attribute rules


@pytest.mark.parametrize(("rule", "user", "matched"), [
    (AttributeRule("department", "equals", "sales"), {"department": "Sales"}, True),
    (AttributeRule("department", "equals", "sales", case_sensitive=True), {"department": "Sales"}, False),
    (AttributeRule("department", "equals", "Sales"), {"department": "Sales team"}, False),
    (AttributeRule("department", "not_equals", "Sales"), {"department": "IT"}, True),
    (AttributeRule("department", "not_equals", "Sales"), {"department": "SALES"}, False),
    (AttributeRule("department", "not_equals", "Sales"), {}, True),
    (AttributeRule("job_title", "contains", "INTERN"), {"jobTitle": "Summer intern"}, True),
    (AttributeRule("job_title", "contains", "INTERN", case_sensitive=True), {"jobTitle": "intern"}, False),
    (AttributeRule("display_name", "starts_with", "svc"), {"displayName": "SVC-backup"}, True),
    (AttributeRule("display_name", "starts_with", "svc"), {"displayName": "my svc"}, False),
    (AttributeRule("mobile", "is_empty"), {"mobilePhone": None}, True),
    (AttributeRule("mobile", "is_empty"), {"mobilePhone": "  "}, True),
    (AttributeRule("mobile", "is_empty"), {"mobilePhone": "+1"}, False),
    (AttributeRule("mobile", "is_not_empty"), {"mobilePhone": "+1"}, True),
    (AttributeRule("mobile", "is_not_empty"), {}, False),
    (AttributeRule("email", "regex", r"@(contoso|fabrikam)\.com$"), {"mail": "A@CONTOSO.com"}, True),
    (AttributeRule("email", "regex", r"@contoso\.com$", case_sensitive=True), {"mail": "a@CONTOSO.com"},
     False),
    (AttributeRule("email", "contains", "@x"), {}, False),
    # raw Graph paths that are not mapped keys
    (AttributeRule("userType", "equals", "Guest"), {"userType": "Guest"}, True),
    (AttributeRule("onPremisesExtensionAttributes.extensionAttribute1", "equals", "nosig"),
     {"onPremisesExtensionAttributes": {"extensionAttribute1": "NoSig"}}, True),
    (AttributeRule("proxyAddresses", "starts_with", "sip:"), {"proxyAddresses": ["SMTP:a@x", "SIP:a@x"]},
     True),
    (AttributeRule("proxyAddresses", "equals", "smtp:a@x"), {"proxyAddresses": ["SMTP:a@x", "SIP:a@x"]},
     True),
    (AttributeRule("proxyAddresses", "not_equals", "smtp:a@x"), {"proxyAddresses": ["SMTP:a@x"]}, False),
    (AttributeRule("manager.displayName", "equals", "Grace"), {}, True),
])
def test_rule_operators(rule, user, matched):
    for action in ("exclude", "include"):
        config = dataclasses.replace(BARE, rules=(dataclasses.replace(rule, action=action),))
        mapped = rules.map_user(config, {"id": "u", **user}, manager={"displayName": "Grace"})
        assert mapped.included is (matched if action == "include" else not matched)


def test_excludes_win_over_includes():
    config = dataclasses.replace(BARE, rules=(
        AttributeRule("department", "equals", "Sales", action="include"),
        AttributeRule("job_title", "contains", "intern", action="exclude"),
    ))
    assert rules.map_user(config, {"id": "1", "department": "Sales", "jobTitle": "Manager"}).included
    mapped = rules.map_user(config, {"id": "2", "department": "Sales", "jobTitle": "Intern"})
    assert mapped.reasons == ("excluded by rule: job_title contains 'intern'",)


def test_with_include_rules_a_user_must_match_one():
    config = dataclasses.replace(BARE, rules=(
        AttributeRule("department", "equals", "Sales", action="include"),
        AttributeRule("department", "equals", "IT", action="include"),
    ))
    assert rules.map_user(config, {"id": "1", "department": "it"}).included
    mapped = rules.map_user(config, {"id": "2", "department": "HR"})
    assert mapped.reasons == ("matches no include rule (department equals 'Sales'; department equals 'IT')",)
    assert rules.explain(config, {"id": "1", "department": "IT"})[-2:] == [
        "Passed: included by rule: department equals 'IT'", "Included"]


def test_exclusion_reasons_name_the_rule():
    config = dataclasses.replace(BARE, rules=(AttributeRule("department", "equals", "Sales"),))
    assert rules.map_user(config, {"id": "u", "department": "Sales"}).reasons == (
        "excluded by rule: department equals 'Sales'",)


# ---------------------------------------------------------------- groups and the directory filter


@pytest.mark.parametrize(("scope", "group_ids", "included"), [
    (frozenset(), frozenset(), True),
    (frozenset(), frozenset({"g9"}), True),
    (frozenset({"g1"}), frozenset(), False),
    (frozenset({"g1"}), frozenset({"g2"}), False),
    (frozenset({"g1", "g2"}), frozenset({"g2", "g3"}), True),
])
def test_group_scoping(scope, group_ids, included):
    config = dataclasses.replace(BARE, scope_group_ids=scope)
    mapped = rules.map_user(config, {"id": "u"}, group_ids=group_ids)
    assert mapped.included is included
    assert mapped.reasons == (() if included else ("not a member of the scoped groups",))


def test_directory_filter_is_reapplied_locally_for_delta_rounds():
    config = dataclasses.replace(BARE, odata_filter="department eq 'Sales'")
    assert rules.map_user(config, {"id": "1", "department": "sales"}).included
    assert rules.map_user(config, {"id": "2", "department": "HR"}).reasons == (
        "outside the directory filter (department eq 'Sales')",)


def test_explain_lists_checks_and_verdict():
    lines = rules.explain(SyncConfig.default(), {"id": "u", "mail": "a@x", "accountEnabled": False})
    assert lines == [
        "Email a@x from mail", "Passed: not a guest account",
        "Passed: does not look like a shared, room or equipment mailbox",
        "Excluded: disabled account", "Not included",
    ]


# ---------------------------------------------------------------- $select, manager, mailbox settings


def test_default_select_is_exactly_what_the_defaults_need():
    assert rules.graph_select(SyncConfig.default()) == sorted([
        "id", "givenName", "surname", "displayName", "mail", "proxyAddresses", "otherMails", "businessPhones",
        "jobTitle", "department", "mobilePhone", "faxNumber", "companyName", "streetAddress", "city", "state",
        "postalCode", "country", "accountEnabled", "userType", "assignedLicenses",
    ])
    assert not rules.needs_manager(SyncConfig.default())
    assert rules.needs_mailbox_settings(SyncConfig.default())


def test_select_follows_mapping_rules_presets_and_filter():
    config = dataclasses.replace(
        BARE,
        fields=(FieldSpec("first_name", "First", "givenName"), FieldSpec("boss", "Boss", "manager.mail"),
                FieldSpec("c1", "C1", "onPremisesExtensionAttributes.extensionAttribute1")),
        email_steps=EmailSteps(proxy_addresses=False, other_mails=False, upn=True),
        rules=(AttributeRule("employeeOrgData.division", "equals", "X"),
               AttributeRule("first_name", "is_empty")),
        odata_filter="usageLocation eq 'NO' and manager/id eq '1'",
        exclude_guests=True,
    )
    assert rules.graph_select(config) == sorted([
        "id", "givenName", "onPremisesExtensionAttributes", "mail", "userPrincipalName", "employeeOrgData",
        "usageLocation", "userType",
    ])
    assert rules.needs_manager(config)
    assert rules.manager_select(config) == ["id", "mail"]
    assert not rules.needs_mailbox_settings(config)
    assert rules.manager_select(BARE) == []


def test_select_never_names_relationships_or_single_user_properties():
    extra = FieldSpec("boss", "Boss", "manager.displayName")
    config = dataclasses.replace(SyncConfig.default(), exclude_unlicensed=True,
                                 fields=fields.DEFAULT_FIELDS + (extra,))
    select = rules.graph_select(config)
    assert "manager" not in select and "mailboxSettings" not in select and "photo" not in select
    assert select == sorted(set(select))


# ---------------------------------------------------------------- properties


TEXT = st.text(max_size=12)
SCALAR = st.one_of(st.none(), TEXT, st.booleans(), st.integers(-5, 5))
SOURCES = [spec.source for spec in fields.DEFAULT_FIELDS] + [
    "businessPhones", "proxyAddresses", "otherMails[1]", "userPrincipalName", "employeeId", "userType",
    "onPremisesExtensionAttributes.extensionAttribute2", "employeeOrgData.costCenter", "manager.displayName",
    "manager.mail", "accountEnabled", "extension_0123456789abcdef0123456789abcdef_x",
]
USERS = st.fixed_dictionaries({"id": st.text(min_size=1, max_size=6)}, optional={
    "givenName": SCALAR, "surname": SCALAR, "displayName": SCALAR, "mail": SCALAR, "jobTitle": SCALAR,
    "department": SCALAR, "userPrincipalName": st.one_of(TEXT, st.just(GUEST_UPN)), "userType": SCALAR,
    "employeeId": SCALAR, "accountEnabled": st.one_of(st.none(), st.booleans()), "mobilePhone": SCALAR,
    "businessPhones": st.one_of(st.none(), st.lists(SCALAR, max_size=3)),
    "proxyAddresses": st.lists(st.one_of(TEXT, *[st.builds(f"{prefix}:{{}}".format, TEXT)
                                                 for prefix in ("SMTP", "smtp", "SIP")]), max_size=4),
    "otherMails": st.one_of(st.none(), st.lists(TEXT, max_size=3)),
    "assignedLicenses": st.one_of(st.none(), st.lists(st.fixed_dictionaries({"skuId": TEXT}), max_size=2)),
    "onPremisesExtensionAttributes": st.one_of(st.none(), st.fixed_dictionaries({}, optional={
        "extensionAttribute2": SCALAR})),
    "employeeOrgData": st.one_of(st.none(), st.fixed_dictionaries({}, optional={"costCenter": SCALAR})),
    "mailboxSettings": st.fixed_dictionaries({"userPurpose": st.sampled_from(
        ["user", "shared", "room", "equipment", "linked", "others"])}),
    "extension_0123456789abcdef0123456789abcdef_x": st.one_of(SCALAR, st.lists(SCALAR, max_size=3)),
})
MANAGERS = st.one_of(st.none(), st.fixed_dictionaries({}, optional={"displayName": SCALAR, "mail": SCALAR}))


@st.composite
def configs(draw):
    sources = draw(st.lists(st.sampled_from(SOURCES), min_size=1, max_size=8))
    specs = tuple(FieldSpec(f"f{i}", f"Field {i}", source) for i, source in enumerate(sources))
    rule_list = tuple(draw(st.lists(st.builds(
        AttributeRule,
        field=st.sampled_from([s.key for s in specs if s.source != "photo"] + ["userType", "proxyAddresses"]),
        op=st.sampled_from([op for op in rules.OPERATORS if op != "regex"]),
        value=st.text(min_size=1, max_size=4),
        action=st.sampled_from(rules.ACTIONS), case_sensitive=st.booleans()), max_size=3)))
    return SyncConfig(
        fields=specs, email_steps=draw(st.builds(EmailSteps, st.booleans(), st.booleans(), st.booleans(),
                                                 st.booleans())),
        odata_filter=draw(st.sampled_from(["", "department eq 'a'", "not (accountEnabled eq false)"])),
        rules=rule_list, scope_group_ids=draw(st.frozensets(st.sampled_from(["g1", "g2"]))),
        exclude_disabled=draw(st.booleans()), exclude_guests=draw(st.booleans()),
        exclude_unlicensed=draw(st.booleans()), exclude_rooms_equipment=draw(st.booleans()),
        exclude_shared_mailboxes=draw(st.booleans()),
    )


def _texts(value, found):
    """Collect every text the input holds: strings, scalar spellings, and each list's joined form."""
    if isinstance(value, dict):
        for item in value.values():
            _texts(item, found)
    elif isinstance(value, list):
        found.add(fields.text_of(value))
        for item in value:
            _texts(item, found)
    else:
        found.add(fields.text_of(value))
    return found


@settings(max_examples=300, deadline=None)
@given(configs(), USERS, MANAGERS, st.frozensets(st.sampled_from(["g1", "g2", "g3"])))
def test_mapped_values_only_come_from_the_user(config, user, manager, group_ids):
    rules_config.validate_config(dataclasses.replace(config, email_steps=EmailSteps()))
    mapped = rules.map_user(config, user, manager, group_ids)
    texts = _texts(user, set()) | _texts(manager or {}, set())
    assert set(mapped.fields) == {spec.key for spec in config.fields}
    for spec in config.fields:
        value = mapped.fields[spec.key]
        if spec.source == "email":
            assert value == mapped.email
        else:
            assert value == "" or value in texts
    # the email is a stripped address found in one of the user's strings
    assert mapped.email == "" or any(mapped.email in text for text in texts)
    assert mapped.email_source in ("", *rules.EMAIL_SOURCES)
    assert (mapped.email == "") == (mapped.email_source == "")


@settings(max_examples=300, deadline=None)
@given(configs(), USERS, MANAGERS, st.frozensets(st.sampled_from(["g1", "g2", "g3"])))
def test_every_excluded_user_has_a_reason(config, user, manager, group_ids):
    mapped = rules.map_user(config, user, manager, group_ids)
    assert mapped.included is (not mapped.reasons)
    assert all(isinstance(reason, str) and reason for reason in mapped.reasons)
    verdict = rules.explain(config, user, manager, group_ids)[-1]
    assert verdict == ("Included" if mapped.included else "Not included")


@settings(max_examples=200, deadline=None)
@given(configs())
def test_config_round_trip_property(config):
    assert rules_config.config_from_dict(rules_config.config_to_dict(config)) == config


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SOURCES + ["email", "photo", "businessPhones[2]", "manager.jobTitle"]), USERS, MANAGERS)
def test_the_sync_field_readers_equal_the_general_reading(source, user, manager):
    """map_user reads fields through per-source readers built once (fields.text_reader): they must give exactly
    what the general read_values gives, joined, for every shape of value."""
    parsed = fields.parse_source(source)
    assert fields.text_reader(parsed)(user, manager) == ", ".join(fields.read_values(parsed, user, manager))

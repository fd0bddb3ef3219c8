import pytest

from directory_sync import fields
from directory_sync.fields import FieldError, FieldSpec

APP_ID = "0123456789abcdef0123456789ABCDEF"


@pytest.mark.parametrize("spec", fields.DEFAULT_FIELDS, ids=lambda spec: spec.key)
def test_each_default_field_is_valid(spec):
    fields.validate_source(spec.source)


def test_default_fields_are_in_the_documented_order():
    assert [(spec.key, spec.source) for spec in fields.DEFAULT_FIELDS] == [
        ("first_name", "givenName"), ("last_name", "surname"), ("display_name", "displayName"),
        ("email", "email"), ("phone", "businessPhones[0]"), ("job_title", "jobTitle"),
        ("department", "department"), ("mobile", "mobilePhone"), ("fax", "faxNumber"),
        ("company", "companyName"), ("street", "streetAddress"), ("city", "city"), ("state", "state"),
        ("postal_code", "postalCode"), ("country", "country"), ("photo", "photo"),
    ]
    fields.validate_field_specs(fields.DEFAULT_FIELDS)


def test_embedded_property_list_is_the_csdl_user_entity():
    # graph-user-properties.txt lists 81 structural properties of microsoft.graph.user (v1.0 CSDL).
    assert len(fields.USER_PROPERTIES) == 81
    expected = {"id", "givenName", "onPremisesExtensionAttributes", "employeeOrgData", "userType"}
    assert expected <= fields.USER_PROPERTIES
    assert "manager" not in fields.USER_PROPERTIES  # a relationship, not a property


@pytest.mark.parametrize("source", [
    "employeeId", "employeeType", "officeLocation", "userPrincipalName", "accountEnabled", "proxyAddresses",
    "businessPhones", "businessPhones[1]", "otherMails[0]", "employeeOrgData.costCenter",
    "employeeOrgData.division", "manager.displayName", "manager.mail", "manager.jobTitle",
    f"extension_{APP_ID}_costCentre", f"extension_{APP_ID.lower()}_a_b_2",
] + [f"onPremisesExtensionAttributes.extensionAttribute{n}" for n in range(1, 16)])
def test_valid_sources(source):
    fields.validate_source(source)


@pytest.mark.parametrize(("source", "message"), [
    ("givnName", "Did you mean 'givenName'?"),
    ("jobtitle", "Did you mean 'jobTitle'? Graph property names are case-sensitive."),
    ("departmnt", "Did you mean 'department'?"),
    ("nonsenseProperty", "'nonsenseProperty' is not a Microsoft Graph user property."),
    ("onPremisesExtensionAttributes.extensionAttribute16", "extensionAttribute1 to extensionAttribute15"),
    ("onPremisesExtensionAttributes.extensionAttribute0", "extensionAttribute1 to extensionAttribute15"),
    ("onPremisesExtensionAttributes.customAttribute1", "extensionAttribute1 to extensionAttribute15"),
    ("onPremisesExtensionAttributes", "Use onPremisesExtensionAttributes.extensionAttribute1"),
    ("employeeOrgData", "Use employeeOrgData.costCenter or employeeOrgData.division"),
    ("employeeOrgData.team", "use employeeOrgData.costCenter or employeeOrgData.division"),
    ("assignedLicenses", "structured value"),
    ("birthday", "only when reading one user"),
    ("mailboxSettings", "only when reading one user"),
    ("skills", "only when reading one user"),
    ("manager.salary", "the manager's properties are"),
    ("jobTitle[0]", "'jobTitle' is not a list of text values"),
    ("extension_0123_costCentre", "32 hexadecimal characters"),
    (f"extension_{APP_ID}x_costCentre", "32 hexadecimal characters"),
    (f"extension_{APP_ID}_", "32 hexadecimal characters"),
    (f"extension_{APP_ID}_cost-centre", "32 hexadecimal characters"),
    ("", "Choose a Graph property"),
    (" givenName", "Remove the spaces"),
    ("givenName.first", "is not a Microsoft Graph user property"),
])
def test_invalid_sources_are_rejected_in_words(source, message):
    with pytest.raises(FieldError) as error:
        fields.validate_source(source)
    assert message in str(error.value)


@pytest.mark.parametrize(("specs", "message"), [
    ((), "at least one field"),
    ((FieldSpec("first_name", "A", "givenName"), FieldSpec("first_name", "B", "surname")),
     "used by two fields"),
    ((FieldSpec("First name", "A", "givenName"),), "cannot be a field key"),
    ((FieldSpec("1st", "A", "givenName"),), "cannot be a field key"),
    ((FieldSpec("first-name", "A", "givenName"),), "cannot be a field key"),
    ((FieldSpec("x" * 51, "A", "givenName"),), "cannot be a field key"),
    ((FieldSpec("if", "A", "givenName"),), "reserved word"),
    ((FieldSpec("none", "A", "givenName"),), "reserved word"),
    ((FieldSpec("first_name", "  ", "givenName"),), "column name"),
    ((FieldSpec("first_name", "x" * 101, "givenName"),), "longer than 100"),
    ((FieldSpec("first_name", "First", "givnName"),), "Field 'First': 'givnName' is not"),
])
def test_invalid_field_specs(specs, message):
    with pytest.raises(FieldError) as error:
        fields.validate_field_specs(specs)
    assert message in str(error.value)


def test_added_renamed_and_reordered_fields_are_valid():
    specs = (
        FieldSpec("cost_centre", "Cost centre", "employeeOrgData.costCenter"),
        FieldSpec("first_name", "Given name", "givenName"),
        FieldSpec("boss", "Manager", "manager.displayName"),
        FieldSpec("custom1", "Custom 1", "onPremisesExtensionAttributes.extensionAttribute1"),
    )
    fields.validate_field_specs(specs)


@pytest.mark.parametrize(("value", "text"), [
    (None, ""), ("Ada", "Ada"), ("  <b>x</b> ", "  <b>x</b> "), (True, "true"), (False, "false"), (7, "7"),
    (["a", "", None, "b"], "a, b"), ({"costCenter": "1"}, ""), ([{"a": 1}], ""),
])
def test_text_of_keeps_graph_values_verbatim(value, text):
    assert fields.text_of(value) == text


@pytest.mark.parametrize(("source", "user", "manager", "values"), [
    ("givenName", {"givenName": "Ada"}, None, ["Ada"]),
    ("givenName", {}, None, []),
    ("businessPhones[0]", {"businessPhones": ["+1", "+2"]}, None, ["+1"]),
    ("businessPhones[1]", {"businessPhones": ["+1", "+2"]}, None, ["+2"]),
    ("businessPhones[2]", {"businessPhones": ["+1", "+2"]}, None, []),
    ("businessPhones[0]", {"businessPhones": "+1"}, None, []),
    ("businessPhones", {"businessPhones": ["+1", "+2"]}, None, ["+1", "+2"]),
    ("onPremisesExtensionAttributes.extensionAttribute3",
     {"onPremisesExtensionAttributes": {"extensionAttribute3": "X"}}, None, ["X"]),
    ("onPremisesExtensionAttributes.extensionAttribute3", {"onPremisesExtensionAttributes": None}, None, []),
    ("employeeOrgData.division", {"employeeOrgData": {"division": "R&D"}}, None, ["R&D"]),
    ("manager.mail", {"mail": "me@x"}, {"mail": "boss@x"}, ["boss@x"]),
    ("manager.mail", {"mail": "me@x"}, None, []),
    (f"extension_{APP_ID}_n", {f"extension_{APP_ID}_n": 42}, None, ["42"]),
    ("accountEnabled", {"accountEnabled": False}, None, ["false"]),
])
def test_read_values(source, user, manager, values):
    assert fields.read_values(fields.parse_source(source), user, manager) == values


def test_parse_source_names_the_property_to_select():
    assert fields.parse_source("businessPhones[0]").select == "businessPhones"
    assert fields.parse_source("onPremisesExtensionAttributes.extensionAttribute9").select == (
        "onPremisesExtensionAttributes")
    assert fields.parse_source("manager.displayName").select == ""
    assert fields.parse_source("photo").kind == "photo"

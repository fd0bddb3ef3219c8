from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from directory_sync import odata, odata_eval
from directory_sync.odata import FilterError

SKU = "184efa21-98c3-4e5d-95ab-d07053a96e67"
EXT = "extension_0123456789abcdef0123456789abcdef_costCentre"


@pytest.mark.parametrize(("expr", "advanced", "properties"), [
    ("", False, set()),
    ("   ", False, set()),
    ("displayName eq 'Ada'", False, {"displayName"}),
    ("accountEnabled eq true", False, {"accountEnabled"}),
    ("userType eq 'Member' and accountEnabled eq true", False, {"userType", "accountEnabled"}),
    ("department eq 'Sales' or department eq 'R&D'", False, {"department"}),
    ("department in ('Sales', 'It''s')", False, {"department"}),
    ("startsWith(displayName, 'A')", False, {"displayName"}),
    ("startswith(mail, 'ada')", False, {"mail"}),
    ("(city eq 'Oslo' or city eq 'Bergen') and country eq 'Norway'", False, {"city", "country"}),
    ("proxyAddresses/any(p: p eq 'SMTP:ada@x.com')", False, {"proxyAddresses"}),
    ("proxyAddresses/any(p:startsWith(p, 'smtp:'))", False, {"proxyAddresses"}),
    ("otherMails/any(o: o in ('a@x', 'b@x'))", False, {"otherMails"}),
    (f"assignedLicenses/any(a:a/skuId eq {SKU})", False, {"assignedLicenses"}),
    ("createdDateTime ge 2024-01-01T00:00:00Z", False, {"createdDateTime"}),
    ("createdDateTime le 2024-01-01T00:00:00.1234567+02:00", False, {"createdDateTime"}),
    ("manager/id eq '42'", False, {"manager/id"}),
    (f"{EXT} eq 'X1'", False, {EXT}),
    ("id eq '7'", False, {"id"}),
    # advanced query: ne, not, endsWith, null comparisons, advanced-only properties, $count (graph-facts 4.3)
    ("department ne 'Sales'", True, {"department"}),
    ("not (department eq 'Sales')", True, {"department"}),
    ("NOT department eq 'Sales'", True, {"department"}),
    ("endsWith(mail, '@contoso.com')", True, {"mail"}),
    ("proxyAddresses/any(p: endsWith(p, '@contoso.com'))", True, {"proxyAddresses"}),
    ("department eq null", True, {"department"}),
    ("jobTitle ne null", True, {"jobTitle"}),
    ("companyName eq 'Contoso'", True, {"companyName"}),
    ("companyName in ('Contoso', 'Fabrikam')", True, {"companyName"}),
    ("startsWith(companyName, 'Con')", True, {"companyName"}),
    ("onPremisesExtensionAttributes/extensionAttribute1 eq 'x'", True,
     {"onPremisesExtensionAttributes/extensionAttribute1"}),
    ("employeeOrgData/costCenter eq '100'", True, {"employeeOrgData/costCenter"}),
    ("businessPhones/any(p: p eq '+1 555')", True, {"businessPhones"}),
    ("assignedLicenses/$count eq 0", True, {"assignedLicenses"}),
    ("showInAddressList eq false", True, {"showInAddressList"}),
    ("employeeHireDate ge 2024-01-01T00:00:00Z", True, {"employeeHireDate"}),
    ("createdDateTime gt 2024-01-01T00:00:00Z", True, {"createdDateTime"}),
    (f"{EXT} ne 'X1'", True, {EXT}),
    ("mobilePhone eq '+1'", True, {"mobilePhone"}),
])
def test_valid_filters_and_advanced_query_detection(expr, advanced, properties):
    info = odata.validate_filter(expr)
    assert info.needs_advanced_query is advanced
    assert info.properties == properties


def test_filter_info_names_the_properties_to_select():
    expr = "onPremisesExtensionAttributes/extensionAttribute2 eq 'a' and manager/id eq '1'"
    info = odata.validate_filter(expr)
    assert info.select == {"onPremisesExtensionAttributes"}
    assert info.uses_manager is True


@pytest.mark.parametrize(("expr", "marker", "message"), [
    ("displayName = 'Ada'", "=", "Use eq, ne, gt, ge, lt or le"),
    ('displayName eq "Ada"', '"', "single quotes"),
    ("displayName eq 'Ada", "'", "never closed"),
    ("displayNme eq 'Ada'", "displayNme", "Unknown user property 'displayNme': did you mean 'displayName'?"),
    ("displayname eq 'Ada'", "displayname", "case-sensitive: write 'displayName'"),
    ("foo eq 'x'", "foo", "Unknown user property 'foo'"),
    ("aboutMe eq 'x'", "aboutMe", "Graph cannot filter users by 'aboutMe'"),
    ("manager/displayName eq 'x'", "manager", "Graph cannot filter users by 'manager/displayName'"),
    ("accountEnabled eq 'true'", "'true'", "compares with true or false"),
    ("displayName eq true", "true", "compares with a text value"),
    ("displayName eq 5", "5", "compares with a text value"),
    ("createdDateTime ge '2024'", "'2024'", "compares with a date and time"),
    ("createdDateTime ge 2024-01-01", "2024", "with a time and zone"),
    ("accountEnabled", None, "Expected eq, ne, gt, ge, lt, le or in after 'accountEnabled'"),
    ("displayName equals 'x'", "equals", "Expected eq, ne, gt, ge, lt, le or in"),
    ("displayName eq 'a' and", None, "Expected a condition"),
    ("displayName eq 'a' displayName eq 'b'", "displayName eq 'b'", "Expected 'and', 'or' or the end"),
    ("(displayName eq 'a'", None, "Expected a closing parenthesis"),
    ("displayName eq 'a')", ")", "Expected 'and', 'or' or the end"),
    ("'Ada' eq displayName", "'Ada'", "Expected a condition such as"),
    ("contains(displayName, 'a')", "contains", "Graph cannot filter users with 'contains'"),
    ("endsWith(displayName, 'a')", "endsWith", "endsWith only on mail"),
    ("startsWith(id, 'a')", "startsWith", "does not support startsWith on 'id'"),
    ("startsWith(onPremisesExtensionAttributes/extensionAttribute1, 'a')", "startsWith",
     "does not support startsWith"),
    ("startsWith(accountEnabled, 'a')", "accountEnabled", "works on text properties"),
    ("startsWith(proxyAddresses, 'a')", "proxyAddresses", "is a list: use proxyAddresses/any"),
    ("startsWith(displayName, 5)", "5", "Expected a text value"),
    ("proxyAddresses eq 'x'", "eq", "is a list"),
    ("proxyAddresses/all(p: p eq 'x')", "all", "does not support all()"),
    ("displayName/any(p: p eq 'x')", "any", "is not a list"),
    ("proxyAddresses/any(p: q eq 'x')", "q eq", "Expected the lambda variable 'p'"),
    ("proxyAddresses/any(p p eq 'x')", "p eq", "Expected ':'"),
    ("proxyAddresses/any(p: p gt 'x')", "gt", "cannot be compared with gt"),
    (f"assignedLicenses/any(a: a/skuId eq '{SKU}')", f"'{SKU}'", "skuId is a GUID written without quotes"),
    (f"assignedLicenses/any(a: a eq {SKU})", "eq", "a/skuId eq <GUID>"),
    ("assignedLicenses/$count eq 'x'", "'x'", "Expected a whole number"),
    ("accountEnabled gt true", "gt", "cannot be compared with gt"),
    ("department in ()", ")", "compares with a text value"),
    ("department in ('a' 'b')", "'b'", "Expected a comma or a closing parenthesis"),
    ("department eq 'a' && city eq 'b'", "&", "Use 'and'"),
    ("department ne 'a' || city eq 'b'", "|", "Use 'or'"),
    ("department eq 'a' ! city eq 'b'", "!", "Use ne"),
    ("department eq 'a' ; x", ";", "Unexpected character ';'"),
    ("extension_0123_x eq 'a'", "extension_0123_x", "Unknown user property"),
])
def test_invalid_filters_give_position_and_words(expr, marker, message):
    with pytest.raises(FilterError) as error:
        odata.validate_filter(expr)
    expected_position = len(expr) if marker is None else expr.index(marker)
    assert message in error.value.message
    assert error.value.position == expected_position
    assert str(error.value).endswith(f"(at character {expected_position + 1})")


def test_deep_nesting_and_long_filters_are_refused_cleanly():
    with pytest.raises(FilterError, match="nests more than"):
        odata.validate_filter("(" * 200 + "city eq 'x'" + ")" * 200)
    with pytest.raises(FilterError, match="nests more than"):
        odata.validate_filter("not " * 200 + "city eq 'x'")
    with pytest.raises(FilterError, match="longer than"):
        odata.validate_filter("city eq '" + "x" * 4000 + "'")


USER = {
    "id": "u1", "displayName": "Ada Lovelace", "department": "Sales", "accountEnabled": True,
    "mail": "Ada@Contoso.com", "proxyAddresses": ["SMTP:Ada@Contoso.com", "smtp:ada@old.example"],
    "otherMails": [], "assignedLicenses": [{"skuId": SKU.upper(), "disabledPlans": []}],
    "createdDateTime": "2024-03-01T10:00:00Z", "companyName": None,
    "onPremisesExtensionAttributes": {"extensionAttribute1": "Blue"}, EXT: 7,
}


@pytest.mark.parametrize(("expr", "expected"), [
    ("", True),
    ("displayName eq 'ada lovelace'", True),
    ("displayName eq 'Ada'", False),
    ("department ne 'Sales'", False),
    ("department ne 'Marketing'", True),
    ("department in ('Marketing', 'sales')", True),
    ("not (department eq 'Sales')", False),
    ("startsWith(displayName, 'ADA')", True),
    ("endsWith(mail, '@contoso.com')", True),
    ("accountEnabled eq true and department eq 'Sales'", True),
    ("accountEnabled eq false or department eq 'x'", False),
    ("proxyAddresses/any(p: p eq 'smtp:ada@old.example')", True),
    ("proxyAddresses/any(p: startsWith(p, 'SIP:'))", False),
    ("otherMails/any(o: o eq 'a@x')", False),
    (f"assignedLicenses/any(a: a/skuId eq {SKU})", True),
    ("assignedLicenses/$count eq 0", False),
    ("otherMails/$count eq 0", True),
    ("companyName eq null", True),
    ("companyName ne null", False),
    ("jobTitle eq null", True),
    ("jobTitle ne 'x'", True),
    ("createdDateTime ge 2024-01-01T00:00:00Z", True),
    ("createdDateTime ge 2024-03-01T11:00:00+02:00", True),
    ("createdDateTime gt 2025-01-01T00:00:00Z", False),
    ("onPremisesExtensionAttributes/extensionAttribute1 eq 'blue'", True),
    (f"{EXT} eq 7", True),
    ("manager/id eq 'm1'", True),
    ("manager/id eq 'm2'", False),
])
def test_matches_evaluates_like_graph(expr, expected):
    assert odata_eval.matches(expr, USER, {"id": "m1"}) is expected


def test_datetime_literals_are_parsed_with_their_zone():
    tree, _ = odata.parse_filter("createdDateTime ge 2024-01-01T00:00:00Z")
    assert tree == ("cmp", "createdDateTime", "ge", datetime(2024, 1, 1, tzinfo=timezone.utc))


@given(st.text(max_size=80))
def test_any_text_is_either_valid_or_a_filter_error(text):
    try:
        odata.validate_filter(text)
    except FilterError as error:
        assert 0 <= error.position <= len(text)


TOKENS = ["displayName", "proxyAddresses", "assignedLicenses", "eq", "ne", "in", "and", "or", "not", "(", ")",
          ",", ":", "/", "any", "$count", "'x'", "true", "null", "0", SKU, "startsWith", "p",
          "2024-01-01T00:00Z"]


@given(st.lists(st.sampled_from(TOKENS), max_size=14))
def test_token_soup_is_either_valid_or_a_filter_error(tokens):
    text = " ".join(tokens)
    try:
        tree, _ = odata.parse_filter(text)
    except FilterError as error:
        assert 0 <= error.position <= len(text)
    else:
        assert isinstance(odata_eval.matches(text, USER), bool)


@pytest.mark.parametrize("expr", ["proxyAddresses /", "proxyAddresses/any(", "startsWith(", "displayName eq"])
def test_truncated_filters_are_filter_errors(expr):
    with pytest.raises(odata.FilterError):
        odata.validate_filter(expr)

"""Assignment rules: first match in order, transitive groups, department/company/link, the default."""
import pytest

from signatures import assignment
from signatures.models import SignatureRule, SignatureTemplate
from tests import factories
from tests.signatures.conftest import make_employee, make_group

pytestmark = pytest.mark.django_db


@pytest.fixture
def templates(organization):
    default = SignatureTemplate.objects.create(organization=organization, name="Default", html="d", is_default=True)
    sales = SignatureTemplate.objects.create(organization=organization, name="Sales", html="s")
    eng = SignatureTemplate.objects.create(organization=organization, name="Eng", html="e")
    return default, sales, eng


def rule(organization, order, kind, value, template, reply=None):
    return SignatureRule.objects.create(organization=organization, order=order, kind=kind, value=value,
                                        template=template, reply_template=reply)


def test_no_rule_gives_the_default(link, templates):
    chosen = assignment.resolve(make_employee(link))
    assert (chosen.template, chosen.reply_template, chosen.rule, chosen.reason) == (
        templates[0], templates[0], None, "Default template")


def test_first_matching_rule_wins_and_says_which(link, templates):
    default, sales, eng = templates
    org = link.organization
    rule(org, 0, "company", "Fabrikam", eng)
    rule(org, 1, "department", "sales ", sales, reply=default)
    rule(org, 2, "department", "Sales", eng)
    chosen = assignment.resolve(make_employee(link, department="Sales"))
    assert (chosen.template, chosen.reply_template) == (sales, default)
    assert chosen.reason == "Rule 2: department is sales "


def test_group_rules_count_nested_membership(link, templates):
    default, sales, eng = templates
    employee = make_employee(link)
    group = make_group(link, "Engineering Leads", members=[employee])
    rule(link.organization, 0, "group", group.graph_id, eng)
    chosen = assignment.resolve(employee)
    assert chosen.template == eng
    assert chosen.reason == "Rule 1: member of Engineering Leads (or a nested group)"
    assert assignment.resolve(make_employee(link)).template == default


def test_group_of_another_link_does_not_match(link, organization, templates):
    other_link = factories.make_link(organization, name="Second")
    employee = make_employee(link, graph_id="same-id")
    group = make_group(other_link, "Elsewhere", members=[make_employee(other_link, graph_id="same-id")])
    rule(organization, 0, "group", group.graph_id, templates[2])
    assert assignment.resolve(employee).template == templates[0]


def test_link_rule(link, organization, templates):
    other_link = factories.make_link(organization, name="Second")
    rule(organization, 0, "link", str(other_link.uid), templates[1])
    assert assignment.resolve(make_employee(other_link)).template == templates[1]
    assert assignment.resolve(make_employee(link)).template == templates[0]
    assert assignment.resolve(make_employee(other_link)).reason == "Rule 1: from the Entra tenant Second"


def test_rules_of_another_organisation_never_apply(link, other_link, templates):
    other_template = SignatureTemplate.objects.create(organization=other_link.organization, name="X", html="x")
    rule(other_link.organization, 0, "department", "Engineering", other_template)
    assert assignment.resolve(make_employee(link)).template == templates[0]


def test_default_templates_are_created_when_missing(link):
    chosen = assignment.resolve(make_employee(link))
    assert chosen.template.name == "Classic" and chosen.template.is_default

"""Templates: shipped defaults, one default per organisation, the plain-string context and the render cache."""
import pytest
from django.db import IntegrityError
from django.test import override_settings

from signatures import rendering
from signatures.models import (SignatureTemplate, ensure_default_templates, set_default_template,
                               signature_context)
from tests.signatures.conftest import make_employee, make_photo

pytestmark = pytest.mark.django_db


def test_new_organisation_gets_both_shipped_templates_once(organization):
    ensure_default_templates(organization)
    ensure_default_templates(organization)
    templates = SignatureTemplate.objects.for_org(organization)
    assert sorted(templates.values_list("name", flat=True)) == ["Classic", "Modern"]
    assert list(templates.filter(is_default=True).values_list("name", flat=True)) == ["Classic"]


def test_an_organisation_with_templates_gets_no_more(organization):
    SignatureTemplate.objects.create(organization=organization, name="Mine", html="x")
    ensure_default_templates(organization)
    assert SignatureTemplate.objects.for_org(organization).count() == 1


def test_only_one_default_per_organisation(organization, other_org):
    ensure_default_templates(organization)
    ensure_default_templates(other_org)  # another organisation has its own default
    with pytest.raises(IntegrityError):
        SignatureTemplate.objects.create(organization=organization, name="Two", html="x", is_default=True)


def test_set_default_moves_the_flag(organization):
    ensure_default_templates(organization)
    modern = SignatureTemplate.objects.for_org(organization).get(name="Modern")
    set_default_template(modern)
    assert list(SignatureTemplate.objects.for_org(organization).filter(is_default=True)) == [modern]


@override_settings(SITE_URL="https://sig.example")
def test_context_holds_only_plain_strings_with_org_values_and_photo(link):
    organization = link.organization
    organization.website, organization.logo_url = "https://acme.example", "https://acme.example/logo.png"
    organization.save()
    employee = make_employee(link, mobile="+1 555", org_name="Evil Corp", extra=["a", "b"], none_value=None)
    photo = make_photo(employee)
    context = signature_context(employee)
    assert all(type(value) is str for value in context.values())
    assert context["org_name"] == organization.name  # a directory field never overrides organisation values
    assert context["org_logo_url"] == "https://acme.example/logo.png"
    assert context["photo_url"] == f"https://sig.example/p/{photo.uid}.jpg"
    assert (context["mobile"], context["extra"], context["none_value"], context["fax"]) == ("+1 555", "a, b", "", "")


def test_no_photo_means_empty_photo_url_and_the_template_hides_it(link):
    employee = make_employee(link)
    template = SignatureTemplate.objects.create(organization=link.organization, name="T",
                                                html=rendering.DEFAULT_TEMPLATES["classic"][0])
    assert signature_context(employee)["photo_url"] == ""
    assert "<img" not in template.render_for(employee).html.split("org_logo")[0]


def test_render_for_follows_template_and_employee_changes(link):
    employee = make_employee(link, job_title="Analyst")
    template = SignatureTemplate.objects.create(organization=link.organization, name="T",
                                                html="<p>{{ job_title }}</p>", text="{{ job_title }}!")
    assert template.render_for(employee).text == "Analyst!"
    employee.fields["job_title"] = "Chief"
    assert "Chief" in template.render_for(employee).html
    template.html = "<b>{{ job_title }}</b>"
    template.text = ""
    rendered = template.render_for(employee)
    assert "<b>Chief</b>" in rendered.html and rendered.text == "Chief"  # text derived from the HTML

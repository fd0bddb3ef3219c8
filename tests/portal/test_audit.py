"""The audit log records who changed what, never secrets; its page is for admins of the organisation only."""
import logging

import pytest
from django.urls import reverse

from portal import audit
from portal.logging import ContextFilter, log_context
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_record_hides_secret_values(organization, org_admin):
    event = audit.record(organization, org_admin, "link.created", "Contoso",
                         client_secret="s3cr3t", nested={"password": "pw", "tenant": "t"})
    assert event.details == {"client_secret": "[hidden]", "nested": {"password": "[hidden]", "tenant": "t"}}
    assert event.actor_email == "admin@acme.test"


@pytest.mark.parametrize("who,status", [("owner", 200), ("admin", 200), ("editor", 403), ("outsider", 404)])
def test_audit_page_access(client, organization, org_owner, org_admin, org_editor, other_org_admin, who, status):
    people = {"owner": org_owner, "admin": org_admin, "editor": org_editor, "outsider": other_org_admin}
    client.force_login(people[who])
    assert client.get(reverse("audit_log", args=[organization.slug])).status_code == status


def test_audit_page_shows_only_this_organisations_events(client, organization, other_org, org_admin):
    audit.record(organization, org_admin, "template.updated", "Ours")
    audit.record(other_org, None, "template.updated", "Theirs <script>")
    client.force_login(org_admin)
    page = client.get(reverse("audit_log", args=[organization.slug])).content.decode()
    assert "Ours" in page and "Theirs" not in page
    assert AuditEvent.objects.count() == 2


def test_log_lines_carry_the_context_ids():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    with log_context(org="acme", run=41):
        with log_context(link=3):
            ContextFilter().filter(record)
    assert record.context == "org=acme link=3 run=41"
    outside = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    ContextFilter().filter(outside)
    assert outside.context == ""

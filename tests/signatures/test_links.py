"""Signed links: a token opens one person's page until it expires, is revoked, or the person leaves."""
from datetime import timedelta

import pytest
from django.core import mail, signing
from django.utils import timezone

from signatures import links, tasks
from signatures.models import SignatureAccess
from tests.signatures.conftest import make_employee

pytestmark = pytest.mark.django_db


def test_token_resolves_to_its_row_and_is_stable(employee, org_admin):
    access = links.issue(employee, created_by=org_admin)
    token = links.token_for(access)
    assert links.token_for(access) == token
    assert links.resolve(token).employee == employee
    # The row's uuid and a signature, no timestamp (expiry is the row's), never a pk.
    assert signing.Signer(salt=links.SALT, algorithm="sha256").unsign(token) == access.uid.hex
    assert token.count(":") == 1


def test_tampered_and_foreign_tokens_are_refused(employee):
    token = links.token_for(links.issue(employee))
    value, signature = token.rsplit(":", 1)
    other_purpose = signing.Signer(salt="other", algorithm="sha256").sign(value)
    for bad in (value + ":" + signature[::-1], "x" + token, other_purpose, "", "a:b"):
        with pytest.raises(links.LinkRefused) as refused:
            links.resolve(bad)
        assert refused.value.reason == links.TAMPERED


def test_unknown_expired_and_revoked(employee):
    import uuid

    forged = signing.Signer(salt=links.SALT, algorithm="sha256").sign(uuid.uuid4().hex)  # no such row
    with pytest.raises(links.LinkRefused, match=links.UNKNOWN):
        links.resolve(forged)
    expired = links.issue(employee)
    SignatureAccess.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    for check in (links.resolve, links.check):
        with pytest.raises(links.LinkRefused, match=links.EXPIRED):
            check(links.token_for(expired))
    revoked = links.issue(employee, days=5)
    assert links.revoke_all(employee) == 1  # the expired one was closed already
    with pytest.raises(links.LinkRefused, match=links.REVOKED):
        links.resolve(links.token_for(revoked))


@pytest.mark.parametrize("change", ["removed", "excluded", "unlinked"])
def test_link_stops_when_the_employee_leaves(link, change):
    employee = make_employee(link)
    token = links.token_for(links.issue(employee))
    if change == "removed":
        employee.removed_at, employee.status = timezone.now(), "removed"
        employee.save()
    elif change == "excluded":
        employee.status = "excluded"
        employee.save()
    else:
        link.status = "unlinked"
        link.save()
    for check in (links.resolve, links.check):  # the full load and the per-request check agree
        with pytest.raises(links.LinkRefused, match=links.EMPLOYEE_GONE):
            check(token)


def test_revoke_touches_only_that_employee(link):
    a, b = make_employee(link), make_employee(link)
    links.issue(a)
    keep = links.issue(b)
    links.revoke_all(a)
    assert links.resolve(links.token_for(keep)).employee == b


def test_send_links_task_mails_each_active_employee_once(link, other_link, org_admin):
    a = make_employee(link, email="a@contoso.test")
    make_employee(link, email="")  # nobody to mail
    make_employee(link, email="gone@contoso.test", removed=True, status="removed")
    make_employee(other_link, email="other@globex.test")
    assert tasks.send_signature_links(link.organization.pk, None, org_admin.pk) == 1
    assert [m.to for m in mail.outbox] == [["a@contoso.test"]]
    access = SignatureAccess.objects.get(employee=a)
    assert (access.emailed_to, access.created_by) == ("a@contoso.test", org_admin)
    assert links.url_for(access) in mail.outbox[0].body
    # A retry within the hour mails nobody twice.
    assert tasks.send_signature_links(link.organization.pk, [a.pk], org_admin.pk) == 0


def test_send_links_task_ignores_ids_of_other_organisations(link, other_link):
    foreign = make_employee(other_link, email="other@globex.test")
    assert tasks.send_signature_links(link.organization.pk, [foreign.pk], None) == 0
    assert mail.outbox == []


def test_prepared_check_and_orm_check_read_the_same_row(link, monkeypatch):
    from tests.signatures.conftest import make_photo

    employee = make_employee(link)
    make_photo(employee)
    token = links.token_for(links.issue(employee))
    prepared = links.check(token)
    monkeypatch.setattr(links, "PREPARED_CHECK", False)  # the query used behind PgBouncer and on SQLite
    assert links.check(token) == prepared
    assert prepared[1][3] == employee.photo.sha256

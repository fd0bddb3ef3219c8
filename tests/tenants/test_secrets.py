"""Secrets at rest: nothing readable in any table, in pages or in logs; keys rotate without losing a secret."""
import io
import logging

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from tenants import secrets
from tenants.management.commands import rotate_secrets
from tenants.models import EntraLink
from tests import factories

SECRET = "Zq8~plain-client-secret-value-0123456789"
PRIVATE_KEY_LINE = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQ"


@pytest.fixture
def keys(settings):
    """Start from one known key; tests add and remove keys as an operator would."""
    old = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    return settings, old


def private_key_pem():
    return f"-----BEGIN PRIVATE KEY-----\n{PRIVATE_KEY_LINE}\n-----END PRIVATE KEY-----\n"


def make_secret_links(organization):
    secret_link = factories.make_link(organization, client_secret=SECRET)
    cert_link = factories.make_link(organization, auth_method=EntraLink.AuthMethod.CERTIFICATE, client_secret="")
    cert_link.set_private_key(private_key_pem())
    cert_link.save()
    return secret_link, cert_link


def migrated_models():
    # Every model with a table (a model whose migration is still being written has none yet).
    tables = set(connection.introspection.table_names())
    return [model for model in apps.get_models(include_auto_created=True) if model._meta.db_table in tables]


def every_text_value():
    """Every character column of every table, read with raw SQL (what a database dump would show)."""
    values = []
    with connection.cursor() as cursor:
        for model in migrated_models():
            table = model._meta.db_table
            columns = [f.column for f in model._meta.local_fields
                       if f.get_internal_type() in ("CharField", "TextField", "JSONField", "SlugField",
                                                    "EmailField", "URLField")]
            if not columns:
                continue
            cursor.execute(f'SELECT {", ".join(connection.ops.quote_name(c) + "::text" for c in columns)} '
                           f"FROM {connection.ops.quote_name(table)}")
            values += [str(value) for row in cursor.fetchall() for value in row if value]
    return values


def test_no_table_holds_a_plaintext_secret_or_private_key(organization, keys):
    secret_link, cert_link = make_secret_links(organization)
    dump = io.StringIO()
    labels = [model._meta.label for model in migrated_models() if not model._meta.auto_created]
    call_command("dumpdata", *labels, stdout=dump)
    assert secret_link.client_secret_encrypted in dump.getvalue()  # the dump did include the links
    for text in [dump.getvalue(), *every_text_value()]:
        assert SECRET not in text
        assert PRIVATE_KEY_LINE not in text
    assert secret_link.client_credential() == SECRET
    assert cert_link.client_credential()["private_key"] == private_key_pem()


def test_rotation_keeps_old_ciphertexts_readable_then_needs_only_the_new_key(organization, keys):
    settings, old = keys
    secret_link, cert_link = make_secret_links(organization)
    new = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    assert EntraLink.objects.get(pk=secret_link.pk).client_credential() == SECRET  # still under the old key
    assert EntraLink.objects.get(pk=cert_link.pk).client_credential()["private_key"] == private_key_pem()
    out = io.StringIO()
    call_command("rotate_secrets", stdout=out)
    assert "Re-encrypted 2 secrets" in out.getvalue()
    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert EntraLink.objects.get(pk=secret_link.pk).client_credential() == SECRET
    assert EntraLink.objects.get(pk=cert_link.pk).client_credential()["private_key"] == private_key_pem()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    with pytest.raises(secrets.SecretUnreadable) as unreadable:
        EntraLink.objects.get(pk=secret_link.pk).client_credential()
    assert SECRET not in str(unreadable.value)


def test_rotation_without_the_old_key_fails_loudly_and_names_no_secret(organization, keys):
    settings, old = keys
    make_secret_links(organization)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(Exception) as failure:
        call_command("rotate_secrets")
    assert "old key back" in str(failure.value) and SECRET not in str(failure.value)


def test_rotate_all_counts_only_stored_values(organization, keys):
    factories.make_link(organization, client_secret="")
    assert rotate_secrets.rotate_all() == 0


def test_generate_key_prints_a_usable_fernet_key():
    out = io.StringIO()
    call_command("generate_key", stdout=out)
    key = out.getvalue().strip()
    assert Fernet(key.encode()).decrypt(Fernet(key.encode()).encrypt(b"x")) == b"x"


def test_saved_secret_is_never_rendered_back(client, org_admin, organization, keys):
    secret_link, cert_link = make_secret_links(organization)
    client.force_login(org_admin)
    for link in (secret_link, cert_link):
        for url in (reverse("tenants:link_list", args=[organization.slug]),
                    reverse("tenants:link_edit", args=[organization.slug, link.pk]),
                    reverse("dashboard", args=[organization.slug])):
            page = client.get(url).content.decode()
            assert SECRET not in page and PRIVATE_KEY_LINE not in page
            assert link.client_secret_encrypted[:20] not in page or not link.client_secret_encrypted
    page = client.get(reverse("tenants:link_edit", args=[organization.slug, secret_link.pk])).content.decode()
    assert "•••• saved; leave empty to keep" in page


def test_a_failed_post_does_not_echo_the_secret_or_key(client, org_admin, organization, keys):
    client.force_login(org_admin)
    response = client.post(reverse("tenants:link_own_app", args=[organization.slug]), {
        "name": "x", "cloud": "global", "tenant": "not a tenant", "client_id": "also-not-a-guid",
        "credential": "pem", "client_secret": SECRET, "private_key_pem": private_key_pem(),
        "certificate_pem": "garbage"})
    page = response.content.decode()
    assert response.status_code == 200 and "could not be read" in page
    assert SECRET not in page and PRIVATE_KEY_LINE not in page


def test_failed_validation_logs_no_secret(organization, keys, caplog, settings, monkeypatch):
    from directory_sync import graph
    from tenants import linking

    def refuse(link):
        raise graph.GraphAuthError("x", aadsts=7000215)

    monkeypatch.setattr(graph, "acquire_token", refuse)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(linking.LinkError) as failure:
        linking.link_own_app(organization, name="x", cloud_key="global", tenant="contoso.onmicrosoft.com",
                             client_id="11111111-2222-3333-4444-555555555555", client_secret=SECRET)
    assert SECRET not in caplog.text and SECRET not in str(failure.value)
    assert all(SECRET not in value for value in every_text_value())


# --- Expiry warnings (tenants.tasks.warn_expiring_secrets) -----------------------------------------------------


def test_expiry_warnings_are_mailed_once_per_threshold_to_owners_and_admins(organization, org_owner, org_admin,
                                                                           org_editor, mailoutbox, keys):
    from datetime import date, timedelta

    from tenants import tasks

    expires = date(2026, 12, 31)
    link = factories.make_link(organization, name="HQ", secret_expires_on=expires)
    factories.make_link(organization, name="Far", secret_expires_on=expires + timedelta(days=365))
    factories.make_link(organization, name="Consent", auth_method=EntraLink.AuthMethod.ADMIN_CONSENT,
                        client_secret="")

    assert tasks.send_expiry_warnings(today=expires - timedelta(days=40)) == 0
    assert tasks.send_expiry_warnings(today=expires - timedelta(days=30)) == 1
    assert tasks.send_expiry_warnings(today=expires - timedelta(days=29)) == 0  # already told about 30 days
    assert tasks.send_expiry_warnings(today=expires - timedelta(days=7)) == 1
    assert tasks.send_expiry_warnings(today=expires - timedelta(days=3)) == 0
    assert tasks.send_expiry_warnings(today=expires + timedelta(days=1)) == 1
    assert tasks.send_expiry_warnings(today=expires + timedelta(days=2)) == 0
    assert [m.subject for m in mailoutbox] == [
        "Signet: the client secret of HQ expires on 31 December 2026",
        "Signet: the client secret of HQ expires on 31 December 2026",
        "Signet: the client secret of HQ expired on 31 December 2026",
    ]
    assert set(mailoutbox[0].to) == {org_owner.email, org_admin.email}
    assert "/integration/" in mailoutbox[0].body
    link.refresh_from_db()
    assert link.expiry_notified == "expired"


def test_a_renewed_secret_rearms_the_warnings(organization, mailoutbox, keys):
    from datetime import date, timedelta

    from tenants import tasks

    expires = date(2026, 12, 31)
    link = factories.make_link(organization, secret_expires_on=expires)
    tasks.send_expiry_warnings(today=expires - timedelta(days=5))
    EntraLink.objects.filter(pk=link.pk).update(secret_expires_on=expires + timedelta(days=365))
    tasks.send_expiry_warnings(today=expires - timedelta(days=4))
    link.refresh_from_db()
    assert link.expiry_notified == ""
    assert tasks.send_expiry_warnings(today=expires + timedelta(days=340)) == 1


def test_certificate_expiry_comes_from_the_certificate(organization, keys):
    from datetime import datetime, timezone as tz

    link = factories.make_link(organization, auth_method=EntraLink.AuthMethod.CERTIFICATE, client_secret="",
                               certificate_expires_at=datetime(2027, 1, 15, 12, tzinfo=tz.utc),
                               secret_expires_on=None)
    assert link.credential_expires_on.isoformat() == "2027-01-15"
    assert link.expiry_threshold(today=datetime(2027, 1, 10).date()) == "7"
    assert link.expiry_threshold(today=datetime(2027, 1, 16).date()) == "expired"


def test_the_task_runs_the_same_function(organization, mailoutbox, keys):
    from datetime import timedelta

    from django.utils import timezone

    from tenants import tasks

    factories.make_link(organization, secret_expires_on=timezone.localdate() + timedelta(days=3))
    assert tasks.warn_expiring_secrets() == 1 and len(mailoutbox) == 1


def test_a_secret_lost_with_its_key_is_reported_not_crashed(organization, keys):
    from tenants import connectivity, linking

    settings, old = keys
    link = factories.make_link(organization, client_secret=SECRET)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    result = connectivity.check_connectivity(link)
    assert not result["ok"] and "can no longer be decrypted" in result["summary"]
    with pytest.raises(linking.LinkError, match="can no longer be decrypted"):
        linking.link_own_app(organization, name="x", cloud_key="global", tenant=link.tenant_id,
                             client_id=link.own_client_id, link=link)

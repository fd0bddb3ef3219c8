"""Linking (tenants/linking.py): unlinking, own app registrations and their certificates, tenant input, the
operator command."""
import uuid
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12
from django.utils import timezone

from directory_sync import graph, graph_reads
from tenants import linking
from tenants.models import EntraLink, LinkAttempt
from tests.tenants.conftest import assert_nothing_linked, outcomes


# --- Unlink ------------------------------------------------------------------------------------------------------


def test_unlink_forgets_credentials_and_tokens_and_stops_syncs(link, monkeypatch):
    forgotten = []
    monkeypatch.setattr(graph, "forget_link", lambda l: forgotten.append(l.pk))
    EntraLink.objects.filter(pk=link.pk).update(next_sync_at=timezone.now())
    linking.unlink(link)
    link.refresh_from_db()
    assert link.status == EntraLink.Status.UNLINKED and link.next_sync_at is None
    assert link.client_secret_encrypted == "" and link.private_key_encrypted == ""
    assert link.pk in forgotten


# --- Against the emulator --------------------------------------------------------------------------------------


def own_app(emu, organization, **overrides):
    fields = {"name": "Own", "cloud_key": "custom", "tenant": emu.tenant.id, "client_id": emu.own_app.client_id,
              "client_secret": emu.own_app.client_secret}
    fields.update(overrides)
    return linking.link_own_app(organization, **fields)


def test_own_app_with_a_good_secret_links(organization, emu):
    link = own_app(emu, organization, secret_expires_on=timezone.localdate() + timedelta(days=300))
    assert (link.tenant_id, link.tenant_name, link.auth_method) == (emu.tenant.id, emu.tenant.display_name,
                                                                    "client_secret")
    assert link.client_credential() == emu.own_app.client_secret
    assert emu.own_app.client_secret not in link.client_secret_encrypted
    assert outcomes() == ["linked"]


def test_own_app_wrong_secret_saves_nothing_and_a_corrected_retry_works(organization, emu):
    with pytest.raises(linking.LinkError) as failure:
        own_app(emu, organization, client_secret="wrong-secret-value")
    assert "client secret is wrong" in failure.value.admin_message
    assert_nothing_linked("token_failed")
    assert "wrong-secret-value" not in str(failure.value)
    own_app(emu, organization)  # msal's replay of the 400 must not answer the corrected retry
    assert EntraLink.objects.count() == 1


def test_own_app_expired_secret_gives_the_reason(organization, emu):
    emu.control.expire_secret(emu.own_app.client_id)
    with pytest.raises(linking.LinkError) as failure:
        own_app(emu, organization)
    assert "client secret has expired" in failure.value.admin_message
    assert_nothing_linked("token_failed")


def test_own_app_unknown_tenant_gives_the_reason(organization, emu):
    with pytest.raises(linking.LinkError) as failure:
        own_app(emu, organization, tenant=str(uuid.uuid4()))
    assert "tenant" in failure.value.admin_message and "not" in failure.value.admin_message
    assert_nothing_linked("token_failed")


def test_own_app_not_consented_in_the_tenant_gives_the_reason(organization, emu):
    with pytest.raises(linking.LinkError) as failure:
        own_app(emu, organization, tenant=emu.second_tenant.id)
    assert "consent" in failure.value.admin_message
    assert_nothing_linked("token_failed")


def test_own_app_domain_is_resolved_to_the_tenant_guid(organization, emu):
    link = own_app(emu, organization, tenant=emu.tenant.initial_domain.upper())
    assert link.tenant_id == emu.tenant.id
    assert LinkAttempt.objects.get().tenant == emu.tenant.id


def test_own_app_with_a_pem_certificate_links(organization, emu):
    certificate = linking.load_certificate(emu.own_app.private_key_pem, emu.own_app.certificate_pem)
    link = own_app(emu, organization, client_secret="", certificate=certificate)
    assert link.auth_method == "certificate" and link.client_secret_encrypted == ""
    assert len(link.certificate_thumbprint) == 64 and link.certificate_expires_at is not None
    assert link.client_credential()["public_certificate"] == link.certificate_pem
    assert "BEGIN" not in link.private_key_encrypted


def test_own_app_with_a_pfx_and_passphrase_links(organization, emu):
    certificate = linking.load_pfx(emu.own_app.pfx_bytes("pfx-pass"), "pfx-pass")
    link = own_app(emu, organization, client_secret="", certificate=certificate)
    assert link.auth_method == "certificate"
    assert graph_reads.get_organization(link)["id"] == emu.tenant.id


def test_pfx_with_a_wrong_passphrase_is_refused_before_any_call(organization, emu):
    with pytest.raises(linking.LinkError, match="passphrase"):
        linking.load_pfx(emu.own_app.pfx_bytes("pfx-pass"), "wrong")


def test_key_that_does_not_belong_to_the_certificate_is_refused(emu):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    with pytest.raises(linking.LinkError, match="does not belong"):
        linking.load_certificate(other, emu.own_app.certificate_pem)


def test_pfx_without_a_key_is_refused(emu):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(emu.own_app.certificate_pem.encode())
    data = pkcs12.serialize_key_and_certificates(b"x", None, cert, None, serialization.NoEncryption())
    with pytest.raises(linking.LinkError, match="both"):
        linking.load_pfx(data)


@pytest.mark.parametrize("value", ["", "not a tenant", "contoso", "http://evil.example/x"])
def test_bad_tenant_input_is_refused(value):
    with pytest.raises(linking.LinkError, match="tenant ID"):
        linking.normalize_tenant(value)


# --- The operator command --------------------------------------------------------------------------------------


def run_link_entra(*args):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("link_entra", *args, stdout=out)
    return out.getvalue()


def test_link_entra_command_with_a_secret_file(organization, emu, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text(emu.own_app.client_secret + "\n")
    out = run_link_entra("--org", organization.slug, "--name", "CLI", "--cloud", "custom", "--tenant",
                         emu.tenant.initial_domain, "--client-id", emu.own_app.client_id,
                         "--client-secret-file", str(secret), "--secret-expires", "2027-02-01")
    link = EntraLink.objects.get()
    assert f"Linked {emu.tenant.display_name} ({emu.tenant.id})" in out
    assert link.secret_expires_on.isoformat() == "2027-02-01"
    assert LinkAttempt.objects.get().method == "command"


def test_link_entra_command_with_pem_files_and_with_a_pfx(organization, emu, tmp_path):
    (tmp_path / "key.pem").write_text(emu.own_app.private_key_pem)
    (tmp_path / "cert.pem").write_text(emu.own_app.certificate_pem)
    run_link_entra("--org", organization.slug, "--name", "PEM", "--cloud", "custom", "--tenant", emu.tenant.id,
                   "--client-id", emu.own_app.client_id, "--certificate", str(tmp_path / "cert.pem"),
                   "--private-key", str(tmp_path / "key.pem"))
    (tmp_path / "app.pfx").write_bytes(emu.own_app.pfx_bytes("pw"))
    (tmp_path / "pass").write_text("pw\n")
    run_link_entra("--org", organization.slug, "--name", "PFX", "--cloud", "custom", "--tenant", emu.tenant.id,
                   "--client-id", emu.own_app.client_id, "--pfx", str(tmp_path / "app.pfx"),
                   "--passphrase-file", str(tmp_path / "pass"))
    link = EntraLink.objects.get()  # the same tenant: relinked into one row
    assert (link.name, link.auth_method) == ("PFX", "certificate")


def test_link_entra_command_fails_with_the_admin_message(organization, emu, tmp_path):
    from django.core.management.base import CommandError

    secret = tmp_path / "secret"
    secret.write_text("not-the-secret")
    with pytest.raises(CommandError, match="client secret is wrong"):
        run_link_entra("--org", organization.slug, "--name", "CLI", "--cloud", "custom", "--tenant", emu.tenant.id,
                       "--client-id", emu.own_app.client_id, "--client-secret-file", str(secret))
    with pytest.raises(CommandError, match="No organisation"):
        run_link_entra("--org", "nope", "--name", "CLI", "--tenant", emu.tenant.id, "--client-id",
                       emu.own_app.client_id, "--client-secret-file", str(secret))
    assert not EntraLink.objects.exists()

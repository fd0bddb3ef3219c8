"""Plain make_<model>(**overrides) functions for tests."""
import itertools
import uuid

from django.contrib.auth import get_user_model

from tenants import onboarding
from tenants.models import EntraLink, Membership, Organization

_seq = itertools.count(1)
PASSWORD = "correct-horse-battery-staple"


def make_user(email=None, password=PASSWORD):
    email = email or f"user{next(_seq)}@example.com"
    return get_user_model().objects.create_user(username=email.lower(), email=email, password=password)


def make_organization(name=None, owner=None):
    owner = owner or make_user()
    return onboarding.create_organization(owner, name or f"Org {next(_seq)}")


def make_member(organization, role, email=None):
    user = make_user(email)
    Membership.objects.create(user=user, organization=organization, role=role)
    return user


def make_link(organization, **overrides):
    fields = {
        "name": f"Link {next(_seq)}",
        "tenant_id": str(uuid.uuid4()),
        "tenant_name": "Contoso",
        "initial_domain": "contoso.onmicrosoft.com",
        "cloud_key": "global",
        "auth_method": EntraLink.AuthMethod.CLIENT_SECRET,
        "own_client_id": str(uuid.uuid4()),
    }
    fields.update(overrides)
    secret = fields.pop("client_secret", "s3cr3t-value")
    link = EntraLink(organization=organization, **fields)
    link.set_client_secret(secret)
    link.save()
    return link


def owner_of(organization: Organization):
    return Membership.objects.get(organization=organization, role="owner").user


def database_url() -> str:
    """The test database as a URL, for processes the tests start (workers, beat)."""
    from django.db import connection

    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"

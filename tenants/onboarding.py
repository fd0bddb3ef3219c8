"""Writes that touch several models: creating an organisation, inviting people, accepting an invitation."""
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from tenants.models import Invitation, Membership, Organization, Role


class InvitationInvalid(Exception):
    """The invitation link cannot be used; the message says why in words."""


@transaction.atomic
def create_organization(owner, name: str) -> Organization:
    """Create an organisation and make `owner` its owner."""
    organization = Organization.objects.create(name=name.strip(), slug=Organization.unique_slug(name))
    Membership.objects.create(user=owner, organization=organization, role=Role.OWNER)
    return organization


def create_user(email: str, password: str):
    """Create a user whose username is the lower-cased email."""
    email = email.strip()
    return get_user_model().objects.create_user(username=email.lower(), email=email, password=password)


@transaction.atomic
def sign_up(email: str, password: str, organization_name: str):
    """Create a user and their organisation, with them as owner."""
    user = create_user(email, password)
    return user, create_organization(user, organization_name)


@transaction.atomic
def sign_up_by_invitation(token: str, email: str, password: str):
    """Create a user and accept the invitation for them, or create nothing if the invitation cannot be used."""
    user = create_user(email, password)
    return user, accept_invitation(token, user)


def invite(organization: Organization, email: str, role: str, invited_by) -> tuple[Invitation, str]:
    """Create an invitation and return it with its token (shown once in the link; only its hash is stored)."""
    token = Invitation.new_token()
    invitation = Invitation.objects.create(
        organization=organization, email=email.strip(), role=role, invited_by=invited_by,
        token_hash=Invitation.hash_token(token),
    )
    return invitation, token


def find_invitation(token: str) -> Invitation:
    """The pending invitation for a token, or InvitationInvalid saying why it cannot be used."""
    invitation = (
        Invitation.objects.select_related("organization").filter(token_hash=Invitation.hash_token(token)).first()
    )
    if invitation is None:
        raise InvitationInvalid("This invitation link is not valid. Ask an administrator for a new one.")
    if invitation.revoked_at:
        raise InvitationInvalid("This invitation was withdrawn. Ask an administrator for a new one.")
    if invitation.accepted_at:
        raise InvitationInvalid("This invitation has already been used. Sign in, or ask for a new invitation.")
    if invitation.expires_at <= timezone.now():
        raise InvitationInvalid("This invitation has expired. Ask an administrator for a new one.")
    return invitation


@transaction.atomic
def accept_invitation(token: str, user) -> Membership:
    """Use the invitation once: the user joins with the invited role (an existing member keeps the higher role)."""
    invitation = find_invitation(token)
    # Lock the row so two simultaneous clicks cannot both accept it.
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at:
        raise InvitationInvalid("This invitation has already been used. Sign in, or ask for a new invitation.")
    membership, created = Membership.objects.get_or_create(
        user=user, organization=invitation.organization, defaults={"role": invitation.role}
    )
    if not created and not membership.has_role(invitation.role):
        membership.role = invitation.role
        membership.save(update_fields=["role"])
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    return membership

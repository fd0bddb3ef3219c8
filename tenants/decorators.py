"""Resolve /o/<org_slug>/ to request.organization, once per request, from the user's membership."""
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404

from portal.logging import log_context
from tenants.models import Membership, Role


def org_member(role: str = Role.EDITOR):
    """Let members with at least `role` in; non-members get 404 (never a hint the organisation exists), members
    with a lesser role get 403. Sets request.organization and request.membership."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(request, org_slug, *args, **kwargs):
            membership = (
                Membership.objects.select_related("organization")
                .filter(user=request.user, organization__slug=org_slug)
                .first()
            )
            if membership is None:
                raise Http404("No such organisation.")
            if not membership.has_role(role):
                raise PermissionDenied("Your role in this organisation does not allow this.")
            request.organization = membership.organization
            request.membership = membership
            with log_context(org=org_slug, actor=request.user.email):
                return view(request, org_slug, *args, **kwargs)

        return wrapped

    return decorator

"""Organisation pages: members, invitations, settings, creating another organisation."""
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from portal import audit
from tenants import onboarding
from tenants.decorators import org_member
from tenants.forms import InviteForm, MemberRoleForm, OrganizationForm, SignUpForm
from tenants.models import Invitation, Membership, Role


@login_required
def org_create(request):
    form = OrganizationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        organization = onboarding.create_organization(request.user, form.cleaned_data["name"])
        messages.success(request, f"{organization.name} is ready. Link Entra ID to bring in your people.")
        return redirect("dashboard", organization.slug)
    return render(request, "tenants/org_create.html", {"form": form})


@org_member(role=Role.ADMIN)
def org_settings(request, org_slug):
    form = OrganizationForm(request.POST or None, instance=request.organization)
    if request.method == "POST" and form.is_valid():
        form.save()
        audit.record(request.organization, request.user, "organization.updated", request.organization.name,
                     changed=form.changed_data)
        messages.success(request, "Organisation settings saved.")
        return redirect("tenants:org_settings", org_slug)
    return render(request, "tenants/org_settings.html", {"form": form})


@org_member()
def member_list(request, org_slug):
    organization = request.organization
    can_manage = request.membership.has_role(Role.ADMIN)
    form = InviteForm(request.POST or None, inviter=request.membership)
    if request.method == "POST":
        if not can_manage:
            raise PermissionDenied
        if form.is_valid():
            invitation, token = onboarding.invite(
                organization, form.cleaned_data["email"], form.cleaned_data["role"], request.user
            )
            link = request.build_absolute_uri(reverse("tenants:invitation_accept", args=[token]))
            send_mail(
                f"Join {organization.name} on Signet",
                f"{request.user.email} invited you to {organization.name} as {invitation.get_role_display()}.\n\n"
                f"Accept within {(invitation.expires_at - timezone.now()).days + 1} days: {link}\n",
                None,
                [invitation.email],
            )
            audit.record(organization, request.user, "member.invited", invitation.email, role=invitation.role)
            # The link is shown once, so an admin can also pass it on by hand.
            messages.success(request, f"Invitation sent to {invitation.email}.")
            request.session["last_invitation_link"] = link
            return redirect("tenants:member_list", org_slug)
    context = {
        "members": Membership.objects.for_org(organization).select_related("user").order_by("created_at"),
        "invitations": [i for i in Invitation.objects.for_org(organization) if i.is_pending] if can_manage else [],
        "form": form,
        "can_manage": can_manage,
        "invitation_link": request.session.pop("last_invitation_link", None),
        "invitation_days": settings.INVITATION_MAX_AGE_DAYS,
    }
    return render(request, "tenants/member_list.html", context)


@require_POST
@org_member(role=Role.ADMIN)
def invitation_revoke(request, org_slug, invitation_id):
    invitation = get_object_or_404(Invitation.objects.for_org(request.organization), pk=invitation_id)
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit.record(request.organization, request.user, "member.invitation_withdrawn", invitation.email)
    messages.success(request, f"Invitation for {invitation.email} withdrawn.")
    return redirect("tenants:member_list", org_slug)


def _check_can_manage(acting: Membership, target: Membership, new_role: str | None = None) -> None:
    """Admins manage admins and editors; only owners touch owners; the last owner always stays."""
    touches_owner = target.role == Role.OWNER or new_role == Role.OWNER
    if touches_owner and acting.role != Role.OWNER:
        raise PermissionDenied("Only an owner can change an owner.")
    if target.role == Role.OWNER and new_role != Role.OWNER:
        owners = Membership.objects.for_org(target.organization).filter(role=Role.OWNER).count()
        if owners <= 1:
            raise PermissionDenied("An organisation keeps at least one owner.")


@require_POST
@org_member(role=Role.ADMIN)
def member_update(request, org_slug, membership_id):
    with transaction.atomic():
        target = get_object_or_404(
            Membership.objects.for_org(request.organization).select_for_update(), pk=membership_id
        )
        form = MemberRoleForm(request.POST, instance=target)
        if not form.is_valid():
            messages.error(request, "Choose a valid role.")
            return redirect("tenants:member_list", org_slug)
        previous = Membership.objects.get(pk=target.pk)
        _check_can_manage(request.membership, previous, form.cleaned_data["role"])
        form.save()
        audit.record(request.organization, request.user, "member.role_changed", target.user.email,
                     before=previous.role, after=target.role)
    messages.success(request, f"{target.user.email} is now {target.get_role_display()}.")
    return redirect("tenants:member_list", org_slug)


@require_POST
@org_member(role=Role.ADMIN)
def member_remove(request, org_slug, membership_id):
    with transaction.atomic():
        target = get_object_or_404(
            Membership.objects.for_org(request.organization).select_for_update(), pk=membership_id
        )
        _check_can_manage(request.membership, target)
        target.delete()
        audit.record(request.organization, request.user, "member.removed", target.user.email, role=target.role)
    messages.success(request, f"{target.user.email} no longer has access to {request.organization.name}.")
    if target.user_id == request.user.id:
        return redirect("home")
    return redirect("tenants:member_list", org_slug)


def invitation_accept(request, token):
    """Join an organisation from an invitation link: signed-in users confirm; others create an account here."""
    try:
        invitation = onboarding.find_invitation(token)
    except onboarding.InvitationInvalid as error:
        return render(request, "tenants/invitation_invalid.html", {"reason": str(error)}, status=410)

    if request.user.is_authenticated:
        if request.method == "POST":
            try:
                membership = onboarding.accept_invitation(token, request.user)
            except onboarding.InvitationInvalid as error:
                return render(request, "tenants/invitation_invalid.html", {"reason": str(error)}, status=410)
            messages.success(request, f"Welcome to {membership.organization.name}.")
            return redirect("dashboard", membership.organization.slug)
        return render(request, "tenants/invitation_accept.html", {"invitation": invitation})

    form = SignUpForm(request.POST or None, with_organization=False, initial={"email": invitation.email})
    if request.method == "POST" and form.is_valid():
        try:
            user, membership = onboarding.sign_up_by_invitation(
                token, form.cleaned_data["email"], form.cleaned_data["password"]
            )
        except onboarding.InvitationInvalid as error:
            return render(request, "tenants/invitation_invalid.html", {"reason": str(error)}, status=410)
        login(request, user, backend="tenants.auth.EmailBackend")
        messages.success(request, f"Welcome to {membership.organization.name}.")
        return redirect("dashboard", membership.organization.slug)
    return render(request, "tenants/invitation_accept.html", {"invitation": invitation, "form": form})

"""The site shell: home, sign-up, the organisation dashboard, health check."""
from django.contrib import messages
from django.contrib.auth import login
from django.core.paginator import Paginator
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from portal.models import AuditEvent, Heartbeat
from tenants import onboarding
from tenants.decorators import org_member
from tenants.forms import SignUpForm
from tenants.models import EntraLink, Invitation, Membership, Role


def home(request):
    """Signed-in people go to their (first) organisation; others see the sign-in page."""
    if not request.user.is_authenticated:
        return redirect("login")
    membership = Membership.objects.filter(user=request.user).select_related("organization").first()
    if membership is None:
        return redirect("tenants:org_create")
    return redirect("dashboard", membership.organization.slug)


def signup(request):
    if request.user.is_authenticated:
        return redirect("home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user, organization = onboarding.sign_up(
            form.cleaned_data["email"], form.cleaned_data["password"], form.cleaned_data["organization_name"]
        )
        login(request, user, backend="tenants.auth.EmailBackend")
        messages.success(request, f"Welcome to Signet. {organization.name} is ready.")
        return redirect("dashboard", organization.slug)
    return render(request, "portal/signup.html", {"form": form})


@org_member()
def dashboard(request, org_slug):
    organization = request.organization
    context = {
        "links": EntraLink.objects.for_org(organization).exclude(status=EntraLink.Status.UNLINKED),
        "members": Membership.objects.for_org(organization).select_related("user"),
        "pending_invitations": sum(1 for i in Invitation.objects.for_org(organization) if i.is_pending),
        "beat": Heartbeat.objects.filter(name="beat").first(),
    }
    return render(request, "portal/dashboard.html", context)


@never_cache
def healthz(request):
    """Liveness and readiness for load balancers and compose: the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@org_member(role=Role.ADMIN)
def audit_log(request, org_slug):
    """The organisation's audit log, newest first, 50 a page."""
    events = AuditEvent.objects.filter(organization=request.organization).select_related("actor")
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    return render(request, "portal/audit_log.html", {"page": page})

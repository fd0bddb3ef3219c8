"""Preferences > Integration: link Entra tenants (admin consent or own app), check, edit, unlink, relink.

Editors may look; linking, checking and unlinking need an admin. Links are looked up only within the URL's
organisation, so another organisation's link is a 404.
"""
from django.contrib import messages
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from directory_sync import graph, tasks
from directory_sync.models import Employee
from portal import audit
from tenants import connectivity, consent, linking
from tenants.decorators import org_member
from tenants.link_forms import ConsentStartForm, LinkRenameForm, OwnAppForm
from tenants.models import EntraLink, Role


def _link(request, link_id):
    return get_object_or_404(EntraLink.objects.for_org(request.organization), pk=link_id)


@org_member()
def link_list(request, org_slug):
    """The organisation's linked Entra tenants, with their checks and expiry warnings, and the ways to link one."""
    links = EntraLink.objects.for_org(request.organization)
    context = {
        "links": [link for link in links if link.is_active],
        "unlinked": [link for link in links if not link.is_active],
        "can_manage": request.membership.has_role(Role.ADMIN),
        "consent_enabled": consent.consent_enabled(),
    }
    return render(request, "tenants/link_list.html", context)


@org_member(role=Role.ADMIN)
def link_consent_start(request, org_slug):
    """Ask for the link's name and cloud, then send the admin to Microsoft's admin-consent page."""
    if not consent.consent_enabled():
        messages.error(request, "The operator has not configured Signet's multi-tenant app; link with your "
                                "own app registration instead.")
        return redirect("tenants:link_list", org_slug)
    form = ConsentStartForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            url = consent.begin_consent(request.session, request.user, request.organization,
                                        form.cleaned_data["name"], form.cleaned_data["cloud"])
        except linking.LinkError as error:
            form.add_error(None, error.admin_message)
        else:
            return redirect(url)
    return render(request, "tenants/link_consent_start.html", {"form": form})


@never_cache
def link_consent_callback(request):
    """Where Microsoft sends the admin back (one fixed URL for every organisation: the state says which)."""
    with graph.answer_within():  # the admin waits on this page
        result = consent.complete_consent(request.session, request.user, request.GET)
    if result.organization is not None:
        if result.is_linked:
            messages.success(request, result.message)
        else:
            messages.error(request, result.message)
        return redirect("tenants:link_list", result.organization.slug)
    return render(request, "tenants/link_consent_result.html", {"result": result}, status=400)


@org_member(role=Role.ADMIN)
def link_own_app(request, org_slug):
    """Link a tenant through the organisation's own app registration (client secret or certificate)."""
    return _own_app_form(request, org_slug, None)


@org_member(role=Role.ADMIN)
def link_edit(request, org_slug, link_id):
    """Rename a link; for an own app registration also change the tenant, client id or credential."""
    link = _link(request, link_id)
    if not link.uses_own_app:
        form = LinkRenameForm(request.POST or None, instance=link)
        if request.method == "POST" and form.is_valid():
            form.save()
            messages.success(request, "Link renamed.")
            return redirect("tenants:link_list", org_slug)
        return render(request, "tenants/link_edit.html", {"form": form, "link": link})
    return _own_app_form(request, org_slug, link)


def _own_app_form(request, org_slug, link):
    form = OwnAppForm(request.POST or None, request.FILES or None, link=link)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with graph.answer_within():
                saved = linking.link_own_app(
                    request.organization, name=data["name"], cloud_key=data["cloud"], tenant=data["tenant"],
                    client_id=data["client_id"], client_secret=data["client_secret"],
                    certificate=data["certificate"], secret_expires_on=data["secret_expires_on"],
                    user=request.user, link=link)
        except linking.LinkError as error:
            form.add_error(None, error.admin_message)
        else:
            messages.success(request, f"Linked {saved.tenant_name or saved.tenant_id}"
                                      f"{' (' + saved.initial_domain + ')' if saved.initial_domain else ''}.")
            return redirect("tenants:link_list", org_slug)
    return render(request, "tenants/link_own_app.html", {"form": form, "link": link})


@require_POST
@org_member(role=Role.ADMIN)
def link_check(request, org_slug, link_id):
    """Check connectivity now and show the result on the Integration page."""
    link = _link(request, link_id)
    if not link.is_active:
        messages.error(request, "This link is unlinked; link it again first.")
        return redirect("tenants:link_list", org_slug)
    with graph.answer_within():
        result = connectivity.check_connectivity(link)
    if result["ok"]:
        messages.success(request, f"{link.name}: {result['summary']}")
    else:
        messages.error(request, f"{link.name}: {result['summary']}")
    return redirect("tenants:link_list", org_slug)


@org_member(role=Role.ADMIN)
def link_unlink(request, org_slug, link_id):
    """Confirm, then forget the credentials and tokens and stop syncing; synced people stay."""
    link = _link(request, link_id)
    if request.method == "POST":
        linking.unlink(link, request.user)
        messages.success(request, f"{link.name} is unlinked. Its people stay until you delete them.")
        return redirect("tenants:link_list", org_slug)
    return render(request, "tenants/link_unlink.html", {"link": link})


@org_member(role=Role.ADMIN)
def link_delete(request, org_slug, link_id):
    """Delete an unlinked tenant and everyone synced from it, after the admin typed its name; the deletion runs
    in the background (a large tenant has 100,000 people)."""
    link = _link(request, link_id)
    if link.is_active:
        messages.error(request, f"{link.name} is still linked: unlink it first, then delete it.")
        return redirect("tenants:link_list", org_slug)
    people = Employee.objects.for_org(request.organization).filter(link=link).count()
    error = ""
    if request.method == "POST":
        if request.POST.get("confirm", "").strip() == link.name:
            audit.record(request.organization, request.user, "link.deleted", link.name, tenant=link.tenant_id,
                         people=people)
            transaction.on_commit(lambda: tasks.erase_link.delay(link.pk))
            messages.success(request, f"Deleting {link.name} and its {people} people; this takes a moment for a "
                                      "large tenant.")
            return redirect("tenants:link_list", org_slug)
        error = "Type the link's name exactly as shown to confirm."
    return render(request, "tenants/link_delete.html", {"link": link, "people": people, "error": error})


@require_POST
@org_member(role=Role.ADMIN)
def link_relink(request, org_slug, link_id):
    """Link an unlinked (or no longer consented) tenant again, reusing its row: consent again, or new
    credentials."""
    link = _link(request, link_id)
    if link.uses_own_app:
        return redirect("tenants:link_edit", org_slug, link.pk)
    try:
        return redirect(consent.relink_consent(request.session, request.user, link))
    except linking.LinkError as error:
        messages.error(request, error.admin_message)
        return redirect("tenants:link_list", org_slug)

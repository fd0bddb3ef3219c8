"""Signature pages for editors and admins: templates and rules (editors), employees and their links (admins).
The employee's own signature page (a signed link or Microsoft sign-in) and the public photo URL used inside
signatures are in employee_page_views.py.

Rendered signatures appear only inside sandboxed iframes (srcdoc) or, on the employee's page, in a container of
sanitised HTML; every page that shows one carries a strict Content-Security-Policy (`signature_csp`).
"""
from functools import wraps

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Max, Q
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from directory_sync.models import Employee
from portal import audit
from signatures import assignment, links, rendering, tasks
from signatures.forms import SignatureRuleForm, SignatureTemplateForm, known_placeholders
from signatures.models import (SignatureRule, SignatureTemplate, ensure_default_templates,
                               set_default_template, signature_context)
from tenants.decorators import org_member
from tenants.models import Role

# Even if the sanitiser missed something, no script can run and nothing can be sent anywhere: scripts only
# from our own origin, no plugins, no forms to other sites, no framing. srcdoc iframes inherit this policy.
SIGNATURE_CSP = (
    "default-src 'none'; img-src https: http: data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
EMPLOYEES_PER_PAGE = 50

SAMPLE_EMPLOYEE = {
    "first_name": "Ada", "last_name": "Lovelace", "display_name": "Ada Lovelace", "email": "ada@example.com",
    "phone": "+44 20 7946 0000", "mobile": "+44 7700 900000", "fax": "", "job_title": "Analyst",
    "department": "Engineering", "company": "", "street": "12 Example Street", "city": "London", "state": "",
    "postal_code": "SW1A 1AA", "country": "United Kingdom", "photo_url": "",
}  # fmt: skip


def signature_csp(view):
    """Send SIGNATURE_CSP with every response of the view."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response["Content-Security-Policy"] = SIGNATURE_CSP
        return response

    return wrapped


def _employees(organization):
    return Employee.objects.for_org(organization).select_related("link", "organization", "photo")


def _can_manage_links(request) -> bool:
    return request.membership.has_role(Role.ADMIN)


# ---- templates (editors and admins) ------------------------------------------------------------------------


@org_member(role=Role.EDITOR)
def template_list(request, org_slug):
    # The shipped templates are created on an organisation's first visit here (or the first signature shown).
    ensure_default_templates(request.organization)
    templates = SignatureTemplate.objects.for_org(request.organization).annotate(rule_count=Count("rules"))
    return render(request, "signatures/template_list.html", {"templates": templates})


def _template_form_page(request, form, template=None):
    was_default = bool(template and template.is_default)  # read before the form writes into the instance
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            saved = form.save(commit=False)
            saved.updated_by = request.user
            # The default moves only by ticking another template: unticking would leave nobody a default.
            make_default = saved.is_default or was_default
            saved.is_default = was_default
            saved.save()
            if make_default and not was_default:
                set_default_template(saved)
            changed = [name for name in form.changed_data if name != "is_default"] + (
                ["is_default"] if make_default and not was_default else [])
            audit.record(request.organization, request.user,
                         "template.updated" if template else "template.created", saved.name,
                         template_id=saved.pk, changed=changed)
        messages.success(request, f"Template “{saved.name}” saved.")
        for note in form.notes:
            messages.warning(request, note)
        try:
            sample = dict({key: "" for key in form.known}, **SAMPLE_EMPLOYEE, org_name=request.organization.name)
            for warning in rendering.render_signature(saved.html, sample, text_source=saved.text or None).warnings:
                messages.warning(request, warning)
        except rendering.TemplateProblemError as exc:
            messages.warning(request, str(exc))
        return redirect("signatures:template_edit", request.organization.slug, saved.pk)
    context = {
        "form": form,
        "template": template,
        "placeholders": _palette(request.organization, form.known),
        "preview_url": reverse("signatures:template_preview", args=[request.organization.slug]),
        "search_url": reverse("signatures:employee_search", args=[request.organization.slug]),
    }
    return render(request, "signatures/template_edit.html", context)


def _palette(organization, known):
    labels = dict(rendering.PLACEHOLDERS)
    return [(key, labels.get(key, "Custom field")) for key in list(rendering.PLACEHOLDERS) +
            sorted(known - set(rendering.PLACEHOLDERS))]


@signature_csp
@org_member(role=Role.EDITOR)
def template_new(request, org_slug):
    html, text = rendering.DEFAULT_TEMPLATES["classic"]
    form = SignatureTemplateForm(request.POST or None, organization=request.organization,
                                 initial={"html": html, "text": text})
    return _template_form_page(request, form)


@signature_csp
@org_member(role=Role.EDITOR)
def template_edit(request, org_slug, template_id):
    template = get_object_or_404(SignatureTemplate.objects.for_org(request.organization), pk=template_id)
    form = SignatureTemplateForm(request.POST or None, instance=template, organization=request.organization)
    return _template_form_page(request, form, template)


@require_POST
@org_member(role=Role.EDITOR)
def template_duplicate(request, org_slug, template_id):
    template = get_object_or_404(SignatureTemplate.objects.for_org(request.organization), pk=template_id)
    names = set(SignatureTemplate.objects.for_org(request.organization).values_list("name", flat=True))
    name, n = f"{template.name} (copy)", 2
    while name in names:
        name, n = f"{template.name} (copy {n})", n + 1
    copy = SignatureTemplate.objects.create(organization=request.organization, name=name[:100], html=template.html,
                                            text=template.text, updated_by=request.user)
    audit.record(request.organization, request.user, "template.created", copy.name, template_id=copy.pk,
                 duplicated_from=template.pk)
    messages.success(request, f"Created “{copy.name}”.")
    return redirect("signatures:template_edit", org_slug, copy.pk)


@org_member(role=Role.EDITOR)
def template_delete(request, org_slug, template_id):
    template = get_object_or_404(SignatureTemplate.objects.for_org(request.organization), pk=template_id)
    rules = SignatureRule.objects.for_org(request.organization).filter(Q(template=template) |
                                                                       Q(reply_template=template))
    blocker = None
    if template.is_default:
        blocker = "This is the default template. Make another template the default first."
    elif rules.filter(template=template).exists():
        blocker = "Rules use this template. Change or delete those rules first."
    if request.method == "POST" and blocker is None:
        audit.record(request.organization, request.user, "template.deleted", template.name, template_id=template.pk)
        template.delete()
        messages.success(request, f"Deleted “{template.name}”.")
        return redirect("signatures:template_list", org_slug)
    return render(request, "signatures/template_delete.html",
                  {"template": template, "blocker": blocker, "rules": rules})


@require_POST
@org_member(role=Role.EDITOR)
def template_preview(request, org_slug):
    """The editor's unsaved template rendered for one employee (or a sample person), as JSON for the iframe."""
    organization = request.organization
    html, text = request.POST.get("html", ""), request.POST.get("text", "")
    employee_id = request.POST.get("employee", "")
    known = known_placeholders(organization)
    if employee_id.isdigit():
        employee = get_object_or_404(_employees(organization), pk=int(employee_id))
        context, who = signature_context(employee), employee.display_name or employee.email
    else:
        context = dict({key: "" for key in known}, **SAMPLE_EMPLOYEE, org_name=organization.name,
                       org_website=organization.website, org_logo_url=organization.logo_url)
        who = "a sample person"
    problems = [str(p) for p in rendering.check_template(html, known)]
    problems += [f"Plain text, {p}" for p in rendering.check_template(text, known, text=True)]
    try:
        result = rendering.render_signature(html, context, text_source=text or None)
    except rendering.TemplateProblemError as exc:
        problems += [str(p) for p in exc.problems if str(p) not in problems]
        return JsonResponse({"ok": False, "problems": problems, "who": who})
    return JsonResponse({"ok": True, "html": result.html, "text": result.text, "warnings": list(result.warnings),
                         "problems": problems, "chars": result.char_count, "who": who})


@require_GET
@org_member(role=Role.EDITOR)
def employee_search(request, org_slug):
    """Up to 20 employees whose name or email contains `q`, as JSON (for the preview's person picker)."""
    query = request.GET.get("q", "").strip()
    employees = Employee.objects.for_org(request.organization).filter(removed_at=None)
    if query:
        employees = employees.filter(Q(display_name__icontains=query) | Q(email__icontains=query))
    found = [{"id": e.pk, "name": e.display_name or e.email or e.graph_id, "email": e.email,
              "title": e.job_title} for e in employees.order_by("display_name", "pk")[:20]]
    return JsonResponse({"results": found})


# ---- rules (editors and admins) ----------------------------------------------------------------------------


@org_member(role=Role.EDITOR)
def rule_list(request, org_slug):
    organization = request.organization
    ensure_default_templates(organization)
    rules = list(SignatureRule.objects.for_org(organization).select_related("template", "reply_template"))
    groups, link_names = assignment.rule_names(organization)
    rows = [(position, rule, assignment.describe_rule(rule, groups, link_names))
            for position, rule in enumerate(rules, start=1)]
    context = {"rows": rows, "default": assignment.default_template(organization)}
    return render(request, "signatures/rule_list.html", context)


@org_member(role=Role.EDITOR)
def rule_new(request, org_slug):
    form = SignatureRuleForm(request.POST or None, organization=request.organization)
    if request.method == "POST" and form.is_valid():
        rule = form.save(commit=False)
        last = SignatureRule.objects.for_org(request.organization).aggregate(last=Max("order"))["last"]
        rule.order = 0 if last is None else last + 1
        rule.save()
        audit.record(request.organization, request.user, "signature_rule.created", str(rule), rule_id=rule.pk,
                     template=rule.template.name)
        messages.success(request, "Rule added at the end of the list.")
        return redirect("signatures:rule_list", org_slug)
    return render(request, "signatures/rule_edit.html", {"form": form, "rule": None})


@org_member(role=Role.EDITOR)
def rule_edit(request, org_slug, rule_id):
    rule = get_object_or_404(SignatureRule.objects.for_org(request.organization), pk=rule_id)
    form = SignatureRuleForm(request.POST or None, instance=rule, organization=request.organization)
    if request.method == "POST" and form.is_valid():
        form.save()
        audit.record(request.organization, request.user, "signature_rule.updated", str(rule), rule_id=rule.pk,
                     template=rule.template.name)
        messages.success(request, "Rule saved.")
        return redirect("signatures:rule_list", org_slug)
    return render(request, "signatures/rule_edit.html", {"form": form, "rule": rule})


@require_POST
@org_member(role=Role.EDITOR)
def rule_delete(request, org_slug, rule_id):
    rule = get_object_or_404(SignatureRule.objects.for_org(request.organization), pk=rule_id)
    audit.record(request.organization, request.user, "signature_rule.deleted", str(rule), rule_id=rule.pk)
    rule.delete()
    messages.success(request, "Rule deleted.")
    return redirect("signatures:rule_list", org_slug)


@require_POST
@org_member(role=Role.EDITOR)
def rule_move(request, org_slug, rule_id, direction):
    """Swap a rule with its neighbour above ("up") or below ("down"); orders are renumbered 0..n-1."""
    if direction not in ("up", "down"):
        raise Http404("No such direction.")
    with transaction.atomic():
        rules = list(SignatureRule.objects.for_org(request.organization).select_for_update())
        index = next((i for i, rule in enumerate(rules) if rule.pk == rule_id), None)
        if index is None:
            raise Http404("No such rule.")
        other = index - 1 if direction == "up" else index + 1
        if 0 <= other < len(rules):
            rules[index], rules[other] = rules[other], rules[index]
        for position, rule in enumerate(rules):
            if rule.order != position:
                rule.order = position
                rule.save(update_fields=["order"])
    audit.record(request.organization, request.user, "signature_rule.moved", direction, rule_id=rule_id)
    return redirect("signatures:rule_list", org_slug)


# ---- employees (editors look, admins hand out links) -------------------------------------------------------


@org_member(role=Role.EDITOR)
def employee_list(request, org_slug):
    query = request.GET.get("q", "").strip()
    employees = Employee.objects.for_org(request.organization).filter(removed_at=None).select_related("link")
    if query:
        employees = employees.filter(Q(display_name__icontains=query) | Q(email__icontains=query) |
                                     Q(department__icontains=query) | Q(job_title__icontains=query))
    page = Paginator(employees.order_by("display_name", "pk"), EMPLOYEES_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "signatures/employee_list.html", {
        "page": page, "query": query, "can_manage_links": _can_manage_links(request),
    })


@signature_csp
@org_member(role=Role.EDITOR)
def employee_detail(request, org_slug, employee_id):
    employee = get_object_or_404(_employees(request.organization), pk=employee_id)
    chosen = assignment.resolve(employee)
    signature, problem = None, None
    try:
        signature = chosen.template.render_for(employee)
    except rendering.TemplateProblemError as exc:
        problem = str(exc)
    can_manage = _can_manage_links(request)
    accesses = []
    if can_manage:
        accesses = [(access, links.url_for(access)) for access in links.usable_for(employee)]
    return render(request, "signatures/employee_detail.html", {
        "employee": employee, "assignment": chosen, "signature": signature, "problem": problem,
        "accesses": accesses, "can_manage_links": can_manage, "is_holder": links.is_signature_holder(employee),
    })


@require_POST
@org_member(role=Role.ADMIN)
def employee_link_create(request, org_slug, employee_id):
    employee = get_object_or_404(_employees(request.organization), pk=employee_id)
    if not links.is_signature_holder(employee):
        messages.error(request, "Only active employees of a linked tenant can have a signature link.")
    else:
        access = links.issue(employee, created_by=request.user)
        audit.record(request.organization, request.user, "signature_link.created", employee.display_name,
                     employee_id=employee.pk, expires_at=access.expires_at.isoformat())
        messages.success(request, "New signature link created. Copy it below; it works for 30 days.")
    return redirect("signatures:employee_detail", org_slug, employee.pk)


@require_POST
@org_member(role=Role.ADMIN)
def employee_links_revoke(request, org_slug, employee_id):
    employee = get_object_or_404(_employees(request.organization), pk=employee_id)
    count = links.revoke_all(employee)
    audit.record(request.organization, request.user, "signature_link.revoked", employee.display_name,
                 employee_id=employee.pk, count=count)
    messages.success(request, f"Revoked {count} link{'s' if count != 1 else ''}.")
    return redirect("signatures:employee_detail", org_slug, employee.pk)


@require_POST
@org_member(role=Role.ADMIN)
def links_send(request, org_slug):
    """Email signature links to the ticked employees, or to every active one, from a Celery task."""
    organization = request.organization
    if request.POST.get("scope") == "all":
        employee_ids = None
        described = "every active employee with an email"
    else:
        picked = [int(v) for v in request.POST.getlist("employees") if v.isdigit()]
        employee_ids = list(Employee.objects.for_org(organization).filter(pk__in=picked)
                            .values_list("pk", flat=True))
        if not employee_ids:
            messages.error(request, "Tick at least one employee, or send to every active employee.")
            return redirect("signatures:employee_list", org_slug)
        described = f"{len(employee_ids)} employee{'s' if len(employee_ids) != 1 else ''}"
    audit.record(organization, request.user, "signature_link.sent", described,
                 employee_ids=employee_ids if employee_ids is not None else "all")
    org_id, user_id = organization.pk, request.user.pk
    transaction.on_commit(lambda: tasks.send_signature_links.delay(org_id, employee_ids, user_id))
    messages.success(request, f"Sending signature links to {described}.")
    return redirect("signatures:employee_list", org_slug)

"""The sync settings pages of one link: Fields, Email rules, Filters, Clean up. Admins edit; editors read.

Each page posts its whole table with an `action`: a row action (up, down, remove, add) re-renders the page with
the unsaved change, "preview" shows what the configuration would do over the last fetched directory, "save"
validates, stores and audits it. The engine sees the new fingerprint and runs a full reconciliation next time.
"""

import dataclasses

from django.contrib import messages
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Max
from django.shortcuts import redirect, render
from django.utils import timezone

from directory_sync import engine, forms, graph, graph_reads, odata, preview, rules, rules_config
from directory_sync.models import DirectoryGroup, Employee, SyncRun, SyncSettings
from directory_sync.views import is_admin, org_link, require_admin
from portal import audit
from tenants.decorators import org_member

GROUP_PICKER_LIMIT = 300
PRESET_COUNTS_TTL = 600


def _page(request, link_id):
    link = org_link(request, link_id)
    settings = engine.sync_settings_for(link)
    if request.method == "POST":
        require_admin(request)
    return link, settings


def _save(request, link, action: str, change) -> bool:
    """Apply `change(config) -> config` to the stored configuration under a row lock (two admins saving
    different pages lose nothing), validate, save and audit it. Messages the admin; True when saved."""
    try:
        with transaction.atomic():
            settings = SyncSettings.objects.select_for_update().get(link=link)
            before = settings.sync_config()
            after = change(before)
            settings.set_sync_config(after)
            settings.save()
    except ValueError as error:  # FieldError, RuleError, FilterError, ConfigError
        messages.error(request, str(error))
        return False
    old, new = rules_config.config_to_dict(before), rules_config.config_to_dict(after)
    changed = {key: {"before": old[key], "after": new[key]} for key in new if old.get(key) != new[key]}
    audit.record(request.organization, request.user, action, link.name, link_id=link.pk, changes=changed)
    full = rules_config.fingerprint(before) != rules_config.fingerprint(after)
    messages.success(
        request, "Saved." + (" The next sync reads the whole directory again to apply it." if full else "")
    )
    return True


def _context(request, link, tab, **extra):
    return {"link": link, "tab": tab, "readonly": not is_admin(request), **extra}


def _preview(request, link, config):
    return preview.preview_config(link, config, request.POST.get("preview_q", ""))


# --- Fields -------------------------------------------------------------------------------------------------


@org_member()
def fields_edit(request, org_slug, link_id):
    link, settings = _page(request, link_id)
    config = settings.sync_config()
    specs, result, add_error = list(config.fields), None, ""
    if request.method == "POST":
        specs = forms.posted_field_specs(request.POST)
        action = request.POST.get("action", "")
        specs = forms.apply_row_action(specs, action)
        if action == "add":
            try:
                specs.append(forms.new_field_spec(request.POST, specs))
            except ValueError as error:
                add_error = str(error)
        elif action == "save":
            if _save(
                request, link, "sync.fields_changed", lambda c: dataclasses.replace(c, fields=tuple(specs))
            ):
                return redirect("directory_sync:fields_edit", org_slug, link.pk)
        elif action == "preview":
            result = _preview(request, link, dataclasses.replace(config, fields=tuple(specs)))
    return render(
        request,
        "directory_sync/fields_edit.html",
        _context(
            request,
            link,
            "fields",
            specs=specs,
            result=result,
            add_error=add_error,
            choices=forms.property_choices(),
            new=request.POST if add_error else {},
            dirty=request.method == "POST",
        ),
    )


# --- Email rules --------------------------------------------------------------------------------------------


@org_member()
def email_rules_edit(request, org_slug, link_id):
    link, settings = _page(request, link_id)
    config = settings.sync_config()
    initial = dataclasses.asdict(config.email_steps)
    form = forms.EmailStepsForm(request.POST or None, initial=initial)
    result = None
    if request.method == "POST" and form.is_valid():
        steps = form.steps()
        if request.POST.get("action") == "preview":
            result = _preview(request, link, dataclasses.replace(config, email_steps=steps))
        elif _save(request, link, "sync.email_changed", lambda c: dataclasses.replace(c, email_steps=steps)):
            return redirect("directory_sync:email_rules_edit", org_slug, link.pk)
    sources = dict(
        Employee.objects.filter(link=link, status=Employee.Status.ACTIVE)
        .values_list("email_source")
        .annotate(n=Count("id"))
        .order_by()
    )
    return render(
        request,
        "directory_sync/email_rules_edit.html",
        _context(
            request, link, "email", form=form, result=result, sources=sources, no_email=sources.get("", 0)
        ),
    )


# --- Filters ------------------------------------------------------------------------------------------------


def _preset_counts(link, config):
    """Preset counts over the stored directory, cached for 10 minutes or until the stored people change."""
    state = Employee.objects.filter(link=link).aggregate(n=Count("id"), changed=Max("updated_at"))
    last = (
        SyncRun.objects.filter(link=link)
        .exclude(finished_at=None)
        .order_by("-finished_at")
        .values_list("pk", flat=True)
        .first()
    )
    changed = state["changed"].timestamp() if state["changed"] else 0
    key = f"sync:preset-counts:{link.uid}:{last}:{state['n']}:{changed}:{rules_config.fingerprint(config)}"
    counts = cache.get(key)
    if counts is None:
        counts = preview.preset_counts(link, config)
        cache.set(key, counts, PRESET_COUNTS_TTL)
    return counts


def filter_error_words(text: str, error: odata.FilterError) -> dict:
    """A filter error for the page: the message, the character number, and the text around the position."""
    pos = max(0, min(error.position, len(text)))
    return {
        "message": error.message,
        "character": pos + 1,
        "before": text[max(0, pos - 30) : pos],
        "at": text[pos : pos + 1] or "(end)",
        "after": text[pos + 1 : pos + 30],
    }


def test_filter_against_graph(link, odata_filter: str) -> tuple[bool, str]:
    """Ask Microsoft Graph for the first page of users matching the filter: (worked, what to tell the admin)."""
    info = odata.validate_filter(odata_filter)
    try:
        with graph.answer_within():  # the admin waits on the filters page
            pages = graph_reads.iter_user_pages(
                link, ["id", "displayName"], odata_filter=odata_filter, advanced=info.needs_advanced_query
            )
            first = next(iter(pages), [])
    except graph.GraphError as error:
        return False, error.admin_message
    more = " or more" if len(first) >= 999 else ""
    return True, f"Microsoft Graph accepted the filter: {len(first)}{more} users match."


@org_member()
def filters_edit(request, org_slug, link_id):
    link, settings = _page(request, link_id)
    config = settings.sync_config()
    initial = {
        "odata_filter": config.odata_filter,
        **{name: getattr(config, name) for name, _, _ in forms.PRESETS},
    }
    form = forms.FiltersForm(request.POST or None, initial=initial)
    rule_rows = list(config.rules)
    scope = set(config.scope_group_ids)
    result, filter_error, graph_test = None, None, None
    if request.method == "POST":
        rule_rows = forms.posted_rules(request.POST)
        action = request.POST.get("action", "")
        if action == "add_rule":
            rule_rows.append(rules.AttributeRule(field="department", op="equals", value="", action="exclude"))
        rule_rows = forms.apply_row_action(rule_rows, action.replace("rule_", "", 1))
        scope = set(request.POST.getlist("scope_group"))
        if form.is_valid():
            data = form.cleaned_data
            new = dataclasses.replace(
                config,
                odata_filter=data["odata_filter"].strip(),
                rules=tuple(rule_rows),
                scope_group_ids=frozenset(scope),
                **{name: data[name] for name, _, _ in forms.PRESETS},
            )
            try:
                odata.validate_filter(new.odata_filter)
            except odata.FilterError as error:
                filter_error = filter_error_words(new.odata_filter, error)
            if filter_error is None and action == "test_graph" and new.odata_filter:
                graph_test = test_filter_against_graph(link, new.odata_filter)
            elif filter_error is None and action == "preview":
                try:
                    rules_config.validate_rules(new.rules, new.fields)
                    result = _preview(request, link, new)
                except rules.RuleError as error:
                    messages.error(request, str(error))
            elif filter_error is None and action == "save":
                keep = ("odata_filter", "rules", "scope_group_ids", *(name for name, _, _ in forms.PRESETS))
                if _save(
                    request,
                    link,
                    "sync.filters_changed",
                    lambda c: dataclasses.replace(c, **{name: getattr(new, name) for name in keep}),
                ):
                    return redirect("directory_sync:filters_edit", org_slug, link.pk)
    group_q = request.GET.get("group_q", "").strip()
    groups = (
        DirectoryGroup.objects.for_org(request.organization)
        .filter(link=link, removed_at=None)
        .only("graph_id", "display_name", "mail")
    )
    picked = list(groups.filter(graph_id__in=list(scope)))
    others = groups.exclude(graph_id__in=list(scope))
    if group_q:
        others = others.filter(display_name__icontains=group_q)
    others = list(others.order_by("display_name")[:GROUP_PICKER_LIMIT])
    counts = _preset_counts(link, config)
    presets = [
        {"name": name, "label": label, "help": help_text, "field": form[name], "count": counts.get(name, 0)}
        for name, label, help_text in forms.PRESETS
    ]
    return render(
        request,
        "directory_sync/filters_edit.html",
        _context(
            request,
            link,
            "filters",
            form=form,
            rule_rows=rule_rows,
            operators=[(op, op.replace("_", " ")) for op in rules.OPERATORS],
            actions=rules.ACTIONS,
            mapped_keys=[spec.key for spec in config.fields if spec.source != "photo"],
            picked=picked,
            others=others,
            scope=scope,
            group_q=group_q,
            presets=presets,
            result=result,
            filter_error=filter_error,
            graph_test=graph_test,
        ),
    )


# --- Clean up -----------------------------------------------------------------------------------------------


@org_member()
def cleanup_edit(request, org_slug, link_id):
    link, settings = _page(request, link_id)
    before = {name: getattr(settings, name) for name in forms.CleanupForm.Meta.fields}
    form = forms.CleanupForm(request.POST or None, instance=settings)
    if request.method == "POST" and form.is_valid():
        form.save()
        after = {name: getattr(settings, name) for name in forms.CleanupForm.Meta.fields}
        audit.record(
            request.organization,
            request.user,
            "sync.cleanup_changed",
            link.name,
            link_id=link.pk,
            before=before,
            after=after,
        )
        messages.success(request, "Saved.")
        return redirect("directory_sync:cleanup_edit", org_slug, link.pk)
    since = timezone.now() - engine.REMOVED_KEPT
    removed = (
        Employee.objects.for_org(request.organization)
        .filter(link=link, status=Employee.Status.REMOVED, removed_at__gte=since)
        .only("pk", "display_name", "email", "removed_at", "removal_reason")
        .order_by("-removed_at")[:200]
    )
    active = Employee.objects.filter(link=link, status=Employee.Status.ACTIVE).count()
    return render(
        request,
        "directory_sync/cleanup_edit.html",
        _context(
            request,
            link,
            "cleanup",
            form=form,
            removed=removed,
            active=active,
            limit=settings.removal_limit(active),
            purge_days=engine.REMOVED_KEPT.days,
        ),
    )

"""{% link_sync_panel link %}: the dashboard's per-link sync panel (status, counts, progress, held removals,
chart), rendered server-side so the dashboard view needs no sync-specific code."""

from django import template

from directory_sync import views

register = template.Library()


@register.inclusion_tag("directory_sync/_panel_body.html", takes_context=True)
def link_sync_panel(context, link):
    """The panel's context for `link`; the link comes from the dashboard's own organisation-scoped list."""
    request = context["request"]
    if link.organization_id != request.organization.pk:  # fail closed if a caller ever passes a foreign link
        return {"link": None}
    return {**views.panel_context(link, request), "request": request, "csrf_token": context.get("csrf_token")}

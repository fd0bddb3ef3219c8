"""The directory views: Employees (with restore), Groups and Contacts, each with a CSV export, for 100,000
people.

Columns follow the link's configured field order; search and filters use the indexed columns; paging is by
keyset cursor, so page 2,000 costs what page 1 costs; counts are capped. Every query goes through for_org.
"""

import functools
import json
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Count, Q, Window
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from directory_sync import engine, exports, fields
from directory_sync.models import DirectoryGroup, Employee, GroupMembership, OrgContact
from directory_sync.views import link_filter, columns_for, is_admin
from portal import audit
from tenants.decorators import org_member
from tenants.models import EntraLink, Role

PER_PAGE = 50
PER_PAGE_CHOICES = (10, 25, 50, 100, 200)
COUNT_CAP = 10_000  # the Employees view counts at most this many matches ("10,000+"): a count stays cheap
STATUS_FILTERS = {
    "active": [Employee.Status.ACTIVE],
    "excluded": [Employee.Status.EXCLUDED],
    "removed": [Employee.Status.REMOVED],
    "all": None,
}
EMAIL_SOURCES = ["mail", "proxyAddresses", "otherMails", "userPrincipalName", "none"]


def employee_filters(request, links) -> dict:
    """The Employees view's filters from the query string (unknown values fall back to the defaults)."""
    get = request.GET
    status = get.get("status", "active")
    source = get.get("email_source", "")
    per_page = get.get("per_page", "")
    return {
        "q": get.get("q", "").strip()[:200],
        "link": link_filter(request, links),
        "department": get.get("department", "").strip()[:255],
        "status": status if status in STATUS_FILTERS else "active",
        "email_source": source if source in EMAIL_SOURCES else "",
        "per_page": int(per_page) if per_page.isdigit() and int(per_page) in PER_PAGE_CHOICES else PER_PAGE,
    }


def employee_queryset(organization, filters):
    """The organisation's employees matching `filters`, in display-name order."""
    employees = Employee.objects.for_org(organization)
    statuses = STATUS_FILTERS[filters["status"]]
    if statuses:
        employees = employees.filter(status__in=statuses)
    if filters["link"] is not None:
        employees = employees.filter(link=filters["link"])
    if filters["department"]:
        employees = employees.filter(department=filters["department"])
    if filters["email_source"]:
        employees = employees.filter(
            email_source="" if filters["email_source"] == "none" else filters["email_source"]
        )
    if filters["q"]:
        q = filters["q"]
        employees = employees.filter(
            Q(display_name__icontains=q) | Q(email__icontains=q) | Q(department__icontains=q)
        )
    return employees.order_by("display_name", "pk")


def _query_string(filters, **extra) -> str:
    params = {
        "q": filters["q"],
        "link": filters["link"].pk if filters["link"] else "",
        "department": filters["department"],
        "status": filters["status"],
        "email_source": filters["email_source"],
        "per_page": filters["per_page"] if filters["per_page"] != PER_PAGE else "",
    }
    params.update(extra)
    return urlencode({key: value for key, value in params.items() if value not in ("", None)})


def keyset_page(queryset, request, per_page):
    """One page of `queryset` (ordered by display_name, pk) after or before a (name, id) cursor: the query
    costs the same on page 1 and page 2,000. Returns (rows, cursor for next or None, for previous or None)."""
    after, before = request.GET.get("after"), request.GET.get("before")
    cursor = _cursor(after or before)
    if cursor and before:
        name, pk = cursor
        rows = list(
            queryset.filter(Q(display_name__lte=name), Q(display_name__lt=name) | Q(pk__lt=pk)).order_by(
                "-display_name", "-pk"
            )[: per_page + 1]
        )
        has_more = len(rows) > per_page
        rows = rows[:per_page][::-1]
        has_previous, has_next = has_more, True
    else:
        if cursor:
            name, pk = cursor
            # The redundant bound (name >= cursor) lets the index range start at the cursor.
            queryset = queryset.filter(Q(display_name__gte=name), Q(display_name__gt=name) | Q(pk__gt=pk))
        rows = list(queryset[: per_page + 1])
        has_next = len(rows) > per_page
        rows = rows[:per_page]
        has_previous = bool(cursor)
    next_cursor = json.dumps([rows[-1].display_name, rows[-1].pk]) if rows and has_next else None
    previous_cursor = json.dumps([rows[0].display_name, rows[0].pk]) if rows and has_previous else None
    return rows, next_cursor, previous_cursor


def _cursor(value):
    if not value:
        return None
    try:
        name, pk = json.loads(value)
    except (ValueError, TypeError):
        return None
    if not isinstance(name, str) or not isinstance(pk, int):
        return None
    return name, pk


SEARCH_INDEX = "employee_search_trgm"


@functools.cache
def has_search_index() -> bool:
    """True when PostgreSQL has the trigram index SEARCH_INDEX on the employees' name, email and department,
    which turns a search into index lookups (checked once per process)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", [SEARCH_INDEX])
        return cursor.fetchone() is not None


def capped_count(queryset, cap=COUNT_CAP) -> tuple[int, bool]:
    """(count, is_capped): counting stops at `cap` rows so a broad match on 100,000 people stays cheap."""
    count = queryset.order_by().values("pk")[: cap + 1].count()
    return min(count, cap), count > cap


@org_member()
@require_GET
def employee_list(request, org_slug):
    links = list(EntraLink.objects.for_org(request.organization).order_by("pk"))
    filters = employee_filters(request, links)
    columns = columns_for(filters["link"] or (links[0] if links else None))
    employees = employee_queryset(request.organization, filters).only(
        "pk", "display_name", "email", "email_source", "status", "fields", "link_id", "has_duplicate_email"
    )
    has_cursor = bool(request.GET.get("after") or request.GET.get("before"))
    scan_search = filters["q"] and not has_search_index()
    if scan_search and not has_cursor:
        # Without the trigram index a text search scans the table: count the matches in that same scan (a
        # window count) rather than scanning a second time.
        employees = employees.annotate(total=Window(Count("pk")))
    rows, next_cursor, previous_cursor = keyset_page(employees, request, filters["per_page"])
    if scan_search:
        count, capped = (rows[0].total if rows else 0, False) if not has_cursor else (None, False)
    else:
        count, capped = capped_count(employee_queryset(request.organization, filters))
    names = {link.pk: link.name for link in links}
    table = [
        {
            "employee": e,
            "cells": [e.fields.get(spec.key, "") for spec in columns],
            "link_name": names.get(e.link_id, ""),
        }
        for e in rows
    ]
    return render(
        request,
        "directory_sync/employee_list.html",
        {
            "filters": filters,
            "links": links,
            "columns": columns,
            "rows": table,
            "count": count,
            "capped": capped,
            "next_query": _query_string(filters, after=next_cursor) if next_cursor else "",
            "previous_query": _query_string(filters, before=previous_cursor) if previous_cursor else "",
            "export_query": _query_string(filters),
            "status_choices": list(STATUS_FILTERS),
            "email_sources": EMAIL_SOURCES,
            "per_page_choices": PER_PAGE_CHOICES,
            "show_link": len(links) > 1,
        },
    )


@org_member()
@require_GET
def employee_export(request, org_slug):
    """The Employees view's current filters as a streamed CSV of every matching person (not just one page)."""
    links = list(EntraLink.objects.for_org(request.organization).order_by("pk"))
    filters = employee_filters(request, links)
    columns = columns_for(filters["link"] or (links[0] if links else None))
    names = {link.pk: link.name for link in links}
    keys = [spec.key for spec in columns]
    rows = (
        employee_queryset(request.organization, filters)
        .values_list("fields", "email_source", "status", "link_id")
        .iterator(chunk_size=exports.CHUNK)
    )
    header = [spec.label for spec in columns] + ["Email source", "Status", "Entra link"]
    lines = (
        [values.get(key, "") for key in keys] + [source, status, names.get(link_id, "")]
        for values, source, status, link_id in rows
    )
    audit.record(
        request.organization, request.user, "sync.employees_exported", "", filters=_query_string(filters)
    )
    return exports.csv_response(f"employees-{request.organization.slug}.csv", header, lines)


@org_member()
@require_GET
def employee_detail(request, org_slug, employee_id):
    employee = get_object_or_404(
        Employee.objects.for_org(request.organization).select_related("link"), pk=employee_id
    )
    columns = columns_for(employee.link)
    memberships = (
        GroupMembership.objects.for_org(request.organization)
        .filter(link=employee.link, member_graph_id=employee.graph_id, group__removed_at=None)
        .select_related("group")
        .order_by("group__display_name")
    )
    manager = None
    if employee.manager_graph_id:
        manager = (
            Employee.objects.for_org(request.organization)
            .filter(link=employee.link, graph_id=employee.manager_graph_id)
            .first()
        )
    source = sorted(
        (key, json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value)
        for key, value in (employee.source or {}).items()
    )
    return render(
        request,
        "directory_sync/employee_detail.html",
        {
            "employee": employee,
            "values": [(spec, employee.fields.get(spec.key, "")) for spec in columns],
            "source": source,
            "memberships": memberships,
            "manager": manager,
            "is_admin": is_admin(request),
        },
    )


@org_member(role=Role.ADMIN)
@require_POST
def employee_restore(request, org_slug, employee_id):
    employee = get_object_or_404(
        Employee.objects.for_org(request.organization).select_related("link"), pk=employee_id
    )
    if engine.restore_employee(employee):
        audit.record(
            request.organization,
            request.user,
            "sync.employee_restored",
            employee.display_name,
            employee_id=employee.pk,
            link_id=employee.link_id,
        )
        messages.success(request, f"{employee.display_name or employee.graph_id} is restored.")
    else:
        messages.warning(request, "This person was not removed.")
    return redirect("directory_sync:cleanup_edit", org_slug, employee.link_id)


def _simple_filters(request, links):
    return {"q": request.GET.get("q", "").strip()[:200], "link": link_filter(request, links)}


def _simple_query(filters) -> str:
    params = {"q": filters["q"], "link": filters["link"].pk if filters["link"] else ""}
    return urlencode({key: value for key, value in params.items() if value})


def _listing(request, model):
    """What the Groups or Contacts page and its export show: the organisation's links, the page's filters, and
    its live `model` rows of the chosen link whose name or mail contains the search text, in name order."""
    links = list(EntraLink.objects.for_org(request.organization).order_by("pk"))
    filters = _simple_filters(request, links)
    rows = model.objects.for_org(request.organization).filter(removed_at=None)
    if filters["link"]:
        rows = rows.filter(link=filters["link"])
    if filters["q"]:
        rows = rows.filter(Q(display_name__icontains=filters["q"]) | Q(mail__icontains=filters["q"]))
    return links, filters, rows.order_by("display_name", "pk")


def _simple_export(request, what, filters, header, lines):
    """The streamed CSV of a Groups or Contacts export, recorded in the audit log with its filters."""
    audit.record(request.organization, request.user, f"sync.{what}_exported", "", filters=_simple_query(filters))
    return exports.csv_response(f"{what}-{request.organization.slug}.csv", header, lines)


@org_member()
@require_GET
def group_list(request, org_slug):
    links, filters, groups = _listing(request, DirectoryGroup)
    page = Paginator(groups.select_related("link").defer("raw"), PER_PAGE).get_page(request.GET.get("page"))
    ids = [group.pk for group in page]
    members = dict(
        GroupMembership.objects.filter(group_id__in=ids, is_direct=True)
        .values_list("group_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    for group in page:
        group.member_count = members.get(group.pk, 0)
    return render(
        request,
        "directory_sync/group_list.html",
        {
            "page": page,
            "links": links,
            "filters": filters,
            "query": _simple_query(filters),
            "show_link": len(links) > 1,
        },
    )


@org_member()
@require_GET
def group_export(request, org_slug):
    """The Groups view's current search and link as a streamed CSV of every matching group, with its direct
    members and its users through nested groups counted in the same query (no query per group)."""
    links, filters, groups = _listing(request, DirectoryGroup)
    names = {link.pk: link.name for link in links}
    rows = (
        groups.annotate(
            direct=Count("memberships", filter=Q(memberships__is_direct=True)),
            # A user has one row per group it reaches, directly or through nested ones (GroupMembership).
            users=Count("memberships", filter=Q(memberships__member_type="user")),
        )
        .values_list("link_id", "display_name", "mail", "description", "graph_id", "direct", "users")
        .iterator(chunk_size=exports.CHUNK)
    )
    header = ["Entra link", "Name", "Email", "Description", "Graph id", "Direct members", "User members"]
    lines = ([names.get(link_id, ""), *values] for link_id, *values in rows)
    return _simple_export(request, "groups", filters, header, lines)


CONTACT_COLUMNS = [("Company", "companyName"), ("Job title", "jobTitle"), ("Department", "department")]


def _contact_cells(values) -> list[str]:
    return [fields.text_of((values or {}).get(key)) for _, key in CONTACT_COLUMNS]


@org_member()
@require_GET
def contact_list(request, org_slug):
    links, filters, contacts = _listing(request, OrgContact)
    page = Paginator(contacts.select_related("link"), PER_PAGE).get_page(request.GET.get("page"))
    rows = [{"contact": contact, "cells": _contact_cells(contact.fields)} for contact in page]
    return render(
        request,
        "directory_sync/contact_list.html",
        {
            "page": page,
            "rows": rows,
            "links": links,
            "filters": filters,
            "query": _simple_query(filters),
            "columns": [label for label, _ in CONTACT_COLUMNS],
            "show_link": len(links) > 1,
        },
    )


@org_member()
@require_GET
def contact_export(request, org_slug):
    """The Contacts view's current search and link as a streamed CSV of every matching contact, with the
    columns the page shows."""
    links, filters, contacts = _listing(request, OrgContact)
    names = {link.pk: link.name for link in links}
    rows = contacts.values_list("link_id", "display_name", "mail", "fields", "graph_id").iterator(
        chunk_size=exports.CHUNK)
    header = ["Entra link", "Name", "Email", *(label for label, _ in CONTACT_COLUMNS), "Graph id"]
    lines = ([names.get(link_id, ""), name, mail, *_contact_cells(values), graph_id]
             for link_id, name, mail, values, graph_id in rows)
    return _simple_export(request, "contacts", filters, header, lines)

"""Helpers for the signature tests: employees and photos made straight through the ORM, and the baseline
values and inertness check of rendered HTML."""
import hashlib
import io
import itertools
import re
from html.parser import HTMLParser

import pytest
from django.utils import timezone

from directory_sync.models import DirectoryGroup, Employee, EmployeePhoto, GroupMembership

_seq = itertools.count(1)


def make_employee(link, graph_id=None, status=Employee.Status.ACTIVE, removed=False, **fields):
    """An employee of `link` whose mapped `fields` (first_name, job_title, ...) are given as keywords."""
    graph_id = graph_id or f"00000000-0000-4000-8000-{next(_seq):012d}"
    values = {"first_name": "Ada", "last_name": "Lovelace", "display_name": "Ada Lovelace",
              "email": f"ada{next(_seq)}@contoso.test", "job_title": "Analyst", "department": "Engineering"}
    # PostgreSQL's jsonb cannot hold NUL (\u0000), so no synced value can contain one: drop it as a sync must.
    values.update({key: value.replace("\x00", "") if isinstance(value, str) else value
                   for key, value in fields.items()})
    return Employee.objects.create(
        organization=link.organization, link=link, graph_id=graph_id, fields=values,
        display_name=values["display_name"][:255], email=values["email"][:255],
        department=values["department"][:255], job_title=values["job_title"][:255], status=status,
        content_hash=hashlib.sha256(repr(sorted(values.items())).encode()).hexdigest(),
        removed_at=timezone.now() if removed else None,
    )


def jpeg_bytes(size=200, color=(200, 30, 30)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (size, size), color).save(out, format="JPEG")
    return out.getvalue()


def make_photo(employee, size=200):
    data = jpeg_bytes(size)
    return EmployeePhoto.objects.create(
        organization=employee.organization, employee=employee, jpeg=data, width=size, height=size,
        sha256=hashlib.sha256(data).hexdigest(), etag='"photo-etag"',
    )


def make_group(link, name, members=(), graph_id=None):
    group = DirectoryGroup.objects.create(organization=link.organization, link=link,
                                          graph_id=graph_id or f"group-{next(_seq)}", display_name=name,
                                          content_hash="x")
    for member in members:
        GroupMembership.objects.create(organization=link.organization, link=link, group=group,
                                       member_graph_id=member.graph_id, member_type="user", is_direct=False)
    return group


@pytest.fixture
def employee(link):
    return make_employee(link)


# --- Rendered HTML, as the rendering and email-safety tests check it ----------------------------------------
BASELINE = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "display_name": "Ada Lovelace",
    "email": "ada@contoso.example",
    "phone": "+44 20 7946 0123",
    "mobile": "+44 7700 900123",
    "fax": "+44 20 7946 0100",
    "job_title": "Head of Analytics",
    "department": "Research",
    "company": "Contoso Ltd",
    "street": "1 Main Street",
    "city": "London",
    "state": "Greater London",
    "postal_code": "EC1A 1BB",
    "country": "United Kingdom",
    "photo_url": "https://portal.example/photos/ada.jpg",
    "org_name": "Contoso",
    "org_website": "https://contoso.example",
    "org_logo_url": "https://portal.example/logo.png",
}
EXECUTABLE_TAGS = {"script", "iframe", "object", "embed", "svg", "math", "template", "form", "input", "meta",
                   "base", "link", "body", "style", "details"}  # fmt: skip


class ParsedPage(HTMLParser):
    """The tags, attributes and visible text of rendered HTML, as a browser would see them."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.tags, self.text = [], []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {name: value or "" for name, value in attrs}))

    def handle_data(self, data):
        self.text.append(data)

    @property
    def visible_text(self):
        return "".join(self.text)


def assert_inert(html):
    """No markup in the output that a browser or mail client would execute."""
    assert not re.search(r"<\s*script", html, re.IGNORECASE)
    for tag, attributes in ParsedPage(html).tags:
        assert tag not in EXECUTABLE_TAGS, html
        for name, value in attributes.items():
            assert not name.startswith("on"), (name, html)
            squeezed = re.sub(r"\s", "", value).lower()
            if name in ("href", "src"):
                assert squeezed.split(":")[0] in ("https", "http", "mailto", "tel"), (name, value)
            if name == "style":
                for forbidden in ("expression(", "url(", "javascript:", "-moz-binding", "behavior"):
                    assert forbidden not in squeezed, value

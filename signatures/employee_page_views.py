"""The employee's own signature page, reached by a signed link or Microsoft sign-in, its download, and the
public photo URL used inside signatures. None of these views is behind an organisation login: a signed token,
the employee's sign-in session or an unguessable photo address is the only key.

The page shows the signature in a container of sanitised HTML and carries SIGNATURE_CSP (views.py). The pages
of editors and admins (templates, rules, employees and their links) are in views.py.
"""
import io
import threading
import time
from collections import OrderedDict

from django.core.cache import cache
from django.http import Http404, HttpResponse, HttpResponseNotModified
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from directory_sync.models import EmployeePhoto
from signatures import assignment, links, rendering, signin
from signatures.models import SignatureAccess
from signatures.views import SIGNATURE_CSP, signature_csp

PHOTO_SIZES = (48, 64, 72, 96, 120, 144, 192)  # ?s= values a template may ask for (px, square bound)


def _private(response):
    """Headers for a page that belongs to one person: never stored by shared caches, never indexed, and the
    signed URL is never sent on as a Referer (the signature's images may live on other sites)."""
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


# ---- the employee's own page -------------------------------------------------------------------------------


def _signature_page(request, employee, *, download_url, signed_in=False):
    chosen = assignment.resolve(employee)
    try:
        signature = chosen.template.render_for(employee)
    except rendering.TemplateProblemError:
        signature = None
    reply = None
    if signature and chosen.reply_template.pk != chosen.template.pk:
        try:
            reply = chosen.reply_template.render_for(employee)
        except rendering.TemplateProblemError:
            reply = None
    payload = {"html": signature.html, "text": signature.text} if signature else None
    response = render(request, "signatures/signature_page.html", {
        "employee": employee, "organization": employee.organization, "signature": signature, "reply": reply,
        "payload": payload, "download_url": download_url, "signed_in": signed_in, "reason": chosen.reason,
    })
    return _private(response)


def _download(employee):
    chosen = assignment.resolve(employee)
    try:
        signature = chosen.template.render_for(employee)
    except rendering.TemplateProblemError:
        raise Http404("This signature cannot be shown right now.") from None
    document = ('<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Signature</title></head>\n'
                f"<body>\n{signature.html}\n</body></html>\n")
    response = HttpResponse(document, content_type="text/html; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="signature.htm"'
    response["Content-Security-Policy"] = SIGNATURE_CSP
    return _private(response)


def _refused(request, message, status):
    response = render(request, "signatures/no_signature.html", {"message": message}, status=status)
    return _private(response)


LINK_MESSAGES = {
    links.TAMPERED: "This signature link is not valid. Check that you copied all of it.",
    links.UNKNOWN: "This signature link is not valid. Check that you copied all of it.",
    links.EXPIRED: "This signature link has expired. Ask your IT team for a new one.",
    links.REVOKED: "This signature link was withdrawn. Ask your IT team for a new one.",
    links.EMPLOYEE_GONE: "There is no signature for this link any more.",
}


class _PageCache:
    """Rendered signature pages of this process, by (token, version key), for PAGE_CACHE_SECONDS at most.
    The version key (links.check) changes with the employee's values, photo, the organisation's values and
    its templates and rules; the time limit bounds what it cannot see (a change of group membership)."""

    def __init__(self, max_entries: int = 2000):
        self.entries: OrderedDict = OrderedDict()
        self.max_entries = max_entries
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            entry = self.entries.get(key)
            if entry is None or entry[0] < time.monotonic():
                return None
            self.entries.move_to_end(key)
            return entry[1]

    def set(self, key, body: bytes) -> None:
        with self.lock:
            self.entries[key] = (time.monotonic() + PAGE_CACHE_SECONDS, body)
            self.entries.move_to_end(key)
            while len(self.entries) > self.max_entries:
                self.entries.popitem(last=False)


PAGE_CACHE_SECONDS = 60
_pages = _PageCache()


@signature_csp
@require_GET
def page_by_link(request, token):
    # Liveness (expiry, revocation, a removed employee) is checked in the database on every request; only the
    # rendering is cached.
    try:
        access_id, version, last_used_at = links.check(token)
    except links.LinkRefused as exc:
        return _refused(request, LINK_MESSAGES[exc.reason], 404)
    _touch(access_id, last_used_at)
    key = (token, version)
    body = _pages.get(key)
    if body is not None:
        return _private(HttpResponse(body))
    try:
        access = links.resolve(token)
    except links.LinkRefused as exc:  # changed between the two reads
        return _refused(request, LINK_MESSAGES[exc.reason], 404)
    download = reverse("signatures:download_by_link", args=[token])
    response = _signature_page(request, access.employee, download_url=download)
    _pages.set(key, response.content)
    return response


def _touch(access_id: int, last_used_at) -> None:
    # At most one write per link and hour, so a busy page does not write on every view.
    now = timezone.now()
    if last_used_at is None or (now - last_used_at).total_seconds() > 3600:
        SignatureAccess.objects.filter(pk=access_id).update(last_used_at=now)


@require_GET
def download_by_link(request, token):
    try:
        access = links.resolve(token)
    except links.LinkRefused as exc:
        return _refused(request, LINK_MESSAGES[exc.reason], 404)
    return _download(access.employee)


@never_cache
@signature_csp
@require_GET
def signature_home(request):
    """The signed-in employee's signature, or the Sign in with Microsoft buttons."""
    employee = signin.signed_in_employee(request)
    if employee is not None:
        return _signature_page(request, employee, download_url=reverse("signatures:signature_download"),
                               signed_in=True)
    if request.session.get(signin.EMPLOYEE_SESSION_KEY):
        signin.forget(request)  # removed, excluded or unlinked since: the session stops working
        return _refused(request, "There is no signature for this account any more.", 403)
    return render(request, "signatures/signin.html", {
        "clouds": signin.sign_in_clouds() if signin.is_enabled() else [], "enabled": signin.is_enabled(),
    })


@never_cache
@require_GET
def signature_download(request):
    employee = signin.signed_in_employee(request)
    if employee is None:
        return _refused(request, "Sign in to download your signature.", 403)
    return _download(employee)


@never_cache
@require_GET
def signin_start(request):
    cloud = signin.cloud_from_key(request.GET.get("cloud"))
    try:
        return redirect(signin.begin(request.session, cloud))
    except signin.SignInRefused as exc:
        return _refused(request, exc.message, exc.status)


@never_cache
@require_GET
def signin_callback(request):
    try:
        employee = signin.complete(request.session, request.GET.dict())
    except signin.SignInRefused as exc:
        return _refused(request, exc.message, exc.status)
    signin.remember(request, employee)
    return redirect("signatures:signature_home")


@require_POST
def signout(request):
    signin.forget(request)
    return redirect("signatures:signature_home")


# ---- photos ------------------------------------------------------------------------------------------------


@require_GET
def photo(request, uid):
    """An employee's photo at its unguessable address, for email clients: cacheable for a day, with an ETag.
    `?s=96` serves a smaller square-bounded copy. Removed employees' photos are gone (404)."""
    size = request.GET.get("s", "")
    size = int(size) if size.isdigit() and int(size) in PHOTO_SIZES else None
    row = (EmployeePhoto.objects.filter(uid=uid).exclude(sha256="")
           .filter(links.holder_filter("employee__")).only("uid", "sha256", "width", "height").first())
    if row is None:
        raise Http404("No such photo.")
    etag = f'"{row.sha256[:32]}-{size or 0}"'
    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(_photo_bytes(row, size), content_type="image/jpeg")
    response["ETag"] = etag
    response["Cache-Control"] = "public, max-age=86400"
    return response


def _photo_bytes(row: EmployeePhoto, size: int | None) -> bytes:
    if size is None or size >= max(row.width, row.height):
        return bytes(EmployeePhoto.objects.values_list("jpeg", flat=True).get(pk=row.pk))
    key = f"signatures:photo:{row.sha256}:{size}"
    data = cache.get(key)
    if data is None:
        from PIL import Image

        original = bytes(EmployeePhoto.objects.values_list("jpeg", flat=True).get(pk=row.pk))
        with Image.open(io.BytesIO(original)) as image:
            image = image.convert("RGB")
            image.thumbnail((size, size), Image.LANCZOS)
            out = io.BytesIO()
            image.save(out, format="JPEG", quality=85, optimize=True)
        data = out.getvalue()
        cache.set(key, data, 7 * 24 * 3600)
    return data

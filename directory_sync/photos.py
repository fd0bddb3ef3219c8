"""Employee photos: fetched through JSON batches, stored resized (JPEG, at most 256 px), re-fetched only when
Graph's media ETag changes. Delta does not report photo changes (graph-facts 7), so each run checks a bounded
number of employees: those never checked first, then those not checked for CHECK_EVERY."""
import base64
import hashlib
import io
import uuid
from datetime import timedelta

from django.db.models import F, Q
from PIL import Image, UnidentifiedImageError

from directory_sync import bulk, graph
from directory_sync.models import Employee, EmployeePhoto

MAX_SIDE = 256
CHECK_EVERY = timedelta(days=1)


def resize_jpeg(data: bytes) -> tuple[bytes, int, int]:
    """The image as a JPEG no larger than MAX_SIDE on either side: (bytes, width, height). Raises ValueError
    when the bytes are not an image Pillow can read."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"not an image: {exc}") from None
    image = image.convert("RGB")
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85, optimize=True)
    return out.getvalue(), image.width, image.height


def _due(ctx, limit):
    stale = ctx.now - CHECK_EVERY
    employees = Employee.objects.filter(link=ctx.link, status=Employee.Status.ACTIVE).filter(
        Q(photo__isnull=True) | Q(photo__checked_at__lt=stale))
    return list(employees.order_by(F("photo__checked_at").asc(nulls_first=True), "pk")
                .values_list("pk", "graph_id", "photo__etag", "photo__pk")[:limit])


def sync_photos(ctx) -> int:
    """Check up to the link's per-run budget of photos; store new or changed ones; return how many changed.
    A user without a photo is not an error; a photo Graph refuses is reported in the run's errors."""
    due = _due(ctx, ctx.settings.photo_checks_per_run)
    if not due:
        return 0
    # Never checked: fetch the image at once (its ETag comes with it). Checked before: ask for the ETag first.
    new = [row for row in due if row[3] is None]
    old = [row for row in due if row[3] is not None]
    fetch = list(new)
    etags = {}
    if old:
        answers = graph.batch(ctx.link, [{"id": str(pk), "method": "GET", "url": f"/users/{gid}/photo"}
                                         for pk, gid, _, _ in old], stats=ctx.stats)
        for pk, gid, etag, photo_pk in old:
            answer = answers[str(pk)]
            body = answer.get("body") if isinstance(answer.get("body"), dict) else {}
            current = (body.get("@odata.mediaEtag") or "") if answer.get("status") == 200 else ""
            if answer.get("status") not in (200, 404):
                ctx.error(graph.batch_error(f"/users/{gid}/photo", answer).admin_message)
                continue
            etags[pk] = current
            if current != (etag or ""):
                fetch.append((pk, gid, etag, photo_pk))
    changed = 0
    checked = {pk for pk, _, _, _ in old if pk in etags}
    if fetch:
        answers = graph.batch(ctx.link, [{"id": str(pk), "method": "GET", "url": f"/users/{gid}/photo/$value"}
                                         for pk, gid, _, _ in fetch], stats=ctx.stats)
        rows = []
        old_hashes = dict(EmployeePhoto.objects.filter(employee_id__in=[row[0] for row in fetch]).values_list(
            "employee_id", "sha256"))
        for pk, gid, etag, photo_pk in fetch:
            values = _photo_values(ctx, gid, answers[str(pk)], etags.get(pk))
            checked.discard(pk)
            if values is None:
                continue
            changed += values["sha256"] != old_hashes.get(pk, "")
            rows.append((ctx.link.organization_id, pk, str(uuid.uuid4()), values["etag"], values["jpeg"],
                         values["width"], values["height"], values["sha256"], ctx.now, ctx.now))
        # One statement for the whole pass; an existing row keeps its uid (the URL the signatures use).
        bulk.upsert(EmployeePhoto, ["organization_id", "employee_id", "uid", "etag", "jpeg", "width", "height",
                                    "sha256", "checked_at", "updated_at"], rows, conflict=["employee"],
                    update=["etag", "jpeg", "width", "height", "sha256", "checked_at", "updated_at"])
    if checked:
        EmployeePhoto.objects.filter(employee_id__in=checked).update(checked_at=ctx.now)
    return changed


def _photo_values(ctx, gid, answer, meta_etag) -> dict | None:
    """The EmployeePhoto values for one $value answer: no photo for a 404, None when it cannot be used."""
    status = answer.get("status")
    if status == 404:
        values = {"etag": "", "jpeg": b"", "width": 0, "height": 0, "sha256": ""}
    elif status == 200:
        headers = {key.lower(): value for key, value in (answer.get("headers") or {}).items()}
        try:
            data = base64.b64decode(answer.get("body") or "")
            jpeg, width, height = resize_jpeg(data)
        except ValueError:
            ctx.error("A photo in Entra could not be read as an image; that person keeps their previous photo.")
            return None
        values = {"etag": meta_etag or headers.get("etag", ""), "jpeg": jpeg, "width": width, "height": height,
                  "sha256": hashlib.sha256(jpeg).hexdigest()}
    else:
        ctx.error(graph.batch_error(f"/users/{gid}/photo/$value", answer).admin_message)
        return None
    return values

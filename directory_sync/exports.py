"""CSV exports of the directory views, streamed row by row so 100,000 people never sit in memory at once."""

import csv

from django.http import StreamingHttpResponse

CHUNK = 2000
# A cell starting with one of these is read as a formula by spreadsheet programs (CSV injection, OWASP).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    """The value as text, prefixed with ' when a spreadsheet would take it for a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


class _Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a generator."""

    def write(self, value):
        return value


def csv_rows(header, rows):
    """Yield the CSV lines of `header` and then of each row of `rows` (an iterable of sequences), every cell
    made safe with safe_cell."""
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow([safe_cell(cell) for cell in header])  # the BOM makes Excel read UTF-8
    for row in rows:
        yield writer.writerow([safe_cell(cell) for cell in row])


def csv_response(filename: str, header, rows) -> StreamingHttpResponse:
    """A streamed CSV download of `rows` (a lazy iterable, e.g. a queryset's .iterator())."""
    response = StreamingHttpResponse(csv_rows(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response

"""CSV exports: formula cells are defused, rows stream lazily."""

import csv
import io

from directory_sync import exports


def test_cells_that_a_spreadsheet_would_run_are_prefixed():
    assert [exports.safe_cell(v) for v in ("=1+1", "+1", "-2", "@SUM(A1)", "\tx", "plain", None, 3)] == [
        "'=1+1",
        "'+1",
        "'-2",
        "'@SUM(A1)",
        "'\tx",
        "plain",
        "",
        "3",
    ]


def test_rows_are_produced_one_at_a_time():
    consumed = []

    def rows():
        for i in range(3):
            consumed.append(i)
            yield [f"name {i}", "=cmd"]

    lines = exports.csv_rows(["Name", "Formula"], rows())
    assert next(lines).startswith("\ufeffName,Formula") and consumed == []
    assert next(lines) == "name 0,'=cmd\r\n" and consumed == [0]
    text = "".join(lines)
    assert list(csv.reader(io.StringIO(text))) == [["name 1", "'=cmd"], ["name 2", "'=cmd"]]


def test_response_is_a_streamed_attachment():
    response = exports.csv_response("people.csv", ["A"], iter([["x"]]))
    assert response.streaming and response["Content-Disposition"] == 'attachment; filename="people.csv"'

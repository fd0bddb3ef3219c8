"""Operator commands: sync_link (against the emulator) and export_employees."""
import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command

from directory_sync import engine
from directory_sync.models import Employee, SyncRun
from tests.directory_sync.test_engine import cleanup_on, user


def run_command(*args):
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_sync_link_prints_the_counts(emu_link):
    output = run_command("sync_link", str(emu_link.pk))
    assert "succeeded, full (first sync)" in output and "  seen: 150" in output and "  added: 150" in output
    assert SyncRun.objects.get(link=emu_link).trigger == "command"
    assert "delta" in run_command("sync_link", str(emu_link.pk))
    assert "full (requested)" in run_command("sync_link", str(emu_link.pk), "--full")


def test_sync_link_dry_run_writes_nothing(emu_link):
    output = run_command("sync_link", str(emu_link.pk), "--dry-run")
    assert "dry run, nothing written" in output and "  added: 150" in output
    assert not Employee.objects.exists() and not SyncRun.objects.exists()


def test_sync_link_unknown_link(db):
    with pytest.raises(CommandError, match="No linked tenant"):
        run_command("sync_link", "987654")


@pytest.fixture
def synced(link, other_link):
    cleanup_on(link, percent=100)
    engine.apply_listing(link, [[user(1), user(2, accountEnabled=False), user(3, jobTitle="{{7*7}}")]])
    engine.apply_listing(link, [[user(2, accountEnabled=False), user(3, jobTitle="{{7*7}}")]])
    engine.apply_listing(other_link, [[user(9)]])
    return link


def test_export_json_lists_active_people_with_their_fields(synced):
    rows = json.loads(run_command("export_employees", "--org", synced.organization.slug, "--format", "json"))
    assert [row["graph_id"] for row in rows] == ["u3"]
    row = rows[0]
    assert row["link_id"] == synced.pk and row["email"] == "person3@contoso.com" and row["email_source"] == "mail"
    assert row["status"] == "active" and row["excluded_reason"] == "" and row["job_title"] == "{{7*7}}"
    assert row["first_name"] == "Person"


def test_export_all_includes_excluded_and_removed_with_reasons(synced):
    rows = json.loads(run_command("export_employees", "--org", synced.organization.slug, "--all",
                                  "--link", str(synced.pk), "--format", "json"))
    by_id = {row["graph_id"]: row for row in rows}
    assert by_id["u1"]["status"] == "removed" and by_id["u1"]["excluded_reason"] == "not in the directory any more"
    assert by_id["u2"]["status"] == "excluded" and by_id["u2"]["excluded_reason"] == "disabled account"


def test_export_csv_has_a_header_and_one_row_per_person(synced):
    output = run_command("export_employees", "--org", synced.organization.slug, "--all", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(output)))
    assert {row["graph_id"] for row in rows} == {"u1", "u2", "u3"}
    assert {"graph_id", "link_id", "email", "email_source", "status", "excluded_reason", "job_title"} <= set(rows[0])


def test_export_never_crosses_organisations(synced, other_link):
    with pytest.raises(CommandError, match="has no linked tenant"):
        run_command("export_employees", "--org", synced.organization.slug, "--link", str(other_link.pk))
    rows = json.loads(run_command("export_employees", "--org", other_link.organization.slug, "--format", "json"))
    assert [row["graph_id"] for row in rows] == ["u9"]

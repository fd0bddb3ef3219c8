"""The engine end to end through graph.py against the Entra/Graph emulator (150 users, 20 groups, 20 contacts)."""
import random

import pytest

from directory_sync import engine, graph, graph_reads
from directory_sync.models import (
    DirectoryGroup,
    Employee,
    EmployeePhoto,
    GroupMembership,
    OrgContact,
    SyncRun,
)


def directory_ids(link):
    return {user["id"] for page in graph_reads.iter_user_pages(link, ["id"]) for user in page}


def employee_ids(link, *statuses):
    rows = Employee.objects.filter(link=link)
    if statuses:
        rows = rows.filter(status__in=statuses)
    return set(rows.values_list("graph_id", flat=True))


def state_of(link):
    return sorted(Employee.objects.filter(link=link).values_list(
        "graph_id", "status", "content_hash", "removed_at", "has_duplicate_email"))


def cleanup_on(link, **values):
    settings = engine.sync_settings_for(link)
    settings.cleanup_enabled = True
    for name, value in values.items():
        setattr(settings, name, value)
    settings.save()


def seeded(emu, index):
    return emu.tenant.users.get(index)


def group_named(link, name):
    return DirectoryGroup.objects.get(link=link, display_name=name)


def test_full_sync_stores_the_directory(emu_link, emu):
    run = engine.run_sync(emu_link, trigger="manual")
    assert run.status == "succeeded" and run.is_full and run.full_reason == "first sync"
    assert employee_ids(emu_link, "active", "excluded") == directory_ids(emu_link)
    assert run.seen == 150 and run.added == 150 and run.excluded == 5
    reasons = {e.display_name: e.excluded_reasons for e in Employee.objects.filter(link=emu_link, status="excluded")}
    assert reasons["Conf Room Adams"] == ["disabled account", "room mailbox"]
    assert reasons["Sales Team Mailbox"] == ["disabled account", "shared mailbox"]
    assert DirectoryGroup.objects.filter(link=emu_link).count() == 20 == run.groups_seen
    assert OrgContact.objects.filter(link=emu_link).count() == 20 == run.contacts_seen
    with_photo = EmployeePhoto.objects.filter(employee__link=emu_link).exclude(sha256="")
    assert with_photo.count() == run.photos_updated > 0
    assert all(max(photo.width, photo.height) <= 256 for photo in with_photo)
    assert run.graph_requests > 0 and run.finished_at is not None


def test_no_change_resync_writes_no_rows(emu_link, emu, count_writes):
    engine.run_sync(emu_link)
    with count_writes() as writes:
        run = engine.run_sync(emu_link)
    assert run.status == "succeeded" and not run.is_full
    assert writes.statements == 0, writes.tables
    with count_writes() as writes:
        run = engine.run_sync(emu_link, full=True)
    assert run.is_full and run.unchanged == 150 and writes.statements == 0, writes.tables


def test_nested_groups_and_a_membership_cycle_resolve_transitively(emu_link, emu):
    engine.run_sync(emu_link)
    alpha, beta = group_named(emu_link, "Cycle Alpha"), group_named(emu_link, "Cycle Beta")
    one, two = seeded(emu, 1)["id"], seeded(emu, 2)["id"]
    members = lambda group: dict(GroupMembership.objects.filter(group=group, member_type="user").values_list(
        "member_graph_id", "is_direct"))
    assert members(alpha) == {one: True, two: False}
    assert members(beta) == {two: True, one: False}
    leads = GroupMembership.objects.filter(group=group_named(emu_link, "Engineering Leads"), is_direct=True)
    lead = leads.first().member_graph_id
    assert GroupMembership.objects.get(group=group_named(emu_link, "Dept Engineering"),
                                       member_graph_id=lead).is_direct in (True, False)


def test_delta_round_applies_adds_updates_removals_and_membership(emu_link, emu):
    cleanup_on(emu_link)
    engine.run_sync(emu_link)
    tenant = emu.tenant.id
    new = emu.control.add_user(tenant, displayName="Nina New", givenName="Nina", mail="nina.new@contoso.com",
                               userPrincipalName="nina.new@contoso.com", accountEnabled=True)
    changed, hard, soft = seeded(emu, 30)["id"], seeded(emu, 31)["id"], seeded(emu, 32)["id"]
    emu.control.update_user(tenant, changed, jobTitle="Chief Delta Officer")
    emu.control.delete_user(tenant, hard)
    emu.control.delete_user(tenant, soft, soft=True)
    alpha = group_named(emu_link, "Cycle Alpha")
    emu.control.add_member(tenant, alpha.graph_id, new["id"])
    run = engine.run_sync(emu_link)
    assert run.status == "succeeded" and not run.is_full
    assert (run.added, run.updated, run.removed) == (1, 1, 2)
    assert Employee.objects.get(link=emu_link, graph_id=changed).job_title == "Chief Delta Officer"
    assert Employee.objects.get(link=emu_link, graph_id=soft).status == "removed"
    assert employee_ids(emu_link, "active", "excluded") == directory_ids(emu_link)
    beta = group_named(emu_link, "Cycle Beta")
    assert GroupMembership.objects.get(group=alpha, member_graph_id=new["id"]).is_direct
    assert not GroupMembership.objects.get(group=beta, member_graph_id=new["id"]).is_direct
    emu.control.remove_member(tenant, alpha.graph_id, new["id"])
    emu.control.restore_user(tenant, soft)
    run = engine.run_sync(emu_link)
    assert run.restored == 1 and Employee.objects.get(link=emu_link, graph_id=soft).status == "active"
    assert not GroupMembership.objects.filter(member_graph_id=new["id"]).exists()


def test_expired_delta_link_falls_back_to_a_full_listing(emu_link, emu):
    engine.run_sync(emu_link)
    emu.control.expire_delta_tokens(emu.tenant.id)
    emu.control.update_user(emu.tenant.id, seeded(emu, 40)["id"], jobTitle="After Expiry")
    run = engine.run_sync(emu_link)
    assert run.status == "succeeded" and run.is_full and run.full_reason == "the delta link had expired"
    assert run.seen == 150 and run.updated == 1
    assert engine.run_sync(emu_link).is_full is False  # a fresh delta link was saved


def test_expired_delta_link_in_410_mode_falls_back_too(emu_link, emu):
    engine.run_sync(emu_link)
    emu.control.expire_delta_tokens(emu.tenant.id, mode="410")
    run = engine.run_sync(emu_link)
    assert run.status == "succeeded" and run.is_full and run.seen == 150


def test_changed_rules_force_a_full_reconciliation(emu_link, emu):
    engine.run_sync(emu_link)
    settings = engine.sync_settings_for(emu_link)
    settings.config = {**settings.config, "exclude_guests": False}
    settings.save()
    run = engine.run_sync(emu_link)
    assert run.is_full and run.full_reason == "the field mapping or filters changed"
    guest = Employee.objects.get(link=emu_link, graph_id=seeded(emu, 4)["id"])
    assert guest.status == "active"


def test_throttling_storm_waits_as_told_by_retry_after(emu_link, emu, fake_sleep):
    emu.control.add_fault("429 path=/v1.0/users count=3 retry_after=7")
    run = engine.run_sync(emu_link)
    assert run.status == "succeeded" and run.seen == 150
    assert fake_sleep.calls[:3] == [7, 7, 7]
    throttled = [entry for entry in emu.control.requests() if entry["status"] == 429]
    assert len(throttled) == 3 and all(entry["retry_after"] == "7" for entry in throttled)
    assert run.graph_throttled == 3


def test_service_unavailable_is_retried(emu_link, emu, fake_sleep):
    emu.control.add_fault("503 path=/v1.0/users count=2")
    emu.control.add_fault("503 path=/v1.0/groups/delta count=1 retry_after=2")
    run = engine.run_sync(emu_link)
    assert run.status == "succeeded" and run.seen == 150
    assert 2 in fake_sleep.calls and len(fake_sleep.calls) >= 3


def test_throttling_that_does_not_stop_fails_the_run_for_the_task_to_retry(emu_link, emu, fake_sleep):
    cleanup_on(emu_link)
    engine.run_sync(emu_link)
    before = state_of(emu_link)
    emu.control.add_fault("429 path=/v1.0/users/delta count=100 retry_after=30")
    with pytest.raises(graph.GraphThrottled):
        engine.run_sync(emu_link)
    run = SyncRun.objects.filter(link=emu_link).first()
    assert run.status == "failed" and "limiting" in run.errors[0]
    assert state_of(emu_link) == before


def test_token_expiring_during_the_run_is_renewed(emu_link, emu, monkeypatch):
    monkeypatch.setattr(graph_reads, "PAGE_SIZE", 25)
    # Tokens live 3 s and three pages take 1.2 s each: tokens expire while the run goes, and msal (which renews
    # a token with under 5 minutes left) and graph.py's one renewal on 401 must keep it going.
    emu.control.set_token_lifetime(3)
    emu.control.add_fault("latency path=/v1.0/users delay=1.2 count=3")
    run = engine.run_sync(emu_link)
    assert run.status == "succeeded" and run.seen == 150
    token_requests = [entry for entry in emu.control.requests() if entry["path"].endswith("/oauth2/v2.0/token")]
    assert len(token_requests) > 1


def test_revoked_consent_fails_the_run_with_words_and_removes_nobody(emu_link, emu):
    cleanup_on(emu_link)
    engine.run_sync(emu_link)
    before = state_of(emu_link)
    graph.forget_link(emu_link)
    emu.control.revoke_consent(emu.tenant.id, emu.own_app.client_id)
    run = engine.run_sync(emu_link)
    assert run.status == "failed" and "consent" in run.errors[-1]
    assert state_of(emu_link) == before


def test_a_failure_at_a_random_page_never_removes_anyone(emu_link, emu, monkeypatch):
    """100 full runs, each failing from a random page on: nobody removed, nothing changed, every time."""
    monkeypatch.setattr(graph_reads, "PAGE_SIZE", 20)
    monkeypatch.setattr(graph, "MAX_ATTEMPTS", 2)  # retries are tested above; here only the outcome matters
    cleanup_on(emu_link, removal_threshold_percent=100, removal_threshold_count=1000,
               sync_groups=False, sync_contacts=False, sync_photos=False)
    engine.run_sync(emu_link)
    for index in (50, 51, 52):  # a completed listing would remove these three
        emu.control.delete_user(emu.tenant.id, seeded(emu, index)["id"])
    before = state_of(emu_link)
    rng = random.Random(5)
    for attempt in range(100):
        emu.control.add_fault(f"fail_from_page path=/v1.0/users page={rng.randint(2, 8)} status=500 count=20")
        run = engine.run_sync(emu_link, full=True)
        emu.control.clear_faults()
        assert run.status == "failed" and run.removed == 0, (attempt, run.errors)
        assert state_of(emu_link) == before, attempt
    run = engine.run_sync(emu_link, full=True)
    assert run.status == "succeeded" and run.removed == 3


def test_duplicate_and_malicious_values_from_the_directory(emu_link, emu):
    run = engine.run_sync(emu_link)
    duplicates = Employee.objects.filter(link=emu_link, has_duplicate_email=True)
    assert set(duplicates.values_list("graph_id", flat=True)) == {seeded(emu, 14)["id"], seeded(emu, 15)["id"]}
    assert run.status == "succeeded" and run.duplicate_emails == 1
    script = Employee.objects.get(link=emu_link, graph_id=seeded(emu, 12)["id"])
    assert script.fields["job_title"] == "<script>alert(1)</script>"
    assert script.fields["department"] == '" onmouseover="alert(1)'
    template = Employee.objects.get(link=emu_link, graph_id=seeded(emu, 13)["id"])
    assert template.fields["first_name"] == "{{7*7}}" and template.fields["company"] == "{% debug %}"


def test_a_changed_photo_is_fetched_again_and_a_missing_one_is_no_error(emu_link, emu):
    engine.run_sync(emu_link)
    target = Employee.objects.filter(link=emu_link, photo__sha256__gt="").first()
    old = target.photo.sha256
    emu.control.set_photo(emu.tenant.id, target.graph_id, color=(10, 200, 10))
    emu.control.delete_photo(emu.tenant.id, seeded(emu, 9)["id"])
    EmployeePhoto.objects.filter(employee__link=emu_link).update(checked_at=engine.timezone.now() - engine.timedelta(days=2))
    run = engine.run_sync(emu_link)
    target.photo.refresh_from_db()
    assert target.photo.sha256 != old and run.photos_updated >= 1
    assert not run.errors or all("photo" not in error.lower() for error in run.errors)
    assert EmployeePhoto.objects.get(employee__graph_id=seeded(emu, 9)["id"]).sha256 == ""


def test_dry_run_reports_the_diff_and_writes_nothing(emu_link, emu):
    engine.run_sync(emu_link)
    emu.control.update_user(emu.tenant.id, seeded(emu, 30)["id"], jobTitle="Dry Run Title")
    before = state_of(emu_link)
    runs = SyncRun.objects.count()
    run = engine.run_sync(emu_link, dry_run=True)
    assert run.pk is None and run.updated == 1 and run.diff["updated"][0]["changes"]["job_title"][1] == "Dry Run Title"
    assert state_of(emu_link) == before and SyncRun.objects.count() == runs
    assert engine.run_sync(emu_link).updated == 1  # the delta link was not consumed


def test_manager_fields_come_from_the_delta_round(emu_link, emu):
    settings = engine.sync_settings_for(emu_link)
    settings.config = {**settings.config, "fields": settings.config["fields"] + [
        {"key": "manager_name", "label": "Manager", "source": "manager.displayName"}]}
    settings.save()
    run = engine.run_sync(emu_link)
    assert run.status == "succeeded"
    reports = Employee.objects.filter(link=emu_link).exclude(manager_graph_id="")
    assert reports.count() > 50
    for employee in reports[:20]:
        manager = Employee.objects.get(link=emu_link, graph_id=employee.manager_graph_id)
        assert employee.fields["manager_name"] == manager.fields["display_name"]
    boss = Employee.objects.get(link=emu_link, graph_id=reports.first().manager_graph_id)
    emu.control.update_user(emu.tenant.id, boss.graph_id, displayName="Renamed Boss")
    engine.run_sync(emu_link)
    assert {fields["manager_name"] for fields in Employee.objects.filter(
        manager_graph_id=boss.graph_id).values_list("fields", flat=True)} == {"Renamed Boss"}


def _row_versions(link):
    """(table, pk, xmin) of every directory row of the link: any write, even of equal values, changes xmin."""
    from django.db import connection

    versions = set()
    with connection.cursor() as cursor:
        for table, where in (("directory_sync_employee", "link_id = %s"),
                             ("directory_sync_directorygroup", "link_id = %s"),
                             ("directory_sync_groupmembership", "link_id = %s"),
                             ("directory_sync_orgcontact", "link_id = %s"),
                             ("directory_sync_employeephoto", ("employee_id IN (SELECT id FROM "
                                                               "directory_sync_employee WHERE link_id = %s)"))):
            cursor.execute(f"SELECT id, xmin::text FROM {table} WHERE {where}", [link.pk])
            versions |= {(table, *row) for row in cursor.fetchall()}
    return versions


@pytest.mark.django_db(transaction=True)
def test_committed_page_by_page_then_a_no_change_resync_rewrites_no_row(emu_link, emu):
    """Outside a test transaction the engine writes pages on its own connection and thread (bulk.PageWriter):
    the data must be the same, and an unchanged directory must leave every row version untouched."""
    from directory_sync import bulk

    writer = bulk.writer_for_run(False)
    assert isinstance(writer, bulk.PageWriter)
    writer.close()
    run = engine.run_sync(emu_link)
    assert run.status == "succeeded" and run.added == 150
    assert employee_ids(emu_link, "active", "excluded") == directory_ids(emu_link)
    before = _row_versions(emu_link)
    assert len(before) > 150
    for full in (False, True):
        run = engine.run_sync(emu_link, full=full)
        assert run.status == "succeeded" and run.is_full == full
        assert _row_versions(emu_link) == before


def test_a_run_that_loads_many_rows_refreshes_the_planner_statistics(emu_link, emu, monkeypatch):
    """After a bulk load the run ANALYZEs what it loaded (without statistics the planner took a new link's
    100,000 rows for 0.5% of the table and every delta page's lookup read all of it); a run that writes little
    leaves the statistics alone."""
    from django.db import connection

    from directory_sync import bulk

    monkeypatch.setattr(bulk, "STATS_MIN_ROWS", 100)  # the emulator's tenant has 150 users, not 100,000
    analyzed = []
    refresh = bulk.refresh_statistics
    monkeypatch.setattr(bulk, "refresh_statistics", lambda written: analyzed.append(refresh(written)))
    assert engine.run_sync(emu_link).status == "succeeded"
    assert "directory_sync_employee" in analyzed[0]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stats WHERE tablename = 'directory_sync_employee' "
                       "AND attname = 'graph_id'")
        assert cursor.fetchone()[0] == 1
    emu.control.update_user(emu.tenant.id, seeded(emu, 30)["id"], jobTitle="Analyst")
    run = engine.run_sync(emu_link)
    assert run.status == "succeeded" and run.updated == 1
    assert analyzed[1] == []

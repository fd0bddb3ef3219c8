"""Engine behaviour through its list-of-dicts seam (engine.apply_listing): no Graph, only PostgreSQL."""
from datetime import timedelta

import pytest
from django.utils import timezone

from directory_sync import engine
from directory_sync.models import Employee, PendingRemoval, SyncRun
from tests import factories


def user(n, **overrides):
    data = {"id": f"u{n}", "displayName": f"Person {n}", "givenName": "Person", "surname": str(n),
            "mail": f"person{n}@contoso.com", "accountEnabled": True, "userType": "Member",
            "assignedLicenses": [{"skuId": "x"}], "department": "Sales", "jobTitle": "Seller"}
    data.update(overrides)
    return data


def people(count, start=0):
    return [user(n) for n in range(start, start + count)]


def pages_of(users, size=999):
    return [users[i:i + size] for i in range(0, len(users), size)]


def cleanup_on(link, percent=10, absolute=500):
    settings = engine.sync_settings_for(link)
    settings.cleanup_enabled = True
    settings.removal_threshold_percent = percent
    settings.removal_threshold_count = absolute
    settings.save()
    return settings


def snapshot(link):
    return sorted(Employee.objects.filter(link=link).values_list(
        "graph_id", "status", "content_hash", "removed_at", "fields", "has_duplicate_email"))


def test_full_listing_maps_fields_and_keeps_excluded_people_with_reasons(link):
    run = engine.apply_listing(link, [[user(1), user(2, accountEnabled=False), user(3, userType="Guest")]])
    assert (run.seen, run.added, run.excluded, run.status) == (3, 3, 2, "succeeded")
    ada = Employee.objects.get(link=link, graph_id="u1")
    assert ada.status == "active" and ada.fields["first_name"] == "Person" and ada.email == "person1@contoso.com"
    assert ada.email_source == "mail" and ada.source["displayName"] == "Person 1"
    disabled = Employee.objects.get(link=link, graph_id="u2")
    assert disabled.status == "excluded" and disabled.excluded_reasons == ["disabled account"]
    assert Employee.objects.get(link=link, graph_id="u3").excluded_reasons == ["guest account"]
    assert {entry["id"] for entry in run.diff["excluded"]} == {"u2", "u3"}


def test_second_identical_listing_writes_no_rows(link, count_writes):
    users = people(30)
    engine.apply_listing(link, pages_of(users, 10))
    with count_writes() as writes:
        run = engine.apply_listing(link, pages_of(users, 10))
    assert writes.statements == 0, writes.tables
    assert (run.seen, run.unchanged, run.added, run.updated) == (30, 30, 0, 0)


def test_changed_fields_are_recorded_old_to_new(link):
    engine.apply_listing(link, [[user(1), user(2)]])
    run = engine.apply_listing(link, [[user(1, jobTitle="Chief Seller"), user(2)]])
    assert (run.updated, run.unchanged) == (1, 1)
    assert run.diff["updated"] == [{"id": "u1", "name": "Person 1",
                                    "changes": {"job_title": ["Seller", "Chief Seller"]}}]
    assert Employee.objects.get(link=link, graph_id="u1").job_title == "Chief Seller"


def test_full_listing_removes_only_within_its_link(link, other_link):
    cleanup_on(link, percent=100)
    engine.apply_listing(link, [[user(1), user(2)]])
    engine.apply_listing(other_link, [[user(1), user(2)]])
    run = engine.apply_listing(link, [[user(2)]])
    assert run.removed == 1
    removed = Employee.objects.get(link=link, graph_id="u1")
    assert removed.status == "removed" and removed.removed_at is not None
    assert removed.removal_reason == "not in the directory any more"
    assert Employee.objects.get(link=other_link, graph_id="u1").status == "active"


def test_with_clean_up_off_people_who_left_are_counted_not_changed(link):
    engine.apply_listing(link, [people(5)])
    before = snapshot(link)
    run = engine.apply_listing(link, [people(3)])
    assert run.removed == 0 and run.not_in_directory == 2 and run.status == "succeeded"
    assert snapshot(link) == before
    assert len(run.diff["not_in_directory"]) == 2


def test_empty_listing_removes_nobody(link):
    cleanup_on(link, percent=100, absolute=10_000)
    engine.apply_listing(link, [people(20)])
    before = snapshot(link)
    with pytest.raises(engine.SyncAborted):
        engine.apply_listing(link, [[], []])
    assert snapshot(link) == before
    failed = SyncRun.objects.filter(link=link).order_by("-created_at").first()
    assert failed.status == "failed" and "nobody in it" in failed.errors[0]


def test_listing_that_raises_midway_removes_nobody(link):
    cleanup_on(link, percent=100, absolute=10_000)
    engine.apply_listing(link, pages_of(people(30), 10))
    before = snapshot(link)

    def broken_pages():
        yield people(10)
        raise RuntimeError("connection lost on page 2")

    with pytest.raises(RuntimeError):
        engine.apply_listing(link, broken_pages())
    assert snapshot(link) == before


def _threshold_cases():
    for size in (5, 50, 500, 5000):
        limit = min(size * 10 // 100, 500)
        for removals in sorted({max(limit - 1, 0), limit, limit + 1}):
            yield size, removals, removals > limit


@pytest.mark.parametrize("size,removals,held", list(_threshold_cases()))
def test_removal_threshold_boundaries(link, size, removals, held):
    cleanup_on(link)
    everyone = people(size)
    engine.apply_listing(link, pages_of(everyone))
    run = engine.apply_listing(link, pages_of(everyone[removals:]))
    removed = Employee.objects.filter(link=link, status="removed").count()
    if held:
        assert run.status == "held" and run.held == removals and removed == 0
        assert PendingRemoval.objects.filter(run=run).count() == removals
    else:
        assert run.status == "succeeded" and run.removed == removals == removed


def test_approving_held_removals_applies_them_exactly_once(link, org_admin):
    cleanup_on(link)
    engine.apply_listing(link, [people(10)])
    run = engine.apply_listing(link, [people(7)])
    assert run.status == "held" and run.held == 3
    assert engine.approve_held_removals(run, org_admin) == 3
    assert engine.approve_held_removals(run, org_admin) == 0
    assert engine.reject_held_removals(run, org_admin) is False
    run.refresh_from_db()
    assert (run.removals_decision, run.removed, run.decided_by) == ("approved", 3, org_admin)
    assert set(Employee.objects.filter(link=link, status="removed").values_list("graph_id", flat=True)) == {
        "u7", "u8", "u9"}


def test_rejecting_held_removals_removes_nobody(link, org_admin):
    cleanup_on(link)
    engine.apply_listing(link, [people(10)])
    run = engine.apply_listing(link, [people(5)])
    assert engine.reject_held_removals(run, org_admin) is True
    assert engine.approve_held_removals(run, org_admin) == 0
    assert not Employee.objects.filter(link=link, status="removed").exists()


def test_removed_person_who_reappears_within_30_days_is_restored(link):
    cleanup_on(link, percent=100)
    engine.apply_listing(link, [people(3)])
    engine.apply_listing(link, [people(2)])
    assert Employee.objects.get(link=link, graph_id="u2").status == "removed"
    run = engine.apply_listing(link, [people(3)])
    restored = Employee.objects.get(link=link, graph_id="u2")
    assert run.restored == 1 and restored.status == "active" and restored.removed_at is None


def test_purge_deletes_only_people_removed_more_than_30_days_ago(link):
    cleanup_on(link, percent=100)
    engine.apply_listing(link, [people(3)])
    engine.apply_listing(link, [people(1)])
    Employee.objects.filter(link=link, graph_id="u1").update(removed_at=timezone.now() - timedelta(days=31))
    assert engine.purge_removed() == 1
    assert set(Employee.objects.filter(link=link).values_list("graph_id", flat=True)) == {"u0", "u2"}


def test_admin_restore_undoes_a_soft_removal(link):
    cleanup_on(link, percent=100)
    engine.apply_listing(link, [people(2)])
    engine.apply_listing(link, [people(1)])
    employee = Employee.objects.get(link=link, graph_id="u1")
    assert engine.restore_employee(employee) is True
    employee.refresh_from_db()
    assert employee.status == "active" and employee.removed_at is None


def test_duplicate_emails_are_kept_flagged_and_listed(link):
    run = engine.apply_listing(link, [[user(1), user(2, mail="Person1@contoso.com"), user(3)]])
    assert run.status == "succeeded" and run.duplicate_emails == 1
    flagged = set(Employee.objects.filter(link=link, has_duplicate_email=True).values_list("graph_id", flat=True))
    assert flagged == {"u1", "u2"}
    assert run.diff["duplicate_emails"] == [{"email": "person1@contoso.com", "ids": ["u1", "u2"]}]
    engine.apply_listing(link, [[user(1), user(2), user(3)]])
    assert not Employee.objects.filter(link=link, has_duplicate_email=True).exists()


def _flagged(link):
    return set(Employee.objects.filter(link=link, has_duplicate_email=True).values_list("graph_id", flat=True))


def test_delta_rounds_find_and_clear_duplicates_like_a_full_scan(link):
    """Delta rounds rescan only the emails they wrote and the flagged people; the flags must match a full scan."""
    engine.apply_listing(link, [people(6)])
    assert _flagged(link) == set()
    # u4 takes u1's address (another case): both flagged, though only u4 was written in this round.
    run = engine.apply_listing(link, [[user(4, mail="PERSON1@contoso.com")]], full=False)
    assert _flagged(link) == {"u1", "u4"} and run.duplicate_emails == 1
    # An unrelated change keeps the pair flagged and listed.
    run = engine.apply_listing(link, [[user(2, jobTitle="Lead")]], full=False)
    assert _flagged(link) == {"u1", "u4"} and run.duplicate_emails == 1
    # u1 moves away: u4 is alone with the address again, although u4 was not written in this round.
    run = engine.apply_listing(link, [[user(1, mail="someone.else@contoso.com")]], full=False)
    assert _flagged(link) == set() and run.duplicate_emails == 0
    # A full listing of the same directory agrees.
    engine.apply_listing(link, [[user(n, mail="someone.else@contoso.com") if n == 1 else user(n) for n in range(6)]])
    assert _flagged(link) == set()


MALICIOUS = {"displayName": "<script>alert(1)</script>", "jobTitle": "{{7*7}}", "department": "{% debug %}",
             "givenName": '" onmouseover="alert(1)', "surname": "${7*7} <%= 7*7 %>"}


def test_malicious_values_are_stored_exactly_as_text(link):
    engine.apply_listing(link, [[user(1, **MALICIOUS)]])
    employee = Employee.objects.get(link=link, graph_id="u1")
    assert employee.fields["display_name"] == MALICIOUS["displayName"]
    assert employee.fields["job_title"] == "{{7*7}}" and employee.job_title == "{{7*7}}"
    assert employee.fields["department"] == "{% debug %}"
    assert employee.fields["first_name"] == MALICIOUS["givenName"]
    assert employee.fields["last_name"] == MALICIOUS["surname"]
    assert employee.source["displayName"] == MALICIOUS["displayName"]


def test_delta_round_applies_removed_entries_and_updates(link):
    cleanup_on(link, percent=100)
    engine.apply_listing(link, [people(4)])
    run = engine.apply_listing(link, [[
        user(0, jobTitle="Boss"), {"id": "u1", "@removed": {"reason": "deleted"}},
        {"id": "u2", "@removed": {"reason": "changed"}}, user(9),
    ]], full=False)
    assert (run.updated, run.added, run.removed) == (1, 1, 2)
    statuses = dict(Employee.objects.filter(link=link).values_list("graph_id", "status"))
    assert statuses == {"u0": "active", "u1": "removed", "u2": "removed", "u3": "active", "u9": "active"}
    assert "restorable" in Employee.objects.get(link=link, graph_id="u2").removal_reason


def test_a_user_removed_then_seen_again_in_one_delta_round_stays(link):
    cleanup_on(link, percent=100)
    engine.apply_listing(link, [people(3)])
    engine.apply_listing(link, [[{"id": "u1", "@removed": {"reason": "changed"}}], [user(1)]], full=False)
    assert Employee.objects.get(link=link, graph_id="u1").status == "active"


def test_a_claimed_link_is_not_synced_twice(link):
    claim = engine.claim_link(link)
    assert claim is not None and engine.claim_link(link) is None
    with pytest.raises(engine.SyncAborted):
        engine.apply_listing(link, [people(1)])
    engine.release_link(claim)
    assert engine.apply_listing(link, [people(1)]).status == "succeeded"


def test_a_stale_claim_is_taken_over(link):
    link.__class__.objects.filter(pk=link.pk).update(
        sync_claimed_at=timezone.now() - engine.CLAIM_STALE_AFTER - timedelta(seconds=1))
    assert engine.claim_link(link) is not None


def test_diffs_are_kept_for_the_last_30_runs_only(link):
    for n in range(engine.DIFFS_KEPT + 2):
        engine.apply_listing(link, [[user(n)]])
    engine._trim_diffs(link)
    runs = list(SyncRun.objects.filter(link=link).order_by("created_at"))
    assert [bool(run.diff) for run in runs[:2]] == [False, False]
    assert all(run.diff for run in runs[2:])


def test_employees_are_scoped_to_their_organisation(link, other_org):
    engine.apply_listing(link, [[user(1)]])
    assert Employee.objects.for_org(link.organization).count() == 1
    assert Employee.objects.for_org(other_org).count() == 0
    assert factories.make_link(other_org).employees.count() == 0

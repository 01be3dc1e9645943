"""Planning the archive/delete lifecycle: what may happen, and when everything must be refused."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from metapipeline.actions.mode_lifecycle import ArchivedReads, LifecycleSettings, plan_lifecycle
from metapipeline.mode.models import Report
from metapipeline.mode.snapshot import IngestionProblem, WorkspaceSnapshot
from metapipeline.platform.stale import ReportVerdict
from metapipeline.store.ledger import Action

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


def _report(token: str, *, archived: bool = False) -> Report:
    return Report(
        token=token,
        name=f"Report {token}",
        space_token="s",
        created_at=None,
        updated_at=None,
        edited_at=None,
        last_run_at=None,
        archived=archived,
        runs_count=0,
        view_count=0,
        schedules_count=0,
        creator_username=None,
        web_url=None,
    )


def _snapshot(*reports: Report) -> WorkspaceSnapshot:
    return WorkspaceSnapshot(workspace="ws", taken_at=NOW.isoformat(), reports=list(reports))


def _archived_by_us(token: str, days_ago: float) -> Action:
    return Action(
        workspace="ws",
        report_token=token,
        report_name=f"Report {token}",
        action="archive",
        reason="no run for 200 days",
        run_id="run-1",
        at=NOW - timedelta(days=days_ago),
    )


def _stale(token: str) -> ReportVerdict:
    return ReportVerdict(token, f"Report {token}", True, "no run for 200 days")


HEALTHY = [_report(f"h{i:02d}") for i in range(20)]


def _plan(snapshot, verdicts=(), archived=None, **settings):
    # What GET /reports/{token} would say: the snapshot's report, or 404 for one not in it.
    reports = {r.token: r for r in snapshot.reports}
    reads = ArchivedReads(
        found={t: reports[t] for t in archived or {} if t in reports},
        gone={t for t in archived or {} if t not in reports},
    )
    return plan_lifecycle(snapshot, verdicts, archived or {}, LifecycleSettings(**settings), NOW, reads)


def test_stale_reports_are_archived_once():
    snapshot = _snapshot(*HEALTHY, _report("s1"), _report("s2"))
    plan = _plan(snapshot, [_stale("s1"), _stale("s2")])
    assert [(a.action, a.report_token, a.reason) for a in plan.actions] == [
        ("archive", "s1", "no run for 200 days"),
        ("archive", "s2", "no run for 200 days"),
    ]
    assert plan.refusal is None


def test_delete_only_after_the_grace_period():
    snapshot = _snapshot(*HEALTHY, _report("old", archived=True), _report("recent", archived=True))
    archived = {"old": _archived_by_us("old", 30), "recent": _archived_by_us("recent", 29.9)}
    plan = _plan(snapshot, archived=archived, grace_days=30)
    assert [(a.action, a.report_token) for a in plan.actions] == [("delete", "old")]
    assert [(a.action, a.report_token) for a in plan.waiting] == [("delete", "recent")]


def test_a_report_someone_unarchived_is_never_deleted_nor_archived_again():
    snapshot = _snapshot(*HEALTHY, _report("back", archived=False))
    plan = _plan(snapshot, [_stale("back")], archived={"back": _archived_by_us("back", 90)})
    assert [(a.action, a.report_token) for a in plan.actions] == [("restored", "back")]
    assert [a.report_token for a in plan.spared] == ["back"]
    restored = replace(_archived_by_us("back", 80), action="restored")
    later = _plan(snapshot, [_stale("back")], archived={"back": restored})
    assert later.actions == []
    assert "restored by someone" in later.spared[0].reason


def test_reports_people_archived_are_never_deleted():
    snapshot = _snapshot(*HEALTHY, _report("theirs", archived=True))
    assert _plan(snapshot).actions == []


def test_a_report_that_disappeared_is_recorded_as_gone():
    plan = _plan(_snapshot(*HEALTHY), archived={"vanished": _archived_by_us("vanished", 40)})
    assert [(a.action, a.report_token) for a in plan.actions] == [("gone", "vanished")]


def test_incomplete_snapshot_refuses_everything_and_says_why():
    snapshot = _snapshot(*HEALTHY, _report("s1"), _report("old", archived=True))
    snapshot.failures.append(IngestionProblem("space abc (Finance)", "HTTP 503"))
    plan = _plan(snapshot, [_stale("s1")], archived={"old": _archived_by_us("old", 90)})
    assert plan.actions == []
    assert plan.refusal is not None
    assert "incomplete" in plan.refusal and "space abc (Finance)" in plan.refusal


def test_cap_refuses_archiving_too_large_a_share_but_keeps_bookkeeping():
    stale = [_report(f"s{i}") for i in range(6)]
    snapshot = _snapshot(*HEALTHY, *stale, _report("back"))
    plan = _plan(
        snapshot,
        [_stale(r.token) for r in stale],
        archived={"back": _archived_by_us("back", 5)},
        max_share=0.2,
    )
    assert plan.refusal is not None and "6 of 27 active reports (22%)" in plan.refusal
    assert [(a.action, a.report_token) for a in plan.actions] == [("restored", "back")]
    assert _plan(snapshot, [_stale(r.token) for r in stale], max_share=0.25).refusal is None


def test_per_run_action_cap():
    snapshot = _snapshot(*HEALTHY, _report("s1"), _report("s2"))
    plan = _plan(snapshot, [_stale("s1"), _stale("s2")], max_actions=1)
    assert plan.actions == [] and "per-run cap of 1" in (plan.refusal or "")


def test_a_report_already_archived_by_us_is_not_archived_again():
    snapshot = _snapshot(*HEALTHY, replace(_report("s1"), archived=True))
    plan = _plan(snapshot, [_stale("s1")], archived={"s1": _archived_by_us("s1", 3)})
    assert plan.actions == []
    assert [(a.action, a.report_token) for a in plan.waiting] == [("delete", "s1")]


def test_a_report_we_archived_that_cannot_be_read_back_waits_and_is_not_deleted():
    ours = _report("ours", archived=True)
    history = {"ours": _archived_by_us("ours", 40)}
    reads = ArchivedReads(unreadable={"ours": "HTTP 503"})
    plan = plan_lifecycle(_snapshot(*HEALTHY, ours), (), history, LifecycleSettings(), NOW, reads)
    assert plan.actions == []
    assert [(w.report_token, w.action) for w in plan.waiting] == [("ours", "delete")]
    assert "HTTP 503" in plan.waiting[0].reason

"""The stale-report policy on the sample workspace and on its edge cases."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from metapipeline.mode.models import Report
from metapipeline.platform.stale import StalePolicy, judge_reports
from metapipeline.sandbox.sample import expected_outcomes, mode_timestamp

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def _parsed(raws: list[dict]) -> list[Report]:
    return [
        replace(
            Report.from_api({**r, "_links": {}}, r["space_token"]),
            imported_datasets=tuple(r["imported_datasets"]),
        )
        for r in raws
    ]


@pytest.fixture(scope="module")
def sample_reports(sample_workspace) -> list[Report]:
    return _parsed(sample_workspace["reports"])


@pytest.fixture(scope="module")
def sample_datasets(sample_workspace) -> list[Report]:
    return _parsed(sample_workspace["datasets"])


def test_sample_verdicts_match_the_expected_outcomes(sample_reports, sample_datasets, sample_now):
    verdicts = judge_reports(
        sample_reports,
        StalePolicy(),
        sample_now,
        datasets=sample_datasets,
        exposure_backed={"b7d24e19c0a3": "board_pack"},
    )
    expected = expected_outcomes()
    assert {v.token: v.reason for v in verdicts if v.stale} == expected["stale_reports"]
    kept = {v.token: v.reason for v in verdicts if not v.stale and v.reason}
    assert kept == expected["kept_reports"]
    judged = {v.token for v in verdicts}
    assert judged.isdisjoint(expected["workspace"]["archived_by_people"])  # already archived: not judged


def _report(
    days_since_run: float | None, *, age_days: float = 400, runs: int = 50, views: int = 50, **extra
) -> Report:
    base = Report(
        token="abcdef012345",
        name="A report",
        space_token="space1",
        created_at=mode_timestamp(NOW - timedelta(days=age_days)),
        updated_at=None,
        edited_at=None,
        last_run_at=None if days_since_run is None else mode_timestamp(NOW - timedelta(days=days_since_run)),
        archived=False,
        runs_count=runs,
        view_count=views,
        schedules_count=0,
        creator_username="dana",
        web_url=None,
    )
    return replace(base, **extra)


def _verdict(report: Report, policy: StalePolicy | None = None, **kwargs):
    (verdict,) = judge_reports([report], policy or StalePolicy(), NOW, **kwargs)
    return verdict


def test_no_run_threshold_is_strictly_more_than_the_limit():
    assert not _verdict(_report(100)).stale
    assert _verdict(_report(100.5)).stale
    assert _verdict(_report(101)).reason == "no run for 101 days"


def test_a_report_never_run_counts_from_its_creation():
    assert _verdict(_report(None, age_days=150)).reason == "no run for 150 days"
    assert not _verdict(_report(None, age_days=90, runs=10)).stale


def test_low_usage_needs_few_runs_and_few_views_and_some_age():
    assert _verdict(_report(10, runs=4, views=4, age_days=61)).stale
    assert not _verdict(_report(10, runs=5, views=0, age_days=200)).stale
    assert not _verdict(_report(10, runs=0, views=5, age_days=200)).stale
    young = _verdict(_report(10, runs=0, views=0, age_days=59))
    assert (young.stale, young.reason) == (False, "created 59 days ago")


@pytest.mark.parametrize(
    ("policy", "extra", "kwargs", "reason"),
    [
        (StalePolicy(allow_list=("abcdef012345",)), {}, {}, "on the allow list"),
        (StalePolicy(), {"schedules_count": 2}, {}, "scheduled (2 schedules)"),
        (
            StalePolicy(protected_spaces=("Finance",)),
            {},
            {"space_names": {"space1": "Finance"}},
            "in the protected space Finance",
        ),
        (StalePolicy(protected_spaces=("space1",)), {}, {}, "in the protected space space1"),
        (
            StalePolicy(),
            {},
            {"exposure_backed": {"abcdef012345": "board_pack"}},
            "backs the exposure board_pack (maturity high)",
        ),
        (StalePolicy(), {"created_at": None}, {}, "no creation date: cannot tell its age"),
    ],
)
def test_exclusions_keep_stale_looking_reports_and_say_why(policy, extra, kwargs, reason):
    verdict = _verdict(_report(300, **extra), policy, **kwargs)
    assert (verdict.stale, verdict.reason) == (False, reason)


def test_scheduled_reports_can_be_judged_when_the_user_wants():
    assert _verdict(_report(300, schedules_count=1), StalePolicy(keep_scheduled=False)).stale


def test_healthy_reports_get_no_reason():
    assert _verdict(_report(3)).reason == ""


def test_a_dataset_only_stale_or_archived_reports_import_is_judged_on_its_own_numbers(
    sample_reports, sample_datasets, sample_now
):
    scorecard = next(r for r in sample_reports if r.token == "9e5a7c3d1b28")
    ltv = next(d for d in sample_datasets if d.token == "e4b2d6f8a013")
    idle = replace(scorecard, last_run_at=mode_timestamp(sample_now - timedelta(days=300)))
    for importer in (replace(scorecard, archived=True), idle):
        verdicts = judge_reports([importer], StalePolicy(), sample_now, datasets=[ltv])
        assert {v.token: v.stale for v in verdicts}["e4b2d6f8a013"] is True
    verdicts = judge_reports([scorecard], StalePolicy(), sample_now, datasets=[ltv])
    assert [v.reason for v in verdicts if v.token == "e4b2d6f8a013"] == [
        "imported by the live report 9e5a7c3d1b28 (Company Health Scorecard)"
    ]

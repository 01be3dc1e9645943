"""Schedule ticks at chosen times request the right runs and partitions."""

from __future__ import annotations

from datetime import UTC, datetime

from dagster import build_schedule_context

from metapipeline.definitions import defs


def _tick(name: str, at: datetime):
    schedule = defs.resolve_schedule_def(name)
    with build_schedule_context(scheduled_execution_time=at) as context:
        return schedule.evaluate_tick(context).run_requests or []


def test_metapipeline_runs_daily_at_six_utc_by_default():
    schedule = defs.resolve_schedule_def("metapipeline_daily")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 6 * * *", "UTC")
    assert schedule.default_status.value == "RUNNING"
    (request,) = _tick("metapipeline_daily", datetime(2026, 11, 24, 6, 0, tzinfo=UTC))
    assert request.job_name in (None, "metapipeline")


def test_run_history_tick_asks_for_the_day_that_just_ended():
    (request,) = _tick("dbt_run_history_schedule", datetime(2026, 11, 24, 5, 0, tzinfo=UTC))
    assert request.partition_key == "2026-11-23"

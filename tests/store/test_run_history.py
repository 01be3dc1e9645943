"""dbt run history into the ledger: the sample's 60 days, idempotent, and per-day counts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from metapipeline.dbt.history.files import RunResultsFiles
from metapipeline.sandbox.sample.run_history import models_run_per_day, write_run_history
from metapipeline.store.ledger import Ledger

TODAY = date(2026, 11, 23)


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("history")
    write_run_history(folder, TODAY)
    return folder


def test_sixty_days_land_in_the_ledger_with_the_expected_counts(history, ledger: Ledger):
    runs = [run for invocation in RunResultsFiles(str(history)).invocations() for run in invocation.runs]
    assert ledger.record_node_runs(runs) == len(runs)
    assert ledger.models_run_per_day() == models_run_per_day(TODAY)
    assert len(ledger.models_run_per_day()) == 60
    assert ledger.record_node_runs(runs) == 0  # idempotent by invocation id


def test_one_day_at_a_time_adds_up_to_the_same(history, ledger: Ledger):
    expected = models_run_per_day(TODAY)
    for day in sorted(expected)[-7:]:
        ledger.record_node_runs(
            run for inv in RunResultsFiles(str(history)).invocations(day) for run in inv.runs
        )
    assert ledger.models_run_per_day(start=sorted(expected)[-7]) == {
        d: expected[d] for d in sorted(expected)[-7:]
    }


def test_run_seconds_since_sums_recent_model_time(history, ledger: Ledger):
    ledger.record_node_runs(run for inv in RunResultsFiles(str(history)).invocations() for run in inv.runs)
    since = datetime.combine(TODAY - timedelta(days=6), datetime.min.time(), tzinfo=UTC)
    seconds = ledger.run_seconds_since(since)
    assert seconds["model.freshcart.fct_orders_hourly"] > seconds["model.freshcart.dim_dates"] > 0
    assert all(unique_id.startswith("model.") for unique_id in seconds)


def test_a_broken_file_is_named_in_the_error(tmp_path):
    broken = tmp_path / "run_results.json"
    broken.write_text('{"metadata": {}}')
    with pytest.raises(ValueError, match=r"run_results.json is not a dbt run_results.json"):
        list(RunResultsFiles(str(broken)).invocations())
    assert [Path(p) for p in RunResultsFiles(str(tmp_path)).paths()] == [broken]
    assert [Path(p) for p in RunResultsFiles(str(tmp_path / "*.json")).paths()] == [broken]

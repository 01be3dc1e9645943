"""The daily `dbt_run_history` job: one partition in process, and a CLI backfill of a week."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus, instance_for_test

from metapipeline.definitions import dbt_run_history_job, defs
from metapipeline.sandbox.sample.run_history import models_run_per_day, write_run_history
from metapipeline.store.ledger import Ledger

REPO = Path(__file__).resolve().parents[2]
TODAY = date(2026, 11, 23)


@pytest.fixture
def history_env(tmp_path, monkeypatch):
    write_run_history(tmp_path / "history", TODAY)
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    monkeypatch.setenv("DBT_RUN_RESULTS_DIR", str(tmp_path / "history"))
    monkeypatch.setenv("METAPIPELINE_DATABASE_URL", url)
    return url


def test_a_partition_ingests_that_day_and_only_it(history_env):
    day = TODAY - timedelta(days=3)
    with instance_for_test() as instance:
        result = dbt_run_history_job().execute_in_process(instance=instance, partition_key=day.isoformat())
    assert result.success
    ledger = Ledger(history_env)
    assert ledger.models_run_per_day() == {day: models_run_per_day(TODAY)[day]}
    ledger.close()


def test_the_schedule_is_daily_and_on():
    schedule = defs.resolve_schedule_def("dbt_run_history_schedule")
    assert schedule.cron_schedule == "0 5 * * *"
    assert schedule.default_status.value == "RUNNING"


@pytest.mark.slow
def test_cli_backfill_of_seven_days_fills_the_ledger(history_env, tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    # No daemon in a test: the default coordinator makes the CLI launch the runs itself.
    (home / "dagster.yaml").write_text(
        "telemetry: {enabled: false}\n"
        "run_coordinator: {module: dagster.core.run_coordinator, class: DefaultRunCoordinator}\n"
    )
    days = [TODAY - timedelta(days=d) for d in range(7, 0, -1)]
    command = [
        str(Path(sys.executable).parent / "dagster"),
        "job",
        "backfill",
        "-w",
        "workspace.yaml",
        "-j",
        "dbt_run_history",
        "--from",
        days[0].isoformat(),
        "--to",
        days[-1].isoformat(),
        "--noprompt",
    ]
    done = subprocess.run(
        command,
        cwd=REPO,
        env={**os.environ, "DAGSTER_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    instance = DagsterInstance.from_config(str(home))
    runs = instance.get_runs()
    assert len(runs) == 7
    assert {run.status for run in runs} == {DagsterRunStatus.SUCCESS}
    assert {run.tags["dagster/partition"] for run in runs} == {d.isoformat() for d in days}
    ledger = Ledger(history_env)
    expected = models_run_per_day(TODAY)
    assert ledger.models_run_per_day() == {d: expected[d] for d in days}
    ledger.close()

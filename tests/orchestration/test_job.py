"""The walking skeleton: the metapipeline job runs through Dagster against the sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from dagster import DagsterInstance, execute_job, instance_for_test, reconstructable

from metapipeline.definitions import defs, metapipeline_job
from metapipeline.sandbox.platform import start_sample_sandbox
from metapipeline.sandbox.sample import expected_outcomes, expected_unused_models

REPO = Path(__file__).resolve().parents[2]
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}
MULTIPROCESS = {"execution": {"config": {"multiprocess": {}}}}  # what a Launchpad user switches to


def test_definitions_load_the_metapipeline_job():
    assert defs.resolve_job_def("metapipeline").name == "metapipeline"


def test_a_launch_with_no_config_runs_in_process_and_multiprocess_stays_selectable():
    execution = metapipeline_job().run_config_schema.config_type.fields["execution"]
    assert execution.default_value == IN_PROCESS["execution"]
    assert set(execution.config_type.fields["config"].config_type.fields) == {"in_process", "multiprocess"}


@pytest.mark.slow
def test_dagster_definitions_validate_passes(tmp_path):
    result = subprocess.run(
        [Path(sys.executable).parent / "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        env={**os.environ, "DAGSTER_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _run_job(as_of: datetime, instance: DagsterInstance) -> dict:
    run_config = {**IN_PROCESS, "resources": {"clock": {"config": {"as_of": as_of.isoformat()}}}}
    with execute_job(reconstructable(metapipeline_job), instance=instance, run_config=run_config) as result:
        assert result.success
        return result.output_for_node("summarize")


@pytest.mark.slow
def test_job_archives_stale_reports_then_deletes_them_after_the_grace_period(tmp_path, monkeypatch):
    now = datetime.now(UTC)
    with start_sample_sandbox(tmp_path / "sandbox", mode_rate_limit="off", now=now) as sandbox:
        for key, value in sandbox.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("METAPIPELINE_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.sqlite'}")
        expected = expected_outcomes()
        stale = set(expected["stale_reports"])
        with instance_for_test() as instance:
            first = _run_job(now, instance)
            assert first["mode snapshot complete"] is True
            assert (first["spaces"], first["reports"], first["queries"]) == (
                expected["workspace"]["spaces"],
                expected["workspace"]["reports"],
                expected["workspace"]["queries"],
            )
            archived_by_people = expected["workspace"]["archived_by_people"]
            assert first["reports archived before this run"] == len(archived_by_people)
            # Both projects' own models, and the finance project's installed package's.
            models = sum(p["models"] for p in expected["projects"])
            models += len(expected["freshcart_finance"]["package_models"])
            assert first["dbt projects"] == ", ".join(p["name"] for p in expected["projects"])
            assert (first["dbt models"], first["dbt exposures"]) == (models, 5)
            assert first["reports archived by this run"] == len(stale)

            second = _run_job(now + timedelta(days=1), instance)
            assert (second["reports archived by this run"], second["reports deleted by this run"]) == (0, 0)
            assert second["reports reused from the last run"] > 0

            env = sandbox.env()
            restored = sorted(stale)[0]
            response = requests.patch(
                f"{env['MODE_HOST']}/api/{env['MODE_WORKSPACE']}/reports/{restored}/unarchive",
                auth=(env["MODE_TOKEN"], env["MODE_SECRET"]),
                timeout=10,
            )
            assert response.status_code == 200
            past_grace = _run_job(now + timedelta(days=31), instance)
            assert past_grace["reports archived by this run"] == 0
            assert past_grace["reports deleted by this run"] == len(stale) - 1


@pytest.mark.slow
def test_job_on_postgresql_under_the_multiprocess_executor(tmp_path, monkeypatch, postgres_server):
    """Dagster's storage and the ledger both in a real PostgreSQL; every op in its own process."""
    admin = sa.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in ("dagster_storage", "metapipeline_ledger"):
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    server = postgres_server.rsplit("/", 1)[0]
    with start_sample_sandbox(tmp_path / "sandbox", mode_rate_limit="off") as sandbox:
        for key, value in sandbox.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("METAPIPELINE_DATABASE_URL", f"{server}/metapipeline_ledger")
        overrides = {"storage": {"postgres": {"postgres_url": f"{server}/dagster_storage"}}}
        with instance_for_test(overrides=overrides) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            with execute_job(
                reconstructable(metapipeline_job), instance=instance, run_config=MULTIPROCESS
            ) as result:
                assert result.success
                summary = result.output_for_node("summarize")
                steps = {e.step_key for e in result.all_node_events if e.is_step_success}
            assert summary["reports archived by this run"] == len(expected_outcomes()["stale_reports"])
            assert summary["unused models proposed"] == len(expected_unused_models(warehouse=True))
            assert "lineage.resolve_lineage_batch[batch_0]" in steps  # the dynamic fan-out ran
            assert "report.meta_analysis" in steps  # and the notebook, in its own process
            assert instance.get_run_by_id(result.run_id).status.value == "SUCCESS"
    ledger_engine = sa.create_engine(f"{server}/metapipeline_ledger")
    with ledger_engine.connect() as conn:
        archived = conn.execute(sa.text("SELECT count(*) FROM actions WHERE action = 'archive'")).scalar()
        cached = conn.execute(sa.text("SELECT count(*) FROM reference_extractions")).scalar()
    ledger_engine.dispose()
    assert archived == len(expected_outcomes()["stale_reports"])
    # Every query and definition parsed once, kept under its rendered SQL and under its text.
    queries = len(expected_outcomes()["queries"]) + len(expected_outcomes()["dataset_queries"])
    assert cached == 2 * (queries + 3)

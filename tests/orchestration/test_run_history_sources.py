"""Each dbt run history source (files on disk or in S3, dbt Cloud, Dagster's event log) fills the
ledger with the same node runs, so the notebook's "models run per day" chart is the same from each;
the partitioned `dbt_run_history` job backfills from each; bad input says what is wrong."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import s3fs
from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterEvent,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    EventLogEntry,
    instance_for_test,
    materialize,
)
from dagster._core.events import StepMaterializationData
from dagster_dbt import DbtCliResource, dbt_assets
from moto.server import ThreadedMotoServer

from metapipeline.charts import models_per_day_chart
from metapipeline.dbt.history import RunHistorySource
from metapipeline.dbt.history.dbt_cloud import DbtCloudRuns
from metapipeline.dbt.history.files import RunResultsFiles
from metapipeline.dbt.run_history import RunHistoryUnavailable, models_run
from metapipeline.definitions import dbt_run_history_job
from metapipeline.orchestration.dbt_event_history import DagsterEventLog
from metapipeline.sandbox.dbt_cloud_emulator import DbtCloudEmulator
from metapipeline.sandbox.harness import EmulatorServer, free_port
from metapipeline.sandbox.sample import DBT_PROJECT_DIR
from metapipeline.sandbox.sample.run_history import models_run_per_day, write_run_history
from metapipeline.store.ledger import Ledger

REPO = Path(__file__).resolve().parents[2]
TODAY = date(2026, 11, 23)
WEEK = [TODAY - timedelta(days=d) for d in range(7, 0, -1)]
BUCKET = "acme-dbt-artifacts"
SOURCES = ("files", "s3", "dbt_cloud", "dagster")


@pytest.fixture(scope="module")
def history_dir(tmp_path_factory) -> Path:
    """The sample's history around WEEK (a day either side), so every source reads a few hundred
    rather than a few thousand documents."""
    everything = tmp_path_factory.mktemp("history_all")
    write_run_history(everything, TODAY)
    recent = tmp_path_factory.mktemp("history")
    days = {(WEEK[0] + timedelta(days=d)).isoformat() for d in range(-1, len(WEEK) + 1)}
    for run_dir in everything.iterdir():
        if run_dir.name[:10] in days:
            shutil.copytree(run_dir, recent / run_dir.name)
    return recent


@pytest.fixture(scope="module")
def documents(history_dir) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(history_dir.rglob("run_results.json"))]


@pytest.fixture(scope="module")
def s3_env(history_dir) -> Iterator[dict[str, str]]:
    """moto's S3 server on loopback holding the history under a prefix; the real s3fs reads it."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        s3fs.S3FileSystem.clear_instance_cache()
        fs = s3fs.S3FileSystem()
        fs.mkdir(BUCKET)
        fs.put(str(history_dir), f"{BUCKET}/dbt/runs", recursive=True)
        yield env
        s3fs.S3FileSystem.clear_instance_cache()
    server.stop()


@pytest.fixture(scope="module")
def dbt_cloud(history_dir) -> Iterator[EmulatorServer]:
    server = EmulatorServer(DbtCloudEmulator.from_history_dir(history_dir))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def dagster_instance(documents) -> Iterator[DagsterInstance]:
    # In-memory storage: the same event log queries, filled ten times quicker than SQLite files.
    instance = DagsterInstance.ephemeral()
    for document in documents:
        record_as_dagster_dbt(instance, document)
    yield instance
    instance.dispose()


def record_as_dagster_dbt(instance: DagsterInstance, document: dict[str, Any]) -> None:
    """Store one dbt invocation's materializations as a dagster-dbt `dbt build` asset run does: one
    per successful model, seed or snapshot when it completes, with unique_id, invocation_id and
    Execution Duration metadata (see dagster_dbt/core/dbt_cli_event.py)."""
    run_id = str(uuid.uuid4())
    invocation_id = document["metadata"]["invocation_id"]
    events = []
    for result in document["results"]:
        unique_id = result["unique_id"]
        if result["status"] != "success" or not unique_id.startswith(("model.", "seed.", "snapshot.")):
            continue
        completed = datetime.fromisoformat(result["timing"][-1]["completed_at"].replace("Z", "+00:00"))
        materialization = AssetMaterialization(
            asset_key=AssetKey(unique_id.split(".")[1:]),
            metadata={
                "unique_id": unique_id,
                "invocation_id": invocation_id,
                "Execution Duration": float(result["execution_time"]),
            },
        )
        event = DagsterEvent(
            event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
            job_name="dbt_build",
            step_key="freshcart_dbt_assets",
            event_specific_data=StepMaterializationData(materialization),
        )
        events.append(
            EventLogEntry(
                error_info=None,
                level=logging.INFO,
                user_message="",
                run_id=run_id,
                timestamp=completed.timestamp(),
                step_key="freshcart_dbt_assets",
                job_name="dbt_build",
                dagster_event=event,
            )
        )
    instance.event_log_storage.store_event_batch(events)


def _source(name: str, request: pytest.FixtureRequest) -> RunHistorySource:
    if name == "files":
        return RunResultsFiles(str(request.getfixturevalue("history_dir")))
    if name == "s3":
        request.getfixturevalue("s3_env")
        return RunResultsFiles(f"s3://{BUCKET}/dbt/runs")
    if name == "dbt_cloud":
        env = request.getfixturevalue("dbt_cloud").emulator.env(request.getfixturevalue("dbt_cloud").base_url)
        return DbtCloudRuns(
            int(env["DBT_CLOUD_ACCOUNT_ID"]), env["DBT_CLOUD_TOKEN"], access_url=env["DBT_CLOUD_ACCESS_URL"]
        )
    return DagsterEventLog(request.getfixturevalue("dagster_instance"))


def _fill(ledger_url: str, source: RunHistorySource, days: list[date]) -> dict[date, int]:
    with closing(Ledger(ledger_url)) as ledger:
        for day in days:
            ledger.record_node_runs(run for found in source.invocations(day) for run in found.runs)
        return ledger.models_run_per_day()


@pytest.mark.parametrize("name", SOURCES)
def test_each_source_fills_the_ledger_with_that_days_models(name, request, tmp_path):
    expected = models_run_per_day(TODAY)
    per_day = _fill(f"sqlite:///{tmp_path / 'ledger.sqlite'}", _source(name, request), WEEK[-3:])
    assert per_day == {day: expected[day] for day in WEEK[-3:]}


def test_the_chart_is_the_same_from_every_source(request, tmp_path):
    charts = {}
    for name in SOURCES:
        per_day = _fill(f"sqlite:///{tmp_path / f'{name}.sqlite'}", _source(name, request), WEEK)
        charts[name] = (per_day, models_per_day_chart(per_day, tmp_path / f"{name}.png").read_bytes())
    data = {name: per_day for name, (per_day, _) in charts.items()}
    assert len({json.dumps(sorted((d.isoformat(), n) for d, n in v.items())) for v in data.values()}) == 1
    assert len({png for _, png in charts.values()}) == 1, "the drawn PNGs differ between sources"
    assert data["files"] == {day: models_run_per_day(TODAY)[day] for day in WEEK}


def _job_config(name: str, request: pytest.FixtureRequest, monkeypatch) -> dict[str, Any]:
    if name == "files":
        op = {"source": "files", "location": str(request.getfixturevalue("history_dir"))}
    elif name == "s3":
        for key, value in request.getfixturevalue("s3_env").items():
            monkeypatch.setenv(key, value)
        op = {"source": "files", "location": f"s3://{BUCKET}/dbt/runs/"}
    elif name == "dbt_cloud":
        server = request.getfixturevalue("dbt_cloud")
        for key, value in server.emulator.env(server.base_url).items():
            monkeypatch.setenv(key, value)
        op = {"source": "dbt_cloud"}
    else:
        op = {"source": "dagster"}
    return {"ops": {"ingest_run_history": {"config": op}}}


@pytest.mark.parametrize("name", SOURCES)
def test_a_backfill_of_the_job_fills_the_ledger_from_each_source(name, request, monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    monkeypatch.setenv("METAPIPELINE_DATABASE_URL", url)
    monkeypatch.delenv("DBT_RUN_RESULTS_DIR", raising=False)
    config = _job_config(name, request, monkeypatch)
    job = dbt_run_history_job()
    if name == "dagster":
        instance = request.getfixturevalue("dagster_instance")
        results = [
            job.execute_in_process(run_config=config, instance=instance, partition_key=day.isoformat())
            for day in WEEK
        ]
    else:
        with instance_for_test() as instance:
            results = [
                job.execute_in_process(run_config=config, instance=instance, partition_key=day.isoformat())
                for day in WEEK
            ]
    assert all(result.success for result in results)
    expected = models_run_per_day(TODAY)
    with closing(Ledger(url)) as ledger:
        assert ledger.models_run_per_day() == {day: expected[day] for day in WEEK}


def test_the_source_comes_from_the_environment_and_a_wrong_one_says_which_exist(monkeypatch, tmp_path):
    monkeypatch.setenv("METAPIPELINE_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    monkeypatch.setenv("METAPIPELINE_RUN_HISTORY_SOURCE", "snowflake")
    with instance_for_test() as instance:
        result = dbt_run_history_job().execute_in_process(
            instance=instance, partition_key=TODAY.isoformat(), raise_on_error=False
        )
    assert not result.success
    failure = result.failure_data_for_node("ingest_run_history")
    assert failure is not None
    assert "set it to one of files, dagster, dbt_cloud" in str(failure.error)


def test_a_malformed_artifact_names_the_file(tmp_path):
    broken = tmp_path / "runs" / "2026-11-22T0200_x"
    broken.mkdir(parents=True)
    (broken / "run_results.json").write_text('{"metadata": {"invocation_id": "x"}, "results": []')
    with pytest.raises(ValueError, match=r"runs/2026-11-22T0200_x/run_results.json is not a dbt run_results"):
        list(RunResultsFiles(str(tmp_path / "runs")).invocations(TODAY))
    (broken / "run_results.json").write_text('{"metadata": {"invocation_id": "x"}, "results": []}')
    with pytest.raises(ValueError, match=r"is not a dbt run_results.json \(KeyError: 'generated_at'\)"):
        list(RunResultsFiles(str(tmp_path / "runs")).invocations(TODAY))


def test_a_missing_bucket_or_folder_says_so(s3_env, tmp_path):
    with pytest.raises(RunHistoryUnavailable, match=r"s3://no-such-bucket/runs does not exist"):
        list(RunResultsFiles("s3://no-such-bucket/runs").invocations(TODAY))
    with pytest.raises(RunHistoryUnavailable, match=r"nowhere does not exist .*DBT_RUN_RESULTS_DIR"):
        list(RunResultsFiles(str(tmp_path / "nowhere")).invocations(TODAY))


def test_dbt_cloud_errors_say_what_to_fix(dbt_cloud):
    env = dbt_cloud.emulator.env(dbt_cloud.base_url)
    account, url = int(env["DBT_CLOUD_ACCOUNT_ID"]), env["DBT_CLOUD_ACCESS_URL"]
    with pytest.raises(
        RunHistoryUnavailable, match=r"refused the token .*\(401: Invalid token.\).*DBT_CLOUD_TOKEN"
    ):
        list(DbtCloudRuns(account, "wrong", access_url=url).invocations(TODAY))
    with pytest.raises(RunHistoryUnavailable, match=r"404: Account 1 not found.*DBT_CLOUD_ACCOUNT_ID"):
        list(DbtCloudRuns(1, env["DBT_CLOUD_TOKEN"], access_url=url).invocations(TODAY))


def test_dbt_cloud_runs_of_one_job_only(dbt_cloud):
    env = dbt_cloud.emulator.env(dbt_cloud.base_url)
    runs = DbtCloudRuns(
        int(env["DBT_CLOUD_ACCOUNT_ID"]),
        env["DBT_CLOUD_TOKEN"],
        access_url=env["DBT_CLOUD_ACCESS_URL"],
        job_id=1002,
    )
    commands = {invocation.command for day in WEEK for invocation in runs.invocations(day)}
    assert commands == {"run"}  # the hourly `dbt run` job


@pytest.mark.slow
def test_a_real_dagster_dbt_build_is_read_back_from_the_event_log(tmp_path, dbt_parse, monkeypatch):
    """What dagster-dbt really records for `dbt build` is what DagsterEventLog reads: the same models
    as the build's own run_results.json, under the same invocation id."""
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb"))
    dbt_parse(project)
    monkeypatch.setenv("DBT_PROFILES_DIR", str(project))

    @dbt_assets(manifest=project / "target" / "manifest.json")
    def freshcart(context, dbt: DbtCliResource):
        yield from dbt.cli(["build"], context=context).stream()

    dbt = DbtCliResource(project_dir=str(project), dbt_executable=str(Path(sys.executable).parent / "dbt"))
    with instance_for_test() as instance:
        started = datetime.now(UTC)
        result = materialize([freshcart], resources={"dbt": dbt}, instance=instance, raise_on_error=False)
        (from_events,) = DagsterEventLog(instance).invocations(started.date())
    built = {i.invocation_id: i for i in RunResultsFiles(str(project / "target")).invocations()}
    from_files = built[from_events.invocation_id]
    assert models_run(from_events.runs) == models_run(from_files.runs)
    assert len(models_run(from_events.runs)) > 20
    assert result.success or any(r.status == "error" for r in from_files.runs)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["s3", "dbt_cloud", "dagster"])
def test_a_cli_backfill_reads_the_source_the_environment_names(name, request, tmp_path):
    """`dagster job backfill` as the README shows it, with only the environment choosing the source:
    the runs are launched in their own processes, which reach S3 or dbt Cloud over loopback."""
    days = WEEK[-3:]
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "telemetry: {enabled: false}\n"
        "run_coordinator: {module: dagster.core.run_coordinator, class: DefaultRunCoordinator}\n"
    )
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    env = {**os.environ, "DAGSTER_HOME": str(home), "METAPIPELINE_DATABASE_URL": url}
    env.pop("DBT_RUN_RESULTS_DIR", None)
    if name == "s3":
        env |= request.getfixturevalue("s3_env") | {"DBT_RUN_RESULTS_DIR": f"s3://{BUCKET}/dbt/runs"}
    elif name == "dbt_cloud":
        server = request.getfixturevalue("dbt_cloud")
        env |= server.emulator.env(server.base_url) | {"METAPIPELINE_RUN_HISTORY_SOURCE": "dbt_cloud"}
    else:
        env["METAPIPELINE_RUN_HISTORY_SOURCE"] = "dagster"
        with DagsterInstance.from_config(str(home)) as instance:
            for document in request.getfixturevalue("documents"):
                if document["metadata"]["invocation_started_at"][:10] in {d.isoformat() for d in days}:
                    record_as_dagster_dbt(instance, document)
    command = [str(Path(sys.executable).parent / "dagster"), "job", "backfill", "-w", "workspace.yaml"]
    command += ["-j", "dbt_run_history", "--from", days[0].isoformat(), "--to", days[-1].isoformat()]
    done = subprocess.run(
        [*command, "--noprompt"], cwd=REPO, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout + done.stderr
    with DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        failures = [
            event.message
            for run in runs
            for event in instance.all_logs(run.run_id)
            if event.dagster_event and event.dagster_event.is_step_failure
        ]
        assert {run.status for run in runs} == {DagsterRunStatus.SUCCESS}, failures
        assert len(runs) == len(days)
    expected = models_run_per_day(TODAY)
    with closing(Ledger(url)) as ledger:
        assert ledger.models_run_per_day() == {day: expected[day] for day in days}

"""The dbt Cloud emulator answers like dbt Cloud's Administrative API v2: dagster-dbt's own dbt Cloud
client reads it, and it refuses what dbt Cloud refuses."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
import requests
from dagster_dbt.cloud_v2.client import DbtCloudWorkspaceClient

from metapipeline.dbt.history.dbt_cloud import DbtCloudRuns
from metapipeline.sandbox.dbt_cloud_emulator import ENVIRONMENT_ID, PROJECT_ID, DbtCloudEmulator, job_run
from metapipeline.sandbox.faults import FaultSettings
from metapipeline.sandbox.harness import EmulatorServer
from metapipeline.sandbox.sample.run_history import write_run_history

TODAY = date(2026, 11, 23)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    history = tmp_path_factory.mktemp("history")
    write_run_history(history, TODAY)
    server = EmulatorServer(DbtCloudEmulator.from_history_dir(history))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def env(server):
    return server.emulator.env(server.base_url)


def _runs_url(env):
    return f"{env['DBT_CLOUD_ACCESS_URL']}/api/v2/accounts/{env['DBT_CLOUD_ACCOUNT_ID']}/runs/"


def test_dagster_dbts_client_lists_runs_and_reads_their_run_results(env):
    client = DbtCloudWorkspaceClient(
        account_id=int(env["DBT_CLOUD_ACCOUNT_ID"]),
        token=env["DBT_CLOUD_TOKEN"],
        access_url=env["DBT_CLOUD_ACCESS_URL"],
        request_max_retries=0,
        request_retry_delay=0,
        request_timeout=10,
    )
    day = datetime(2026, 11, 20, tzinfo=UTC)
    runs, total = client.get_runs_batch(PROJECT_ID, ENVIRONMENT_ID, day, day + timedelta(days=1))
    assert total == len(runs) > 5
    finished = [run for run in runs if run["status"] == 10]
    results = client.get_run_results_json(finished[0]["id"])
    assert results["metadata"]["dbt_schema_version"].endswith("run-results/v6.json")


def test_auth_accounts_and_parameters_are_checked(env):
    url, token = _runs_url(env), {"Authorization": f"Token {env['DBT_CLOUD_TOKEN']}"}
    missing = requests.get(url, timeout=5)
    assert missing.status_code == 401
    assert missing.json()["status"]["user_message"] == "Authentication credentials were not provided."
    assert requests.get(url, headers={"Authorization": "Token nope"}, timeout=5).status_code == 401
    other_account = url.replace(f"/accounts/{env['DBT_CLOUD_ACCOUNT_ID']}/", "/accounts/1/")
    assert requests.get(other_account, headers=token, timeout=5).status_code == 404
    for bad in ({"limit": 101}, {"offset": -1}, {"limit": "x"}, {"sort": "id"}, {"order_by": "name"}):
        assert requests.get(url, headers=token, params=bad, timeout=5).status_code == 400, bad
    naive = {"finished_at__range": '["2026-11-20T00:00:00", "2026-11-21T00:00:00"]'}
    assert requests.get(url, headers=token, params=naive, timeout=5).status_code == 400
    page = requests.get(url, headers=token, params={"limit": 2, "offset": 3}, timeout=5).json()
    assert len(page["data"]) == 2 and page["extra"]["pagination"]["total_count"] > 100


def test_a_run_that_failed_before_dbt_has_no_artifact_and_is_skipped(env, server):
    (failed,) = [run for run in server.emulator.runs.values() if run.steps[-1].run_results is None]
    url = f"{_runs_url(env)}{failed.id}/artifacts/run_results.json"
    headers = {"Authorization": f"Token {env['DBT_CLOUD_TOKEN']}"}
    assert requests.get(url, headers=headers, timeout=5).status_code == 404
    runs = DbtCloudRuns(
        int(env["DBT_CLOUD_ACCOUNT_ID"]), env["DBT_CLOUD_TOKEN"], access_url=env["DBT_CLOUD_ACCESS_URL"]
    )
    assert list(runs.invocations(failed.created_at.date()))  # the day's other runs still count


def test_small_pages_and_server_errors_give_the_same_invocations(env, server):
    def read(**options):
        runs = DbtCloudRuns(
            int(env["DBT_CLOUD_ACCOUNT_ID"]),
            env["DBT_CLOUD_TOKEN"],
            access_url=env["DBT_CLOUD_ACCESS_URL"],
            **options,
        )
        return sorted(i.invocation_id for i in runs.invocations(TODAY - timedelta(days=2)))

    expected = read()
    server.faults.configure(FaultSettings(rate_5xx=0.2, rate_429=0.1, retry_after_s=0, seed=7))
    try:
        assert read(page_size=3, retries=8) == expected
    finally:
        server.faults.configure(FaultSettings())
    assert server.stats().get("fault_5xx", 0) + server.stats().get("fault_429", 0) > 0


def test_every_dbt_step_of_a_run_counts(tmp_path):
    """A job of `dbt run` then `dbt build --select ...` in one run: both invocations, as the files give."""
    history = tmp_path / "history"
    write_run_history(history, TODAY)
    day = TODAY - timedelta(days=3)  # a Friday: the nightly build, hourly runs, the finance build
    documents = [
        json.loads(path.read_text()) for path in sorted(history.glob(f"{day.isoformat()}T*/run_results.json"))
    ]
    assert len(documents) >= 2
    server = EmulatorServer(DbtCloudEmulator([replace(job_run(documents), id=7)]))
    server.start()
    try:
        env = server.emulator.env(server.base_url)
        runs = DbtCloudRuns(
            int(env["DBT_CLOUD_ACCOUNT_ID"]), env["DBT_CLOUD_TOKEN"], access_url=env["DBT_CLOUD_ACCESS_URL"]
        )
        from_cloud = sorted(i.invocation_id for i in runs.invocations(day))
    finally:
        server.stop()
    assert from_cloud == sorted(d["metadata"]["invocation_id"] for d in documents)

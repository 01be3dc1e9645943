"""A failed run is posted to Slack once, through the emulator."""

from __future__ import annotations

from dagster import DagsterEventType, build_run_status_sensor_context, instance_for_test

from metapipeline.definitions import dbt_run_history_job
from metapipeline.orchestration.alerts import slack_on_run_failure
from metapipeline.orchestration.resources import LedgerResource, SlackResource
from metapipeline.sandbox.harness import EmulatorServer
from metapipeline.sandbox.slack_emulator import SlackEmulator


def test_a_failed_run_is_posted_once(tmp_path, monkeypatch):
    monkeypatch.delenv("DBT_RUN_RESULTS_DIR", raising=False)
    monkeypatch.delenv("DBT_PROJECT_DIR", raising=False)  # so the run fails, saying what is missing
    monkeypatch.setenv("METAPIPELINE_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    server = EmulatorServer(SlackEmulator(tmp_path / "slack"))
    server.start()
    try:
        env = server.emulator.env(server.base_url)
        resources = {
            "slack": SlackResource(
                token=env["SLACK_BOT_TOKEN"], channel=env["SLACK_CHANNEL"], api_url=env["SLACK_API_URL"]
            ),
            "ledger": LedgerResource(),
        }
        with instance_for_test() as instance:
            result = dbt_run_history_job().execute_in_process(
                instance=instance, partition_key="2026-11-20", raise_on_error=False
            )
            assert not result.success
            failure = next(e for e in result.all_events if e.event_type == DagsterEventType.RUN_FAILURE)
            for _ in range(2):  # the sensor may see the same failure twice
                context = build_run_status_sensor_context(
                    sensor_name="slack_on_run_failure",
                    dagster_instance=instance,
                    dagster_run=result.dagster_run,
                    dagster_event=failure,
                    resources=resources,
                ).for_run_failure()
                slack_on_run_failure(context)
        (message,) = server.emulator.messages()
        assert "*dbt_run_history*" in message["text"] and "partition 2026-11-20" in message["text"]
        assert "failed" in message["text"]
    finally:
        server.stop()

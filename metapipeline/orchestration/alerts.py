"""Alerts: a failed run of any metapipeline job is posted to Slack, once."""

from contextlib import closing

from dagster import DefaultSensorStatus, RunFailureSensorContext, run_failure_sensor

from metapipeline.actions.slack import escape_mrkdwn
from metapipeline.orchestration.resources import LedgerResource, SlackResource


@run_failure_sensor(default_status=DefaultSensorStatus.RUNNING, description="Post failed runs to Slack")
def slack_on_run_failure(
    context: RunFailureSensorContext, slack: SlackResource, ledger: LedgerResource
) -> None:
    run = context.dagster_run
    error = context.failure_event.message or "no message"
    partition = run.tags.get("dagster/partition")
    text = (
        f":red_circle: *{escape_mrkdwn(run.job_name)}* run `{run.run_id[:8]}`"
        f"{f' (partition {escape_mrkdwn(partition)})' if partition else ''} failed: {escape_mrkdwn(error[:500])}"
    )
    with closing(ledger.open()) as store:
        slack.poster().post(f"{run.run_id}:failure", text, [], store)

"""The `dbt_run_history` job: one daily partition ingests that day's dbt node runs into the ledger, from
run_results.json files (a folder or object-storage prefix), Dagster's event log or dbt Cloud."""

import os
from contextlib import closing
from datetime import date

from dagster import (
    Config,
    DagsterInstance,
    DailyPartitionsDefinition,
    DefaultScheduleStatus,
    Failure,
    MetadataValue,
    OpExecutionContext,
    Output,
    build_schedule_from_partitioned_job,
    in_process_executor,
    job,
    op,
)
from pydantic import Field

from metapipeline.dbt.history import RunHistorySource
from metapipeline.dbt.history.dbt_cloud import DEFAULT_ACCESS_URL, DbtCloudRuns
from metapipeline.dbt.history.files import RunResultsFiles
from metapipeline.dbt.run_history import RunHistoryUnavailable, models_run
from metapipeline.orchestration.dbt_event_history import DagsterEventLog
from metapipeline.orchestration.policies import kind
from metapipeline.orchestration.resources import LedgerResource

daily = DailyPartitionsDefinition(start_date="2025-01-01", timezone="UTC")


HISTORY_SOURCES = ("files", "dagster", "dbt_cloud")


class RunHistoryConfig(Config):
    source: str | None = Field(
        default=None,
        description="Where dbt run history is kept: `files` (run_results.json files under `location`), "
        "`dagster` (this instance's dagster-dbt materializations) or `dbt_cloud` (a dbt Cloud account's "
        "runs). Default: $METAPIPELINE_RUN_HISTORY_SOURCE, else files",
    )
    location: str | None = Field(
        default=None,
        description="files: a folder (searched recursively), glob or object-storage prefix of "
        "run_results.json files: a path, s3://bucket/prefix, gs://bucket/prefix. "
        "Default: $DBT_RUN_RESULTS_DIR, else $DBT_PROJECT_DIR/target",
    )
    dbt_cloud_account_id: int | None = Field(
        default=None, description="dbt_cloud: the account id. Default: $DBT_CLOUD_ACCOUNT_ID"
    )
    dbt_cloud_job_id: int | None = Field(
        default=None,
        description="dbt_cloud: only this job's runs. Default: $DBT_CLOUD_JOB_ID, else every job",
    )
    dbt_cloud_access_url: str | None = Field(
        default=None,
        description=f"dbt_cloud: the account's access URL. Default: $DBT_CLOUD_ACCESS_URL, else {DEFAULT_ACCESS_URL}",
    )

    def resolved_source(self) -> str:
        if self.source:
            source, where = self.source, "the op's `source`"
        else:
            source = os.environ.get("METAPIPELINE_RUN_HISTORY_SOURCE") or "files"
            where = "METAPIPELINE_RUN_HISTORY_SOURCE"
        if source not in HISTORY_SOURCES:
            raise Failure(f"{where} is {source!r}; set it to one of {', '.join(HISTORY_SOURCES)}")
        return source

    def resolved_location(self) -> str:
        if self.location:
            return self.location
        if os.environ.get("DBT_RUN_RESULTS_DIR"):
            return os.environ["DBT_RUN_RESULTS_DIR"]
        if os.environ.get("DBT_PROJECT_DIR"):
            return os.path.join(os.environ["DBT_PROJECT_DIR"], "target")
        raise Failure("No dbt run history configured: set DBT_RUN_RESULTS_DIR or the op's `location`.")

    def history_source(self, instance: DagsterInstance) -> RunHistorySource:
        source = self.resolved_source()
        try:
            if source == "dagster":
                return DagsterEventLog(instance)
            if source == "dbt_cloud":
                return self._dbt_cloud()
            return RunResultsFiles(self.resolved_location())
        except RunHistoryUnavailable as exc:
            raise Failure(str(exc)) from None

    def _dbt_cloud(self) -> DbtCloudRuns:
        account = self.dbt_cloud_account_id or _int_env("DBT_CLOUD_ACCOUNT_ID")
        token = os.environ.get("DBT_CLOUD_TOKEN")
        if account is None or not token:
            raise Failure(
                "The dbt_cloud run history needs DBT_CLOUD_ACCOUNT_ID (or the op's `dbt_cloud_account_id`) "
                "and DBT_CLOUD_TOKEN (a service token with the Job Viewer permission)."
            )
        job = self.dbt_cloud_job_id if self.dbt_cloud_job_id is not None else _int_env("DBT_CLOUD_JOB_ID")
        access_url = self.dbt_cloud_access_url or os.environ.get("DBT_CLOUD_ACCESS_URL") or DEFAULT_ACCESS_URL
        return DbtCloudRuns(account, token, access_url=access_url, job_id=job)


def _int_env(name: str) -> int | None:
    text = os.environ.get(name)
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise Failure(f"{name} must be a number, not {text!r}") from None


@op(tags=kind("dbt"))
def ingest_run_history(
    context: OpExecutionContext, config: RunHistoryConfig, ledger: LedgerResource
) -> Output[int]:
    """Store the node runs of every dbt invocation that started on this partition's day."""
    day = date.fromisoformat(context.partition_key)
    source = config.history_source(context.instance)
    try:
        invocations = list(source.invocations(day))
    except (RunHistoryUnavailable, ValueError) as exc:
        raise Failure(str(exc)) from None
    runs = [run for invocation in invocations for run in invocation.runs]
    with closing(ledger.open()) as store:
        added = store.record_node_runs(runs)
        per_day = store.models_run_per_day(start=day, end=day)
    context.log.info(
        f"{day}: {len(invocations)} dbt invocations, {added} new node runs, from {source.describe()}"
    )
    return Output(
        added,
        metadata={
            "source": MetadataValue.text(source.describe()),
            "invocations": MetadataValue.int(len(invocations)),
            "node runs added": MetadataValue.int(added),
            "models run that day": MetadataValue.int(per_day.get(day, len(models_run(runs)))),
        },
    )


@job(partitions_def=daily, executor_def=in_process_executor, tags={"metapipeline/job": "dbt_run_history"})
def dbt_run_history() -> None:
    ingest_run_history()


# Read-only and idempotent: safe to run by default once the daemon runs.
dbt_run_history_schedule = build_schedule_from_partitioned_job(
    dbt_run_history, hour_of_day=5, default_status=DefaultScheduleStatus.RUNNING
)

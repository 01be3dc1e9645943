"""The `dbt_run_history` job: one daily partition ingests that day's dbt run_results into the ledger."""

import os
from contextlib import closing
from datetime import date

from dagster import (
    Config,
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

from metapipeline.dbt.run_history import models_run, read_invocations
from metapipeline.orchestration.policies import kind
from metapipeline.orchestration.resources import LedgerResource

daily = DailyPartitionsDefinition(start_date="2025-01-01", timezone="UTC")


class RunHistoryConfig(Config):
    location: str | None = Field(
        default=None,
        description="A folder (searched recursively) or glob of run_results.json files. "
        "Default: $DBT_RUN_RESULTS_DIR, else $DBT_PROJECT_DIR/target",
    )

    def resolved_location(self) -> str:
        if self.location:
            return self.location
        if os.environ.get("DBT_RUN_RESULTS_DIR"):
            return os.environ["DBT_RUN_RESULTS_DIR"]
        if os.environ.get("DBT_PROJECT_DIR"):
            return os.path.join(os.environ["DBT_PROJECT_DIR"], "target")
        raise Failure("No dbt run history configured: set DBT_RUN_RESULTS_DIR or the op's `location`.")


@op(tags=kind("dbt"))
def ingest_run_history(
    context: OpExecutionContext, config: RunHistoryConfig, ledger: LedgerResource
) -> Output[int]:
    """Store the node runs of every dbt invocation that started on this partition's day."""
    day = date.fromisoformat(context.partition_key)
    location = config.resolved_location()
    invocations = list(read_invocations(location, day=day))
    runs = [run for invocation in invocations for run in invocation.runs]
    with closing(ledger.open()) as store:
        added = store.record_node_runs(runs)
        per_day = store.models_run_per_day(start=day, end=day)
    context.log.info(f"{day}: {len(invocations)} dbt invocations, {added} new node runs, from {location}")
    return Output(
        added,
        metadata={
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

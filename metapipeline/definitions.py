"""The Dagster code location that workspace.yaml loads."""

from dagster import Definitions, JobDefinition

from metapipeline.orchestration.alerts import slack_on_run_failure
from metapipeline.orchestration.jobs import metapipeline, metapipeline_schedule
from metapipeline.orchestration.resources import default_resources
from metapipeline.orchestration.run_history_job import dbt_run_history, dbt_run_history_schedule

defs = Definitions(
    jobs=[metapipeline, dbt_run_history],
    schedules=[metapipeline_schedule, dbt_run_history_schedule],
    sensors=[slack_on_run_failure],
    resources=default_resources(),
)


def metapipeline_job() -> JobDefinition:
    """The job with its resources bound: what `execute_job(reconstructable(...))` needs."""
    return defs.resolve_job_def("metapipeline")


def dbt_run_history_job() -> JobDefinition:
    return defs.resolve_job_def("dbt_run_history")

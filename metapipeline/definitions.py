"""The Dagster code location that workspace.yaml loads."""

import os

from dagster import Definitions, JobDefinition, get_dagster_logger
from dagster._core.definitions.definitions_load_context import (  # not exported by dagster
    DefinitionsLoadContext,
    DefinitionsLoadType,
)

from metapipeline.orchestration.alerts import slack_on_run_failure
from metapipeline.orchestration.jobs import metapipeline, metapipeline_schedule
from metapipeline.orchestration.mode_assets import mode_asset_definitions
from metapipeline.orchestration.resources import default_resources
from metapipeline.orchestration.run_history_job import dbt_run_history, dbt_run_history_schedule

DBT_ASSETS_VARIABLE = "METAPIPELINE_DBT_ASSETS"


def _include_dbt_models() -> bool:
    """False when METAPIPELINE_DBT_ASSETS=skip: the user's own dagster-dbt assets are loaded beside
    this location, the Mode assets depend on their keys, and no dbt model is defined twice."""
    choice = os.environ.get(DBT_ASSETS_VARIABLE, "external")
    if choice not in {"external", "skip"}:
        raise ValueError(f"{DBT_ASSETS_VARIABLE} is {choice!r}: expected 'external' or 'skip'")
    return choice == "external"


def _mode_assets() -> Definitions:
    """The Mode (and dbt) external assets, built only where Dagster shows them: the code server's
    and `dagster definitions validate`'s load (INITIALIZATION). Run workers, step workers and
    dagstermill's kernel reconstruct this module (RECONSTRUCTION) to run the ops job, which no
    external asset belongs to; building the specs there cost each of them the whole load again
    (45 s on the large synthetic platform)."""
    if DefinitionsLoadContext.get().load_type == DefinitionsLoadType.RECONSTRUCTION:
        get_dagster_logger().debug("Mode asset specs not built: a run or step reconstructs the ops job")
        return Definitions()
    # Mode content (and dbt nodes) as external assets, from the newest run's files: no API call.
    return mode_asset_definitions(include_dbt_models=_include_dbt_models())


defs = Definitions.merge(
    Definitions(
        jobs=[metapipeline, dbt_run_history],
        schedules=[metapipeline_schedule, dbt_run_history_schedule],
        sensors=[slack_on_run_failure],
        resources=default_resources(),
    ),
    _mode_assets(),
)


def metapipeline_job() -> JobDefinition:
    """The job with its resources bound: what `execute_job(reconstructable(...))` needs."""
    return defs.resolve_job_def("metapipeline")


def dbt_run_history_job() -> JobDefinition:
    return defs.resolve_job_def("dbt_run_history")

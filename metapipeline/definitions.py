"""The Dagster code location that workspace.yaml loads."""

from dagster import Definitions, JobDefinition

from metapipeline.orchestration.jobs import metapipeline
from metapipeline.orchestration.resources import default_resources

defs = Definitions(jobs=[metapipeline], resources=default_resources())


def metapipeline_job() -> JobDefinition:
    """The job with its resources bound: what `execute_job(reconstructable(...))` needs."""
    return defs.resolve_job_def("metapipeline")

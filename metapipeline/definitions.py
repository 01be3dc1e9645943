"""The Dagster code location that workspace.yaml loads."""

from dagster import Definitions

from metapipeline.orchestration.jobs import metapipeline
from metapipeline.orchestration.resources import resources_from_environment

defs = Definitions(jobs=[metapipeline], resources=resources_from_environment())

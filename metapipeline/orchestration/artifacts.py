"""Where a run's files go: beside its other storage in DAGSTER_HOME, one directory per run."""

from pathlib import Path

from dagster import OpExecutionContext


def run_artifacts(context: OpExecutionContext, name: str) -> Path:
    directory = Path(context.instance.storage_directory()) / context.run_id / name
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def run_file(context: OpExecutionContext, relative: str) -> Path:
    """A file among the run's files (metapipeline.run_files names those read back offline)."""
    path = Path(context.instance.storage_directory()) / context.run_id / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    return path

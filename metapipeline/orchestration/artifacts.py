"""Where a run's files go: beside its other storage in DAGSTER_HOME, one directory per run."""

from pathlib import Path

from dagster import DagsterEventType, DagsterInstance, NotebookMetadataValue, OpExecutionContext


def run_artifacts(context: OpExecutionContext, name: str) -> Path:
    directory = Path(context.instance.storage_directory()) / context.run_id / name
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def run_file(context: OpExecutionContext, relative: str) -> Path:
    """A file among the run's files (metapipeline.run_files names those read back offline)."""
    path = Path(context.instance.storage_directory()) / context.run_id / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def executed_notebook(instance: DagsterInstance, run_id: str) -> Path | None:
    """The notebook dagstermill saved, as the run's materialization records it."""
    for record in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
        materialization = record.asset_materialization
        for value in (materialization.metadata if materialization else {}).values():
            if isinstance(value, NotebookMetadataValue):
                return Path(value.path)
    return None

"""`make demo`: one real Dagster run of the metapipeline job, stored in DAGSTER_HOME, then a summary."""

from __future__ import annotations

import os
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from dagster import DagsterEventType, DagsterInstance, NotebookMetadataValue, execute_job, reconstructable

from metapipeline.dbt.run_history import read_invocations
from metapipeline.definitions import metapipeline_job
from metapipeline.store.ledger import Ledger, database_url

DEMO_RUN_CONFIG: dict[str, Any] = {
    "execution": {"config": {"in_process": {}}},
    "loggers": {"console": {"config": {"log_level": "INFO"}}},  # progress, not Dagster's debug events
}


def _executed_notebook(instance: DagsterInstance, run_id: str) -> Path | None:
    """The notebook dagstermill saved, as the run's materialization records it."""
    for record in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
        materialization = record.asset_materialization
        for value in (materialization.metadata if materialization else {}).values():
            if isinstance(value, NotebookMetadataValue):
                return Path(value.path)
    return None


def load_run_history() -> int:
    """The sample's dbt run history into the ledger: what the daily `dbt_run_history` job does over time."""
    location = os.environ["DBT_RUN_RESULTS_DIR"]
    with closing(Ledger(database_url())) as store:
        return store.record_node_runs(run for found in read_invocations(location) for run in found.runs)


def run_demo(sandbox_dir: Path) -> int:
    instance = DagsterInstance.get()
    print(f"dbt run history: {load_run_history()} new node runs in the ledger")
    started = time.monotonic()
    with execute_job(
        reconstructable(metapipeline_job), instance=instance, run_config=DEMO_RUN_CONFIG
    ) as result:
        elapsed = time.monotonic() - started
        if not result.success:
            failures = [e.message or e.event_type_value for e in result.all_events if e.is_failure]
            print("The metapipeline run failed:\n  " + "\n  ".join(failures))
            return 1
        summary = result.output_for_node("summarize")
        print()
        print(f"metapipeline demo: run {result.run_id} succeeded in {elapsed:.1f} s")
        width = max(len(key) for key in summary)
        for key, value in summary.items():
            print(f"  {key:<{width}}  {value}")
        lifecycle = result.output_for_node("mode", "lifecycle")
        for action in lifecycle.done:
            print(f"  {action.action:>8} {action.report_token}  {action.report_name}: {action.reason}")
        storage = Path(instance.storage_directory()) / result.run_id
        slack = sandbox_dir.resolve() / "slack"
        paths = {
            "plan": storage / "plan" / "plan.md",
            "platform graph": storage / "platform" / "platform.graphml",
            "executed notebook": _executed_notebook(instance, result.run_id),
            "slack messages": slack / "messages.jsonl",
            **{f"chart ({Path(chart).stem})": Path(chart) for chart in result.output_for_node("report")},
            "slack uploads": slack / "files",
            "github repository": sandbox_dir.resolve() / "github" / "analytics.git",
        }
        for name, path in paths.items():
            print(f"  {name:<{width}}  {path}")
        print(f"  {'dagster home':<{width}}  {instance.root_directory}")
        print("See the run in the UI with `make dev`; a PR's change with")
        print(f"  git -C {paths['github repository']} diff main metapipeline/remove-unused-models")
    return 0

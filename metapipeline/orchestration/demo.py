"""`make demo`: one real Dagster run of the metapipeline job, stored in DAGSTER_HOME, then a summary."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from dagster import DagsterInstance, execute_job, reconstructable

from metapipeline.definitions import metapipeline_job

DEMO_RUN_CONFIG: dict[str, Any] = {
    "execution": {"config": {"in_process": {}}},
    "loggers": {"console": {"config": {"log_level": "INFO"}}},  # progress, not Dagster's debug events
}


def run_demo(sandbox_dir: Path) -> int:
    instance = DagsterInstance.get()
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
        print(f"  {'dagster home':<{width}}  {instance.root_directory}")
        print(f"  {'sandbox data':<{width}}  {sandbox_dir.resolve()}")
        print("See the run in the UI with `make dev`.")
    return 0

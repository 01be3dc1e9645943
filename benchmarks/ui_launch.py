"""A launch from the Dagster UI against `make demo`, on the FreshCart sample, in one benchmark run.

The baseline is `make demo`'s job time: `metapipeline demo` in a fresh DAGSTER_HOME and sandbox, its
run's start to end as the instance recorded it (the demo's process has already imported everything).
The UI launch is `metapipeline dev` (what `make dev` runs) in another fresh DAGSTER_HOME and sandbox:
the Launchpad's mutation with no run config, timed from the submit until the run ended, so it counts
what a UI user waits for: the queue, the daemon launching a run worker, its imports, every step.
With `--multiprocess` a third fresh setup launches with the multiprocess executor, the executor a
launch used before the job ran in process by default.

Target: the UI launch within 1.3x of the demo's job time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from metapipeline.sandbox.dev_ui import launch_and_wait, running_dev_ui

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TARGET_RATIO = 1.3
MULTIPROCESS: dict[str, Any] = {"execution": {"config": {"multiprocess": {}}}}


def _fresh_home(root: Path) -> dict[str, str]:
    """A DAGSTER_HOME with the repository's dagster.yaml, and the ledger inside it."""
    home = root / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    env.pop("METAPIPELINE_DATABASE_URL", None)
    return env


def _recorded_job_seconds(home: str) -> float:
    with DagsterInstance.from_config(home) as instance:
        [record] = instance.get_run_records(RunsFilter(job_name="metapipeline"))
        if record.dagster_run.status != DagsterRunStatus.SUCCESS:
            raise SystemExit(f"the metapipeline run in {home} ended {record.dagster_run.status.value}")
        assert record.start_time is not None and record.end_time is not None
        return record.end_time - record.start_time


def demo_job_seconds(root: Path) -> tuple[float, float]:
    """(the demo run's job time, the whole `metapipeline demo` command's time)."""
    env = _fresh_home(root)
    started = time.monotonic()
    demo = subprocess.run(
        [str(BIN / "metapipeline"), "demo", "--data-dir", str(root / "sandbox")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    command = time.monotonic() - started
    if demo.returncode != 0:
        raise SystemExit(f"metapipeline demo failed:\n{demo.stdout[-3000:]}\n{demo.stderr[-3000:]}")
    return _recorded_job_seconds(env["DAGSTER_HOME"]), command


def ui_launch_seconds(root: Path, run_config: dict[str, Any] | None = None) -> tuple[float, float]:
    """(submit to the run's end, the run's own start to end): a Launchpad click and its wait."""
    env = _fresh_home(root)
    with running_dev_ui(env, root / "sandbox", REPO) as port:
        submitted = time.monotonic()
        status = launch_and_wait(port, run_config, timeout=3600)
        waited = time.monotonic() - submitted
    if status != "SUCCESS":
        raise SystemExit(f"the UI launch ended {status} (see the run in {env['DAGSTER_HOME']})")
    return waited, _recorded_job_seconds(env["DAGSTER_HOME"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--multiprocess", action="store_true", help="also launch with the multiprocess executor (minutes)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ui_launch_") as tmp:
        root = Path(tmp)
        demo_job, demo_command = demo_job_seconds(root / "demo")
        print(
            f"make demo:          job {demo_job:6.1f} s   (the whole command {demo_command:.1f} s)",
            flush=True,
        )
        waited, job = ui_launch_seconds(root / "ui")
        ratio = waited / demo_job
        verdict = "PASS" if ratio <= TARGET_RATIO else "FAIL"
        print(
            f"UI launch, default: waited {waited:6.1f} s (run start to end {job:.1f} s) "
            f"= {ratio:.2f}x the demo's job time ({verdict}: <= {TARGET_RATIO}x)",
            flush=True,
        )
        if args.multiprocess:
            waited, job = ui_launch_seconds(root / "multiprocess", MULTIPROCESS)
            print(
                f"UI launch, multiprocess: waited {waited:6.1f} s (run start to end {job:.1f} s) "
                f"= {waited / demo_job:.2f}x the demo's job time",
                flush=True,
            )


if __name__ == "__main__":
    main()

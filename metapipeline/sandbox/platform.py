"""The sample platform behind `metapipeline sandbox|demo|dev`: files on disk plus running emulators."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from datetime import UTC, datetime, time
from pathlib import Path

from metapipeline.sandbox.faults import FaultSettings
from metapipeline.sandbox.github_emulator import GitHubEmulator
from metapipeline.sandbox.harness import Sandbox
from metapipeline.sandbox.mode_emulator import ModeEmulator
from metapipeline.sandbox.sample import DBT_PROJECT_DIR, materialize_workspace
from metapipeline.sandbox.sample.run_history import write_run_history
from metapipeline.sandbox.slack_emulator import SlackEmulator

_DBT_BUILD_OUTPUTS = ("target", "logs", "dbt_packages", "*.duckdb")


def prepare_sample_files(data_dir: Path, now: datetime) -> dict[str, str]:
    """Copy the dbt project and write the run history into `data_dir`; return their env vars."""
    project_dir = data_dir / "dbt_project"
    if not project_dir.exists():
        shutil.copytree(DBT_PROJECT_DIR, project_dir, ignore=shutil.ignore_patterns(*_DBT_BUILD_OUTPUTS))
    history_dir = data_dir / "dbt_run_history"
    write_run_history(history_dir, now.date())
    return {"DBT_PROJECT_DIR": str(project_dir.resolve()), "DBT_RUN_RESULTS_DIR": str(history_dir.resolve())}


def parse_rate_limit(text: str) -> tuple[int, float] | None:
    """'40/10' -> 40 requests per 10 seconds; 'off' -> no limit."""
    if text.lower() in {"off", "none", "0"}:
        return None
    count, _, seconds = text.partition("/")
    return int(count), float(seconds or 1)


def start_sample_sandbox(
    data_dir: Path, *, faults: Sequence[str] = (), mode_rate_limit: str = "40/10", now: datetime | None = None
) -> Sandbox:
    now = now or datetime.now(UTC)
    data_dir.mkdir(parents=True, exist_ok=True)
    files_env = prepare_sample_files(data_dir, now)
    fault_settings = {}
    for spec in faults:
        emulator, _, settings = spec.partition(":")
        fault_settings[emulator] = FaultSettings.parse(settings)
    # Timestamps anchored to midnight stay identical all day, so reruns see unchanged reports.
    anchor = datetime.combine(now.date(), time.min, tzinfo=UTC)
    mode = ModeEmulator(
        materialize_workspace(anchor), rate_limit=parse_rate_limit(mode_rate_limit), data_dir=data_dir
    )
    github = GitHubEmulator(data_dir / "github" / "analytics.git", seed_dir=DBT_PROJECT_DIR)
    slack = SlackEmulator(data_dir)
    sandbox = Sandbox([mode, github, slack], faults=fault_settings, extra_env=files_env)
    sandbox.start()
    return sandbox

"""The platforms behind `metapipeline sandbox|demo|dev`: files on disk plus running emulators.

The FreshCart sample by default; with `--synthetic MODELS:REPORTS:QUERIES` a generated one
(`start_synthetic_sandbox`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time as timer
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from metapipeline.sandbox.dbt_cloud_emulator import DbtCloudEmulator
from metapipeline.sandbox.faults import FaultSettings
from metapipeline.sandbox.github_emulator import GitHubEmulator
from metapipeline.sandbox.harness import Sandbox
from metapipeline.sandbox.mode_emulator import ModeEmulator
from metapipeline.sandbox.sample import DBT_PROJECT_DIR, FINANCE_PROJECT_DIR, materialize_workspace
from metapipeline.sandbox.sample.run_history import write_run_history
from metapipeline.sandbox.sample.warehouse_history import sample_reads
from metapipeline.sandbox.slack_emulator import SlackEmulator
from metapipeline.warehouse.files import write_reads_file

_DBT_BUILD_OUTPUTS = ("target", "logs", "dbt_packages", "*.duckdb")

DBT_PROJECTS_FILE = "dbt_projects.yaml"
# Each project's own repository: the removal pull requests go one per repository.
_DBT_PROJECTS = """\
# dbt projects this platform holds; paths relative to this file
projects:
  - project_dir: dbt_project
    repository: freshcart/analytics
    subdirectory: ""
  - project_dir: finance_project
    repository: freshcart/finance
    subdirectory: ""
"""


def prepare_sample_files(data_dir: Path, now: datetime) -> dict[str, str]:
    """Copy both dbt projects, list them in dbt_projects.yaml, write the dbt run history and the
    warehouse's access history into `data_dir`; return their env vars (DBT_PROJECT_DIR stays for
    single-project setups)."""
    project_dir = _copy_project(DBT_PROJECT_DIR, data_dir / "dbt_project")
    finance_dir = _copy_project(FINANCE_PROJECT_DIR, data_dir / "finance_project")
    # Its local package must be installed before `dbt parse` can resolve the package's macros.
    if not (finance_dir / "dbt_packages" / "finance_utils" / "dbt_project.yml").exists():
        install_dbt_packages(finance_dir)
    projects_file = data_dir / DBT_PROJECTS_FILE
    projects_file.write_text(_DBT_PROJECTS)
    history_dir = data_dir / "dbt_run_history"
    write_run_history(history_dir, now.date())
    # The warehouse's access history as a reads file (the same reads the Snowflake stand-in holds).
    reads_file = write_reads_file(sample_reads(now), data_dir / "warehouse_reads.jsonl")
    return {
        "DBT_PROJECT_DIR": str(project_dir.resolve()),
        "DBT_RUN_RESULTS_DIR": str(history_dir.resolve()),
        "METAPIPELINE_DBT_PROJECTS": str(projects_file.resolve()),
        "METAPIPELINE_WAREHOUSE_USAGE": f"file:{reads_file.resolve()}",
    }


def _copy_project(source: Path, destination: Path) -> Path:
    if not destination.exists():
        shutil.copytree(source, destination, ignore=shutil.ignore_patterns(*_DBT_BUILD_OUTPUTS))
    return destination


def install_dbt_packages(project_dir: Path) -> None:
    """`dbt deps` in a project that holds its own profiles.yml (offline for `local:` packages)."""
    beside = Path(sys.executable).parent / "dbt"  # the dbt of this virtualenv, activated or not
    dbt = str(beside) if beside.exists() else "dbt"
    result = subprocess.run(
        [dbt, "deps", "--quiet", "--project-dir", str(project_dir), "--profiles-dir", str(project_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
    )
    if result.returncode:
        raise RuntimeError(f"`dbt deps` failed in {project_dir}:\n{result.stdout}{result.stderr}")


def sample_github(data_dir: Path, **options: Any) -> GitHubEmulator:
    """The sample's GitHub: one repository per dbt project of dbt_projects.yaml, each seeded with
    its project (`options` go to the emulator: its token, ...)."""
    github = GitHubEmulator(data_dir / "github" / "analytics.git", seed_dir=DBT_PROJECT_DIR, **options)
    github.add_repository(
        "freshcart/finance", data_dir / "github" / "finance.git", seed_dir=FINANCE_PROJECT_DIR
    )
    return github


def parse_rate_limit(text: str) -> tuple[int, float] | None:
    """'40/10' -> 40 requests per 10 seconds; 'off' -> no limit."""
    if text.lower() in {"off", "none", "0"}:
        return None
    count, _, seconds = text.partition("/")
    return int(count), float(seconds or 1)


def _fault_settings(
    faults: Sequence[str], defaults: dict[str, FaultSettings] | None = None
) -> dict[str, FaultSettings]:
    """'mode:latency_ms=25,...' specs over per-emulator defaults (a spec's settings win)."""
    settings = dict(defaults or {})
    for spec in faults:
        emulator, _, text = spec.partition(":")
        parsed = FaultSettings.parse(text).to_dict()  # validates the whole spec
        named = {item.partition("=")[0].strip() for item in text.split(",") if item.strip()}
        settings[emulator] = settings.get(emulator, FaultSettings()).updated({k: parsed[k] for k in named})
    return settings


def start_sample_sandbox(
    data_dir: Path, *, faults: Sequence[str] = (), mode_rate_limit: str = "40/10", now: datetime | None = None
) -> Sandbox:
    now = now or datetime.now(UTC)
    data_dir.mkdir(parents=True, exist_ok=True)
    files_env = prepare_sample_files(data_dir, now)
    fault_settings = _fault_settings(faults)
    # Timestamps anchored to midnight stay identical all day, so reruns see unchanged reports.
    anchor = datetime.combine(now.date(), time.min, tzinfo=UTC)
    mode = ModeEmulator(
        materialize_workspace(anchor), rate_limit=parse_rate_limit(mode_rate_limit), data_dir=data_dir
    )
    github = sample_github(data_dir)
    slack = SlackEmulator(data_dir)
    # The same run history as the files, served as a dbt Cloud account's job runs.
    dbt_cloud = DbtCloudEmulator.from_history_dir(Path(files_env["DBT_RUN_RESULTS_DIR"]))
    sandbox = Sandbox([mode, github, slack, dbt_cloud], faults=fault_settings, extra_env=files_env)
    sandbox.start()
    return sandbox


SYNTHETIC_STAMP = "synthetic.json"


def start_synthetic_sandbox(
    data_dir: Path,
    models: int,
    reports: int,
    queries: int,
    *,
    seed: int = 0,
    faults: Sequence[str] = (),
    mode_rate_limit: str = "200/1",
    latency_ms: int = 5,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> Sandbox:
    """The emulators over a generated platform (`synthetic.synthetic_platform`).

    Mode serves the generated workspace (by default 200 requests/s and 5 ms per answer; `faults`
    for the Mode emulator override the latency); the manifest is written to
    `data_dir/manifest.json` and exported as DBT_MANIFEST_PATH; the GitHub emulator's repository
    is seeded with a minimal dbt project of the same models, so removal PRs have files to delete.
    A data dir keeps one platform: reusing it for another size or seed is refused.
    """
    from metapipeline.sandbox.synthetic import PROJECT, synthetic_platform

    say = progress or (lambda _: None)
    now = now or datetime.now(UTC)
    data_dir.mkdir(parents=True, exist_ok=True)
    spec = {"models": models, "reports": reports, "queries": queries, "seed": seed}
    stamp = data_dir / SYNTHETIC_STAMP
    if stamp.exists() and json.loads(stamp.read_text()) != spec:
        raise ValueError(
            f"{data_dir} holds the synthetic platform {json.loads(stamp.read_text())}, not {spec}: "
            "use another --data-dir (or delete it)"
        )
    if not stamp.exists() and any(data_dir.iterdir()):
        raise ValueError(f"{data_dir} holds another sandbox's state: use an empty or new --data-dir")
    stamp.write_text(json.dumps(spec) + "\n")
    # Timestamps anchored to midnight stay identical all day, so reruns see unchanged reports.
    anchor = datetime.combine(now.date(), time.min, tzinfo=UTC)
    started = timer.monotonic()
    platform = synthetic_platform(models, reports, queries, seed=seed, now=anchor)
    counts = ", ".join(f"{kind} {n}" for kind, n in platform.counts().items())
    say(f"generated in {timer.monotonic() - started:.1f} s: {counts}")
    manifest_path = platform.write_manifest(data_dir / "manifest.json")
    project_dir = data_dir / "dbt_project"
    if not project_dir.exists():
        files = platform.write_dbt_project(project_dir)
        say(f"wrote the dbt project ({files} files) to {project_dir}")
    mode = ModeEmulator(platform.workspace, rate_limit=parse_rate_limit(mode_rate_limit), data_dir=data_dir)
    del platform  # the emulator holds its own copy of the workspace
    github = GitHubEmulator(
        data_dir / "github" / "analytics.git", repository=f"{PROJECT}/analytics", seed_dir=project_dir
    )
    slack = SlackEmulator(data_dir)
    fault_settings = _fault_settings(faults, {"mode": FaultSettings(latency_ms=latency_ms)})
    env = {"DBT_MANIFEST_PATH": str(manifest_path.resolve())}
    sandbox = Sandbox([mode, github, slack], faults=fault_settings, extra_env=env)
    sandbox.start()
    say(f"sandbox ready after {timer.monotonic() - started:.1f} s")
    return sandbox

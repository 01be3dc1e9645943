"""`make demo`: one real Dagster run of the metapipeline job, stored in DAGSTER_HOME, then a summary.

Dagster's INFO lines show progress while the run goes; the summary is printed once it has ended
and the sandbox has stopped (see `_run_demo` in metapipeline/cli.py), so nothing lands among it."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import DagsterInstance

from metapipeline.dbt.history.files import RunResultsFiles
from metapipeline.orchestration.artifacts import executed_notebook
from metapipeline.orchestration.harmless_warnings import HARMLESS_WARNINGS, ignore_harmless_warnings
from metapipeline.store.ledger import Ledger, database_url

DEMO_RUN_CONFIG: dict[str, Any] = {
    "execution": {"config": {"in_process": {}}},
    "loggers": {"console": {"config": {"log_level": "INFO"}}},  # progress, not Dagster's debug events
}

REPO = Path(__file__).resolve().parents[2]
# What `make demo` uses and `make clean` removes.
DEFAULT_SANDBOX_DIR, DEFAULT_DAGSTER_HOME = REPO / ".sandbox", REPO / ".dagster_home"
REMOVAL_BRANCH = "metapipeline/remove-unused-models"


def quiet_libraries() -> None:
    """Before anything is imported or started: the demo's output is Dagster's progress and the summary.

    - the warnings above, here and in the notebook's kernel, a process of its own that inherits
      PYTHONWARNINGS (which may name only built-in categories: BetaWarning is a Warning);
    - papermill's cell-by-cell progress bar: dagstermill calls papermill with its default
      `progress_bar=True` and no way to pass False, and tqdm takes defaults from TQDM_* variables
      when it is imported;
    - papermill echoes the kernel's stderr (there, Dagster's INFO lines from inside the notebook)
      through Python's last-resort handler, one blank line after each: print them as they are."""
    ignore_harmless_warnings()
    options = []
    for message, category in HARMLESS_WARNINGS:
        builtin = next(c for c in category.__mro__ if c.__module__ == "builtins")
        options.append(f"ignore:{message}:{builtin.__name__}")
    os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), *options]))
    os.environ["TQDM_DISABLE"] = "1"
    kernel_output = logging.StreamHandler(sys.stderr)
    kernel_output.setLevel(logging.WARNING)  # what the last-resort handler showed: the kernel's stderr
    kernel_output.addFilter(_without_trailing_newline)
    papermill = logging.getLogger("papermill")
    papermill.addHandler(kernel_output)
    papermill.propagate = False


def _without_trailing_newline(record: logging.LogRecord) -> bool:
    record.msg, record.args = record.getMessage().rstrip("\n"), None
    return bool(record.msg)


@dataclass(frozen=True)
class DemoSummary:
    """What `format_summary` prints: plain data, gathered from the run by `run_demo`."""

    run_id: str
    seconds: float
    summary: Mapping[str, Any]  # the `summarize` op's output
    actions: Sequence[tuple[str, str, str, str]]  # (action, report token, report name, reason)
    files: Mapping[str, Path | None]  # label -> path, the pull requests' body.md and change.diff among them
    sandbox_urls: Mapping[str, str]  # emulator -> the base URL it served on
    sandbox_dir: Path
    dagster_home: Path
    ledger: str = ""  # the ledger's URL when it is kept outside DAGSTER_HOME
    failures: Sequence[str] = ()


def format_summary(demo: DemoSummary) -> str:
    """The lines `metapipeline demo` ends with."""
    outcome = f"failed after {demo.seconds:.1f} s" if demo.failures else f"succeeded in {demo.seconds:.1f} s"
    # One bare repository per sample dbt project (analytics.git, finance.git).
    repositories = sorted((demo.sandbox_dir / "github").glob("*.git"))
    files: dict[str, object] = {
        **demo.files,
        **{f"github repository ({repository.stem})": repository for repository in repositories},
        "dagster home": demo.dagster_home,
    }
    if demo.ledger:
        files["ledger"] = demo.ledger
    width = max(len(label) for label in [*demo.summary, *files, *demo.sandbox_urls])
    lines = [f"metapipeline demo: run {demo.run_id} {outcome}", *(f"  {f}" for f in demo.failures)]
    lines += [f"  {key:<{width}}  {value}" for key, value in demo.summary.items()]
    if demo.actions:
        lines.append("What this run did in Mode:")
        lines += [f"  {action:>8} {token}  {name}: {reason}" for action, token, name, reason in demo.actions]
    lines.append("Files (they stay after the demo):")
    lines += [f"  {label:<{width}}  {path}" for label, path in files.items() if path is not None]
    if demo.sandbox_urls:
        lines.append(
            "The sandbox stopped with the demo: its URLs, the links above among them, no longer answer"
        )
        lines += [f"  {name:<{width}}  {url}" for name, url in demo.sandbox_urls.items()]
    lines += [f"A pull request's change: git -C {r} diff main {REMOVAL_BRANCH}" for r in repositories]
    if _is(demo.sandbox_dir, DEFAULT_SANDBOX_DIR) and _is(demo.dagster_home, DEFAULT_DAGSTER_HOME):
        lines.append("See the run in the UI: make dev (a new sandbox, on new ports)")
        start_over = "Start over: make clean && make demo"
    else:
        lines.append(
            f"See the run in the UI: DAGSTER_HOME={demo.dagster_home} metapipeline dev --data-dir {demo.sandbox_dir}"
        )
        start_over = (
            f"Start over: rm -rf {demo.sandbox_dir} {demo.dagster_home}, then the same command "
            "(`make demo`'s own directories: make clean && make demo)"
        )
    if demo.ledger:
        start_over += "; the ledger, outside DAGSTER_HOME, remembers this run: clear it too"
    return "\n".join([*lines, start_over])


def _is(path: Path, other: Path) -> bool:
    return path.resolve() == other.resolve()


def load_run_history() -> int:
    """The sample's dbt run history into the ledger: what the daily `dbt_run_history` job does over time."""
    location = os.environ["DBT_RUN_RESULTS_DIR"]
    with closing(Ledger(database_url())) as store:
        return store.record_node_runs(
            run for found in RunResultsFiles(location).invocations() for run in found.runs
        )


SANDBOX_URLS = {"mode": "MODE_HOST", "github": "GITHUB_API_URL", "slack": "SLACK_API_URL"}


def run_demo(sandbox_dir: Path, sandbox_env: Mapping[str, str]) -> tuple[int, str]:
    """Run the job on the running sandbox; return the exit code and the summary to print once it stopped."""
    from dagster import execute_job, reconstructable
    from sqlalchemy.engine import make_url

    from metapipeline.definitions import metapipeline_job

    instance = DagsterInstance.get()
    print(f"dbt run history: {load_run_history()} new node runs in the ledger", flush=True)
    started = time.monotonic()
    with execute_job(
        reconstructable(metapipeline_job), instance=instance, run_config=DEMO_RUN_CONFIG
    ) as result:
        seconds = time.monotonic() - started
        storage = Path(instance.storage_directory()) / result.run_id
        sandbox_dir = sandbox_dir.resolve()
        urls = {name: sandbox_env[key] for name, key in SANDBOX_URLS.items() if key in sandbox_env}
        home = Path(instance.root_directory).resolve()
        ledger = make_url(database_url())
        inside = ledger.get_backend_name() == "sqlite" and Path(ledger.database or "").is_relative_to(home)
        kept_elsewhere = "" if inside else ledger.render_as_string(hide_password=True)
        common: dict[str, Any] = {
            "run_id": result.run_id,
            "seconds": seconds,
            "sandbox_urls": urls,
            "sandbox_dir": sandbox_dir,
            "dagster_home": home,
            "ledger": kept_elsewhere,
        }
        if not result.success:
            failures = [e.message or e.event_type_value for e in result.all_events if e.is_failure]
            demo = DemoSummary(summary={}, actions=(), files={}, failures=failures, **common)
            return 1, format_summary(demo)
        lifecycle = result.output_for_node("mode", "lifecycle")
        slack = sandbox_dir / "slack"
        files: dict[str, Path | None] = {"plan": storage / "plan" / "plan.md"}
        for kind in ("removal", "exposures"):  # written by the github ops, real runs and dry runs alike
            for project in sorted((storage / "pull_requests" / kind).glob("*/")):
                for name, label in (("body.md", "body"), ("change.diff", "diff")):
                    if (path := project / name).exists():
                        files[f"{kind} pull request {label} ({project.name})"] = path
        files |= {
            "platform graph": storage / "platform" / "platform.graphml",
            "executed notebook": (notebook := executed_notebook(instance, result.run_id)),
            "executed notebook as HTML": notebook.with_suffix(".html") if notebook else None,
            **{f"chart ({Path(chart).stem})": Path(chart) for chart in result.output_for_node("report")},
            "slack messages": slack / "messages.jsonl",
            "slack uploads": slack / "files",
        }
        demo = DemoSummary(
            summary=result.output_for_node("summarize"),
            actions=[(a.action, a.report_token, a.report_name, a.reason) for a in lifecycle.done],
            files=files,
            **common,
        )
    return 0, format_summary(demo)

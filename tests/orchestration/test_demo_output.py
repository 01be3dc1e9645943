"""What `make demo` prints: the summary (from plain data), the quieting, and one real demo."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from dagster import BetaWarning

from metapipeline.orchestration import demo
from metapipeline.orchestration.demo import (
    DEFAULT_DAGSTER_HOME,
    DEFAULT_SANDBOX_DIR,
    HARMLESS_WARNINGS,
    DemoSummary,
    format_summary,
    quiet_libraries,
)

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NOISE = re.compile(r"Warning|DEBUG|never awaited|%\||it/s|cell/s")


def _summary(tmp_path: Path, **changes: object) -> DemoSummary:
    storage = tmp_path / "home" / "storage" / "run-1"
    for name in ("analytics.git", "finance.git"):
        (tmp_path / "sb" / "github" / name).mkdir(parents=True, exist_ok=True)
    fields: dict[str, object] = {
        "run_id": "run-1",
        "seconds": 81.25,
        "summary": {"reports archived before this run": 2, "reports archived by this run": 5},
        "actions": [("archive", "4c7e2a9f0d15", "2023 Planning Deck", "no run for 420 days")],
        "files": {
            "plan": storage / "plan" / "plan.md",
            "removal pull request body (freshcart)": storage
            / "pull_requests"
            / "removal"
            / "freshcart"
            / "body.md",
            "executed notebook": None,  # not found: not listed
        },
        "sandbox_urls": {"mode": "http://127.0.0.1:1001", "github": "http://127.0.0.1:1002"},
        "sandbox_dir": tmp_path / "sb",
        "dagster_home": tmp_path / "home",
    }
    return DemoSummary(**(fields | changes))  # type: ignore[arg-type]


def test_the_summary_lists_counts_files_and_dead_urls_and_how_to_start_over(tmp_path):
    text = format_summary(_summary(tmp_path))
    lines = text.splitlines()
    assert lines[0] == "metapipeline demo: run run-1 succeeded in 81.2 s"
    rows = [" ".join(line.split()) for line in lines]  # label and value, whatever the column width
    assert "reports archived before this run 2" in rows
    assert "reports archived by this run 5" in rows
    assert "   archive 4c7e2a9f0d15  2023 Planning Deck: no run for 420 days" in lines
    body = tmp_path / "home" / "storage" / "run-1" / "pull_requests" / "removal" / "freshcart" / "body.md"
    assert f"removal pull request body (freshcart) {body}" in rows
    assert "executed notebook" not in text
    for name in ("analytics", "finance"):
        repository = tmp_path / "sb" / "github" / f"{name}.git"
        assert f"github repository ({name}) {repository}" in rows
        assert f"A pull request's change: git -C {repository} diff main {demo.REMOVAL_BRANCH}" in lines
    stopped = lines.index(
        "The sandbox stopped with the demo: its URLs, the links above among them, no longer answer"
    )
    assert rows[stopped + 1 : stopped + 3] == ["mode http://127.0.0.1:1001", "github http://127.0.0.1:1002"]
    # Not `make demo`'s directories: `make clean` would not remove these.
    assert lines[-1] == (
        f"Start over: rm -rf {tmp_path / 'sb'} {tmp_path / 'home'}, then the same command "
        "(`make demo`'s own directories: make clean && make demo)"
    )
    assert f"DAGSTER_HOME={tmp_path / 'home'} metapipeline dev --data-dir {tmp_path / 'sb'}" in text


def test_with_make_demos_directories_it_says_make_clean_and_make_dev(tmp_path):
    text = format_summary(
        _summary(tmp_path, sandbox_dir=DEFAULT_SANDBOX_DIR, dagster_home=DEFAULT_DAGSTER_HOME)
    )
    assert text.splitlines()[-1] == "Start over: make clean && make demo"
    assert "See the run in the UI: make dev (a new sandbox, on new ports)" in text


def test_a_ledger_outside_dagster_home_is_shown_and_must_be_cleared_too(tmp_path):
    ledger = "postgresql://metapipeline:***@db/ledger"
    text = format_summary(_summary(tmp_path, ledger=ledger))
    assert f"ledger {ledger}" in [" ".join(line.split()) for line in text.splitlines()]
    assert text.endswith("; the ledger, outside DAGSTER_HOME, remembers this run: clear it too")


def test_a_failed_run_says_so_with_its_failures(tmp_path):
    text = format_summary(_summary(tmp_path, summary={}, actions=(), files={}, failures=["op x failed"]))
    assert text.splitlines()[:2] == ["metapipeline demo: run run-1 failed after 81.2 s", "  op x failed"]
    assert "What this run did in Mode" not in text


@pytest.fixture
def restored_quieting(monkeypatch):
    """quiet_libraries() changes the process; put it back."""
    monkeypatch.setenv("PYTHONWARNINGS", "default::ResourceWarning")
    monkeypatch.setenv("TQDM_DISABLE", "")
    papermill = logging.getLogger("papermill")
    handlers, propagate = list(papermill.handlers), papermill.propagate
    with warnings.catch_warnings():
        yield
    papermill.handlers[:], papermill.propagate = handlers, propagate


def test_quieting_silences_exactly_the_known_warnings_here_and_in_child_processes(restored_quieting):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # under whatever pytest's own filters say
        quiet_libraries()
        for message, category in HARMLESS_WARNINGS:
            warnings.warn(f"{message}, and more", category, stacklevel=1)
        warnings.warn("Class `SomethingElse` is currently in beta", BetaWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["Class `SomethingElse` is currently in beta"]
    assert os.environ["TQDM_DISABLE"] == "1"
    assert os.environ["PYTHONWARNINGS"].startswith("default::ResourceWarning,ignore:")  # theirs kept
    # A child process (the notebook's kernel) reads them from PYTHONWARNINGS.
    builtin = [
        (m, next(k for k in c.__mro__ if k.__module__ == "builtins").__name__) for m, c in HARMLESS_WARNINGS
    ]
    script = (
        "import builtins, warnings\n"
        f"for message, category in {builtin!r}:\n"
        "    warnings.warn(message, getattr(builtins, category))\n"
        "warnings.warn('coroutine other was never awaited', RuntimeWarning)\n"
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert child.returncode == 0
    assert child.stderr.count("Warning:") == 1 and "coroutine other was never awaited" in child.stderr
    assert "Invalid -W option" not in child.stderr


def test_the_kernels_echoed_lines_print_without_a_blank_line_after_each(restored_quieting, capsys):
    quiet_libraries()
    logging.getLogger("papermill").warning("2026-01-01 - dagster - INFO - charts written\n")
    logging.getLogger("papermill").info("kernel stdout: not shown, as before")
    assert capsys.readouterr().err == "2026-01-01 - dagster - INFO - charts written\n"


@pytest.mark.slow
def test_make_demo_prints_progress_then_one_clean_summary(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "METAPIPELINE_DATABASE_URL": f"sqlite:///{home / 'ledger.sqlite'}",  # inside: not a separate line
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    env.pop("PYTHONWARNINGS", None)
    result = subprocess.run(
        [str(BIN / "metapipeline"), "demo", "--data-dir", str(tmp_path / "sb")],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # as a terminal shows them: the summary must come last, whole
        text=True,
        timeout=900,
    )
    output = result.stdout
    assert result.returncode == 0, output
    assert not [line for line in output.splitlines() if NOISE.search(line)], output
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("metapipeline demo: run "))
    summary = lines[start:]
    assert "succeeded" in summary[0]
    assert not [line for line in summary if " - dagster - " in line], output  # nothing among it
    assert [line for line in lines[:start] if " - dagster - INFO - " in line]  # progress before it
    bodies = [Path(line.split()[-1]) for line in summary if " pull request body " in line]
    assert [body.parts[-3:-1] for body in bodies] == [
        ("removal", "freshcart"),
        ("removal", "freshcart_finance"),
        ("exposures", "freshcart"),  # Mode reads no finance model: no exposures to write there
    ]
    assert all(body.is_file() and body.parents[3].name in summary[0] for body in bodies)
    assert "unused" in bodies[0].read_text().lower()
    assert "make clean" in summary[-1]
    assert any(line.startswith("The sandbox stopped with the demo") for line in summary)
    assert "reports archived before this run" in output and "reports archived by this run" in output
    assert demo.REMOVAL_BRANCH in output

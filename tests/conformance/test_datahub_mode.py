"""DataHub's Mode source against the sample sandbox (`make conformance`), as CI runs it."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from metapipeline.sandbox.sample import materialize_workspace

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the first run installs DataHub from PyPI (about a minute here)
def test_datahub_finds_every_report_query_chart_and_dataset_without_warnings(tmp_path):
    if importlib.util.find_spec("ensurepip") is None:
        pytest.skip("this Python has no ensurepip, so DataHub's own virtualenv cannot get pip")
    summary_file = tmp_path / "summary.json"
    ran = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.conformance.datahub_mode",
            "--workdir",
            str(tmp_path / "run"),
            "--summary",
            str(summary_file),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    print(ran.stdout)
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-4000:]
    summary = json.loads(summary_file.read_text())
    assert summary["problems"] == []  # no failure, no No Charts/No Datasets/Unrecognized Platform warning
    # Counted here from the sample itself, so the check cannot pass by expecting less.
    workspace = materialize_workspace()
    reports = workspace["reports"]
    charts = sum(len(query.get("charts", [])) for report in reports for query in report["queries"])
    assert summary["found"] == {
        "reports": len(reports),
        "queries": sum(len(report["queries"]) for report in reports),
        "charts": charts,
        "datasets": len(workspace["datasets"]),
        "report->chart links": charts,
        "report->dataset imports": sum(len(report.get("imported_datasets", [])) for report in reports),
    }

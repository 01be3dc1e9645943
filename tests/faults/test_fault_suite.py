"""A small fault suite in CI: the whole job under random faults and one outage, invariants held.

`python -m tests.faults.run_fault_suite --runs 50 --seed 1` is the full suite; this runs a few.
"""

from __future__ import annotations

import pytest
from run_fault_suite import run_suite


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_runs_under_faults_end_like_the_fault_free_run_or_fail_clearly(tmp_path):
    # Three random schedules and the first outage (one report's queries down: an incomplete snapshot).
    report = run_suite(3, seed=7, outages=1, workers=2, workdir=tmp_path, progress=print)
    print(report.render())
    assert report.violations == []
    totals = report.totals
    assert totals["runs"] == 4
    assert totals["refused (Mode outage)"] == 1  # the incomplete snapshot was seen, and nothing acted on it
    assert totals["ok"] + totals["failed clearly"] == 3
    for invariant in (
        "destructive actions on incomplete evidence",
        "duplicate pull requests",
        "duplicate archives",
        "duplicate deletes",
        "duplicate Slack posts",
    ):
        assert totals[invariant] == 0, invariant

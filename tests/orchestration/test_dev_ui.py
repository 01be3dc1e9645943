"""`metapipeline dev`: the UI comes up on the sandbox and a Launchpad-style launch runs to success."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from metapipeline.sandbox.dev_ui import launch_and_wait, running_dev_ui

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_launch_through_the_webserver_graphql_runs_the_job(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "METAPIPELINE_DATABASE_URL": f"sqlite:///{tmp_path / 'l.sqlite'}",
    }
    with running_dev_ui(env, tmp_path / "sb", REPO, timeout=180) as port:
        assert launch_and_wait(port, timeout=420) == "SUCCESS"  # no run config, like a click on Launch

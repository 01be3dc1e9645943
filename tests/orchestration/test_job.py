"""The walking skeleton: the metapipeline job runs through Dagster against the sandbox."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterInstance, execute_job, instance_for_test, reconstructable

from metapipeline.definitions import defs, metapipeline_job
from metapipeline.sandbox.platform import start_sample_sandbox
from metapipeline.sandbox.sample import expected_outcomes

REPO = Path(__file__).resolve().parents[2]
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}


def test_definitions_load_the_metapipeline_job():
    assert defs.resolve_job_def("metapipeline").name == "metapipeline"


@pytest.mark.slow
def test_dagster_definitions_validate_passes():
    result = subprocess.run(
        [Path(sys.executable).parent / "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_job_ingests_the_sample_and_counts(tmp_path, monkeypatch):
    with start_sample_sandbox(tmp_path / "sandbox", mode_rate_limit="off") as sandbox:
        for key, value in sandbox.env().items():
            monkeypatch.setenv(key, value)
        with instance_for_test() as instance:
            assert isinstance(instance, DagsterInstance)
            with execute_job(
                reconstructable(metapipeline_job), instance=instance, run_config=IN_PROCESS
            ) as result:
                assert result.success
                summary = result.output_for_node("summarize")
    expected = expected_outcomes()["workspace"]
    assert summary["mode snapshot complete"] is True
    assert summary["spaces"] == expected["spaces"]
    assert summary["reports"] == expected["reports"]
    assert summary["queries"] == expected["queries"]
    assert summary["archived reports"] == len(expected["archived_by_people"])
    assert summary["dbt models"] == 43
    assert summary["dbt exposures"] == 4

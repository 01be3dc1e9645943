"""`metapipeline plan` and `explain` offline, from a saved snapshot and a manifest file."""

from __future__ import annotations

import io
import json
import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from metapipeline.cli import main
from metapipeline.mode.snapshot_file import read_snapshot, write_snapshot
from metapipeline.run_files import SNAPSHOT, manifest_file
from metapipeline.sandbox.sample import expected_outcomes, expected_unused_models
from metapipeline.sandbox.sample.warehouse_history import sample_reads
from metapipeline.warehouse.files import write_reads_file

# The offline commands must not find the runs `make demo` left in the checkout.
pytestmark = pytest.mark.usefixtures("no_kept_runs")

EXPECTED = expected_outcomes()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, snapshot, sample_projects, sample_now) -> list[str]:
    """Both sample projects' manifests and the snapshot, as command-line arguments."""
    directory = tmp_path_factory.mktemp("offline")
    arguments = []
    for project in sample_projects:
        path = directory / project.name / "manifest.json"
        path.parent.mkdir()
        path.write_text(json.dumps(project.manifest))
        arguments += ["--manifest", str(path)]
    write_snapshot(snapshot, directory / "snapshot.json")
    return [*arguments, "--snapshot", str(directory / "snapshot.json"), "--as-of", sample_now.isoformat()]


def test_a_saved_snapshot_reads_back_equal(snapshot, tmp_path):
    assert read_snapshot(write_snapshot(snapshot, tmp_path / "s.json")) == snapshot


def test_a_file_that_is_not_a_snapshot_is_refused_by_name(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text('{"metadata": {}}')
    with pytest.raises(ValueError, match=r"manifest.json: expected a metapipeline.mode-snapshot/2 document"):
        read_snapshot(path)


def test_plan_writes_the_expected_decisions_without_any_service(inputs, tmp_path, capsys):
    assert main(["plan", *inputs, "--out", str(tmp_path)]) == 0
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert {r["token"] for r in plan["stale_reports"]} == set(EXPECTED["stale_reports"])
    assert {r["token"] for r in plan["kept_reports"]} == set(EXPECTED["kept_reports"])
    assert {m["unique_id"] for m in plan["unused_models"]} == set(expected_unused_models())
    assert set(plan["package_models"]) == set(EXPECTED["freshcart_finance"]["package_models"])
    assert {c["exposure"] for c in plan["exposure_changes"]} == set(EXPECTED["exposures"])
    assert plan["dry_run"] is True and plan["unused_refusal"] is None
    assert "## Unused dbt models (10)" in (tmp_path / "plan.md").read_text()
    assert "10 unused models" in capsys.readouterr().out


def test_explain_a_cascade_model_names_the_report_archived_in_this_run(inputs, capsys):
    assert main(["explain", "fct_store_ops_daily", *inputs]) == 0
    out = capsys.readouterr().out
    assert "reaches no consumer: unused" in out
    assert "mode.report.0f9b3d7a5e41: archived in this run (stale)" in out


def test_explain_shows_the_path_through_a_definition(inputs, capsys):
    assert main(["explain", "model.freshcart.dim_stores", *inputs]) == 0
    out = capsys.readouterr().out
    assert "model.freshcart.dim_stores -> mode.definition." in out
    assert "(active Mode report: Weekly KPIs)" in out


def test_explain_an_unknown_node_suggests_close_ones(inputs, capsys):
    assert main(["explain", "model.freshcart.dim_store", *inputs]) == 1
    assert "did you mean model.freshcart.dim_stores" in capsys.readouterr().err


def _keep_as_runs_files(inputs: list[str], storage, runs: dict[str, int]) -> None:
    """Lay the inputs out as runs of the job keep them, each run's files dated `mtime`."""
    manifests = [Path(inputs[i + 1]) for i, flag in enumerate(inputs) if flag == "--manifest"]
    kept = {manifest_file(path.parent.name): path for path in manifests}
    kept[SNAPSHOT] = Path(inputs[inputs.index("--snapshot") + 1])
    for run, mtime in runs.items():
        for relative, source in kept.items():
            destination = storage / run / relative
            destination.parent.mkdir(parents=True)
            shutil.copyfile(source, destination)
            os.utime(destination, (mtime, mtime))


def test_without_files_plan_and_explain_read_the_newest_runs(inputs, tmp_path, monkeypatch, capsys):
    _keep_as_runs_files(inputs, tmp_path / "home" / "storage", {"older-run": 1_000, "newer-run": 2_000})
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    as_of = inputs[inputs.index("--as-of") :]
    assert main(["plan", *as_of, "--out", str(tmp_path / "plan")]) == 0
    said = capsys.readouterr().err
    for kept in (manifest_file("freshcart"), manifest_file("freshcart_finance"), SNAPSHOT):
        assert f"newer-run/{kept}" in said
    assert "older-run" not in said
    planned = json.loads((tmp_path / "plan" / "plan.json").read_text())
    assert sorted(c["unique_id"] for c in planned["unused_models"]) == expected_unused_models()
    assert main(["explain", "dim_stores", *as_of]) == 0
    assert "model.freshcart.dim_stores" in capsys.readouterr().out


def test_refs_resolves_to_nodes_with_the_newest_runs_manifest(inputs, tmp_path, monkeypatch, capsys):
    _keep_as_runs_files(inputs, tmp_path / "home" / "storage", {"a-run": 1_000})
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(
        "sys.stdin", io.StringIO('{"sql": "select * from marts.fct_orders", "dialect": "duckdb"}\n')
    )
    assert main(["refs"]) == 0
    assert "model.freshcart.fct_orders" in capsys.readouterr().out


def test_without_files_and_no_run_the_error_says_what_to_do(inputs, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with pytest.raises(SystemExit, match=r"No --manifest given .* run the job first \(`make demo`\)"):
        main(["plan", "--snapshot", inputs[inputs.index("--snapshot") + 1]])
    with pytest.raises(SystemExit, match=r"No --snapshot given .* run the job first \(`make demo`\)"):
        main(["plan", "--manifest", inputs[inputs.index("--manifest") + 1]])


def test_explain_shows_the_path_across_projects_that_keeps_a_model(inputs, capsys):
    assert main(["explain", "fct_refunds_monthly", *inputs]) == 0
    out = capsys.readouterr().out
    assert (
        "model.freshcart.fct_refunds_monthly =[freshcart -> freshcart_finance]=> "
        "model.freshcart_finance.stg_freshcart__refunds_monthly -> "
    ) in out
    assert "exposure.freshcart_finance.board_deck_finance" in out and "unused" not in out


def _reads_file(tmp_path, now, reads=None):
    return write_reads_file(sample_reads(now) if reads is None else reads, tmp_path / "reads.jsonl")


def test_plan_with_the_warehouse_history_keeps_the_model_read_straight_from_it(
    inputs, tmp_path, sample_now, capsys
):
    reads = _reads_file(tmp_path, sample_now)
    assert main(["plan", *inputs, "--warehouse-usage", str(reads), "--out", str(tmp_path / "plan")]) == 0
    plan = json.loads((tmp_path / "plan" / "plan.json").read_text())
    assert {m["unique_id"] for m in plan["unused_models"]} == set(expected_unused_models(warehouse=True))
    courier = next(m for m in plan["unused_models"] if m["unique_id"] == "model.freshcart.fct_courier_shifts")
    assert "no direct reads in the warehouse 2026-08-25 to 2026-11-23" in courier["why"]
    assert plan["evidence"]["warehouse usage complete"] is True
    assert main(["explain", "fct_basket_affinity", *inputs, "--warehouse-usage", str(reads)]) == 0
    assert "-[read 90 times, last 2026-11-22]-> warehouse.reader.HIGHTOUCH_SYNC" in capsys.readouterr().out


def test_a_warehouse_history_too_short_or_unreadable_refuses_every_proposal(inputs, tmp_path, sample_now):
    recent = [r for r in sample_reads(sample_now) if r.at > sample_now - timedelta(days=30)]
    for name, path in {
        "short": _reads_file(tmp_path, sample_now, recent),
        "broken": tmp_path / "broken.csv",
    }.items():
        if name == "broken":
            path.write_text("time,user,relations\nyesterday,SAM,analytics.marts.fct_orders\n")
        out = tmp_path / name
        assert main(["plan", *inputs, "--warehouse-usage", str(path), "--out", str(out)]) == 0
        plan = json.loads((out / "plan.json").read_text())
        assert plan["unused_models"] == []
        says = {
            "short": "reaches back to 2026-10-24, not to the window's start 2026-08-25",
            "broken": "failed: 1 rows unreadable (line 2: time 'yesterday' is not an ISO 8601 time)",
        }[name]
        assert says in plan["unused_refusal"], plan["unused_refusal"]

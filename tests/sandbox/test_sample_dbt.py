"""The FreshCart dbt project and its generated run history agree with expected_outcomes.yaml."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from metapipeline.dbt.manifest import mode_reports_behind_exposures
from metapipeline.sandbox.sample import DBT_PROJECT_DIR, SAMPLE_DIR, expected_outcomes, run_history
from metapipeline.sandbox.sample.run_history import models_run_per_day, write_run_history

TODAY = date(2026, 11, 23)
BUILD_OUTPUTS = ("target", "logs", "dbt_packages", "*.duckdb", "*.duckdb.wal", ".user.yml")


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> dict[Path, dict[str, Any]]:
    paths = write_run_history(tmp_path_factory.mktemp("history"), TODAY)
    return {path: json.loads(path.read_text()) for path in paths}


def _successful_models_per_day(documents) -> dict[date, set[str]]:
    per_day: dict[date, set[str]] = defaultdict(set)
    for doc in documents:
        day = date.fromisoformat(doc["metadata"]["invocation_started_at"][:10])
        per_day[day] |= {
            r["unique_id"]
            for r in doc["results"]
            if r["unique_id"].startswith("model.") and r["status"] == "success"
        }
    return per_day


def test_run_history_files_have_dbts_run_results_shape(history):
    invocation_ids = set()
    for path, doc in history.items():
        assert path.name == "run_results.json"
        assert doc["metadata"]["dbt_schema_version"].endswith("/run-results/v6.json")
        assert path.parent.name.endswith("_" + doc["metadata"]["invocation_id"])
        assert path.parent.name.startswith(doc["metadata"]["invocation_started_at"][:10])
        invocation_ids.add(doc["metadata"]["invocation_id"])
        assert doc["elapsed_time"] > 0
        assert doc["args"]["which"] in {"build", "run"}
        assert doc["args"]["invocation_command"].startswith("dbt ")
        assert doc["metadata"]["invocation_started_at"] < doc["metadata"]["generated_at"]
        for result in doc["results"]:
            assert {"unique_id", "status", "timing", "execution_time", "message"} <= result.keys()
            for step in result["timing"]:
                assert doc["metadata"]["invocation_started_at"] <= step["started_at"] <= step["completed_at"]
                assert step["completed_at"] <= doc["metadata"]["generated_at"]
    assert len(invocation_ids) == len(history)


def test_run_history_covers_sixty_days_ending_today(history):
    days = {date.fromisoformat(d["metadata"]["invocation_started_at"][:10]) for d in history.values()}
    assert len(days) == 60
    assert max(days) == TODAY and min(days) == TODAY - timedelta(days=59)
    assert len(history) > 60  # partial runs on top of the nightly builds


def test_models_per_day_match_the_schedule_and_change_over_time(history):
    expected = models_run_per_day(TODAY)
    from_files = _successful_models_per_day(history.values())
    assert {day: len(models) for day, models in from_files.items()} == expected
    ordered = [expected[day] for day in sorted(expected)]
    assert len(set(ordered)) > 2
    assert max(ordered[:14]) < max(ordered[-14:])  # models were added during the window
    weekend = [n for day, n in expected.items() if day.weekday() >= 5 and day > TODAY - timedelta(days=14)]
    weekday = [n for day, n in expected.items() if day.weekday() < 5 and day > TODAY - timedelta(days=14)]
    assert max(weekend) < min(weekday)  # the weekend dip
    assert models_run_per_day(TODAY) == expected


def test_one_nightly_build_failed_and_skipped_its_children(history):
    statuses = {r["status"] for doc in history.values() for r in doc["results"]}
    assert statuses == {"success", "pass", "no-op", "error", "skipped"}
    failed = [doc for doc in history.values() if any(r["status"] == "error" for r in doc["results"])]
    assert len(failed) == 1


def test_writing_twice_is_idempotent_and_clears_stale_runs(tmp_path):
    unrelated = tmp_path / "README.txt"
    unrelated.write_text("not ours")
    write_run_history(tmp_path, TODAY + timedelta(days=3))
    first = write_run_history(tmp_path, TODAY)
    contents = {p: p.read_bytes() for p in first}
    second = write_run_history(tmp_path, TODAY)
    assert first == second
    assert {p: p.read_bytes() for p in second} == contents
    assert sorted(p for p in tmp_path.iterdir() if p.is_dir()) == sorted(p.parent for p in first)
    assert unrelated.read_text() == "not ours"


def test_schedule_names_only_models_of_the_real_build():
    template = json.loads((SAMPLE_DIR / "run_results_build.json").read_text())
    built = {r["unique_id"].split(".")[2] for r in template["results"] if r["unique_id"].startswith("model.")}
    assert len(built) == 42  # 43 models, one of them ephemeral
    assert all(r["status"] in {"success", "pass", "no-op"} for r in template["results"])
    named = (
        set(run_history.ADDED_ON_DAY)
        | set(run_history.MARKETING_MODELS)
        | set(run_history.HOURLY_MODELS)
        | set(run_history.FINANCE_INTRADAY_MODELS)
        | {run_history.FAILED_MODEL, *run_history.SKIPPED_AFTER_FAILURE}
    )
    assert named <= built
    assert "/tmp" not in json.dumps(template["args"])


def test_no_build_outputs_in_the_packaged_project():
    leftovers = [p for pattern in BUILD_OUTPUTS for p in DBT_PROJECT_DIR.glob(pattern)]
    assert not leftovers


# ------------------------------------------------------------------------------- real dbt (slow)


def _dbt(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    env.pop("FRESHCART_DUCKDB_PATH", None)
    dbt = Path(sys.executable).parent / "dbt"
    return subprocess.run(
        [str(dbt), *args, "--profiles-dir", "."], cwd=project, env=env, capture_output=True, text=True
    )


@pytest.fixture
def project(tmp_path) -> Path:
    copy = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, copy, ignore=shutil.ignore_patterns(*BUILD_OUTPUTS))
    return copy


@pytest.mark.slow
def test_dbt_parse_gives_the_manifest_expected_outcomes_assumes(project):
    parsed = _dbt(project, "parse")
    assert parsed.returncode == 0, parsed.stdout + parsed.stderr
    manifest = json.loads((project / "target" / "manifest.json").read_text())
    nodes, outcomes = manifest["nodes"], expected_outcomes()
    models = {uid: n for uid, n in nodes.items() if n["resource_type"] == "model"}

    assert len(models) == 43
    assert list(manifest["disabled"]) == ["model.freshcart.fct_orders_legacy"]
    revenue = models["model.freshcart.fct_revenue_daily"]
    assert (revenue["database"], revenue["schema"], revenue["alias"]) == (
        "analytics",
        "finance",
        "daily_revenue",
    )
    assert models["model.freshcart.fct_basket_affinity"]["language"] == "python"
    assert models["model.freshcart.int_order_items_enriched"]["config"]["materialized"] == "ephemeral"
    assert models["model.freshcart.stg_marketing__app_events"]["config"]["meta"]["keep"] is True
    assert "ops" in models["model.freshcart.fct_store_ops_daily"]["tags"]
    assert "fct_app_funnel" in json.dumps(manifest["selectors"])
    assert {n["schema"] for n in models.values()} == {"staging", "intermediate", "marts", "finance"}
    assert {uid for uid, n in nodes.items() if n["resource_type"] in {"seed", "snapshot"}} == {
        "seed.freshcart.product_categories",
        "seed.freshcart.store_regions",
        "snapshot.freshcart.snap_products",
    }
    assert nodes["seed.freshcart.store_regions"]["schema"] == "reference"
    assert nodes["snapshot.freshcart.snap_products"]["schema"] == "snapshots"
    assert {(s["source_name"], s["name"]) for s in manifest["sources"].values()} == {
        ("shop", t) for t in ("customers", "orders", "order_items", "products", "stores")
    } | {("logistics", t) for t in ("deliveries", "couriers", "courier_shifts")} | {
        ("payments", t) for t in ("charges", "refunds")
    } | {("marketing", t) for t in ("campaigns", "ad_spend", "app_events")}
    assert any(n["resource_type"] == "test" and not n.get("test_metadata") for n in nodes.values())

    # Every node a Mode query reads exists.
    known = set(nodes) | set(manifest["sources"])
    for query in outcomes["queries"].values():
        assert set(query["nodes"]) <= known

    # Hand-written exposures: the two Mode reports they back, and none keeps an unused model alive.
    exposures = manifest["exposures"]
    assert {e["name"] for e in exposures.values()} == {
        "weekly_kpis",
        "board_pack",
        "finance_close",
        "courier_app",
    }
    assert mode_reports_behind_exposures(manifest) == {
        "3f1c9a2e7b40": "weekly_kpis",
        "b7d24e19c0a3": "board_pack",
    }
    exposed = {uid for e in exposures.values() for uid in e["depends_on"]["nodes"]}
    assert not exposed & set(outcomes["unused_models"])
    assert not exposed & (set(outcomes["notable_models"]) - {"model.freshcart.fct_revenue_daily"})

    # Lineage: unused models are read only by unused models; dim_stores by no model at all.
    children: dict[str, set[str]] = defaultdict(set)
    for uid, node in models.items():
        for parent in node["depends_on"]["nodes"]:
            children[parent].add(uid)
    unused = set(outcomes["unused_models"])
    for uid in unused:
        assert children[uid] <= unused, uid
    assert not children["model.freshcart.dim_stores"]
    assert children["model.freshcart.fct_order_items"] <= unused
    assert children["model.freshcart.int_app_sessions"] == {"model.freshcart.fct_app_funnel"}
    assert children["model.freshcart.int_courier_utilization"] == {"model.freshcart.fct_courier_shifts"}
    assert children["model.freshcart.stg_logistics__courier_shifts"] == {
        "model.freshcart.int_courier_utilization"
    }
    assert (
        "model.freshcart.stg_shop__stores"
        in models["model.freshcart.fct_store_ops_daily"]["depends_on"]["nodes"]
    )


@pytest.mark.slow
def test_dbt_build_succeeds_and_matches_the_stored_run_results(project):
    built = _dbt(project, "build")
    assert built.returncode == 0, built.stdout + built.stderr
    fresh = json.loads((project / "target" / "run_results.json").read_text())
    stored = json.loads((SAMPLE_DIR / "run_results_build.json").read_text())
    assert {r["unique_id"] for r in fresh["results"]} == {r["unique_id"] for r in stored["results"]}
    assert all(r["status"] in {"success", "pass", "no-op"} for r in fresh["results"])

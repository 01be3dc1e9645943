"""The sample Mode workspace and its hand-written expected outcomes agree with each other."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from metapipeline.sandbox.sample import expected_outcomes, materialize_workspace

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def workspace():
    return materialize_workspace(NOW)


def _parse(ts: str) -> datetime:
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _days_ago(ts: str | None) -> float | None:
    return None if ts is None else (NOW - _parse(ts)) / timedelta(days=1)


def test_sample_has_the_shape_the_issue_asks_for(workspace):
    expected = expected_outcomes()["workspace"]
    queries = [q for r in [*workspace["reports"], *workspace["datasets"]] for q in r["queries"]]
    assert len(workspace["spaces"]) == expected["spaces"] >= 3
    assert len(workspace["datasets"]) == expected["datasets"] >= 1
    assert {d["type"] for d in workspace["datasets"]} == {"DatasetReport"}
    assert any(s["space_type"] == "private" for s in workspace["spaces"])
    assert len(workspace["reports"]) == expected["reports"] >= 25
    assert len(queries) == expected["queries"] >= 40
    assert {ds["adapter"] for ds in workspace["data_sources"]} >= {
        "jdbc:snowflake",
        "jdbc:postgresql",
        "jdbc:bigquery",
    }
    sql = "\n".join(q["raw_query"] for q in queries)
    for feature in ("{% form %}", "{{ @", "WITH RECURSIVE", '"ANALYTICS"', "UNION ALL", "LATERAL FLATTEN"):
        assert feature in sql, feature
    archived = {r["token"] for r in workspace["reports"] if r["archived"]}
    assert archived == set(expected["archived_by_people"])


def test_timestamps_are_relative_to_now_and_in_the_past(workspace):
    for report in workspace["reports"]:
        for field in ("created_at", "updated_at", "edited_at", "last_run_at"):
            age = _days_ago(report[field])
            assert age is None or age >= 0, (report["token"], field)
    planning_deck = next(r for r in workspace["reports"] if r["token"] == "4c7e2a9f0d15")
    assert 420 <= _days_ago(planning_deck["last_run_at"]) < 421


def test_materializing_is_deterministic():
    assert materialize_workspace(NOW) == materialize_workspace(NOW)


def test_stale_reports_in_the_expected_file_match_the_data(workspace):
    """Reports that look stale by the numbers alone are either stale or kept for a stated reason."""
    outcomes = expected_outcomes()
    stale, kept = set(outcomes["stale_reports"]), set(outcomes["kept_reports"])
    for report in workspace["reports"]:
        if report["archived"]:
            assert report["token"] not in stale
            continue
        last_run = _days_ago(report["last_run_at"])
        not_run = last_run is None or last_run > 100
        low_usage = (
            report["runs_count"] < 5 and report["view_count"] < 5 and _days_ago(report["created_at"]) > 60
        )
        looks_stale = not_run or low_usage
        assert looks_stale == (report["token"] in stale | kept), report["name"]


def test_every_query_has_an_expected_outcome(workspace):
    tokens = {q["token"] for r in workspace["reports"] for q in r["queries"]}
    assert tokens == set(expected_outcomes()["queries"])


def test_expected_exposures_are_the_nodes_of_live_reports(workspace):
    outcomes = expected_outcomes()
    gone = set(outcomes["stale_reports"]) | set(outcomes["workspace"]["archived_by_people"])
    gone |= set(outcomes["documented_by_hand"])  # a hand-written exposure documents them already
    derived = {}
    for report in workspace["reports"]:
        if report["token"] in gone:
            continue
        nodes = {n for q in report["queries"] for n in outcomes["queries"][q["token"]]["nodes"]}
        for dataset in (d for d in workspace["datasets"] if d["token"] in report["imported_datasets"]):
            nodes |= {n for q in dataset["queries"] for n in outcomes["dataset_queries"][q["token"]]["nodes"]}
        if nodes:
            derived[f"mode_{report['token']}"] = nodes
    assert derived == {name: set(nodes) for name, nodes in outcomes["exposures"].items()}


def test_unused_models_are_read_only_by_stale_or_archived_reports(workspace):
    outcomes = expected_outcomes()
    gone = set(outcomes["stale_reports"]) | set(outcomes["workspace"]["archived_by_people"])
    live_reads = {
        node
        for r in workspace["reports"]
        if r["token"] not in gone
        for q in r["queries"]
        for node in outcomes["queries"][q["token"]]["nodes"]
    }
    assert not live_reads & set(outcomes["unused_models"])
    assert set(outcomes["unused_models_without_cascade"]) < set(outcomes["unused_models"])

"""Reads folded into evidence, a plain reads file, and readers in the platform graph."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from metapipeline.mode.snapshot import WorkspaceSnapshot
from metapipeline.platform.graph import build_platform_graph, warehouse_reader_id
from metapipeline.platform.unused import Protections, consumers, explain, find_unused_models
from metapipeline.sandbox.sample.warehouse_history import sample_reads
from metapipeline.warehouse.files import file_usage, write_reads_file
from metapipeline.warehouse.usage import (
    Read,
    UsageSettings,
    WarehouseUsage,
    fold_reads,
    read_usage,
    tool_of,
    write_usage,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
BASKET = ("ANALYTICS", "MARTS", "FCT_BASKET_AFFINITY")


DEFAULTS = UsageSettings()


def _usage(reads, settings: UsageSettings = DEFAULTS) -> WarehouseUsage:
    start = NOW - timedelta(days=settings.window_days)
    usages, excluded, oldest = fold_reads(reads, settings, start, NOW)
    return WarehouseUsage("test", start, NOW, oldest, usages, excluded_reads=excluded)


def test_the_sample_history_folds_into_the_stories_it_tells():
    usage = _usage(sample_reads(NOW))
    by_reader = {(u.relation, u.reader): u for u in usage.usages}
    hightouch = by_reader[(BASKET, "HIGHTOUCH_SYNC")]
    in_window = [
        r for r in sample_reads(NOW) if r.user == "HIGHTOUCH_SYNC" and r.at >= NOW - timedelta(days=90)
    ]
    assert (hightouch.reads, hightouch.last_read, hightouch.tool) == (
        len(in_window),
        in_window[-1].at,
        "hightouch",
    )
    assert not {u.reader for u in usage.usages} & {"DBT_RUNNER", "ANALYST_PRIYA"}  # dbt's own; stopped
    assert usage.excluded_reads == 2 * sum(
        r.user == "DBT_RUNNER" and r.at >= NOW - timedelta(days=90) for r in sample_reads(NOW)
    )
    assert usage.incomplete_because() is None


def test_min_reads_and_exclusions_are_globs_without_case():
    reads = [Read(NOW - timedelta(days=d), "svc_looker", (BASKET,), query_tag=None) for d in range(3)]
    assert _usage(reads, UsageSettings(min_reads=4)).usages == []
    assert _usage(reads, UsageSettings(exclude_users=("SVC_*",))).usages == []
    assert _usage(reads).usages[0].tool == "looker"
    assert tool_of(None, "ANALYST_SAM") is None


def test_a_history_that_does_not_reach_the_window_start_is_incomplete():
    recent = [Read(NOW - timedelta(days=30), "HIGHTOUCH_SYNC", (BASKET,))]
    assert (
        "reaches back to 2026-10-24, not to the window's start 2026-08-25"
        in _usage(recent).incomplete_because()
    )
    assert "holds no history" in _usage([]).incomplete_because()
    failed = WarehouseUsage("snowflake acme", NOW, NOW, None, failure="HTTP 403")
    assert failed.incomplete_because() == "the warehouse usage source (snowflake acme) failed: HTTP 403"


def test_saved_usage_reads_back_equal(tmp_path):
    usage = _usage(sample_reads(NOW))
    assert read_usage(write_usage(usage, tmp_path / "usage.json")) == usage
    (tmp_path / "other.json").write_text('{"format": "x"}')
    with pytest.raises(ValueError, match=r"expected a metapipeline\.warehouse-usage/1 document"):
        read_usage(tmp_path / "other.json")


def test_a_reads_file_round_trips_and_reads_query_texts(tmp_path):
    path = write_reads_file(sample_reads(NOW), tmp_path / "reads.jsonl")
    from_file = file_usage(path, UsageSettings(), NOW, dialect="snowflake")
    assert from_file.usages == _usage(sample_reads(NOW)).usages and from_file.failure is None
    csv = tmp_path / "reads.csv"
    csv.write_text(
        "time,user,role,query_tag,query_text\n"
        f"{(NOW - timedelta(days=91)).isoformat()},SAM,ANALYST,,select 1\n"
        f"{(NOW - timedelta(days=1)).isoformat()},SAM,ANALYST,,select * from analytics.marts.fct_basket_affinity a join marts.fct_orders o using (id)\n"
    )
    usage = file_usage(csv, UsageSettings(), NOW, dialect="snowflake", default_database="ANALYTICS")
    assert {u.relation for u in usage.usages} == {BASKET, ("ANALYTICS", "MARTS", "FCT_ORDERS")}


def test_unreadable_rows_make_the_evidence_incomplete_and_are_named(tmp_path):
    path = tmp_path / "reads.jsonl"
    good = {"time": (NOW - timedelta(days=100)).isoformat(), "user": "SAM", "relations": ["a.b.c"]}
    path.write_text(
        "\n".join([json.dumps(good), "{not json", json.dumps({"user": "SAM", "relations": ["a.b.c"]})])
    )
    usage = file_usage(path, UsageSettings(), NOW)
    assert (
        usage.failure
        == "2 rows unreadable (line 2: not JSON (Expecting property name enclosed in double quotes); line 3: 'time')"
    )
    assert "failed: 2 rows unreadable" in usage.incomplete_because()
    missing = file_usage(tmp_path / "nowhere.csv", UsageSettings(), NOW)
    assert missing.failure == "No such file or directory"


def test_a_model_read_straight_from_the_warehouse_is_used_and_explained(sample_projects):
    usage = _usage(sample_reads(NOW))
    no_mode = WorkspaceSnapshot(workspace="freshcart", taken_at=NOW.isoformat())
    graph = build_platform_graph(sample_projects, no_mode, {}, warehouse=usage)
    reader = warehouse_reader_id("HIGHTOUCH_SYNC")
    assert graph.has_edge("model.freshcart.fct_basket_affinity", reader)
    assert graph.graph["warehouse"]["relations dbt does not know"] == 0
    found = consumers(graph, set(), Protections())
    assert found[reader] == "reads it straight from the warehouse, via hightouch"
    candidates = {m.unique_id for m in find_unused_models(graph, max_share=1).candidates}
    assert "model.freshcart.fct_basket_affinity" not in candidates
    assert {"model.freshcart.fct_app_funnel", "model.freshcart.fct_courier_shifts"} <= candidates
    lines = explain(graph, "model.freshcart.fct_basket_affinity")
    hightouch = next(r for r in usage.usages if r.reader == "HIGHTOUCH_SYNC")
    assert (
        f"model.freshcart.fct_basket_affinity -[read {hightouch.reads} times, last {hightouch.last_read:%Y-%m-%d}]-> "
        f"{reader}"
    ) in "\n".join(lines)

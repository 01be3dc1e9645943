"""Unused models on the sample platform, with the lineage the expected-outcomes file states."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from metapipeline.mode.models import Creator, Definition, Query, Report
from metapipeline.mode.snapshot import WorkspaceSnapshot
from metapipeline.platform.graph import build_platform_graph, dataset_id, definition_id, query_id
from metapipeline.platform.unused import Protections, consumers, explain, find_unused_models
from metapipeline.sandbox.sample import expected_outcomes, expected_unused_models


@dataclass(frozen=True)
class Reads:
    status: str
    nodes: tuple[str, ...]


def _reports(raws: list[dict]) -> list[Report]:
    reports = []
    for raw in raws:
        report = Report.from_api(
            {**raw, "_links": {"creator": {"href": f"/api/{raw['creator']}"}}}, raw["space_token"]
        )
        queries = tuple(Query.from_api(q, report.token) for q in raw["queries"])
        imported = tuple(raw["imported_datasets"])
        reports.append(Report(**{**report.__dict__, "queries": queries, "imported_datasets": imported}))
    return reports


@pytest.fixture(scope="module")
def snapshot(sample_workspace) -> WorkspaceSnapshot:
    return WorkspaceSnapshot(
        workspace="freshcart",
        taken_at="now",
        reports=_reports(sample_workspace["reports"]),
        datasets=_reports(sample_workspace["datasets"]),
        definitions=[Definition.from_api(d) for d in sample_workspace["definitions"]],
        creators={u["username"]: Creator.from_api(u) for u in sample_workspace["users"]},
    )


@pytest.fixture(scope="module")
def graph(sample_projects, snapshot):
    expected = {**expected_outcomes()["queries"], **expected_outcomes()["dataset_queries"]}
    reads = {token: Reads(q.get("status", "parsed"), tuple(q["nodes"])) for token, q in expected.items()}
    return build_platform_graph(sample_projects, snapshot, reads)


def test_graph_has_every_node_kind_and_data_flows_to_reports(graph):
    kinds = {attrs["kind"] for _, attrs in graph.nodes(data=True)}
    assert kinds >= {
        "model",
        "seed",
        "snapshot",
        "source",
        "exposure",
        "mode_report",
        "mode_query",
        "mode_definition",
    }
    assert graph.has_edge("model.freshcart.fct_orders", query_id("1a2b3c4d5e60"))
    assert graph.has_edge(query_id("1a2b3c4d5e60"), "mode.report.3f1c9a2e7b40")
    assert graph.edges["model.freshcart.fct_order_items", query_id("7f9b1d3e5a68")]["how"] == "fallback"
    assert "model.freshcart.fct_orders_legacy" not in graph  # disabled


def test_exactly_the_expected_unused_models_including_the_cascade(graph):
    stale = expected_outcomes()["stale_reports"]
    result = find_unused_models(graph, archived_now=set(stale))
    assert result.refusal is None
    assert {m.unique_id for m in result.candidates} == set(expected_unused_models())
    finance = expected_outcomes()["freshcart_finance"]
    assert set(result.protected) == {*expected_outcomes()["protected_models"], *finance["protected_models"]}


def test_without_archiving_in_this_run_there_is_no_cascade(graph):
    result = find_unused_models(graph)
    assert {m.unique_id for m in result.candidates} == set(expected_unused_models(cascade=False))


def test_each_candidate_carries_its_evidence(graph):
    result = find_unused_models(graph, archived_now=set(expected_outcomes()["stale_reports"]))
    by_id = {m.unique_id: m for m in result.candidates}
    cascade = by_id["model.freshcart.fct_store_ops_daily"]
    assert cascade.owner and cascade.path.endswith("fct_store_ops_daily.sql")
    reasons = {d.node: d.why_not_a_consumer for d in cascade.downstream}
    assert reasons["mode.report.0f9b3d7a5e41"] == "archived in this run (stale)"
    assert by_id["model.freshcart.fct_app_funnel"].why == "nothing reads it"
    shifts = {d.node: d.why_not_a_consumer for d in by_id["model.freshcart.fct_courier_shifts"].downstream}
    assert shifts["mode.report.5f0c8a3e6b19"] == "archived in Mode"


LTV_DATASET, SCORECARD = dataset_id("e4b2d6f8a013"), "mode.report.9e5a7c3d1b28"
LTV_MODEL = "model.freshcart.fct_customer_ltv"


def test_a_dataset_sits_between_its_queries_and_the_reports_that_import_it(graph):
    assert graph.nodes[LTV_DATASET]["kind"] == "mode_dataset"
    assert graph.has_edge(LTV_MODEL, query_id("8c0e2a4b6d79"))
    assert graph.has_edge(query_id("8c0e2a4b6d79"), LTV_DATASET)
    assert graph.edges[LTV_DATASET, SCORECARD]["how"] == "imports"
    assert not graph.has_edge(query_id("8c0e2a4b6d79"), SCORECARD)  # only through the Dataset


def test_a_model_only_a_dataset_reads_is_used_while_the_dataset_is_live(graph):
    stale = set(expected_outcomes()["stale_reports"])
    assert LTV_MODEL not in {m.unique_id for m in find_unused_models(graph, archived_now=stale).candidates}
    found = consumers(graph, stale, Protections())
    assert found[LTV_DATASET] == f"active Mode Dataset imported by {SCORECARD}"
    assert found[dataset_id("0d7c3a9e5b62")] == "active Mode Dataset (run recently, not stale)"
    # Once its importer and then the Dataset are archived, the model loses its only consumer.
    gone = find_unused_models(graph, archived_now=stale | {"9e5a7c3d1b28", "e4b2d6f8a013"}, max_share=1)
    ltv = next(m for m in gone.candidates if m.unique_id == LTV_MODEL)
    assert {d.node: d.why_not_a_consumer for d in ltv.downstream}[
        LTV_DATASET
    ] == "archived in this run (stale)"


def test_explain_shows_the_dataset_its_edges_and_its_evidence(graph):
    lines = explain(graph, LTV_DATASET)
    assert lines[1] == f"is a consumer: active Mode Dataset imported by {SCORECARD}"
    assert f"imported by: {SCORECARD} (Company Health Scorecard)" in lines
    assert f"its queries: {query_id('8c0e2a4b6d79')}" in lines
    model = "\n".join(explain(graph, LTV_MODEL))
    assert f"{LTV_MODEL} -> {query_id('8c0e2a4b6d79')} -> {LTV_DATASET}" in model


def test_models_reached_only_through_a_definition_hang_off_it(graph):
    active_stores = next(
        d
        for d in graph.nodes
        if graph.nodes[d]["kind"] == "mode_definition" and graph.nodes[d]["name"] == "active_stores"
    )
    assert active_stores == definition_id("d1a7c3e5f902")


def test_incomplete_evidence_proposes_nothing(graph):
    result = find_unused_models(graph, evidence_complete=False, incomplete_because="space Finance unreadable")
    assert result.candidates == []
    assert "space Finance unreadable" in (result.refusal or "")


def test_over_the_cap_nothing_is_proposed_and_the_message_says_so(graph):
    result = find_unused_models(graph, archived_now=set(expected_outcomes()["stale_reports"]), max_share=0.1)
    assert result.candidates == []
    assert "10 of 59 models (17%)" in (result.refusal or "") and "cap of 10%" in (result.refusal or "")


def test_protections_by_tag_meta_path_and_id(graph):
    stale = set(expected_outcomes()["stale_reports"])
    protections = Protections(
        path_globs=("models/marts/ops/*",), unique_ids=("model.freshcart.fct_app_funnel",)
    )
    result = find_unused_models(graph, archived_now=stale, protections=protections)
    assert result.protected["model.freshcart.fct_app_funnel"] == "listed in protected unique ids"
    assert result.protected["model.freshcart.fct_courier_shifts"] == "path matches models/marts/ops/*"
    assert "model.freshcart.int_app_sessions" not in {
        m.unique_id for m in result.candidates
    }  # feeds a protected one


def test_the_semantic_layer_and_the_time_spine_are_consumers(graph):
    finance = expected_outcomes()["freshcart_finance"]
    result = find_unused_models(graph, archived_now=set(expected_outcomes()["stale_reports"]))
    candidates = {m.unique_id for m in result.candidates}
    # Read only by a semantic model (then a metric and a saved query): used.
    assert "model.freshcart_finance.fct_net_revenue_daily" not in candidates
    assert finance["time_spine"] not in candidates and graph.nodes[finance["time_spine"]]["time_spine"]
    found = consumers(graph, set(), Protections())
    assert "semantic_model.freshcart_finance.revenue_by_day" in found


def test_versions_are_judged_one_by_one_and_package_models_apart(graph):
    finance = expected_outcomes()["freshcart_finance"]
    result = find_unused_models(graph, archived_now=set(expected_outcomes()["stale_reports"]))
    candidates = {m.unique_id for m in result.candidates}
    versions = finance["versioned_models"]["model.freshcart_finance.fct_revenue_recognition"]
    assert set(versions["unused"]) <= candidates and not set(versions["used"]) & candidates
    assert set(result.package_models) == set(finance["package_models"])
    assert all("package" in advice for advice in result.package_models.values())
    assert not {uid for uid in candidates if uid.startswith("model.finance_utils.")}


def test_a_model_read_by_another_projects_live_model_is_used(graph):
    links = expected_outcomes()["cross_project_links"]
    result = find_unused_models(graph, archived_now=set(expected_outcomes()["stale_reports"]))
    candidates = {m.unique_id for m in result.candidates}
    for source, model in links.items():
        assert source not in graph and model in graph  # the source is the model, one node
        assert model not in candidates
        assert any(graph.edges[model, child]["how"] == "cross-project" for child in graph.successors(model))

"""The centrality table agrees with networkx's own functions; importance and priority rank sensibly."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from metapipeline.platform.centrality import (
    MEASURES,
    betweenness_centrality,
    centrality_table,
    optimisation_priority,
)

TOLERANCE = 1e-9


def _random_dag(n: int, p: float, seed: int) -> nx.DiGraph:
    """A gnp digraph keeping only the edges i -> j with i < j: acyclic, possibly disconnected."""
    graph = nx.DiGraph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(
        (u, v) for u, v in nx.gnp_random_graph(n, p, seed=seed, directed=True).edges if u < v
    )
    return graph


def _networkx_pagerank(graph: nx.DiGraph) -> dict[object, float]:
    """The stationary vector of networkx's Google matrix, solved exactly: `nx.pagerank` itself
    needs scipy and stops at a 1e-6 tolerance, too loose for a 1e-9 comparison."""
    if len(graph) == 0:
        return {}
    values, vectors = np.linalg.eig(nx.google_matrix(graph).T)
    vector = vectors[:, np.argmax(values.real)].real
    return dict(zip(graph, vector / vector.sum(), strict=True))


def _networkx_table(graph: nx.DiGraph) -> pd.DataFrame:
    measures = {
        "degree": nx.degree_centrality(graph),
        "in_degree": nx.in_degree_centrality(graph),
        "out_degree": nx.out_degree_centrality(graph),
        "closeness": nx.closeness_centrality(graph),
        "betweenness": nx.betweenness_centrality(graph),
        "pagerank": _networkx_pagerank(graph),
    }
    return pd.DataFrame(measures, index=pd.Index(list(graph), dtype=object), columns=list(MEASURES))


def _assert_parity(graph: nx.DiGraph) -> None:
    ours = centrality_table(graph)
    expected = _networkx_table(graph)
    assert set(ours.index) == set(graph)
    ours = ours.loc[expected.index, list(MEASURES)]
    difference = (ours - expected).abs().max()
    assert (difference <= TOLERANCE).all(), difference.to_dict()


def _platform() -> nx.DiGraph:
    """A small platform as the graph builder makes it: sources -> staging -> marts -> Mode."""
    graph = nx.DiGraph()

    def add(node: str, kind: str, *parents: str) -> None:
        graph.add_node(node, kind=kind, name=node.rsplit(".", 1)[-1])
        graph.add_edges_from((parent, node) for parent in parents)

    for table in ("orders", "customers", "products", "deliveries"):
        add(f"source.shop.raw.{table}", "source")
        add(f"model.shop.stg_{table}", "model", f"source.shop.raw.{table}")
    add("seed.shop.regions", "seed")
    add("model.shop.int_order_lines", "model", "model.shop.stg_orders", "model.shop.stg_products")
    # The hub: every mart reads it.
    add("model.shop.dim_customers", "model", "model.shop.stg_customers", "seed.shop.regions")
    add("model.shop.fct_orders", "model", "model.shop.int_order_lines", "model.shop.dim_customers")
    add("model.shop.fct_deliveries", "model", "model.shop.stg_deliveries", "model.shop.dim_customers")
    add("model.shop.customer_ltv", "model", "model.shop.fct_orders", "model.shop.dim_customers")
    add("model.shop.orphan_rollup", "model", "model.shop.stg_products")  # a leaf: nothing reads it
    add("exposure.shop.weekly_kpis", "exposure", "model.shop.fct_orders")
    add("mode.definition.d1", "mode_definition", "model.shop.dim_customers")
    add("mode.query.q1", "mode_query", "model.shop.fct_orders", "mode.definition.d1")
    add("mode.query.q2", "mode_query", "model.shop.customer_ltv")
    add("mode.query.q3", "mode_query", "model.shop.fct_deliveries", "model.shop.dim_customers")
    add("mode.report.r1", "mode_report", "mode.query.q1", "mode.query.q2")
    add("mode.report.r2", "mode_report", "mode.query.q3")
    add("model.shop.unconnected", "model")  # isolated
    return graph


@pytest.mark.parametrize(
    ("n", "p", "seed"),
    [(1, 0.0, 0), (2, 1.0, 1), (50, 0.1, 2), (50, 0.02, 3), (300, 0.02, 4), (300, 0.004, 5)],
)
def test_parity_with_networkx_on_random_dags(n, p, seed):
    _assert_parity(_random_dag(n, p, seed))


def test_parity_with_isolated_nodes_and_several_components():
    graph = nx.disjoint_union_all(
        [_random_dag(40, 0.1, 6), _random_dag(25, 0.2, 7), nx.path_graph(5, nx.DiGraph)]
    )
    graph.add_nodes_from(["lonely", "also lonely"])
    _assert_parity(graph)


def test_parity_on_weighted_edges_and_a_cycle():
    # networkx's PageRank reads the `weight` attribute by default; a cycle is not a DAG but valid.
    graph = nx.DiGraph([("a", "b", {"weight": 3.0}), ("a", "c", {"weight": 1.0}), ("c", "a"), ("b", "d")])
    _assert_parity(graph)


def test_parity_with_self_loops_and_parallel_routes():
    # A self-loop is on no shortest path; two equal routes share a pair's betweenness.
    graph = nx.DiGraph([("a", "a"), ("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("d", "d"), ("d", "e")])
    _assert_parity(graph)


def test_parity_on_the_platform():
    _assert_parity(_platform())


def test_parity_on_the_sample_platform(graph):
    _assert_parity(graph)


def test_empty_and_single_node_graphs():
    empty = centrality_table(nx.DiGraph())
    assert empty.empty
    assert {"kind", "name", *MEASURES, "importance"} <= set(empty.columns)
    single = nx.DiGraph()
    single.add_node("model.shop.only", kind="model", name="only")
    row = centrality_table(single).loc["model.shop.only"]
    assert (row["kind"], row["name"], row["degree"], row["closeness"], row["pagerank"]) == (
        "model",
        "only",
        1.0,
        0.0,
        1.0,
    )


def test_table_is_sorted_by_importance_and_carries_kind_and_name():
    table = centrality_table(_platform())
    assert table["importance"].is_monotonic_decreasing
    assert table["importance"].between(0, 1, inclusive="right").all()
    assert table.loc["model.shop.fct_orders", ["kind", "name"]].tolist() == ["model", "fct_orders"]


def test_a_hub_model_ranks_above_a_leaf_and_an_isolated_model():
    importance = centrality_table(_platform())["importance"]
    assert importance["model.shop.dim_customers"] > importance["model.shop.orphan_rollup"]
    assert importance["model.shop.orphan_rollup"] > importance["model.shop.unconnected"]
    models = importance[[node for node in importance.index if node.startswith("model.")]]
    assert models.idxmax() in {"model.shop.dim_customers", "model.shop.fct_orders"}


def test_priority_weighs_importance_by_run_time():
    table = centrality_table(_platform())
    run_seconds = {
        "model.shop.dim_customers": 10.0,
        "model.shop.orphan_rollup": 10.0,
        "model.shop.stg_orders": 500.0,
    }
    priority = optimisation_priority(table, run_seconds)
    assert set(priority["kind"]) == {"model"}
    assert len(priority) == (table["kind"] == "model").sum()
    assert priority["priority"].is_monotonic_decreasing
    # Same run time: the more important model comes first.
    assert priority.index.get_loc("model.shop.dim_customers") < priority.index.get_loc(
        "model.shop.orphan_rollup"
    )
    # Same importance would tie; fifty times the run time outweighs the hub's lead here.
    assert priority.index[0] == "model.shop.stg_orders"
    row = priority.loc["model.shop.stg_orders"]
    assert row["priority"] == pytest.approx(row["importance"] * 500.0)
    # No run history: 0 seconds, priority 0.
    assert priority.loc["model.shop.fct_orders", ["recent_run_seconds", "priority"]].tolist() == [0.0, 0.0]


def test_priority_with_equal_importance_prefers_the_heavier_model():
    graph = nx.DiGraph()
    for node in ("model.p.a", "model.p.b"):  # symmetric: same importance
        graph.add_node(node, kind="model", name=node)
        graph.add_edge("source.p.raw", node)
    graph.nodes["source.p.raw"].update(kind="source", name="raw")
    table = centrality_table(graph)
    assert table.loc["model.p.a", "importance"] == table.loc["model.p.b", "importance"]
    priority = optimisation_priority(table, {"model.p.a": 1.0, "model.p.b": 60.0})
    assert priority.index.tolist() == ["model.p.b", "model.p.a"]


def test_betweenness_alone_matches_networkx():
    graph = _random_dag(120, 0.05, 8)
    expected = nx.betweenness_centrality(graph)
    assert betweenness_centrality(graph) == pytest.approx(expected, abs=TOLERANCE)

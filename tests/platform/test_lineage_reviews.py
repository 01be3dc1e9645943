"""Reads through a parameter of unknown values, and queries that write dbt relations, on the sample."""

from __future__ import annotations

from dataclasses import replace

from metapipeline.lineage.workspace import WorkspaceLineage
from metapipeline.platform.analysis import exposure_reports, platform_graph
from metapipeline.platform.centrality import centrality_table
from metapipeline.platform.plan import build_plan
from metapipeline.platform.unused import UnusedModels, find_unused_models

BASKET = "model.freshcart.fct_basket_affinity"  # nothing else reads it


def _with_reads(lineage: WorkspaceLineage, token: str, **changes) -> WorkspaceLineage:
    queries = dict(lineage.queries)
    queries[token] = replace(queries[token], **changes)
    return WorkspaceLineage(queries, lineage.definitions, lineage.definitions_used, lineage.labels)


def test_an_ambiguous_read_protects_but_feeds_no_exposure_and_no_centrality(
    sample_projects, snapshot, lineage
):
    live = next(r for r in snapshot.reports if not r.archived and r.queries)
    token = live.queries[0].token
    found = lineage.queries[token]
    changed = _with_reads(
        lineage,
        token,
        nodes=(*found.nodes, BASKET),
        ambiguous=(BASKET,),
        ambiguous_tables=("analytics.*.fct_basket_affinity",),
    )
    graph = platform_graph(sample_projects, snapshot, changed)
    assert graph.edges[BASKET, f"mode.query.{token}"]["how"] == "ambiguous"
    assert BASKET not in {m.unique_id for m in find_unused_models(graph, max_share=1).candidates}
    record = next(r for r in exposure_reports(snapshot, changed, archived_now=()) if r.token == live.token)
    assert BASKET not in record.nodes
    table = centrality_table(graph)
    assert table.loc[BASKET, "out_degree"] == 0  # its one edge is not counted
    reviews = changed.reviews()
    assert reviews == [
        {
            "query": token,
            "label": changed.labels[token],
            "kind": "ambiguous (parameter of unknown values)",
            "tables": ["analytics.*.fct_basket_affinity"],
            "nodes": [BASKET],
        }
    ]
    plan = build_plan(
        workspace="freshcart", as_of="now", dry_run=True, verdicts=[], lifecycle_refusal=None,
        unused=UnusedModels(), lineage_reviews=reviews,
    )  # fmt: skip
    assert "## Queries to review (1)" in plan.to_markdown()


def test_a_query_writing_a_dbt_relation_is_listed_for_review(lineage):
    token = next(iter(lineage.queries))
    changed = _with_reads(
        lineage, token, writes=("analytics.marts.fct_orders",), written_nodes=("model.freshcart.fct_orders",)
    )
    [review] = changed.reviews()
    assert review["kind"] == "writes a dbt relation" and review["nodes"] == ["model.freshcart.fct_orders"]

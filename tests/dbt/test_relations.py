"""The dbt graph and the relation index: casing per warehouse, aliases, partial names, a dbt mesh."""

from __future__ import annotations

from typing import Any

import pytest

from metapipeline.dbt.relations import DbtNode, RelationIndex, load_dbt_graph, normalize_part


def _manifest(adapter: str, *entries: dict[str, Any]) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
            "adapter_type": adapter,
        },
        "nodes": {},
        "sources": {},
        "exposures": {},
    }
    for entry in entries:
        section = {"source": "sources", "exposure": "exposures"}.get(entry["resource_type"], "nodes")
        manifest[section][entry["unique_id"]] = entry
    return manifest


def _node(unique_id: str, relation_name: str | None = None, **fields: Any) -> dict[str, Any]:
    resource_type, package, name = unique_id.split(".")[0], unique_id.split(".")[1], unique_id.split(".")[-1]
    return {
        "unique_id": unique_id,
        "resource_type": resource_type,
        "name": name,
        "package_name": package,
        "relation_name": relation_name,
        "config": {"enabled": True, "materialized": "table"},
        **fields,
    }


@pytest.mark.parametrize(
    ("dialect", "name", "quoted", "position", "stored"),
    [
        ("snowflake", "fct_Orders", False, 2, "FCT_ORDERS"),
        ("snowflake", "fct_Orders", True, 2, "fct_Orders"),
        ("postgres", "Fct_Orders", False, 2, "fct_orders"),
        ("postgres", "Fct_Orders", True, 2, "Fct_Orders"),
        ("redshift", "Fct_Orders", True, 2, "fct_orders"),
        ("bigquery", "My-Project", True, 0, "my-project"),
        ("bigquery", "Marts", False, 1, "marts"),
        ("bigquery", "Fct_Orders", False, 2, "Fct_Orders"),
        ("duckdb", "Fct_Orders", True, 2, "fct_orders"),
        ("databricks", "Fct_Orders", True, 2, "fct_orders"),
        ("trino", "Fct_Orders", False, 2, "fct_orders"),
    ],
)
def test_identifiers_are_stored_as_each_warehouse_stores_them(
    dialect: str, name: str, quoted: bool, position: int, stored: str
) -> None:
    assert normalize_part(name, quoted, dialect, position) == stored


def test_relation_key_comes_from_relation_name_with_its_quoting() -> None:
    graph = load_dbt_graph(
        [
            _manifest(
                "snowflake",
                _node("model.p.a", "analytics.marts.a"),
                _node("model.p.b", '"ANALYTICS"."Marts"."b"'),
                _node("model.p.c", None, database="analytics", schema="finance", alias="daily_c"),
                _node("model.p.e", None, config={"enabled": True, "materialized": "ephemeral"}),
            )
        ]
    )
    keys = {uid: node.relation_key() for uid, node in graph.nodes.items()}
    assert keys == {
        "model.p.a": ("ANALYTICS", "MARTS", "A"),
        "model.p.b": ("ANALYTICS", "Marts", "b"),
        "model.p.c": ("ANALYTICS", "FINANCE", "DAILY_C"),
        "model.p.e": None,  # ephemeral: no relation in the warehouse
    }


def test_sample_alias_and_custom_schema(sample_manifest: dict[str, Any]) -> None:
    graph = load_dbt_graph([sample_manifest])
    assert graph.nodes["model.freshcart.fct_revenue_daily"].relation_key() == (
        "analytics",
        "finance",
        "daily_revenue",
    )
    index = graph.relation_index()
    assert index.lookup("ANALYTICS", "FINANCE", "DAILY_REVENUE") == ("model.freshcart.fct_revenue_daily",)
    assert index.lookup(None, "reference", "store_regions") == ("seed.freshcart.store_regions",)
    assert index.lookup(None, None, "snap_products") == ("snapshot.freshcart.snap_products",)
    assert not any(n.resource_type == "test" for n in graph.nodes.values())
    assert ("model.freshcart.fct_orders", "exposure.freshcart.weekly_kpis") in graph.edges


def test_lookup_prefers_the_exact_key_then_folds_case() -> None:
    index = RelationIndex(
        DbtNode(uid, "model", uid, "p", "proj", "marts", name, None, "bigquery")
        for uid, name in (("model.p.upper", "Orders"), ("model.p.lower", "orders"))
    )
    assert index.lookup("proj", "marts", "Orders") == ("model.p.upper",)
    assert index.lookup("proj", "marts", "orders") == ("model.p.lower",)
    assert index.lookup("PROJ", "MARTS", "ORDERS") == ("model.p.upper", "model.p.lower")


def test_partial_names_resolve_only_when_unambiguous() -> None:
    graph = load_dbt_graph(
        [
            _manifest(
                "postgres",
                _node("model.p.orders", '"db"."marts"."orders"'),
                _node("model.p.orders_v1", '"db"."legacy"."orders"'),
                _node("model.p.customers", '"db"."marts"."customers"'),
            )
        ]
    )
    index = graph.relation_index()
    assert index.lookup(None, None, "customers") == ("model.p.customers",)
    assert index.lookup(None, None, "orders") == ()  # two schemas have one: refuse to guess
    assert index.lookup(None, "legacy", "orders") == ("model.p.orders_v1",)


def test_disabled_nodes_are_left_out() -> None:
    disabled = _node("model.p.old", '"db"."marts"."old"', config={"enabled": False})
    graph = load_dbt_graph([_manifest("postgres", disabled, _node("model.p.new", '"db"."marts"."new"'))])
    assert set(graph.nodes) == {"model.p.new"}


def test_mesh_links_a_source_to_the_model_of_another_project_that_builds_it() -> None:
    upstream = _manifest("snowflake", _node("model.core.dim_users", "analytics.core.dim_users"))
    downstream = _manifest(
        "snowflake",
        _node("source.apps.core.dim_users", "ANALYTICS.CORE.DIM_USERS", identifier="dim_users"),
        _node(
            "model.apps.user_stats",
            "analytics.apps.user_stats",
            depends_on={"nodes": ["source.apps.core.dim_users"]},
        ),
    )
    graph = load_dbt_graph([upstream, downstream])
    # The source is the upstream model under another name: one node, one edge across projects.
    assert graph.edges == {("model.core.dim_users", "model.apps.user_stats")}
    assert graph.aliases == {"source.apps.core.dim_users": "model.core.dim_users"}
    assert graph.cross_project_links == [("source", "model.core.dim_users", "source.apps.core.dim_users")]


def test_relations_without_a_database_match_whatever_database_the_query_names() -> None:
    spark = _manifest(
        "spark",
        _node("model.p.events", "analytics.events", database=None, schema="analytics", alias="events"),
    )
    index = load_dbt_graph([spark]).relation_index()
    assert index.lookup("hive_metastore", "analytics", "events") == ("model.p.events",)
    assert index.lookup(None, "analytics", "events") == ("model.p.events",)

"""Resolving Mode queries to dbt nodes: the sample workspace end to end, statuses, batches, cache."""

from __future__ import annotations

from typing import Any

import pytest
from sqlglot.dialects.dialect import Dialect

from metapipeline.dbt.relations import RelationIndex, load_dbt_graph
from metapipeline.lineage.cache import ReferenceCache
from metapipeline.lineage.dialects import data_source_defaults, dialect_for_adapter, generic_sql_adapters
from metapipeline.lineage.resolve import QueryInput, QueryLineage, resolve_many, resolve_query
from metapipeline.mode.models import DataSource, Definition, Query
from metapipeline.sandbox.sample import expected_outcomes


def _sample_inputs(workspace: dict[str, Any]) -> dict[str, QueryInput]:
    sources = {obj["id"]: DataSource.from_api(obj) for obj in workspace["data_sources"]}
    definitions = {d.name: d.source for d in map(Definition.from_api, workspace["definitions"])}
    inputs = {}
    for report in workspace["reports"]:
        for obj in report["queries"]:
            query = Query.from_api(obj, report["token"])
            dialect, database, schema = data_source_defaults(sources[query.data_source_id or 0])
            inputs[query.token] = QueryInput(query.raw_query, definitions, dialect, database, schema)
    return inputs


def test_every_sample_query_resolves_as_expected(
    sample_workspace: dict[str, Any], sample_index: RelationIndex
) -> None:
    inputs = _sample_inputs(sample_workspace)
    results = dict(zip(inputs, resolve_many(list(inputs.values()), index=sample_index), strict=True))
    expected = expected_outcomes()["queries"]
    assert set(results) == set(expected)
    got = {t: (r.status, set(r.nodes), set(r.unresolved)) for t, r in results.items()}
    want = {
        t: (e.get("status", "parsed"), set(e["nodes"]), set(e.get("unresolved", [])))
        for t, e in expected.items()
    }
    assert got == want
    # The evidence the design calls out: a fallback match, and a model reached only through a definition.
    assert results["7f9b1d3e5a68"].status == "fallback" and results["7f9b1d3e5a68"].error
    assert results["3d5f7b9c1e24"].nodes == ("model.freshcart.dim_stores",)


# Mode's Data Sources `adapter` enum (API docs, old and new versions), less the `jdbc:`.
MODE_SQL_ADAPTERS = ("athena", "bigquery", "clickhouse", "databricks", "druid", "hive", "impala", "mysql",
                     "oracle", "oracleadb", "postgresql", "presto", "redshift", "snowflake", "spark",
                     "sqlserver", "teradata", "treasuredata", "trino", "vertica", "modedatasets")  # fmt: skip
# No SQL dialect to parse them in: generic SQL, named by the lineage op (generic_sql_adapters).
NO_DIALECT = ("db2", "denodo", "dbtmetrics", "dbtsemanticlayer", "salesforce", "looker", "arrowflightsql")


@pytest.mark.parametrize("name", MODE_SQL_ADAPTERS)
def test_every_mode_adapter_maps_in_its_jdbc_and_bare_forms(name: str) -> None:
    dialect = dialect_for_adapter(f"jdbc:{name}")
    assert type(Dialect.get_or_raise(dialect)) is not Dialect  # a dialect of its own, not generic SQL
    assert dialect_for_adapter(name) == dialect_for_adapter(f" JDBC:{name.upper()} ") == dialect


@pytest.mark.parametrize(("adapter", "dialect"), [
    ("jdbc:postgresql", "postgres"), ("jdbc:sqlserver", "tsql"), ("jdbc:impala", "hive"),
    ("jdbc:oracleadb", "oracle"), ("jdbc:treasuredata", "presto"), ("jdbc:vertica", "postgres"),
    ("jdbc:modedatasets", "duckdb"), ("jdbc:snowflake", "snowflake"), ("jdbc:bigquery", "bigquery"),
    ("postgres", "postgres"), ("mssql", "tsql"), ("duckdb", "duckdb"), ("", ""), (None, ""),
])  # fmt: skip
def test_adapters_whose_dialect_has_another_name(adapter: str | None, dialect: str) -> None:
    assert dialect_for_adapter(adapter) == dialect


@pytest.mark.parametrize("name", NO_DIALECT)
def test_adapters_without_a_dialect_are_generic_sql_in_both_forms(name: str) -> None:
    assert dialect_for_adapter(f"jdbc:{name}") == dialect_for_adapter(name) == ""


def test_generic_sql_adapters_are_named_with_the_queries_they_carry() -> None:
    sources = [
        DataSource(1, "a", "Snowflake", "jdbc:snowflake", "ANALYTICS", None),
        DataSource(2, "b", "DB2", "jdbc:db2", "SHOP", None),
        DataSource(3, "c", "Looker", "looker", None, None),
        DataSource(4, "d", "Unused", "jdbc:denodo", None, None),
        DataSource(5, "e", "Unsaid", None, None, None),
    ]
    queries = [
        Query(f"q{i}", "q", "SELECT 1", source, "r") for i, source in enumerate([1, 2, 2, 3, 5, 9, None])
    ]
    assert generic_sql_adapters(sources, queries) == {"(no adapter)": 1, "jdbc:db2": 2, "looker": 1}


def _bigquery_index() -> RelationIndex:
    """A dbt project built in BigQuery: model `campaigns` in dataset `marts` of project `freshcart-marketing`."""
    campaigns = {
        "unique_id": "model.marketing.campaigns",
        "resource_type": "model",
        "name": "campaigns",
        "package_name": "marketing",
        "database": "freshcart-marketing",
        "schema": "marts",
        "relation_name": "`freshcart-marketing`.`marts`.`campaigns`",
        "config": {"enabled": True, "materialized": "table"},
    }
    manifest = {
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
            "adapter_type": "bigquery",
        },
        "nodes": {campaigns["unique_id"]: campaigns},
        "sources": {},
        "exposures": {},
    }
    return load_dbt_graph([manifest]).relation_index()


@pytest.mark.parametrize("adapter", ["jdbc:bigquery", "bigquery"])
def test_a_bigquery_report_reads_its_model_whichever_adapter_form_mode_sends(adapter: str) -> None:
    # As Mode sends it: database is always "default", the project is the host.
    payload = {"id": 7, "token": "f6d0a3b8e725", "name": "BigQuery", "adapter": adapter}
    source = DataSource.from_api({**payload, "database": "default", "host": "freshcart-marketing"})
    dialect, database, schema = data_source_defaults(source)
    lineage = resolve_many(
        [QueryInput("select * from marts.campaigns", {}, dialect, database, schema)], index=_bigquery_index()
    )[0]
    assert (lineage.status, lineage.nodes, lineage.unresolved) == (
        "parsed",
        ("model.marketing.campaigns",),
        (),
    )


def test_bigquery_sources_use_the_host_as_project() -> None:
    source = DataSource(1, "t", "BQ", "bigquery", "default", "my-project")
    assert data_source_defaults(source) == ("bigquery", "my-project", None)
    source = DataSource(2, "u", "PG", "jdbc:postgresql", "shop", "host")
    assert data_source_defaults(source) == ("postgres", "shop", "public")


def test_templated_names_match_every_relation_they_may_mean(sample_index: RelationIndex) -> None:
    lineage = resolve_query(
        "SELECT * FROM {{ schema }}.dim_customers JOIN marts.fct_orders_{{ grain }} USING (id)"
        " JOIN {{ anything }} USING (id)",
        adapter="snowflake",
        default_database="ANALYTICS",
        index=sample_index,
    )
    assert lineage.status == "parsed"
    assert lineage.nodes == ("model.freshcart.dim_customers", "model.freshcart.fct_orders_hourly")
    assert lineage.unresolved == ("mp__param",)
    # No form says their values: both stay (the models are not unused) but are ambiguous.
    assert lineage.ambiguous == lineage.nodes


def test_a_definition_cycle_fails_but_still_names_the_relations_it_mentions(
    sample_index: RelationIndex,
) -> None:
    definitions = {"a": "SELECT * FROM marts.dim_stores JOIN {{ @b }} ON TRUE", "b": "SELECT * FROM {{ @a }}"}
    lineage = resolve_query(
        "SELECT * FROM {{ @a as x }}", definitions=definitions, adapter="snowflake", index=sample_index
    )
    assert lineage == QueryLineage(
        "failed",
        ("model.freshcart.dim_stores",),
        ("marts.dim_stores",),
        (),
        "definition cycle: @a -> @b -> @a",
    )


def test_without_an_index_tables_are_reported_and_nothing_is_unresolved() -> None:
    lineage = resolve_query("SELECT * FROM s.a JOIN s.b USING (id)", adapter="duckdb")
    assert lineage == QueryLineage("parsed", (), ("s.a", "s.b"), ())


def test_cache_hits_skip_parsing_and_survive_a_new_index(sample_index: RelationIndex) -> None:
    cache = ReferenceCache()
    sql = "SELECT * FROM marts.fct_orders"
    first = resolve_query(
        sql, adapter="snowflake", default_database="ANALYTICS", index=sample_index, cache=cache
    )
    again = resolve_query(
        sql, adapter="snowflake", default_database="ANALYTICS", index=sample_index, cache=cache
    )
    other_defaults = resolve_query(sql, adapter="snowflake", default_database="OTHER", cache=cache)
    assert first == again and first.nodes == ("model.freshcart.fct_orders",)
    assert other_defaults.tables == ("other.marts.fct_orders",)
    assert (cache.hits, cache.misses, len(cache)) == (1, 2, 2)


def test_cache_takes_any_mutable_mapping_as_backend() -> None:
    backend: dict[str, Any] = {}
    resolve_query("SELECT 1 FROM s.t", cache=ReferenceCache(backend))
    assert len(backend) == 1
    [key] = backend
    assert key == ReferenceCache.key("SELECT 1 FROM s.t", "", None, None)


def test_large_batches_fan_out_across_processes_in_order() -> None:
    items = [
        QueryInput(f"SELECT * FROM s.t{i} JOIN s.shared USING (id)", adapter="postgres") for i in range(600)
    ]
    items.append(QueryInput("SELECT * FROM {{ @missing }}"))
    cache = ReferenceCache()
    results = resolve_many(items, cache=cache, processes=2)
    assert [r.tables for r in results[:-1]] == [("s.shared", f"s.t{i}") for i in range(600)]
    assert results[-1].status == "failed" and results[-1].error == "unknown definition @missing"
    assert len(cache) == 600 + 601  # each parse by rendered SQL, and every query by its text


def test_a_relation_named_only_in_a_liquid_branch_the_defaults_skip_still_counts(sample_index):
    sql = """
        {% form %}
        region: {type: select, default: us, options: [us, eu]}
        {% endform %}
        SELECT * FROM {% if region == 'eu' %}marts.dim_stores{% else %}marts.fct_orders{% endif %}
    """
    found = resolve_query(sql, adapter="snowflake", default_database="ANALYTICS", index=sample_index)
    assert found.status == "parsed"
    assert set(found.nodes) == {"model.freshcart.dim_stores", "model.freshcart.fct_orders"}

"""Liquid parameters in table names (issue 19, item 4): matched against the relations their known
values (form options, defaults) allow; unknown values leave the match `ambiguous`."""

from __future__ import annotations

import pytest

from metapipeline.dbt.relations import RelationIndex, load_dbt_graph
from metapipeline.lineage.resolve import QueryLineage, resolve_query

SCHEMAS = ("ethereum", "polygon", "arbitrum", "base", "marts")


@pytest.fixture(scope="module")
def chains_index() -> RelationIndex:
    """A Snowflake project: `transactions` in each chain's schema (and in marts), `blocks` in two."""
    nodes = {}
    for schema, name in [
        *((s, "transactions") for s in SCHEMAS),
        ("ethereum", "blocks"),
        ("polygon", "blocks"),
    ]:
        uid = f"model.chains.{schema}__{name}"
        nodes[uid] = {
            "unique_id": uid,
            "resource_type": "model",
            "name": f"{schema}__{name}",
            "alias": name,
            "package_name": "chains",
            "database": "ANALYTICS",
            "schema": schema.upper(),
            "relation_name": f"ANALYTICS.{schema.upper()}.{name.upper()}",
            "config": {"enabled": True, "materialized": "table"},
        }
    manifest = {
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
            "adapter_type": "snowflake",
        },
        "nodes": nodes,
        "sources": {},
        "exposures": {},
    }
    return load_dbt_graph([manifest]).relation_index()


def _resolve(sql: str, index: RelationIndex) -> QueryLineage:
    return resolve_query(sql, adapter="snowflake", default_database="ANALYTICS", index=index)


def _ids(*names: str) -> tuple[str, ...]:
    return tuple(sorted(f"model.chains.{name}" for name in names))


FORM_SELECT = """{% form %}
chain:
  type: select
  default: ethereum
  options: [ethereum, polygon]
{% endform %}
"""
FORM_PAIRS_NO_DEFAULT = """{% form %}
chain:
  type: select
  options: [[Ethereum, ethereum], [Polygon, polygon]]
{% endform %}
"""
FORM_QUERY_OPTIONS = """{% form %}
chain:
  type: select
  default: ethereum
  options:
    labels: name
    values: chain
    query: chains
{% endform %}
"""
FORM_TEXT = """{% form %}
chain:
  type: text
  default: polygon
{% endform %}
"""

# (form, SQL, nodes read, of them ambiguous, ambiguous names)
CASES = [
    # Every option: the default is read, so is the other option; no other schema.
    (FORM_SELECT, "SELECT * FROM {{ chain }}.transactions",
     _ids("ethereum__transactions", "polygon__transactions"), (), ()),
    # [label, value] options without a default: the values, not every schema the placeholder matches.
    (FORM_PAIRS_NO_DEFAULT, "SELECT * FROM {{chain}}.transactions t JOIN {{chain}}.blocks b USING (id)",
     _ids("ethereum__transactions", "polygon__transactions", "ethereum__blocks", "polygon__blocks"), (), ()),
    # Fully qualified, upper case.
    (FORM_SELECT, "SELECT * FROM ANALYTICS.{{ chain }}.TRANSACTIONS",
     _ids("ethereum__transactions", "polygon__transactions"), (), ()),
    # A free-text parameter is known by its default.
    (FORM_TEXT, "SELECT * FROM {{ chain }}.transactions", _ids("polygon__transactions"), (), ()),
    # Options from a query's rows: the default is certain, every other schema ambiguous.
    (FORM_QUERY_OPTIONS, "SELECT * FROM {{ chain }}.transactions",
     _ids(*(f"{s}__transactions" for s in SCHEMAS)),
     _ids(*(f"{s}__transactions" for s in SCHEMAS if s != "ethereum")), ("analytics.*.transactions",)),
    # No form at all: every relation the name may mean, all ambiguous.
    ("", "SELECT * FROM {{ chain }}.blocks", _ids("ethereum__blocks", "polygon__blocks"),
     _ids("ethereum__blocks", "polygon__blocks"), ("analytics.*.blocks",)),
    # Set by Liquid itself: the rendered SQL names the table, nothing is ambiguous.
    ("{% assign chain = 'polygon' %}", "SELECT * FROM {{ chain }}.blocks", _ids("polygon__blocks"), (), ()),
]  # fmt: skip


@pytest.mark.parametrize(("form", "sql", "nodes", "ambiguous", "names"), CASES)
def test_a_parameter_in_a_name_matches_what_its_values_allow(
    chains_index: RelationIndex,
    form: str,
    sql: str,
    nodes: tuple[str, ...],
    ambiguous: tuple[str, ...],
    names: tuple[str, ...],
) -> None:
    lineage = _resolve(form + sql, chains_index)
    assert lineage.status == "parsed", lineage.error
    assert (lineage.nodes, lineage.ambiguous, lineage.ambiguous_tables) == (nodes, ambiguous, names)


def test_a_query_writing_through_a_parameter_names_every_model_it_may_write(
    chains_index: RelationIndex,
) -> None:
    lineage = _resolve(
        FORM_SELECT + "INSERT INTO {{ chain }}.blocks SELECT * FROM marts.transactions", chains_index
    )
    assert lineage.nodes == _ids("marts__transactions")
    assert lineage.written_nodes == _ids("ethereum__blocks", "polygon__blocks")
    assert lineage.writes == ("analytics.ethereum.blocks",)


def test_a_query_writing_a_model_is_reported(chains_index: RelationIndex) -> None:
    lineage = _resolve(
        "DELETE FROM polygon.blocks WHERE id IN (SELECT id FROM base.transactions)", chains_index
    )
    assert (lineage.nodes, lineage.written_nodes) == (_ids("base__transactions"), _ids("polygon__blocks"))

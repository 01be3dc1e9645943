"""Which tables a SQL text reads: CTEs, table functions, set operations, statements, defaults, casing."""

from __future__ import annotations

import pytest

from metapipeline.lineage.references import FALLBACK, PARSED, extract_references, scan_identifiers


def tables(sql: str, dialect: str = "", database: str | None = None, schema: str | None = None) -> list[str]:
    extraction = extract_references(sql, dialect, database, schema)
    assert extraction.status == PARSED, extraction.error
    return sorted(ref.display for ref in extraction.tables)


def test_cte_names_are_never_tables_nested_or_recursive() -> None:
    sql = """
        WITH RECURSIVE months AS (SELECT 1 AS m FROM s.calendar UNION ALL SELECT m + 1 FROM months),
        a AS (WITH inner_cte AS (SELECT * FROM s.orders) SELECT * FROM inner_cte)
        SELECT * FROM months JOIN a ON TRUE JOIN (WITH x AS (SELECT 1) SELECT * FROM x) sub ON TRUE
    """
    assert tables(sql) == ["s.calendar", "s.orders"]


def test_a_cte_named_like_the_table_it_reads_still_reports_the_table() -> None:
    assert tables("WITH orders AS (SELECT * FROM orders) SELECT * FROM orders", "postgres") == ["orders"]
    # ...but a later CTE reading it means the CTE
    assert tables("WITH o AS (SELECT * FROM s.o), p AS (SELECT * FROM o) SELECT * FROM p") == ["s.o"]


def test_table_functions_unnest_and_flatten_are_not_tables() -> None:
    assert tables(
        "SELECT f.value FROM marts.orders o, LATERAL FLATTEN(input => o.skus) f, TABLE(FLATTEN(o.x)) g",
        "snowflake",
    ) == ["marts.orders"]
    assert tables("SELECT * FROM d.events, UNNEST(items) AS item", "bigquery") == ["d.events"]
    assert tables("SELECT * FROM generate_series(1, 3) g JOIN s.t ON TRUE", "postgres") == ["s.t"]


def test_set_operations_subqueries_and_every_statement() -> None:
    sql = """
        SET x = 1;
        SELECT * FROM a.one UNION SELECT * FROM a.two EXCEPT SELECT * FROM (SELECT * FROM a.three);
        SELECT * FROM a.four WHERE id IN (SELECT id FROM a.five) AND EXISTS (SELECT 1 FROM a.six)
    """
    assert tables(sql, "snowflake") == [f"a.{n}" for n in ("five", "four", "one", "six", "three", "two")]


def test_a_table_the_query_creates_is_not_an_input() -> None:
    sql = "CREATE TEMPORARY TABLE tmp AS SELECT * FROM s.src; SELECT * FROM tmp JOIN s.other USING (id)"
    assert tables(sql, "snowflake") == ["s.other", "s.src"]


@pytest.mark.parametrize(
    ("sql", "dialect", "database", "schema", "expected"),
    [
        ("SELECT * FROM t", "postgres", "shop", "public", ["shop.public.t"]),
        ("SELECT * FROM s.t", "snowflake", "ANALYTICS", None, ["analytics.s.t"]),
        ("SELECT * FROM t", "snowflake", "ANALYTICS", None, ["t"]),  # no schema known: left partial
        ('SELECT * FROM "Fin"."Daily"', "snowflake", "ANALYTICS", None, ["analytics.Fin.Daily"]),
        ("SELECT * FROM `proj.ds.Tbl`", "bigquery", "other", None, ["proj.ds.Tbl"]),
        ("SELECT * FROM ds.tbl", "bigquery", "my-proj", None, ["my-proj.ds.tbl"]),
        ("SELECT * FROM [dbo].[Orders]", "tsql", "Sales", "dbo", ["sales.dbo.Orders"]),
    ],
)
def test_names_are_qualified_by_the_defaults_lower_case_unless_quoted(
    sql: str, dialect: str, database: str | None, schema: str | None, expected: list[str]
) -> None:
    assert tables(sql, dialect, database, schema) == expected


def test_parts_are_normalised_under_the_dialect() -> None:
    [ref] = extract_references('SELECT * FROM marts."Mixed"', "snowflake", "analytics").tables
    assert ref.parts == ("ANALYTICS", "MARTS", "Mixed")
    [ref] = extract_references("SELECT * FROM Marts.Orders", "postgres", "db").tables
    assert ref.parts == ("db", "marts", "orders")


def test_unparseable_sql_falls_back_to_table_positions_and_identifier_chains() -> None:
    extraction = extract_references(
        "-- from fake.comment\nSELECT COUNT(* FROM marts.orders o JOIN \"Raw\".x ON 'a.b' = o.id ((",
        "snowflake",
    )
    assert extraction.status == FALLBACK and extraction.error
    assert {ref.display for ref in extraction.tables} == {"marts.orders", "Raw.x"}  # table positions
    mentions = {ref.display for ref in extraction.mentions}  # matched against known relations only
    assert "o.id" in mentions
    assert not {"fake.comment", "a.b"} & (mentions | {ref.display for ref in extraction.tables})


def test_scan_splits_backticked_names() -> None:
    assert [r.display for r in scan_identifiers("FROM `p.d.t` WHERE")] == ["from", "p.d.t", "where"]

"""Hard cases of each dialect, from its own documentation: every row says what the SQL reads and
what it writes (relation names as `refs` reports them: lower-case unless quoted).

Categories (issue 19): names as the dialect means them; dialect syntax that hides tables (table
hints, backticks, casts to unusual types) and the text scan when nothing parses; reads and writes
apart, DDL and session statements reading nothing.
"""

from __future__ import annotations

import pytest

from metapipeline.lineage.references import FALLBACK, PARSED, Extraction, extract_references

Case = tuple[str, str, list[str], list[str]]  # dialect, SQL, reads, writes


def _refs(sql: str, dialect: str) -> tuple[list[str], list[str]]:
    extraction = extract_references(sql, dialect)
    assert extraction.status == PARSED, extraction.error
    return sorted(r.display for r in extraction.tables), sorted(r.display for r in extraction.writes)


# 1. Names as each dialect means them.
NAMES: list[Case] = [
    # A quoted identifier is one identifier, dots and all (PostgreSQL 4.1.1, Snowflake identifiers).
    ("postgres", 'SELECT * FROM "1.2.3.SomeTable"', ["1.2.3.SomeTable"], []),
    ("snowflake", 'SELECT * FROM "my.table" JOIN marts."a.b" USING (id)', ["marts.a.b", "my.table"], []),
    ("", 'SELECT * FROM "my.table"', ["my.table"], []),
    ("tsql", "SELECT * FROM [dbo].[my.table]", ["dbo.my.table"], []),
    ("mysql", "SELECT * FROM `shop`.`my.table`", ["shop.my.table"], []),
    # ...except BigQuery, where one pair of backticks may hold the whole path.
    ("bigquery", "SELECT * FROM `proj.ds.tbl`", ["proj.ds.tbl"], []),
    # More than three parts are kept: BigQuery INFORMATION_SCHEMA views, SQL Server linked servers.
    (
        "bigquery",
        "SELECT column_name FROM myproject.mydataset.INFORMATION_SCHEMA.COLUMNS",
        ["myproject.mydataset.INFORMATION_SCHEMA.COLUMNS"],
        [],
    ),
    (
        "tsql",
        "SELECT * FROM LinkedServer.AdventureWorks2022.HumanResources.Employee",
        ["linkedserver.adventureworks2022.humanresources.employee"],
        [],
    ),
    (
        "tsql",
        "SELECT e.id FROM [SRV1].[Sales].[dbo].[Orders] e JOIN dbo.x ON e.id = x.id",
        ["SRV1.Sales.dbo.Orders", "dbo.x"],
        [],
    ),
]


# 2. Dialect syntax that hides tables.
SYNTAX: list[Case] = [
    # SQL Server table hints (Transact-SQL "Table hints"): WITH (...), and the old form without WITH.
    ("tsql", "SELECT * FROM dbo.t WITH (NOLOCK)", ["dbo.t"], []),
    ("tsql", "SELECT * FROM dbo.t(NOLOCK) JOIN dbo.u (NOLOCK) ON t.id = u.id", ["dbo.t", "dbo.u"], []),
    (
        "tsql",
        "SELECT * FROM HumanResources.Employee AS e WITH (TABLOCK, HOLDLOCK) "
        "JOIN Production.Product AS p WITH (INDEX = IX_Product_Name) ON e.id = p.id",
        ["humanresources.employee", "production.product"],
        [],
    ),
    ("tsql", "SELECT * FROM Sales.Orders WITH (INDEX = (IX_Date), NOLOCK)", ["sales.orders"], []),
    # Athena: backticks (Hive's quoting) are accepted in queries too ("Names for tables, databases").
    ("athena", "SELECT * FROM `_myunderscoretable`", ["_myunderscoretable"], []),
    ("athena", "SELECT * FROM `my_db`.`my_table` t JOIN \"my_db\".other o ON t.id = o.id",
     ["my_db.my_table", "my_db.other"], []),
    ("hive", "SELECT * FROM `db`.`tbl`", ["db.tbl"], []),
    ("spark", "SELECT * FROM `my db`.`my table`", ["my db.my table"], []),
    # PostgreSQL/Redshift casts to types sqlglot does not know (object identifier and ACL types).
    ("redshift", "SELECT '1'::cid, xmin::xid FROM public.events", ["public.events"], []),
    ("redshift", "SELECT relname FROM pg_class WHERE relacl <> '{}'::aclitem[]", ["pg_class"], []),
    ("postgres", 'SELECT oid::regclass, c::"char", a::oid[] FROM pg_catalog.pg_class', ["pg_catalog.pg_class"], []),
    ("postgres", "SELECT x::character varying(10)[], y::bit varying(5) FROM s.t", ["s.t"], []),
]  # fmt: skip


# 3. Reads and writes apart; DDL and session statements read nothing.
WRITES: list[Case] = [
    ("postgres", "INSERT INTO s.t (a) SELECT a FROM s.src", ["s.src"], ["s.t"]),
    ("hive", "INSERT OVERWRITE TABLE s.t PARTITION (dt='1') SELECT a FROM s.src", ["s.src"], ["s.t"]),
    ("snowflake", "INSERT INTO marts.fct VALUES (1, 2)", [], ["marts.fct"]),
    (
        "snowflake",
        "MERGE INTO s.t AS tgt USING s.src AS src ON tgt.id = src.id "
        "WHEN MATCHED THEN UPDATE SET x = src.x WHEN NOT MATCHED THEN INSERT (id) VALUES (src.id)",
        ["s.src"],
        ["s.t"],
    ),
    # UPDATE through an alias (Transact-SQL UPDATE ... FROM): `a` is dbo.tbl, written, not read.
    ("tsql", "UPDATE a SET a.x = b.y FROM dbo.tbl a JOIN dbo.other b ON a.id = b.id", ["dbo.other"], ["dbo.tbl"]),
    ("postgres", "UPDATE s.t AS u SET x = o.y FROM s.o WHERE u.id = o.id", ["s.o"], ["s.t"]),
    ("postgres", "UPDATE s.t SET x = 1 WHERE id IN (SELECT id FROM s.src)", ["s.src"], ["s.t"]),
    ("postgres", "DELETE FROM s.t USING s.o WHERE t.id = o.id", ["s.o"], ["s.t"]),
    ("tsql", "DELETE a FROM dbo.t a JOIN dbo.o b ON a.id = b.id", ["dbo.o"], ["dbo.t"]),
    ("postgres", "SELECT * INTO s.new_t FROM s.src", ["s.src"], ["s.new_t"]),
    ("tsql", "SELECT * INTO #tmp FROM dbo.src; SELECT * FROM #tmp JOIN dbo.dim ON 1 = 1", ["dbo.dim", "dbo.src"], []),
    ("snowflake", "CREATE TABLE s.t AS SELECT * FROM s.src", ["s.src"], ["s.t"]),
    # DDL and session statements read nothing (DROP/TRUNCATE of a table write it).
    ("snowflake", "USE analytics", [], []),
    ("snowflake", "USE SCHEMA analytics.marts", [], []),
    ("tsql", "USE db1", [], []),
    ("snowflake", "DROP TABLE IF EXISTS s.t", [], ["s.t"]),
    ("snowflake", "TRUNCATE TABLE s.t", [], ["s.t"]),
    ("snowflake", "ALTER TABLE s.t ADD COLUMN c INT", [], ["s.t"]),
    ("spark", "CACHE TABLE s.t", [], []),
    ("spark", "CACHE LAZY TABLE c AS SELECT * FROM s.src; SELECT * FROM c", ["s.src"], []),
    ("spark", "DESC FUNCTION abs", [], []),
    ("spark", "DESCRIBE FUNCTION EXTENDED abs", [], []),
    ("snowflake", "DESCRIBE TABLE s.t", [], []),
    ("snowflake", "SHOW TABLES IN s", [], []),
    ("snowflake", "GRANT SELECT ON s.t TO ROLE r", [], []),
    ("snowflake", "DROP SCHEMA s", [], []),
]  # fmt: skip


@pytest.mark.parametrize(("dialect", "sql", "reads", "writes"), NAMES)
def test_names_as_the_dialect_means_them(dialect: str, sql: str, reads: list[str], writes: list[str]) -> None:
    assert _refs(sql, dialect) == (reads, writes)


@pytest.mark.parametrize(("dialect", "sql", "reads", "writes"), SYNTAX)
def test_dialect_syntax_that_hides_tables(
    dialect: str, sql: str, reads: list[str], writes: list[str]
) -> None:
    assert _refs(sql, dialect) == (reads, writes)


@pytest.mark.parametrize(("dialect", "sql", "reads", "writes"), WRITES)
def test_reads_and_writes_apart(dialect: str, sql: str, reads: list[str], writes: list[str]) -> None:
    assert _refs(sql, dialect) == (reads, writes)


@pytest.mark.parametrize(
    ("dialect", "sql", "parts"),
    [
        ("postgres", 'SELECT * FROM "1.2.3.SomeTable"', (None, None, "1.2.3.SomeTable")),
        ("snowflake", 'SELECT * FROM "my.table"', (None, None, "my.table")),
        ("snowflake", 'SELECT * FROM marts."a.b"', (None, "MARTS", "a.b")),
        ("tsql", "SELECT * FROM [dbo].[my.table]", (None, "dbo", "my.table")),
        ("mysql", "SELECT * FROM `shop`.`my.table`", (None, "shop", "my.table")),
        ("bigquery", "SELECT * FROM `proj.ds.Tbl`", ("proj", "ds", "Tbl")),
    ],
)
def test_a_quoted_name_with_dots_is_one_part(dialect: str, sql: str, parts: tuple[str | None, ...]) -> None:
    [ref] = extract_references(sql, dialect).tables
    assert ref.parts == parts


def test_a_four_part_name_keeps_its_server_and_matches_by_its_last_three() -> None:
    [ref] = extract_references("SELECT * FROM srv.db.dbo.t", "tsql").tables
    assert (ref.prefix, ref.parts, ref.display) == (("srv",), ("db", "dbo", "t"), "srv.db.dbo.t")


# When nothing parses, the text scan still names tables in table positions, reads and writes apart.
FALLBACKS: list[Case] = [
    ("", "SELECT COUNT(* FROM marts.dim_stores ((", ["marts.dim_stores"], []),
    (
        "tsql",
        "SELECT EXTRACT(YEAR FROM created) FROM a.b x, c.d AS y (NOLOCK), e WHERE ((",
        ["a.b", "c.d", "e"],
        [],
    ),
    ("postgres", "INSERT INTO s.t SELECT * FROM s.src JOIN generate_series(1,2) g ON ((", ["s.src"], ["s.t"]),
    ("", "DELETE FROM s.t WHERE id IN (SELECT id FROM s.o) ((", ["s.o"], ["s.t"]),
    ("", "UPDATE s.t SET a = 1 FROM s.o WHERE x IS DISTINCT FROM y ((", ["s.o"], ["s.t"]),
]


@pytest.mark.parametrize(("dialect", "sql", "reads", "writes"), FALLBACKS)
def test_the_text_scan_names_what_it_can(dialect: str, sql: str, reads: list[str], writes: list[str]) -> None:
    extraction = extract_references(sql, dialect)
    assert extraction.status == FALLBACK
    found = sorted(r.display for r in extraction.tables), sorted(r.display for r in extraction.writes)
    assert found == (reads, writes)


def test_extractions_persisted_before_writes_still_load() -> None:
    old_parsed = {"status": "parsed", "tables": [["DB", "S", "T", "db.s.t", False]], "error": None}
    loaded = Extraction.from_json(old_parsed)
    assert [r.display for r in loaded.tables] == ["db.s.t"] and loaded.writes == ()
    # An old fallback's tables were every identifier chain: they are mentions now.
    old_fallback = {"status": "fallback", "tables": [[None, "o", "id", "o.id", False]], "error": "bad"}
    loaded = Extraction.from_json(old_fallback)
    assert loaded.tables == () and [r.display for r in loaded.mentions] == ["o.id"]
    new = extract_references("INSERT INTO srv.db.s.t SELECT * FROM s.src", "tsql")
    assert Extraction.from_json(new.to_json()) == new

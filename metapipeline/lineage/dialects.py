"""Which SQL dialect and defaults a Mode data source implies."""

from __future__ import annotations

from metapipeline.mode.models import DataSource

# Mode `adapter` (or a plain dialect name) -> sqlglot dialect, where the names differ.
_ADAPTER_DIALECTS = {
    "jdbc:postgresql": "postgres",
    "postgresql": "postgres",
    "jdbc:athena": "athena",
    "sqlserver": "tsql",
    "mssql": "tsql",
    "jdbc:mysql": "mysql",
    "oracleadb": "oracle",
    "impala": "hive",
    "treasuredata": "presto",
    "modedatasets": "duckdb",
}
_KNOWN_DIALECTS = frozenset(
    {"athena", "bigquery", "clickhouse", "databricks", "duckdb", "hive", "mysql", "oracle", "postgres",
     "presto", "redshift", "snowflake", "spark", "teradata", "trino", "tsql", "druid"}
)  # fmt: skip

# A connection without a schema reads this one (None: the dialect has no fixed default).
# Snowflake and BigQuery have none worth guessing: Mode connections do not say.
_DEFAULT_SCHEMAS = {"postgres": "public", "redshift": "public", "tsql": "dbo", "duckdb": "main"}


def dialect_for_adapter(adapter: str | None) -> str:
    """The sqlglot dialect of a Mode adapter such as `jdbc:postgresql`; "" (generic SQL) if unknown."""
    name = (adapter or "").strip().lower()
    name = _ADAPTER_DIALECTS.get(name, name)
    return name if name in _KNOWN_DIALECTS else ""


def default_schema_for(dialect: str) -> str | None:
    return _DEFAULT_SCHEMAS.get(dialect)


def data_source_defaults(source: DataSource) -> tuple[str, str | None, str | None]:
    """(dialect, default database, default schema) of a Mode data source.

    BigQuery sources always say database "default"; the project is the host (Mode quirk)."""
    dialect = dialect_for_adapter(source.adapter)
    database = source.database
    if dialect == "bigquery" and (database or "default") == "default":
        database = source.host
    return dialect, database or None, default_schema_for(dialect)

"""Which SQL dialect and defaults a Mode data source implies."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from metapipeline.mode.models import DataSource, Query

_JDBC_PREFIX = "jdbc:"

# Mode `adapter`, without its `jdbc:` prefix -> sqlglot dialect. Real payloads and Mode's API docs
# (Data Sources, `adapter` enum) send `jdbc:<name>`; some docs and clients use the bare name.
_ADAPTER_DIALECTS = {
    "athena": "athena",
    "bigquery": "bigquery",
    "clickhouse": "clickhouse",
    "databricks": "databricks",
    "druid": "druid",
    "hive": "hive",
    "impala": "hive",  # Impala speaks HiveQL
    "mysql": "mysql",
    "oracle": "oracle",
    "oracleadb": "oracle",  # Oracle Autonomous Database
    "postgresql": "postgres",
    "presto": "presto",
    "redshift": "redshift",
    "snowflake": "snowflake",
    "spark": "spark",
    "sqlserver": "tsql",
    "mssql": "tsql",  # DataHub's platform name for sqlserver
    "teradata": "teradata",
    "treasuredata": "presto",  # Treasure Data queries run on Presto/Trino
    "trino": "trino",
    "vertica": "postgres",  # no sqlglot dialect; Vertica's SQL and default schema follow PostgreSQL
    "modedatasets": "duckdb",  # SQL over Mode Datasets runs on DuckDB
}
# Mode adapters that name no SQL dialect sqlglot knows (db2, denodo, salesforce, looker,
# dbtsemanticlayer, ...) parse as generic SQL: `generic_sql_adapters` names them.
_KNOWN_DIALECTS = frozenset(_ADAPTER_DIALECTS.values())  # also accepted as they are

# A connection without a schema reads this one (None: the dialect has no fixed default).
# Snowflake and BigQuery have none worth guessing: Mode connections do not say.
_DEFAULT_SCHEMAS = {"postgres": "public", "redshift": "public", "tsql": "dbo", "duckdb": "main"}


def dialect_for_adapter(adapter: str | None) -> str:
    """The sqlglot dialect of a Mode adapter (`jdbc:snowflake` or `snowflake`) or of a sqlglot
    dialect name; "" (generic SQL) if unknown."""
    name = (adapter or "").strip().lower().removeprefix(_JDBC_PREFIX)
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


def generic_sql_adapters(sources: Iterable[DataSource], queries: Iterable[Query]) -> dict[str, int]:
    """Mode adapter no dialect is known for -> how many of `queries` read through it, parsed as
    generic SQL (a name in a dialect's own quoting may then match no dbt node)."""
    unknown = {s.id: s.adapter or "(no adapter)" for s in sources if not dialect_for_adapter(s.adapter)}
    return dict(
        sorted(Counter(unknown[q.data_source_id] for q in queries if q.data_source_id in unknown).items())
    )

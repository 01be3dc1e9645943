"""Which usage source a setting names: `file:<path>`, `snowflake`, or a PostgreSQL/Redshift URL.

The source's own module is imported only when it is the one configured (the Snowflake connector
is heavy, and a plain file needs neither).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from metapipeline.warehouse.usage import UsageSettings, WarehouseUsage

SOURCE_KINDS = "file:<path of a CSV or JSON-lines reads file>, snowflake, or a postgresql:// URL"


def describe(spec: str) -> str:
    """The source named without credentials (a URL's password is never shown)."""
    if spec.startswith(("postgresql", "redshift")):
        from sqlalchemy.engine import make_url

        return make_url(spec).render_as_string(hide_password=True)
    return spec


def read_usage_source(
    spec: str,
    settings: UsageSettings,
    now: datetime,
    *,
    dialect: str = "",
    history: Any = None,
) -> WarehouseUsage:
    """The usage the source named by `spec` holds for the window ending `now`. A source that
    cannot be read comes back with `failure` set: incomplete evidence, never an exception."""
    if spec.startswith("file:"):
        from metapipeline.warehouse.files import file_usage

        return file_usage(Path(spec.removeprefix("file:")), settings, now, dialect=dialect)
    if spec == "snowflake":
        from metapipeline.warehouse.snowflake import snowflake_connect_args_from_env, snowflake_usage

        return snowflake_usage(snowflake_connect_args_from_env(), settings, now)
    if spec.startswith(("postgresql", "redshift")):
        from metapipeline.warehouse.postgres import postgres_usage

        return postgres_usage(spec, settings, now, history=history)
    raise ValueError(f"unknown warehouse usage source {spec!r}: expected {SOURCE_KINDS}")

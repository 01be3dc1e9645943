"""Snowflake's access history: who read which table, from `SNOWFLAKE.ACCOUNT_USAGE`.

One query reads `ACCESS_HISTORY` joined to `QUERY_HISTORY` (for the role and the query tag),
flattens `base_objects_accessed` (views resolved to the tables beneath them, which is what a dbt
model's usage needs when views are built on views) and groups the reads in the warehouse; a second,
small one asks how far the history reaches back. `objects_modified` (writes, DDL) is never read.
The role running it needs IMPORTED PRIVILEGES on the SNOWFLAKE database; the views lag by up to
3 hours and keep a year.

Exclusions (dbt's and metapipeline's own reads) and `min_reads` are applied here, on the grouped
rows, with the same globs `fold_reads` uses. Any error comes back as `failure` (incomplete evidence),
never as an exception, and never with a password in it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from metapipeline.warehouse.usage import Relation, RelationUsage, UsageSettings, WarehouseUsage, tool_of

# Object domains that hold rows a model's usage can show up as (stages, functions, procedures and
# streams are left out). Compared upper-cased: Snowflake writes "Table", "Materialized view".
READ_DOMAINS = ("TABLE", "VIEW", "MATERIALIZED VIEW", "EXTERNAL TABLE", "DYNAMIC TABLE", "ICEBERG TABLE")

# Valid Snowflake SQL (and what fakesnow, the sandbox's stand-in, runs too). `pyformat` bindings:
# the connector's default paramstyle. A query reading one table twice still counts once.
USAGE_SQL = f"""
select
    obj.value:"objectName"::varchar as object_name,
    ah.user_name as user_name,
    qh.role_name as role_name,
    qh.query_tag as query_tag,
    count(distinct ah.query_id) as reads,
    max(ah.query_start_time) as last_read
from snowflake.account_usage.access_history as ah
join snowflake.account_usage.query_history as qh
    on qh.query_id = ah.query_id
, lateral flatten(input => ah.base_objects_accessed) as obj
where ah.query_start_time >= %(start)s::timestamp_tz
    and ah.query_start_time <= %(end)s::timestamp_tz
    and qh.start_time >= dateadd(day, -1, %(start)s::timestamp_tz)
    and upper(obj.value:"objectDomain"::varchar) in ({", ".join(f"'{d}'" for d in READ_DOMAINS)})
group by 1, 2, 3, 4
"""
# The count tells an empty history from a NULL minimum: fakesnow 0.12's server sends NULL as 1970-01-01.
HISTORY_FROM_SQL = (
    "select min(query_start_time) as history_from, count(*) as queries"
    " from snowflake.account_usage.access_history"
)

QUERY_TAG = "metapipeline"  # our own queries, which the default settings leave out
LOGIN_TIMEOUT_S = 60
# Connection keywords whose values never appear in a message.
SECRET_KEYS = (
    "password", "passcode", "token", "private_key", "private_key_file_pwd", "private_key_passphrase",
    "oauth_client_secret",
)  # fmt: skip
MAX_MESSAGE = 500
MAX_PROBLEMS_NAMED = 5


def snowflake_connect_args_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`snowflake.connector.connect` keywords from SNOWFLAKE_* variables (empty: not configured).

    SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER, SNOWFLAKE_PASSWORD or SNOWFLAKE_PRIVATE_KEY_PATH (with
    SNOWFLAKE_PRIVATE_KEY_PASSPHRASE if the key is encrypted), SNOWFLAKE_ROLE, SNOWFLAKE_WAREHOUSE;
    SNOWFLAKE_HOST, SNOWFLAKE_PORT and SNOWFLAKE_PROTOCOL point the connector elsewhere (the
    sandbox's stand-in: http on 127.0.0.1).
    """
    env = os.environ if environ is None else environ
    names = {
        "account": "SNOWFLAKE_ACCOUNT",
        "user": "SNOWFLAKE_USER",
        "password": "SNOWFLAKE_PASSWORD",
        "private_key_file": "SNOWFLAKE_PRIVATE_KEY_PATH",
        "private_key_file_pwd": "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE",
        "role": "SNOWFLAKE_ROLE",
        "warehouse": "SNOWFLAKE_WAREHOUSE",
        "host": "SNOWFLAKE_HOST",
        "port": "SNOWFLAKE_PORT",
        "protocol": "SNOWFLAKE_PROTOCOL",
    }
    args: dict[str, Any] = {key: env[name] for key, name in names.items() if env.get(name)}
    if "private_key_file" in args:
        args.pop("password", None)  # key-pair authentication; the connector picks it from the key
    if "port" in args:
        with contextlib.suppress(ValueError):  # else snowflake_usage reports it
            args["port"] = int(args["port"])
    return args


def split_object_name(name: str) -> Relation:
    """`DB.SCHEMA.TABLE` as ACCESS_HISTORY writes it, into (database, schema, name) as stored:
    unquoted parts as they are (Snowflake stores them upper-cased), quoted parts unquoted (`""`
    inside them is one `"`), so `DB."my.schema"."Orders"` is ("DB", "my.schema", "Orders")."""
    parts: list[str] = []
    at, end = 0, len(name)
    while True:
        if at < end and name[at] == '"':
            pieces, at = [], at + 1
            while True:
                close = name.find('"', at)
                if close < 0:
                    raise ValueError(f"unterminated quoted identifier in {name!r}")
                pieces.append(name[at:close])
                if name.startswith('"', close + 1):  # "" inside quotes
                    pieces.append('"')
                    at = close + 2
                    continue
                at = close + 1
                break
            part = "".join(pieces)
        else:
            dot = name.find(".", at)
            dot = end if dot < 0 else dot
            part, at = name[at:dot], dot
            if '"' in part:
                raise ValueError(f"stray quote in {name!r}")
        if not part:
            raise ValueError(f"empty name part in {name!r}")
        parts.append(part)
        if at == end:
            break
        if name[at] != ".":
            raise ValueError(f"expected a dot after a quoted part in {name!r}")
        at += 1
    if len(parts) > 3:
        raise ValueError(f"more than three parts in {name!r}")
    database, schema = ([None] * (3 - len(parts)) + parts)[:2]
    return (database, schema, parts[-1])


def redact(text: str, connect: Mapping[str, Any]) -> str:
    """`text` without any secret the connection was given (plain or URL-encoded)."""
    for key in SECRET_KEYS:
        secret = connect.get(key)
        if isinstance(secret, bytes):
            secret = secret.decode(errors="replace")
        if isinstance(secret, str) and secret:
            for form in {secret, quote(secret, safe=""), quote(secret)}:
                text = text.replace(form, "***")
    return text


def _utc(value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"expected a timestamp, got {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _failure(error: BaseException, connect: Mapping[str, Any]) -> str:
    text = " ".join(str(error).split()) or "no message"
    message = redact(f"{type(error).__name__}: {text}", connect)
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


def _query(connect: Mapping[str, Any], connector: Any, start: datetime, end: datetime) -> tuple[list, Any]:
    session_parameters = {"QUERY_TAG": QUERY_TAG, **dict(connect.get("session_parameters") or {})}
    kwargs = {
        "login_timeout": LOGIN_TIMEOUT_S,
        **connect,
        # Both queries name their views in full; the session's database matters only to fakesnow,
        # whose FLATTEN is a macro in the current database.
        "database": "SNOWFLAKE",
        "schema": "ACCOUNT_USAGE",
        "session_parameters": session_parameters,
    }
    connection = connector.connect(**kwargs)
    try:
        cursor = connection.cursor()
        try:
            cursor.execute(USAGE_SQL, {"start": start, "end": end})
            rows = list(cursor.fetchall())
            cursor.execute(HISTORY_FROM_SQL)
            found = cursor.fetchone()
        finally:
            cursor.close()
    finally:
        connection.close()
    return rows, found[0] if found and found[1] else None


def snowflake_usage(
    connect: Mapping[str, Any],
    settings: UsageSettings,
    now: datetime,
    *,
    connector: Any = None,
) -> WarehouseUsage:
    """The account's reads over the window ending `now`, by (relation, reader).

    `connect`: keywords for `snowflake.connector.connect` (see `snowflake_connect_args_from_env`);
    `connector`: anything with that module's `connect` (tests), the real connector by default.
    """
    start = now - timedelta(days=settings.window_days)
    source = f"snowflake {connect['account']}" if connect.get("account") else "snowflake"

    def failed(message: str) -> WarehouseUsage:
        return WarehouseUsage(source, start, now, None, failure=message)

    if not connect.get("account"):
        return failed("no account configured (set SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER and SNOWFLAKE_PASSWORD)")
    if "port" in connect and not isinstance(connect["port"], int):
        return failed(f"the port is not a number: {connect['port']!r}")
    if connector is None:
        try:
            import snowflake.connector as connector
        except ImportError:
            return failed("snowflake-connector-python is not installed")
    try:
        rows, oldest = _query(connect, connector, start, now)
    except Exception as error:  # the connector's errors, sockets, bad keywords: all incomplete evidence
        return failed(_failure(error, connect))

    grouped: dict[tuple[Relation, str], list[Any]] = {}  # -> [reads, last read, {tool: reads}]
    excluded = 0
    problems: list[str] = []
    for object_name, user, role, query_tag, reads, last_read in rows:
        reads = int(reads)
        if settings.excludes(user or "", role or None, query_tag or None):
            excluded += reads
            continue
        try:
            relation = split_object_name(str(object_name))
            last = _utc(last_read)
        except (TypeError, ValueError) as error:
            problems.append(str(error))
            continue
        reader = user or role or "unknown"
        found = grouped.setdefault((relation, reader), [0, last, {}])
        found[0] += reads
        found[1] = max(found[1], last)
        tool = tool_of(query_tag or None, user, role)
        found[2][tool] = found[2].get(tool, 0) + reads

    usages = []
    for (relation, reader), (count, last, tools) in grouped.items():
        if count < settings.min_reads:
            excluded += count
            continue
        named = {tool: n for tool, n in tools.items() if tool}  # the tool most of its reads name
        usages.append(
            RelationUsage(relation, reader, count, last, max(named, key=named.__getitem__, default=None))
        )
    usages.sort(key=lambda u: (u.relation[0] or "", u.relation[1] or "", u.relation[2], u.reader))

    failure = None
    if problems:
        more = len(problems) - MAX_PROBLEMS_NAMED
        listed = "; ".join(problems[:MAX_PROBLEMS_NAMED]) + (f"; and {more} more" if more > 0 else "")
        failure = f"{len(problems)} object names unreadable ({listed})"
    try:
        history_from = _utc(oldest) if oldest is not None else None
    except TypeError as error:
        return failed(str(error))
    return WarehouseUsage(source, start, now, history_from, usages, failure=failure, excluded_reads=excluded)

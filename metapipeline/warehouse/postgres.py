"""PostgreSQL's statement statistics as usage: who read which relation, from `pg_stat_statements`.

`pg_stat_statements` keeps, per (user, database, queryid), a normalised query text and the calls
counted since its counters started (`pg_stat_statements_info.stats_reset`, PostgreSQL 14+), never
the time of a call. So each run reads the counters in one query (joined to `pg_roles` for the user's
name and `pg_database` for the database's, which is the relation's database part), keeps a snapshot
of them in the ledger (`UsageHistory`) and differences the snapshots:

- A statement's reads are the increases of its calls from one snapshot to the next; where its
  calls fell, or `stats_reset` moved, the counters restarted and the increase is the calls since.
  The snapshots hold a row for a statement only where its calls changed (0: no longer counted), so
  a statement run once a month costs one row a month, not one a run.
- The reads in the window count from the newest snapshot taken at or before the window's start
  (the ledger keeps it and prunes everything older), so they cover the window and, with daily runs,
  at most a day before it: an error in the direction that keeps a model, never one that drops it.
  `history_from` is that snapshot's time.
- Without such a snapshot (the first run, a longer window than before) the oldest snapshot's calls
  all count, as reads since `stats_reset`, and `history_from` is `stats_reset`. When that is before
  the window, a relation with no reads since is surely unread in the window, while one with reads
  may have been read only before it, until a snapshot is older than the window's start. Without
  `stats_reset` (before PostgreSQL 14) the oldest snapshot only starts the history.
- A reset whose lost stretch (from the snapshot before it to the reset) is longer than
  `COVERAGE_SLACK` moves `history_from` to the reset: nothing before it is complete.
- `last_read` is the time of the newest snapshot (or run) by which the calls had increased: the
  read happened after the snapshot before it, no later than that.

Reads: a statement's relations are those `extract_references` finds in its text (dialect postgres,
the database's name and `public` as defaults), less the tables it writes: `INSERT INTO x SELECT ...
FROM y`, `UPDATE x ... FROM y`, `DELETE FROM x USING y`, `MERGE INTO x USING y` and `SELECT ...
INTO x` read y, not x (a statement reading the table it writes is not counted as reading it).
`CREATE TABLE ... AS SELECT` and `COPY ... TO` read their sources; other DDL (views included),
`COPY ... FROM`, `EXPLAIN` and utility statements read nothing. A text sqlglot cannot parse counts
every identifier chain it holds when it starts like a query (`SELECT`, `WITH`, `TABLE`), and
nothing otherwise. System catalogs (`pg_catalog`, `information_schema`, unqualified `pg_*`) are
left out. Exclusions match the user as both user and role (a PostgreSQL user is a role); there
are no query tags.

Limits: unqualified names are taken to be in `public` whatever the reader's `search_path` was;
reads through a view count for the view; a statement evicted between runs (more statements than
`pg_stat_statements.max`; `pg_stat_statements_info.dealloc` counts evictions) loses the calls
since the snapshot before; a user who is not a superuser needs `pg_read_all_stats` to see other
users' statements (without it the evidence fails, naming the grant).

Redshift keeps no `pg_stat_statements`, but `SYS_QUERY_HISTORY` has a row per query (`user_id`,
`start_time`, `query_type`, `query_text`, truncated at 4,000 characters, the full text in
`SYS_QUERY_TEXT`): that is `Read`s for `fold_reads`, as in the plain-file source, not the snapshot
differencing here. It is not implemented: a `redshift` URL fails saying so.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote

import sqlalchemy as sa
import sqlglot
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool
from sqlglot import exp
from sqlglot.errors import SqlglotError

from metapipeline.lineage.references import PARSED, extract_references, qualify_name
from metapipeline.store.ledger import StatementCalls, UsageSnapshot
from metapipeline.warehouse.usage import (
    COVERAGE_SLACK,
    Relation,
    RelationUsage,
    UsageSettings,
    WarehouseUsage,
    tool_of,
)

DIALECT = "postgres"
DEFAULT_SCHEMA = "public"
CONNECT_TIMEOUT_S = 30
MAX_MESSAGE = 500
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")
CREATE_EXTENSION = (
    "CREATE EXTENSION pg_stat_statements; (as a superuser), with pg_stat_statements in "
    "shared_preload_libraries (postgresql.conf, then restart PostgreSQL)"
)

EXTENSION_SQL = """
select n.nspname
from pg_catalog.pg_extension as e
join pg_catalog.pg_namespace as n on n.oid = e.extnamespace
where e.extname = 'pg_stat_statements'
"""
STATS_RESET_SQL = "select stats_reset from {schema}.pg_stat_statements_info"  # PostgreSQL 14+
# PostgreSQL 14+ keeps top-level and nested runs of a statement apart: summed, one row per key.
# Without pg_read_all_stats another user's statement shows no queryid and no text: counted apart.
STATEMENTS_SQL = """
select
    r.rolname as user_name,
    d.datname as database_name,
    s.queryid::text as queryid,
    min(s.query) as query,
    sum(s.calls)::bigint as calls,
    count(*) as entries
from {schema}.pg_stat_statements as s
join pg_catalog.pg_roles as r on r.oid = s.userid
join pg_catalog.pg_database as d on d.oid = s.dbid
group by r.rolname, d.datname, s.queryid
"""

Key = tuple[str, str, str]  # user, database, queryid


class UsageHistory(Protocol):
    """Where the counters' snapshots are kept between runs (the ledger)."""

    def usage_history(
        self, source: str, since: datetime
    ) -> tuple[list[UsageSnapshot], list[StatementCalls]]: ...

    def save_usage_snapshot(
        self,
        source: str,
        snapshot: UsageSnapshot,
        statements: Iterable[StatementCalls],
        *,
        keep_since: datetime,
    ) -> int: ...


@dataclass(frozen=True)
class Counters:
    """One reading of pg_stat_statements."""

    stats_reset: datetime | None
    statements: list[tuple[str, str, str, str, int]]  # user, database, queryid, query, calls
    hidden: int  # statements whose text the connecting user may not see


class _Unavailable(Exception):
    """pg_stat_statements cannot be read, with what to do about it."""


# Statements that may read a relation; anything else (SET, BEGIN, VACUUM, EXPLAIN, ...) is not parsed.
_FIRST_WORD = re.compile(r"\s*(?:(?:--[^\n]*(?:\n|$)|/\*.*?\*/)\s*)*(\(|[A-Za-z]+)", re.DOTALL)
_MAY_READ = frozenset(
    ("select", "with", "table", "values", "(", "insert", "update", "delete", "merge", "create", "copy")
)
_QUERY_STARTS = frozenset(("select", "with", "table", "("))


def statement_reads(sql: str, database: str | None) -> tuple[Relation, ...]:
    """The relations a statement's text reads (its write targets left out), in `database`."""
    first = _FIRST_WORD.match(sql)
    word = first.group(1).lower() if first else ""
    if word not in _MAY_READ:
        return ()
    try:
        statements: list[exp.Expr | None] | None = list(sqlglot.parse(sql, read=DIALECT))
    except (SqlglotError, RecursionError):
        statements = None
    extraction = extract_references(sql, DIALECT, database, DEFAULT_SCHEMA)
    if statements is None or extraction.status != PARSED:
        found = extraction.tables if word in _QUERY_STARTS else ()
        return tuple(ref.parts for ref in found if not _system(ref.parts))
    targets: set[Relation] = set()
    for statement in statements:
        if statement is None:
            continue
        written = _writes(statement)
        if written is None:
            return ()  # DDL, COPY FROM, utility: no reads
        targets.update(_qualified(table, database) for table in written)
    return tuple(
        ref.parts for ref in extraction.tables if ref.parts not in targets and not _system(ref.parts)
    )


def _writes(statement: exp.Expr) -> list[exp.Table] | None:
    """The tables a reading statement writes, or None for a statement that reads nothing."""
    if isinstance(statement, exp.Query):
        into = statement.args.get("into")
        return [into.this] if isinstance(into, exp.Into) and isinstance(into.this, exp.Table) else []
    if isinstance(statement, (exp.Insert, exp.Update, exp.Delete, exp.Merge)):
        target = statement.this
        if isinstance(target, exp.Schema):  # INSERT INTO x (columns)
            target = target.this
        return [target] if isinstance(target, exp.Table) else []
    if isinstance(statement, exp.Create):
        is_ctas = str(statement.args.get("kind") or "").upper() == "TABLE" and statement.expression
        return [] if is_ctas else None  # CREATE TABLE AS: extract_references leaves its target out
    if isinstance(statement, exp.Copy):
        return None if statement.args.get("kind") else []  # kind: COPY ... FROM (a load)
    return None


def _qualified(table: exp.Table, database: str | None) -> Relation:
    named = tuple((part.name, bool(part.args.get("quoted"))) for part in table.parts)
    return qualify_name(named, DIALECT, database, DEFAULT_SCHEMA).parts


def _system(relation: Relation) -> bool:
    _, schema, name = relation
    return schema in SYSTEM_SCHEMAS or (schema == DEFAULT_SCHEMA and name.startswith("pg_"))


def difference(
    points: Sequence[UsageSnapshot], rows: Iterable[StatementCalls], window_start: datetime
) -> tuple[dict[Key, list[tuple[int, datetime, str]]], datetime]:
    """Each statement's reads as (calls, by when, relations JSON), and how far back they reach.

    `points`: the snapshots oldest first, this run's last; `rows`: their statement rows (only where
    calls changed), oldest first. See the module docstring for the rules."""
    base = points[0]
    anchored = base.taken_at <= window_start
    count_base = not anchored and base.counting_since is not None
    history_from = base.taken_at
    if count_base and base.counting_since is not None:
        history_from = base.counting_since
    position = {point.taken_at: i for i, point in enumerate(points)}
    for before, after in itertools.pairwise(points):
        reset = after.counting_since
        if reset is not None and reset != before.counting_since and reset - before.taken_at > COVERAGE_SLACK:
            history_from = max(history_from, reset)

    reads: dict[Key, list[tuple[int, datetime, str]]] = {}
    calls: dict[Key, int] = {}  # as of the base, then as of each row
    at_base: dict[Key, str] = {}
    later: list[StatementCalls] = []
    for row in rows:
        key = (row.user, row.database, row.queryid)
        if row.taken_at <= base.taken_at:  # the newest one is the statement's calls at the base
            calls[key], at_base[key] = row.calls, row.relations
        else:
            later.append(row)
    if count_base:
        for key, relations in at_base.items():
            if calls[key] > 0:
                reads.setdefault(key, []).append((calls[key], base.taken_at, relations))
    for row in later:
        key = (row.user, row.database, row.queryid)
        previous = calls.get(key, 0)
        calls[key] = row.calls
        i = position.get(row.taken_at)
        restarted = row.calls < previous or (
            i is not None and i > 0 and points[i - 1].counting_since != points[i].counting_since
        )
        increase = row.calls if restarted else row.calls - previous
        if increase > 0:
            reads.setdefault(key, []).append((increase, row.taken_at, row.relations))
    return reads, history_from


def changed_rows(
    counters: Counters, last: UsageSnapshot | None, stored: Iterable[StatementCalls], now: datetime
) -> list[StatementCalls]:
    """This run's statement rows: those whose calls changed since the last snapshot (all of them
    after a reset), and a 0 for each statement no longer counted. Only changed texts are parsed."""
    restarted = last is not None and last.counting_since != counters.stats_reset
    previous: dict[Key, int] = {}
    for row in stored:  # oldest first: the newest row of each statement wins
        previous[(row.user, row.database, row.queryid)] = row.calls
    parsed: dict[tuple[str, str], str] = {}
    rows: list[StatementCalls] = []
    for user, database, queryid, query, calls in counters.statements:
        before = previous.pop((user, database, queryid), 0)
        if calls == before and not (restarted and calls > 0):
            continue
        if (database, query) not in parsed:
            relations = statement_reads(query, database)
            parsed[(database, query)] = json.dumps([list(r) for r in relations]) if relations else ""
        if parsed[(database, query)]:
            rows.append(StatementCalls(now, user, database, queryid, calls, parsed[(database, query)]))
    rows.extend(StatementCalls(now, *key, 0, "[]") for key, calls in previous.items() if calls > 0)
    return rows


def postgres_usage(
    url: str, settings: UsageSettings, now: datetime, *, history: UsageHistory | None
) -> WarehouseUsage:
    """The server's reads over the window ending `now`, by (relation, user), from the differences
    between this run's pg_stat_statements and the snapshots `history` keeps (this run's is saved).

    Without `history` nothing is kept: every run is a first one (reads since `stats_reset`)."""
    start = now - timedelta(days=settings.window_days)
    try:
        parsed = make_url(_with_driver(url))
    except (sa.exc.ArgumentError, ValueError):
        return WarehouseUsage("postgresql", start, now, None, failure="not a SQLAlchemy URL")
    source = _source(parsed)

    def failed(message: str) -> WarehouseUsage:
        return WarehouseUsage(source, start, now, None, failure=message)

    if parsed.get_backend_name() != "postgresql":
        return failed(
            f"{parsed.get_backend_name()} is not supported: usage is read from PostgreSQL's "
            "pg_stat_statements (Redshift's SYS_QUERY_HISTORY is not read yet)"
        )
    try:
        counters = read_counters(parsed)
    except _Unavailable as error:
        return failed(str(error))
    except Exception as error:  # the driver's errors, sockets: all incomplete evidence
        return failed(_failure(error, parsed))

    snapshots, stored = history.usage_history(source, start) if history is not None else ([], [])
    if snapshots and snapshots[-1].taken_at >= now:
        return failed(
            f"the ledger's newest snapshot of pg_stat_statements was taken at "
            f"{snapshots[-1].taken_at.isoformat()}, not before this run's time {now.isoformat()}"
        )
    current = UsageSnapshot(now, counters.stats_reset)
    new_rows = changed_rows(counters, snapshots[-1] if snapshots else None, stored, now)
    reads, history_from = difference([*snapshots, current], [*stored, *new_rows], start)
    if history is not None:
        history.save_usage_snapshot(source, current, new_rows, keep_since=start)

    usages, excluded = _fold(reads, settings)
    failure = None
    if counters.hidden:
        user = parsed.username or "the connecting user"
        failure = (
            f"{counters.hidden} statements of other users are hidden from {user}: "
            f"GRANT pg_read_all_stats TO {user};"
        )
    return WarehouseUsage(source, start, now, history_from, usages, failure=failure, excluded_reads=excluded)


def _fold(
    reads: dict[Key, list[tuple[int, datetime, str]]], settings: UsageSettings
) -> tuple[list[RelationUsage], int]:
    counts: dict[tuple[Relation, str], list[Any]] = {}
    excluded = 0
    for (user, _, _), found in reads.items():
        for calls, at, relations_json in found:
            relations = [tuple(r) for r in json.loads(relations_json)]
            if settings.excludes(user, user, None):
                excluded += calls * len(relations)
                continue
            for database, schema, name in relations:
                relation: Relation = (database, schema, name)
                entry = counts.setdefault((relation, user), [0, at])
                entry[0] += calls
                entry[1] = max(entry[1], at)
    usages = []
    for (relation, user), (count, last) in counts.items():
        if count < settings.min_reads:
            excluded += count
            continue
        usages.append(RelationUsage(relation, user, count, last, tool_of(user)))
    usages.sort(key=lambda u: (u.relation[0] or "", u.relation[1] or "", u.relation[2], u.reader))
    return usages, excluded


def read_counters(url: URL) -> Counters:
    """pg_stat_statements as the URL's user sees it (all users' statements, given the right)."""
    engine = sa.create_engine(
        url,
        poolclass=NullPool,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "metapipeline"},
    )
    try:
        with engine.connect() as conn:
            schema = conn.scalar(sa.text(EXTENSION_SQL))
            if schema is None:
                raise _Unavailable(
                    f"pg_stat_statements is not installed in database {url.database or '(default)'}: "
                    f"run {CREATE_EXTENSION}"
                )
            quoted = conn.dialect.identifier_preparer.quote_identifier(schema)
            stats_reset = None
            if (conn.dialect.server_version_info or (0,)) >= (14,):
                stats_reset = conn.scalar(sa.text(STATS_RESET_SQL.format(schema=quoted)))
            rows: Sequence[Any] = conn.execute(sa.text(STATEMENTS_SQL.format(schema=quoted))).all()
    finally:
        engine.dispose()
    statements = []
    hidden = 0
    for user, database, queryid, query, calls, entries in rows:
        if queryid is None or query is None:
            hidden += int(entries)
        elif calls and int(calls) > 0:
            statements.append((str(user), str(database), str(queryid), str(query), int(calls)))
    return Counters(stats_reset, statements, hidden)


def _with_driver(url: str) -> str:
    # The driver the project ships (as the ledger does); a bare postgres:// is no SQLAlchemy name.
    for bare in ("postgresql://", "postgres://"):
        if url.startswith(bare):
            return "postgresql+psycopg2://" + url[len(bare) :]
    return url


def _source(url: URL) -> str:
    """The server and database, never the user's password."""
    where = f"{url.host}:{url.port or 5432}" if url.host else "local socket"
    return f"postgresql {where}/{url.database or ''}"


def _advice(text: str, code: str | None) -> str:
    folded = text.casefold()
    if "shared_preload_libraries" in folded or code == "55000":
        return f"run {CREATE_EXTENSION}"
    if "password" in folded or code in ("28P01", "28000"):
        return "check the user and password in the URL"
    if code == "42501" or "permission denied" in folded:
        return "grant the user pg_read_all_stats (GRANT pg_read_all_stats TO <user>;)"
    if code in ("42P01", "42883"):
        return f"update the extension (ALTER EXTENSION pg_stat_statements UPDATE;) or run {CREATE_EXTENSION}"
    if "could not connect" in folded or "connection refused" in folded or "translate host" in folded:
        return "is PostgreSQL running and reachable there?"
    return ""


def _failure(error: BaseException, url: URL) -> str:
    original = getattr(error, "orig", None) or error
    text = " ".join(str(original).split()) or type(original).__name__
    advice = _advice(text, getattr(original, "pgcode", None))
    message = redact(f"{type(original).__name__}: {text}", url) + (f" ({advice})" if advice else "")
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


def redact(text: str, url: URL) -> str:
    """`text` without the URL's password (plain or URL-encoded), wherever it was given."""
    secrets = [url.password, url.query.get("password")]
    for secret in secrets:
        if isinstance(secret, tuple):
            secret = secret[0] if secret else None
        if isinstance(secret, str) and secret:
            for form in {secret, quote(secret, safe=""), quote(secret)}:
                text = text.replace(form, "***")
    return text

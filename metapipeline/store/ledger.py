"""The ledger: metapipeline's memory, in SQLite (default) or PostgreSQL.

It records every action taken on a Mode report (or only planned, in a dry run). It caches what
incremental ingestion needs to skip unchanged reports and recently read report owners, the
SQL-lineage reference extractions so that a run parses only SQL it has not seen, and what each
pull request was planned from, so that a run with the same inputs need not plan it again, and
snapshots of a warehouse's cumulative statement counters (pg_stat_statements), which differenced
give reads per window. Plain data goes in and out: `Action`, `CachedReport`, `UsageSnapshot`,
`StatementCalls` and `Extraction` records (the last stored as JSON), timezone-aware UTC datetimes.
The schema is versioned; `Ledger` migrates it on open and refuses a database written by a newer
metapipeline.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Dialect,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import TypeDecorator

from metapipeline.dbt.run_history import NodeRun
from metapipeline.lineage.references import Extraction
from metapipeline.mode.models import Creator

DEFAULT_FILENAME = "metapipeline.sqlite"
URL_VARIABLE = "METAPIPELINE_DATABASE_URL"

# What ends or starts "archived by us"; other actions ("skip", ...) leave that state alone.
# "gone" (deleted in Mode by someone else) ends it too, or we would look for the report forever.
_LIFECYCLE = ("archive", "unarchive", "delete", "restored", "gone")


def database_url(dagster_home: str | Path | None = None) -> str:
    """$METAPIPELINE_DATABASE_URL if set, else SQLite in `dagster_home` (default: $DAGSTER_HOME)."""
    if url := os.environ.get(URL_VARIABLE):
        return url
    home = dagster_home or os.environ.get("DAGSTER_HOME")
    if not home:
        raise ValueError(
            f"Nowhere to keep the ledger: set {URL_VARIABLE} (a SQLAlchemy URL) or DAGSTER_HOME "
            f"(the ledger is then {DEFAULT_FILENAME} in it)."
        )
    return f"sqlite:///{Path(home).expanduser().resolve() / DEFAULT_FILENAME}"


@dataclass(frozen=True)
class Action:
    """One thing metapipeline did (or would do, in a dry run) to a Mode report."""

    workspace: str
    report_token: str
    report_name: str
    action: str  # "archive" | "delete" | "restored" | "gone" | "skip" | ...
    reason: str
    run_id: str
    at: datetime
    dry_run: bool = False


@dataclass(frozen=True)
class CachedReport:
    """What incremental ingestion remembers per report: reuse `queries` while the timestamps match."""

    token: str
    updated_at: str | None
    edited_at: str | None
    queries: tuple[dict[str, Any], ...]
    # The Datasets it imports; None for an entry written before they were read (read it again).
    imported_datasets: tuple[str, ...] | None = None


@dataclass(frozen=True)
class PublishedChange:
    """A pull request's change set as last published, and a fingerprint of what it was planned from."""

    repository: str
    branch: str
    inputs: str
    content_hash: str
    files: int
    at: datetime


@dataclass(frozen=True)
class UsageSnapshot:
    """When a warehouse's cumulative statement counters were read, and since when they had counted
    (pg_stat_statements_info.stats_reset; None where the warehouse does not say)."""

    taken_at: datetime
    counting_since: datetime | None


@dataclass(frozen=True)
class StatementCalls:
    """A statement's cumulative calls as of a snapshot. The client writes a row only where the
    calls changed since the statement's previous row, or its counters restarted (0: no longer
    counted), so a statement's calls as of any snapshot are those of its newest row at or before
    it. `relations` is the client's JSON text, which the ledger never reads."""

    taken_at: datetime
    user: str
    database: str
    queryid: str
    calls: int
    relations: str


class _UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, whatever the backend keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the ledger needs timezone-aware times")
        return value.astimezone(UTC)  # SQLite drops the offset, so store UTC

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # SQLite gives back naive UTC; PostgreSQL an aware time in the session's zone.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()
schema_version_table = Table("schema_version", metadata, Column("version", Integer, nullable=False))
actions_table = Table(
    "actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # orders actions with equal times
    Column("workspace", String(255), nullable=False),
    Column("report_token", String(255), nullable=False),
    Column("report_name", Text, nullable=False),
    Column("action", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("run_id", String(255), nullable=False),
    Column("at", _UTCDateTime, nullable=False),
    Column("dry_run", Boolean, nullable=False),
    Index("ix_actions_workspace_report", "workspace", "report_token"),
)
cached_reports_table = Table(
    "cached_reports",
    metadata,
    Column("workspace", String(255), primary_key=True),
    Column("token", String(255), primary_key=True),
    Column("updated_at", String(64)),
    Column("edited_at", String(64)),
    Column("queries", JSON, nullable=False),
    Column("imported_datasets", JSON),
)


dbt_node_runs_table = Table(
    "dbt_node_runs",
    metadata,
    Column("invocation_id", String(64), primary_key=True),
    Column("unique_id", String(512), primary_key=True),
    Column("status", String(32), nullable=False),
    Column("execution_time", Float, nullable=False),
    Column("started_at", _UTCDateTime, nullable=False),
    Column("day", Date, nullable=False),
    Index("ix_dbt_node_runs_day", "day"),
)


slack_posts_table = Table(
    "slack_posts",
    metadata,
    Column("key", String(255), primary_key=True),  # e.g. "<run id>:summary": one post per run and purpose
    Column("channel_id", String(64), nullable=False),
    Column("ts", String(64), nullable=False),
)


reference_extractions_table = Table(
    "reference_extractions",
    metadata,
    # ReferenceCache.key: the rendered SQL's hash, dialect, defaults and extractor version.
    Column("key", String, primary_key=True),
    Column("extraction", JSON, nullable=False),  # Extraction.to_json(): never pickle in a shared store
    # No index: each run rewrites it for every key in use, and pruning scans the table anyway.
    Column("last_used_at", _UTCDateTime, nullable=False),
)


published_changes_table = Table(
    "published_changes",
    metadata,
    # One pull request per repository and branch: what it was planned from, and what it holds.
    Column("repository", String(255), primary_key=True),
    Column("branch", String(255), primary_key=True),
    Column("inputs", String(64), nullable=False),  # pull_requests.inputs_fingerprint
    Column("content_hash", String(64), nullable=False),  # ChangeSet.content_hash
    Column("files", Integer, nullable=False),
    Column("at", _UTCDateTime, nullable=False),
)


mode_creators_table = Table(
    "mode_creators",
    metadata,
    # Report owners' names and emails change rarely: re-read each after `read_at` is a week old.
    Column("workspace", String(255), primary_key=True),
    Column("username", String(255), primary_key=True),
    Column("name", Text),
    Column("email", Text),
    Column("read_at", _UTCDateTime, nullable=False),
)


usage_snapshots_table = Table(
    "usage_snapshots",
    metadata,
    # `source`: the counters' owner (a server and database, never a password).
    Column("source", String(512), primary_key=True),
    Column("taken_at", _UTCDateTime, primary_key=True),
    Column("counting_since", _UTCDateTime),
)


usage_statement_calls_table = Table(
    "usage_statement_calls",
    metadata,
    # Key first: pruning looks for a statement's newer rows.
    Column("source", String(512), primary_key=True),
    Column("user_name", String(255), primary_key=True),
    Column("database_name", String(255), primary_key=True),
    Column("queryid", String(64), primary_key=True),
    Column("taken_at", _UTCDateTime, primary_key=True),
    Column("calls", BigInteger, nullable=False),
    Column("relations", Text, nullable=False),
)


def _v1(conn: Connection) -> None:
    # The tables above are the current schema. When one changes, freeze this step's own copy of
    # the first tables here and add a step that alters them: a step, once released, never changes.
    frozen = MetaData()
    Table(
        "cached_reports",
        frozen,
        Column("workspace", String(255), primary_key=True),
        Column("token", String(255), primary_key=True),
        Column("updated_at", String(64)),
        Column("edited_at", String(64)),
        Column("queries", JSON, nullable=False),
    )
    metadata.create_all(conn, tables=[actions_table])
    frozen.create_all(conn)


def _v2(conn: Connection) -> None:
    metadata.create_all(conn, tables=[dbt_node_runs_table])


def _v3(conn: Connection) -> None:
    metadata.create_all(conn, tables=[slack_posts_table])


def _v4(conn: Connection) -> None:
    metadata.create_all(conn, tables=[reference_extractions_table])


def _v5(conn: Connection) -> None:
    metadata.create_all(conn, tables=[published_changes_table, mode_creators_table])


def _v6(conn: Connection) -> None:
    column = cached_reports_table.c.imported_datasets
    kind = column.type.compile(dialect=conn.dialect)
    conn.execute(text(f"ALTER TABLE cached_reports ADD COLUMN {column.name} {kind}"))


def _v7(conn: Connection) -> None:
    metadata.create_all(conn, tables=[usage_snapshots_table, usage_statement_calls_table])


# Step i brings the schema to version i + 1.
MIGRATIONS: list[Callable[[Connection], None]] = [_v1, _v2, _v3, _v4, _v5, _v6, _v7]
_INSERTS: dict[str, Callable[[Table], sqlite.Insert | postgresql.Insert]] = {
    "sqlite": sqlite.insert,
    "postgresql": postgresql.insert,
}


class Ledger:
    """The store behind metapipeline's memory; every method is one transaction."""

    SCHEMA_VERSION = len(MIGRATIONS)

    def __init__(self, url: str):
        self.engine = create_engine(_with_driver(url))
        self._dialect = self.engine.dialect.name
        if self._dialect not in _INSERTS:
            raise ValueError(f"The ledger runs on SQLite or PostgreSQL, not {self.engine.url!r}.")
        if self._dialect == "sqlite":
            _share_sqlite(self.engine)
        try:
            self.migrate()
        except BaseException:
            self.engine.dispose()  # a refused database must not keep connections open
            raise

    @classmethod
    def from_env(cls, dagster_home: str | Path | None = None) -> Ledger:
        return cls(database_url(dagster_home))

    def migrate(self) -> None:
        """Apply the missing migration steps, all in one transaction."""
        with self.engine.begin() as conn:
            if self._dialect == "postgresql":
                # Two processes opening a fresh database must not both create the tables.
                conn.execute(text("SELECT pg_advisory_xact_lock(7102746155)"))
            schema_version_table.create(conn, checkfirst=True)
            current = conn.scalar(select(func.max(schema_version_table.c.version))) or 0
            if current > self.SCHEMA_VERSION:
                raise RuntimeError(
                    f"The ledger at {self.engine.url!r} has schema version {current}, but this "
                    f"metapipeline knows only up to {self.SCHEMA_VERSION}: it was written by a newer "
                    "metapipeline. Upgrade metapipeline; do not point an older one at it."
                )
            if current == self.SCHEMA_VERSION:
                return
            for step in MIGRATIONS[current:]:
                step(conn)
            conn.execute(delete(schema_version_table))
            conn.execute(insert(schema_version_table).values(version=self.SCHEMA_VERSION))

    def schema_version(self) -> int:
        with self.engine.begin() as conn:
            return conn.scalar(select(func.max(schema_version_table.c.version))) or 0

    def record_actions(self, actions: Iterable[Action]) -> None:
        rows = [vars(a) for a in actions]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(insert(actions_table), rows)

    def actions(self, workspace: str, report_token: str | None = None) -> list[Action]:
        """The workspace's actions (one report's, if given), oldest first."""
        t = actions_table
        query = select(*(t.c[f.name] for f in fields(Action))).where(t.c.workspace == workspace)
        if report_token is not None:
            query = query.where(t.c.report_token == report_token)
        with self.engine.begin() as conn:
            return [Action(**row._mapping) for row in conn.execute(query.order_by(t.c.at, t.c.id))]

    def lifecycle_history(self, workspace: str) -> dict[str, Action]:
        """Report token -> the last real (not dry-run) lifecycle action metapipeline took on it."""
        latest: dict[str, Action] = {}
        for action in self.actions(workspace):  # oldest first, so the last one wins
            if not action.dry_run and action.action in _LIFECYCLE:
                latest[action.report_token] = action
        return latest

    def cached_reports(self, workspace: str) -> dict[str, CachedReport]:
        t = cached_reports_table
        query = select(t.c.token, t.c.updated_at, t.c.edited_at, t.c.queries, t.c.imported_datasets).where(
            t.c.workspace == workspace
        )
        with self.engine.begin() as conn:
            return {
                row.token: CachedReport(
                    row.token,
                    row.updated_at,
                    row.edited_at,
                    tuple(row.queries),
                    None if row.imported_datasets is None else tuple(row.imported_datasets),
                )
                for row in conn.execute(query)
            }

    def store_reports(self, workspace: str, reports: Iterable[CachedReport]) -> None:
        """Insert or replace the reports' cache entries (the last one wins for a repeated token)."""
        # One row per token: a multi-row upsert may not touch the same row twice.
        latest = {r.token: r for r in reports}
        rows = [
            {
                "workspace": workspace,
                **vars(r),
                "queries": list(r.queries),
                "imported_datasets": None if r.imported_datasets is None else list(r.imported_datasets),
            }
            for r in latest.values()
        ]
        if not rows:
            return
        upsert = self._upsert(
            cached_reports_table,
            ["workspace", "token"],
            ["updated_at", "edited_at", "queries", "imported_datasets"],
        )
        with self.engine.begin() as conn:
            # RETURNING makes SQLAlchemy send multi-row VALUES pages ("insertmanyvalues"); without
            # it an upsert goes row by row, one round trip each (10,000 rows: ~0.9 s on PostgreSQL).
            conn.execute(upsert.returning(cached_reports_table.c.token), rows)

    def forget_reports(self, workspace: str, tokens: Iterable[str]) -> None:
        t = cached_reports_table
        tokens = list(tokens)
        with self.engine.begin() as conn:
            for i in range(0, len(tokens), 500):  # chunks keep under SQLite's bound-parameter limit
                conn.execute(delete(t).where(t.c.workspace == workspace, t.c.token.in_(tokens[i : i + 500])))

    def record_node_runs(self, runs: Iterable[NodeRun]) -> int:
        """Store dbt node runs; idempotent by (invocation id, node). Returns how many were new."""
        rows = [
            {
                "invocation_id": r.invocation_id,
                "unique_id": r.unique_id,
                "status": r.status,
                "execution_time": r.execution_time,
                "started_at": r.started_at,
                "day": r.day,
            }
            for r in runs
        ]
        if not rows:
            return 0
        t = dbt_node_runs_table
        with self.engine.begin() as conn:
            before = conn.scalar(select(func.count()).select_from(t)) or 0
            statement = _INSERTS[self._dialect](t).on_conflict_do_nothing(
                index_elements=["invocation_id", "unique_id"]
            )
            conn.execute(statement, rows)
            return (conn.scalar(select(func.count()).select_from(t)) or 0) - before

    def models_run_per_day(self, start: date | None = None, end: date | None = None) -> dict[date, int]:
        """Distinct models that ran successfully, per day (both bounds inclusive)."""
        t = dbt_node_runs_table
        query = (
            select(t.c.day, func.count(func.distinct(t.c.unique_id)))
            .where(t.c.unique_id.like("model.%"), t.c.status == "success")
            .group_by(t.c.day)
            .order_by(t.c.day)
        )
        if start:
            query = query.where(t.c.day >= start)
        if end:
            query = query.where(t.c.day <= end)
        with self.engine.begin() as conn:
            return {row[0]: int(row[1]) for row in conn.execute(query)}

    def run_seconds_since(self, since: datetime) -> dict[str, float]:
        """Total execution time per model since `since`: what optimising it would save."""
        t = dbt_node_runs_table
        query = (
            select(t.c.unique_id, func.sum(t.c.execution_time))
            .where(t.c.unique_id.like("model.%"), t.c.started_at >= since)
            .group_by(t.c.unique_id)
        )
        with self.engine.begin() as conn:
            return {str(row[0]): float(row[1]) for row in conn.execute(query)}

    def last_runs(self, unique_ids: Iterable[str]) -> dict[str, tuple[datetime, float]]:
        """unique_id -> (start of its last successful run, that run's execution time)."""
        t = dbt_node_runs_table
        found: dict[str, tuple[datetime, float]] = {}
        ids = sorted(set(unique_ids))
        with self.engine.begin() as conn:
            for start in range(0, len(ids), 500):
                query = select(t.c.unique_id, t.c.started_at, t.c.execution_time).where(
                    t.c.unique_id.in_(ids[start : start + 500]), t.c.status == "success"
                )
                for row in conn.execute(query):
                    unique_id, started_at = str(row.unique_id), row.started_at
                    if unique_id not in found or started_at > found[unique_id][0]:
                        found[unique_id] = (started_at, float(row.execution_time))
        return found

    def slack_post(self, key: str) -> tuple[str, str] | None:
        """(channel id, ts) of what was posted under `key`, if anything."""
        t = slack_posts_table
        with self.engine.begin() as conn:
            row = conn.execute(select(t.c.channel_id, t.c.ts).where(t.c.key == key)).first()
        return (row[0], row[1]) if row else None

    def record_slack_post(self, key: str, channel_id: str, ts: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(slack_posts_table).values(key=key, channel_id=channel_id, ts=ts))

    def cached_creators(self, workspace: str, read_since: datetime) -> dict[str, Creator]:
        """Mode users read at or after `read_since`, by username."""
        t = mode_creators_table
        query = select(t.c.username, t.c.name, t.c.email).where(
            t.c.workspace == workspace, t.c.read_at >= read_since
        )
        with self.engine.begin() as conn:
            return {row.username: Creator(row.username, row.name, row.email) for row in conn.execute(query)}

    def store_creators(self, workspace: str, creators: Iterable[Creator], read_at: datetime) -> None:
        rows = [{"workspace": workspace, **vars(c), "read_at": read_at} for c in creators]
        if not rows:
            return
        upsert = self._upsert(mode_creators_table, ["workspace", "username"], ["name", "email", "read_at"])
        with self.engine.begin() as conn:
            conn.execute(upsert.returning(mode_creators_table.c.username), rows)  # see store_reports

    def published_change(self, repository: str, branch: str) -> PublishedChange | None:
        """What was last published on the branch, and what it was planned from."""
        t = published_changes_table
        query = select(t.c.inputs, t.c.content_hash, t.c.files, t.c.at).where(
            t.c.repository == repository, t.c.branch == branch
        )
        with self.engine.begin() as conn:
            row = conn.execute(query).first()
        return (
            PublishedChange(repository, branch, row.inputs, row.content_hash, row.files, row.at)
            if row
            else None
        )

    def record_published_change(self, change: PublishedChange) -> None:
        upsert = self._upsert(
            published_changes_table, ["repository", "branch"], ["inputs", "content_hash", "files", "at"]
        )
        with self.engine.begin() as conn:
            conn.execute(upsert.values(**vars(change)))

    def load_reference_cache(self, keys: Iterable[str] | None = None) -> dict[str, Extraction]:
        """Cached reference extractions by key: all of them, or those of `keys` that are cached."""
        t = reference_extractions_table
        query = select(t.c.key, t.c.extraction)
        with self.engine.begin() as conn:
            if keys is None:
                return {row.key: Extraction.from_json(row.extraction) for row in conn.execute(query)}
            wanted = list(set(keys))
            found: dict[str, Extraction] = {}
            for i in range(0, len(wanted), 500):  # chunks keep under SQLite's bound-parameter limit
                rows = conn.execute(query.where(t.c.key.in_(wanted[i : i + 500])))
                found.update((row.key, Extraction.from_json(row.extraction)) for row in rows)
            return found

    def save_reference_cache(
        self,
        new: Mapping[str, Extraction],
        used: Iterable[str],
        now: datetime,
        *,
        keep_days: int = 30,
    ) -> int:
        """Store `new` extractions, mark `used` keys (and the new ones) used at `now`, then delete
        the entries unused for more than `keep_days` days. Returns how many were deleted.

        A key already stored (another run put it meanwhile) keeps its extraction: equal keys mean
        equal SQL, dialect, defaults and extractor, hence equal extractions."""
        t = reference_extractions_table
        rows = [{"key": k, "extraction": e.to_json(), "last_used_at": now} for k, e in new.items()]
        touched = sorted(set(used).difference(new))  # in key order, chunks hit fewer index pages
        with self.engine.begin() as conn:
            if self._dialect == "postgresql":
                # One save at a time: two runs upserting and touching the same keys in other orders
                # would deadlock. (SQLite's BEGIN IMMEDIATE already serialises writers.)
                conn.execute(text("SELECT pg_advisory_xact_lock(7102746156)"))
            if rows:
                upsert = self._upsert(t, ["key"], ["last_used_at"])
                # RETURNING: multi-row VALUES pages instead of a round trip per row (see store_reports).
                conn.execute(upsert.returning(t.c.key), rows)
            for i in range(0, len(touched), 500):
                conn.execute(update(t).where(t.c.key.in_(touched[i : i + 500])).values(last_used_at=now))
            pruned = conn.execute(delete(t).where(t.c.last_used_at < now - timedelta(days=keep_days)))
            return pruned.rowcount

    def usage_history(self, source: str, since: datetime) -> tuple[list[UsageSnapshot], list[StatementCalls]]:
        """The source's snapshots from the newest one taken at or before `since` (all of them when
        none was) and every statement row kept, each oldest first."""
        s, c = usage_snapshots_table, usage_statement_calls_table
        with self.engine.begin() as conn:
            anchor = conn.scalar(
                select(func.max(s.c.taken_at)).where(s.c.source == source, s.c.taken_at <= since)
            )
            query = select(s.c.taken_at, s.c.counting_since).where(s.c.source == source)
            if anchor is not None:
                query = query.where(s.c.taken_at >= anchor)
            snapshots = [
                UsageSnapshot(row.taken_at, row.counting_since)
                for row in conn.execute(query.order_by(s.c.taken_at))
            ]
            rows = conn.execute(
                select(c.c.taken_at, c.c.user_name, c.c.database_name, c.c.queryid, c.c.calls, c.c.relations)
                .where(c.c.source == source)
                .order_by(c.c.taken_at, c.c.user_name, c.c.database_name, c.c.queryid)
            )
            statements = [
                StatementCalls(r.taken_at, r.user_name, r.database_name, r.queryid, r.calls, r.relations)
                for r in rows
            ]
        return snapshots, statements

    def save_usage_snapshot(
        self,
        source: str,
        snapshot: UsageSnapshot,
        statements: Iterable[StatementCalls],
        *,
        keep_since: datetime,
    ) -> int:
        """Store a snapshot and the statement rows that changed in it, then prune what no snapshot
        from the newest one at or before `keep_since` on needs: older snapshots, and each statement's
        rows older than its newest one at or before that snapshot (and that one too if its calls are
        0). Returns how many statement rows were deleted."""
        s, c = usage_snapshots_table, usage_statement_calls_table
        rows = [
            {
                "source": source,
                "user_name": r.user,
                "database_name": r.database,
                "queryid": r.queryid,
                "taken_at": snapshot.taken_at,
                "calls": r.calls,
                "relations": r.relations,
            }
            for r in statements
        ]
        with self.engine.begin() as conn:
            if self._dialect == "postgresql":
                # One save at a time, so that a prune never runs beside another run's insert.
                conn.execute(text("SELECT pg_advisory_xact_lock(7102746157)"))
            conn.execute(insert(s).values(source=source, **vars(snapshot)))
            if rows:
                conn.execute(insert(c), rows)
            anchor = conn.scalar(
                select(func.max(s.c.taken_at)).where(s.c.source == source, s.c.taken_at <= keep_since)
            )
            if anchor is None:
                return 0
            conn.execute(delete(s).where(s.c.source == source, s.c.taken_at < anchor))
            newer = c.alias("newer")
            superseded = conn.execute(
                delete(c).where(
                    c.c.source == source,
                    c.c.taken_at < anchor,
                    exists().where(
                        newer.c.source == c.c.source,
                        newer.c.user_name == c.c.user_name,
                        newer.c.database_name == c.c.database_name,
                        newer.c.queryid == c.c.queryid,
                        newer.c.taken_at > c.c.taken_at,
                        newer.c.taken_at <= anchor,
                    ),
                )
            )
            # Then a statement no longer counted at the anchor needs no row there at all.
            gone = conn.execute(delete(c).where(c.c.source == source, c.c.taken_at <= anchor, c.c.calls == 0))
            return superseded.rowcount + gone.rowcount

    def _upsert(self, table: Table, keys: list[str], updated: list[str]) -> Any:
        """An insert that, on a row with the same `keys`, overwrites its `updated` columns instead."""
        upsert = _INSERTS[self._dialect](table)
        return upsert.on_conflict_do_update(
            index_elements=keys, set_={name: upsert.excluded[name] for name in updated}
        )

    def close(self) -> None:
        self.engine.dispose()


def _with_driver(url: str) -> str:
    # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; we ship psycopg2 (as dagster-postgres does).
    for bare in ("postgresql://", "postgres://"):
        if url.startswith(bare):
            return "postgresql+psycopg2://" + url[len(bare) :]
    return url


def _share_sqlite(engine: Engine) -> None:
    """Let several processes and threads share one SQLite file."""
    database = engine.url.database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transactions to SQLAlchemy (pysqlite's own would leave DDL outside them), let
        # readers run beside a writer (WAL), and wait for a busy writer instead of failing.
        dbapi_connection.isolation_level = None
        # The timeout first: switching a new file to WAL takes a lock another connection may hold.
        dbapi_connection.execute("PRAGMA busy_timeout=30000")
        dbapi_connection.execute("PRAGMA journal_mode=WAL")

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock up front: a deferred transaction that reads and then writes
        # fails with "database is locked" at once, whatever the busy timeout, if another wrote meanwhile.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

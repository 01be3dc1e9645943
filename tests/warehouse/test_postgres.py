"""PostgreSQL's pg_stat_statements as usage: which statements read what, the snapshot differencing
(on made-up counters), and the real thing on the session's PostgreSQL (skipped without it), where
users really run their SELECTs and runs at later `now`s difference the ledger's snapshots."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

import metapipeline.warehouse.postgres as postgres
from metapipeline.mode.snapshot import WorkspaceSnapshot
from metapipeline.platform.analysis import unused_models
from metapipeline.platform.graph import build_platform_graph
from metapipeline.platform.unused import Protections
from metapipeline.sandbox.harness import free_port
from metapipeline.store.ledger import Ledger, StatementCalls, UsageSnapshot
from metapipeline.warehouse.postgres import Counters, difference, postgres_usage, statement_reads
from metapipeline.warehouse.sources import read_usage_source
from metapipeline.warehouse.usage import RelationUsage, UsageSettings

DB = "analytics"
BASKET = (DB, "marts", "fct_basket_affinity")
ORDERS = (DB, "marts", "fct_orders")
CUSTOMERS = (DB, "marts", "dim_customers")
SUMMARY = (DB, "marts", "order_summary")
SETTINGS = UsageSettings(exclude_users=("dbt_runner",))
PASSWORD = "Tr0ub4dor&3-not-a-real-one"
T0 = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)


# --- Which statements read what -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM marts.fct_orders WHERE order_id = $1 LIMIT $2", [ORDERS]),
        ("select * from fct_orders", [(DB, "public", "fct_orders")]),
        ("-- dashboard\nWITH o AS (SELECT * FROM marts.fct_orders) SELECT count(*) FROM o", [ORDERS]),
        ("(SELECT 1 FROM marts.fct_orders) UNION ALL SELECT 2 FROM marts.dim_customers", [ORDERS, CUSTOMERS]),
        ("TABLE marts.fct_orders", [ORDERS]),
        ("INSERT INTO marts.order_summary (a) SELECT a FROM marts.fct_orders", [ORDERS]),
        (
            "WITH c AS (SELECT * FROM marts.fct_orders) INSERT INTO marts.order_summary SELECT * FROM c",
            [ORDERS],
        ),
        ("UPDATE marts.order_summary SET a = c.a FROM marts.dim_customers c WHERE c.id = $1", [CUSTOMERS]),
        ("UPDATE marts.order_summary SET a = $1", []),
        ("DELETE FROM marts.order_summary USING marts.dim_customers c WHERE c.id = $1", [CUSTOMERS]),
        (
            "MERGE INTO marts.order_summary t USING marts.fct_orders s ON t.id = s.id "
            "WHEN MATCHED THEN UPDATE SET a = s.a",
            [ORDERS],
        ),
        ("SELECT * INTO marts.order_summary FROM marts.fct_orders", [ORDERS]),
        ("CREATE TABLE marts.order_summary AS SELECT * FROM marts.fct_orders", [ORDERS]),
        ("COPY marts.fct_orders TO STDOUT", [ORDERS]),
        ("COPY (SELECT * FROM marts.fct_orders) TO STDOUT", [ORDERS]),
        ("COPY marts.order_summary FROM STDIN", []),
        ("CREATE VIEW marts.v AS SELECT * FROM marts.fct_orders", []),
        ("DROP TABLE marts.fct_orders", []),
        ("ALTER TABLE marts.fct_orders ADD COLUMN x int", []),
        ("EXPLAIN SELECT * FROM marts.fct_orders", []),
        ("VACUUM marts.fct_orders", []),
        ("SET search_path = marts", []),
        ("BEGIN", []),
        ("SELECT $1", []),
        ("SELECT * FROM pg_stat_statements JOIN pg_catalog.pg_roles r ON true", []),
        ("select n.nspname from information_schema.tables n", []),
    ],
)
def test_statement_reads(sql: str, expected: list[tuple[str, str, str]]) -> None:
    assert sorted(statement_reads(sql, DB)) == sorted(expected)


def test_a_query_that_does_not_parse_reads_every_name_it_holds() -> None:
    # Not PostgreSQL sqlglot reads, but it starts like a query: its names may be the tables read.
    assert ORDERS in statement_reads("SELECT FROM marts.fct_orders WHERE ))(", DB)
    assert statement_reads("INSERT marts.fct_orders ))(", DB) == ()


# --- The differencing, on made-up counters -----------------------------------------------------


def _snapshot(day: float, reset: datetime | None = T0) -> UsageSnapshot:
    return UsageSnapshot(T0 + timedelta(days=day), reset)


def _rows(day: float, **calls: int) -> list[StatementCalls]:
    return [
        StatementCalls(
            T0 + timedelta(days=day), "analyst", DB, q, n, '[["analytics", "marts", "fct_orders"]]'
        )
        for q, n in calls.items()
    ]


def test_a_first_snapshot_counts_since_the_reset_later_ones_their_increase() -> None:
    points = [_snapshot(1), _snapshot(2), _snapshot(5)]
    rows = [*_rows(1, a=3, b=1), *_rows(2, a=5), *_rows(5, a=6, b=2)]
    reads, since = difference(points, rows, T0 - timedelta(days=90))
    assert since == T0
    assert reads[("analyst", DB, "a")] == [
        (3, T0 + timedelta(days=1), rows[0].relations),
        (2, T0 + timedelta(days=2), rows[0].relations),
        (1, T0 + timedelta(days=5), rows[0].relations),
    ]
    assert [(n, at.day) for n, at, _ in reads[("analyst", DB, "b")]] == [(1, 2), (1, 6)]


def test_an_anchor_before_the_window_starts_the_count() -> None:
    # The snapshot of day 1 is at or before the window's start: its calls are the baseline.
    points = [_snapshot(1), _snapshot(30)]
    rows = [*_rows(0, a=3), *_rows(1, b=4), *_rows(30, a=5)]
    reads, since = difference(points, rows, T0 + timedelta(days=1, hours=12))
    assert since == T0 + timedelta(days=1)
    assert reads == {("analyst", DB, "a"): [(2, T0 + timedelta(days=30), rows[0].relations)]}


def test_counters_that_restart_count_the_calls_since() -> None:
    reset = T0 + timedelta(days=1, hours=20)
    points = [_snapshot(1), _snapshot(3, reset), _snapshot(4, reset)]
    # a: the reset (seen in stats_reset) takes 10 to 4; b: gone at the reset (0), then counted again
    # from 0; c: its calls fell without a reset: its entry was evicted and made again meanwhile.
    rows = [*_rows(1, a=10, b=5, c=9), *_rows(3, a=4, b=0, c=2), *_rows(4, a=6, b=2, c=1)]
    reads, since = difference(points, rows, T0 - timedelta(days=90))
    increases = {key[2]: [n for n, _, _ in found] for key, found in reads.items()}
    assert increases == {"a": [10, 4, 2], "b": [5, 2], "c": [9, 2, 1]}
    assert since == T0  # 20 hours lost before the reset: within the slack


def test_a_reset_long_after_the_snapshot_before_it_moves_the_history_start() -> None:
    reset = T0 + timedelta(days=20)
    points = [_snapshot(1), _snapshot(21, reset)]
    _, since = difference(points, [*_rows(1, a=1), *_rows(21, a=1)], T0 - timedelta(days=90))
    assert since == reset


def test_without_stats_reset_the_first_snapshot_only_starts_the_history() -> None:
    reads, since = difference([_snapshot(1, None)], _rows(1, a=3), T0 - timedelta(days=90))
    assert reads == {}
    assert since == T0 + timedelta(days=1)


def _counters(reset: datetime | None, **calls: int) -> Counters:
    queries = {"a": "SELECT * FROM marts.fct_orders", "b": "SELECT * FROM marts.fct_basket_affinity"}
    queries["w"] = "UPDATE marts.order_summary SET a = $1"
    return Counters(reset, [("analyst", DB, q, queries[q], n) for q, n in calls.items()], hidden=0)


def test_runs_save_only_what_changed_and_read_it_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    readings = iter(
        [
            _counters(T0, a=3, b=1, w=7),
            _counters(T0, a=3, b=4, w=9),  # a unchanged: no row
            _counters(T0, b=4),  # a evicted: a 0
            _counters(T0 + timedelta(days=3), b=4),  # reset, b run 4 times since: a row all the same
        ]
    )
    parsed: list[str] = []
    real_reads = postgres.statement_reads
    monkeypatch.setattr(postgres, "read_counters", lambda url: next(readings))
    monkeypatch.setattr(
        postgres, "statement_reads", lambda sql, db: parsed.append(sql) or real_reads(sql, db)
    )
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    url = "postgresql://metapipeline@db.example:5432/analytics"
    source = "postgresql db.example:5432/analytics"
    try:
        usages = [postgres_usage(url, SETTINGS, T0 + timedelta(days=d), history=ledger) for d in (1, 2, 3)]
        last = postgres_usage(url, SETTINGS, T0 + timedelta(days=4), history=ledger)
        rows = ledger.usage_history(source, T0 - timedelta(days=90))[1]
    finally:
        ledger.close()
    assert [(r.taken_at.day - T0.day, r.queryid, r.calls) for r in rows] == [
        (1, "a", 3), (1, "b", 1), (2, "b", 4), (3, "a", 0), (4, "b", 4)
    ]  # fmt: skip
    # The write is parsed each time its calls change (it is never kept); the reads only when theirs do.
    assert len(parsed) == 6
    assert usages[0].source == source and usages[0].history_from == T0 and usages[0].failure is None
    assert [(u.relation[2], u.reads, u.last_read.day - T0.day) for u in usages[1].usages] == [
        ("fct_basket_affinity", 4, 2),
        ("fct_orders", 3, 1),
    ]
    assert [(u.relation[2], u.reads, u.last_read.day - T0.day) for u in last.usages] == [
        ("fct_basket_affinity", 8, 4),
        ("fct_orders", 3, 1),
    ]


def test_a_snapshot_newer_than_now_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(postgres, "read_counters", lambda url: _counters(T0, a=1))
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    try:
        url = "postgresql://metapipeline@db.example/analytics"
        assert postgres_usage(url, SETTINGS, T0 + timedelta(days=2), history=ledger).failure is None
        usage = postgres_usage(url, SETTINGS, T0 + timedelta(days=1), history=ledger)
    finally:
        ledger.close()
    assert usage.failure and "not before this run's time" in usage.failure
    assert usage.incomplete_because()


def test_redshift_is_not_read_yet() -> None:
    usage = postgres_usage(f"redshift+psycopg2://u:{PASSWORD}@cluster:5439/dev", SETTINGS, T0, history=None)
    assert usage.failure and "SYS_QUERY_HISTORY" in usage.failure and PASSWORD not in usage.failure


# --- The real PostgreSQL ------------------------------------------------------------------------

USERS = ("hightouch_sync", "dbt_runner", "analyst")
PASSWORD_USER = "metapipeline_pw"


def _execute(url: str, *statements: str) -> list[list[tuple]]:
    engine = sa.create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            results = []
            for statement in statements:
                result = conn.execute(sa.text(statement))
                results.append([tuple(row) for row in result] if result.returns_rows else [])
            return results
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def warehouse(postgres_server: str) -> Iterator[dict[str, str]]:
    """The `analytics` database (schema marts, pg_stat_statements), a `noext` one without it, and
    the readers as login roles; URLs by name."""
    server = postgres_server.rsplit("/", 1)[0]
    _execute(
        postgres_server,
        f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)",
        "DROP DATABASE IF EXISTS noext WITH (FORCE)",
        *(f"DROP ROLE IF EXISTS {user}" for user in (*USERS, PASSWORD_USER)),
        *(f"CREATE ROLE {user} LOGIN" for user in USERS),
        f"CREATE ROLE {PASSWORD_USER} LOGIN SUPERUSER PASSWORD '{PASSWORD}'",
        f"CREATE DATABASE {DB}",
        "CREATE DATABASE noext",
    )
    _execute(
        f"{server}/{DB}",
        "CREATE EXTENSION pg_stat_statements",
        "CREATE SCHEMA marts",
        "CREATE TABLE marts.fct_orders (order_id int, customer_id int)",
        "CREATE TABLE marts.fct_basket_affinity (product_a int, product_b int, lift float)",
        "CREATE TABLE marts.dim_customers (customer_id int, name text)",
        "CREATE TABLE marts.order_summary (customer_id int, orders int)",
        "INSERT INTO marts.fct_orders VALUES (1, 1), (2, 1), (3, 2)",
        "INSERT INTO marts.dim_customers VALUES (1, 'Ada'), (2, 'Grace')",
        f"GRANT USAGE ON SCHEMA marts TO {', '.join(USERS)}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA marts TO {', '.join(USERS)}",
        "GRANT INSERT, UPDATE ON marts.order_summary TO analyst, dbt_runner",
    )
    yield {
        "admin": f"{server}/{DB}",
        "noext": f"{server}/noext",
        **{user: server.replace("postgres@", f"{user}@", 1) + f"/{DB}" for user in USERS},
    }


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    yield ledger
    ledger.close()


def _reset(warehouse: dict[str, str]) -> datetime:
    """Zero the server's counters (tests share it); the new stats_reset."""
    _execute(warehouse["admin"], "SELECT pg_stat_statements_reset()")
    return _execute(warehouse["admin"], "SELECT stats_reset FROM pg_stat_statements_info")[0][0][0]


def _by_key(usages: list[RelationUsage]) -> dict[tuple[str, str], tuple[int, datetime, str | None]]:
    return {(u.relation[2], u.reader): (u.reads, u.last_read, u.tool) for u in usages}


def test_reads_by_user_from_snapshots_differenced(warehouse: dict[str, str], ledger: Ledger) -> None:
    reset = _reset(warehouse)
    _execute(
        warehouse["analyst"],
        *(f"SELECT count(*) FROM marts.fct_orders WHERE order_id > {n}" for n in range(3)),
        "WITH recent AS (SELECT * FROM marts.fct_orders) SELECT count(*) FROM recent",
        "SELECT * FROM marts.fct_basket_affinity b JOIN marts.dim_customers c ON c.customer_id = b.product_a",
        "INSERT INTO marts.order_summary SELECT customer_id, 1 FROM marts.dim_customers",
        "UPDATE marts.order_summary SET orders = orders + 1",
    )
    _execute(warehouse["hightouch_sync"], *["SELECT * FROM marts.fct_basket_affinity"] * 2)
    _execute(
        warehouse["dbt_runner"],
        *["SELECT * FROM marts.fct_orders"] * 5,
        "INSERT INTO marts.order_summary SELECT customer_id, count(*) FROM marts.fct_orders GROUP BY 1",
    )
    now1 = datetime.now(UTC)
    first = postgres_usage(warehouse["admin"], SETTINGS, now1, history=ledger)
    assert first.failure is None
    assert first.source.startswith("postgresql 127.0.0.1:") and first.source.endswith(f"/{DB}")
    assert first.history_from == reset  # a first snapshot counts since the counters started
    assert "reaches back to" in (first.incomplete_because() or "")  # ... which was just now
    assert _by_key(first.usages) == {
        ("dim_customers", "analyst"): (2, now1, None),  # the join and the INSERT's SELECT
        ("fct_basket_affinity", "analyst"): (1, now1, None),
        ("fct_basket_affinity", "hightouch_sync"): (2, now1, "hightouch"),
        ("fct_orders", "analyst"): (4, now1, None),
    }  # order_summary, only written, is read by no one
    assert {u.relation for u in first.usages} == {BASKET, ORDERS, CUSTOMERS}
    assert first.excluded_reads == 6  # dbt_runner's five SELECTs and its INSERT's read

    _execute(warehouse["analyst"], *["SELECT order_id FROM marts.fct_orders"] * 2)
    now2 = now1 + timedelta(days=2)
    second = postgres_usage(warehouse["admin"], SETTINGS, now2, history=ledger)
    assert second.history_from == reset
    assert _by_key(second.usages) == {
        ("dim_customers", "analyst"): (2, now1, None),
        ("fct_basket_affinity", "analyst"): (1, now1, None),
        ("fct_basket_affinity", "hightouch_sync"): (2, now1, "hightouch"),
        ("fct_orders", "analyst"): (6, now2, None),
    }
    assert second.excluded_reads == 6

    # 100 days on: the window starts after both snapshots; the newest of them is its baseline, and
    # nothing was read since. The first snapshot is pruned.
    now3 = now1 + timedelta(days=100)
    third = postgres_usage(warehouse["admin"], SETTINGS, now3, history=ledger)
    assert (third.failure, third.usages, third.excluded_reads) == (None, [], 0)
    assert third.history_from == now2
    assert third.incomplete_because() is None
    assert [s.taken_at for s in ledger.usage_history(third.source, now3)[0]] == [now3]
    assert [s.taken_at for s in ledger.usage_history(third.source, now1)[0]] == [now2, now3]

    _execute(warehouse["hightouch_sync"], "SELECT * FROM marts.fct_basket_affinity")
    now4 = now3 + timedelta(days=1)
    fourth = postgres_usage(warehouse["admin"], SETTINGS, now4, history=ledger)
    assert _by_key(fourth.usages) == {("fct_basket_affinity", "hightouch_sync"): (1, now4, "hightouch")}
    assert fourth.history_from == now2 and fourth.incomplete_because() is None


def test_a_reset_between_runs_counts_the_calls_since(warehouse: dict[str, str], ledger: Ledger) -> None:
    reset = _reset(warehouse)
    _execute(warehouse["analyst"], *["SELECT * FROM marts.fct_orders"] * 3)
    now1 = datetime.now(UTC)
    assert _by_key(postgres_usage(warehouse["admin"], SETTINGS, now1, history=ledger).usages) == {
        ("fct_orders", "analyst"): (3, now1, None)
    }
    _reset(warehouse)
    _execute(warehouse["analyst"], "SELECT * FROM marts.fct_orders")
    now2 = now1 + timedelta(days=1)
    usage = postgres_usage(warehouse["admin"], SETTINGS, now2, history=ledger)
    assert _by_key(usage.usages) == {("fct_orders", "analyst"): (4, now2, None)}
    assert usage.history_from == reset  # seconds lost before the reset: within the slack


def test_without_history_every_run_counts_since_the_reset(warehouse: dict[str, str]) -> None:
    reset = _reset(warehouse)
    _execute(warehouse["analyst"], "SELECT * FROM marts.dim_customers")
    now = datetime.now(UTC)
    usage = postgres_usage(warehouse["admin"], SETTINGS, now, history=None)
    assert usage.history_from == reset
    assert _by_key(usage.usages) == {("dim_customers", "analyst"): (1, now, None)}


def test_a_database_without_the_extension_fails_saying_what_to_run(
    warehouse: dict[str, str], ledger: Ledger
) -> None:
    usage = postgres_usage(warehouse["noext"], SETTINGS, datetime.now(UTC), history=ledger)
    assert usage.failure and "CREATE EXTENSION pg_stat_statements" in usage.failure
    assert "shared_preload_libraries" in usage.failure and "noext" in usage.failure
    assert usage.incomplete_because() and usage.usages == []
    assert ledger.usage_history(usage.source, datetime.now(UTC)) == ([], [])


def test_a_user_without_pg_read_all_stats_fails_naming_the_grant(warehouse: dict[str, str]) -> None:
    _reset(warehouse)
    _execute(warehouse["hightouch_sync"], "SELECT * FROM marts.fct_basket_affinity")
    usage = postgres_usage(warehouse["analyst"], SETTINGS, datetime.now(UTC), history=None)
    assert usage.failure and "GRANT pg_read_all_stats TO analyst" in usage.failure


@pytest.fixture
def password_auth(warehouse: dict[str, str]) -> Iterator[str]:
    """Password authentication for one role (the server trusts everyone else), through a line put
    first in pg_hba.conf and taken out again afterwards. Yields a URL with the wrong password."""
    admin = warehouse["admin"]
    original = _execute(admin, "SELECT pg_read_file(current_setting('hba_file'))")[0][0][0]
    line = f"host all {PASSWORD_USER} 127.0.0.1/32 scram-sha-256\n"

    def write(content: str) -> None:
        escaped = content.replace("'", "''")
        _execute(
            admin,
            "SELECT lo_unlink(oid) FROM pg_largeobject_metadata WHERE oid = 4711",
            f"SELECT lo_from_bytea(4711, convert_to('{escaped}', 'UTF8'))",
            "SELECT lo_export(4711, current_setting('hba_file'))",
            "SELECT lo_unlink(4711)",
            "SELECT pg_reload_conf()",
        )

    write(line + original)
    wrong = admin.replace("postgres@", f"{PASSWORD_USER}:wrong-{PASSWORD}@", 1)
    deadline = time.monotonic() + 10
    while True:  # the postmaster reloads pg_hba.conf on its own time
        try:
            _execute(wrong, "SELECT 1")
        except sa.exc.OperationalError:
            break
        if time.monotonic() > deadline:
            pytest.fail("pg_hba.conf was not reloaded")
        time.sleep(0.05)
    try:
        yield wrong
    finally:
        write(original)


def test_a_wrong_password_fails_without_the_password(password_auth: str) -> None:
    usage = postgres_usage(password_auth, SETTINGS, datetime.now(UTC), history=None)
    assert usage.failure and "password authentication failed" in usage.failure
    assert "check the user and password" in usage.failure
    assert PASSWORD not in usage.failure and "wrong-" not in usage.failure


def test_a_refused_connection_fails_without_the_password() -> None:
    url = f"postgresql://analyst:{PASSWORD}@127.0.0.1:{free_port()}/{DB}"
    usage = postgres_usage(url, SETTINGS, datetime.now(UTC), history=None)
    assert usage.failure and "refused" in usage.failure.casefold()
    assert PASSWORD not in usage.failure and PASSWORD not in usage.source


def test_the_sample_outcome_through_postgresql(
    warehouse: dict[str, str], ledger: Ledger, sample_projects
) -> None:
    """The job's path with a PostgreSQL URL: too short a history refuses every proposal; once it
    covers the window, the reverse-ETL model is kept and the one only dbt reads is proposed."""
    _execute(
        warehouse["admin"],
        "CREATE TABLE IF NOT EXISTS marts.fct_app_funnel (step int)",
        "GRANT SELECT ON marts.fct_app_funnel TO dbt_runner",
    )
    _reset(warehouse)
    _execute(warehouse["hightouch_sync"], "SELECT * FROM marts.fct_basket_affinity")
    _execute(warehouse["dbt_runner"], "SELECT * FROM marts.fct_app_funnel")
    no_mode = WorkspaceSnapshot(workspace="freshcart", taken_at="now")
    settings = UsageSettings(exclude_users=("dbt_runner",))

    def candidates(now: datetime) -> tuple[set[str], str | None]:
        usage = read_usage_source(warehouse["admin"], settings, now, history=ledger)
        graph = build_platform_graph(sample_projects, no_mode, {}, warehouse=usage)
        unused = unused_models(
            graph, no_mode, archived_now=(), protections=Protections(), max_share=1, warehouse=usage
        )
        return {m.unique_id for m in unused.candidates}, unused.refusal

    first = datetime.now(UTC)
    proposed, refusal = candidates(first)
    assert proposed == set() and refusal and "reaches back to" in refusal  # counting began just now

    _execute(warehouse["hightouch_sync"], "SELECT * FROM marts.fct_basket_affinity")
    _execute(warehouse["dbt_runner"], "SELECT * FROM marts.fct_app_funnel")
    proposed, refusal = candidates(first + timedelta(days=91))
    assert refusal is None
    assert "model.freshcart.fct_basket_affinity" not in proposed  # hightouch_sync read it
    assert "model.freshcart.fct_app_funnel" in proposed  # only dbt did

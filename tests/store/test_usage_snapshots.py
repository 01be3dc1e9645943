"""The ledger's snapshots of a warehouse's statement counters, on SQLite and on PostgreSQL: the
migration, round trips, and pruning that keeps every statement's calls as of the anchor snapshot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import sqlalchemy as sa

from metapipeline.store.ledger import Ledger, StatementCalls, UsageSnapshot

T0 = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
SOURCE = "postgresql 127.0.0.1:5432/analytics"
RELATIONS = '[["analytics", "marts", "fct_orders"]]'


def _day(n: int) -> datetime:
    return T0 + timedelta(days=n)


def _row(day: int, queryid: str, calls: int, user: str = "analyst") -> StatementCalls:
    return StatementCalls(_day(day), user, "analytics", queryid, calls, RELATIONS if calls else "[]")


def _save(
    ledger: Ledger, day: int, *rows: StatementCalls, keep_since: int = -100, source: str = SOURCE
) -> int:
    return ledger.save_usage_snapshot(
        source, UsageSnapshot(_day(day), _day(-30)), rows, keep_since=_day(keep_since)
    )


def test_the_migration_adds_the_tables(ledger_url: str) -> None:
    ledger = Ledger(ledger_url)
    assert Ledger.SCHEMA_VERSION >= 7
    assert {"usage_snapshots", "usage_statement_calls"} <= set(sa.inspect(ledger.engine).get_table_names())
    # A ledger written before them (version 6) gains them on open, its other rows untouched.
    ledger.record_slack_post("run-1:summary", "C1", "1.0")
    with ledger.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE usage_statement_calls"))
        conn.execute(sa.text("DROP TABLE usage_snapshots"))
        conn.execute(sa.text("UPDATE schema_version SET version = 6"))
    ledger.close()
    reopened = Ledger(ledger_url)
    try:
        assert reopened.schema_version() == Ledger.SCHEMA_VERSION
        assert reopened.slack_post("run-1:summary") == ("C1", "1.0")
        _save(reopened, 0, _row(0, "1", 3))
        assert reopened.usage_history(SOURCE, _day(-1)) == (
            [UsageSnapshot(_day(0), _day(-30))],
            [_row(0, "1", 3)],
        )
    finally:
        reopened.close()


def test_snapshots_round_trip_in_utc_oldest_first(ledger: Ledger) -> None:
    paris = timezone(timedelta(hours=1))
    assert ledger.usage_history(SOURCE, _day(0)) == ([], [])
    ledger.save_usage_snapshot(
        SOURCE,
        UsageSnapshot(_day(1).astimezone(paris), None),
        [StatementCalls(_day(1).astimezone(paris), "hightouch_sync", "analytics", "-42", 2**40, RELATIONS)],
        keep_since=_day(-90),
    )
    _save(ledger, 0, _row(0, "7", 1))
    snapshots, rows = ledger.usage_history(SOURCE, _day(-90))
    assert snapshots == [UsageSnapshot(_day(0), _day(-30)), UsageSnapshot(_day(1), None)]
    assert all(s.taken_at.tzinfo == UTC for s in snapshots)
    assert rows == [
        _row(0, "7", 1),
        StatementCalls(_day(1), "hightouch_sync", "analytics", "-42", 2**40, RELATIONS),
    ]
    assert rows[1].taken_at.tzinfo == UTC


def test_sources_are_kept_apart(ledger: Ledger) -> None:
    _save(ledger, 0, _row(0, "1", 3))
    _save(ledger, 0, _row(0, "1", 9), source="postgresql other:5432/analytics")
    assert ledger.usage_history(SOURCE, _day(-1))[1] == [_row(0, "1", 3)]
    assert ledger.usage_history("postgresql other:5432/analytics", _day(-1))[1] == [_row(0, "1", 9)]


def test_pruning_keeps_each_statements_calls_as_of_the_anchor(ledger: Ledger) -> None:
    _save(ledger, 0, _row(0, "a", 5), _row(0, "b", 3), _row(0, "c", 1), _row(0, "d", 4))
    _save(ledger, 1, _row(1, "a", 7), _row(1, "b", 0))  # b no longer counted
    _save(ledger, 2, _row(2, "d", 6))
    assert ledger.usage_history(SOURCE, _day(-1))[0] == [UsageSnapshot(_day(n), _day(-30)) for n in range(3)]

    # The window starts between days 2 and 3: day 2 is the anchor, older snapshots go; a, c and d
    # keep their newest row at or before it, b (0 there) keeps none.
    pruned = _save(ledger, 3, _row(3, "c", 2), keep_since=2)
    assert pruned == 4  # a on day 0, b on days 0 and 1, d on day 0
    snapshots, rows = ledger.usage_history(SOURCE, _day(2) + timedelta(hours=1))
    assert snapshots == [UsageSnapshot(_day(2), _day(-30)), UsageSnapshot(_day(3), _day(-30))]
    assert rows == [_row(0, "c", 1), _row(1, "a", 7), _row(2, "d", 6), _row(3, "c", 2)]

    # Asked from a time before every snapshot kept, the history starts at the oldest.
    assert ledger.usage_history(SOURCE, _day(-5))[0] == snapshots
    # A later run prunes further; nothing older than the new anchor is needed.
    assert _save(ledger, 4, keep_since=4) == 1  # c's row of day 0, superseded on day 3
    assert ledger.usage_history(SOURCE, _day(4))[0] == [UsageSnapshot(_day(4), _day(-30))]
    assert ledger.usage_history(SOURCE, _day(4))[1] == [_row(1, "a", 7), _row(2, "d", 6), _row(3, "c", 2)]

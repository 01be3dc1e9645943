"""The ledger on SQLite and on PostgreSQL: schema versions, actions, the ingestion cache, sharing."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from metapipeline.mode.models import Creator
from metapipeline.store import (
    DEFAULT_FILENAME,
    Action,
    CachedReport,
    Ledger,
    PublishedChange,
    database_url,
)

T0 = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


def _action(token: str, action: str, days: int, *, dry_run: bool = False, workspace: str = "acme") -> Action:
    return Action(
        workspace=workspace,
        report_token=token,
        report_name=f"Report {token}",
        action=action,
        reason=f"{action} on day {days}",
        run_id=f"run-{days}",
        at=T0 + timedelta(days=days),
        dry_run=dry_run,
    )


def _report(token: str, version: int = 1) -> CachedReport:
    queries = (
        {"token": f"{token}-q", "name": "main", "raw_query": f"select {version}", "data_source_id": 7},
    )
    return CachedReport(token, f"2026-10-{version:02d}T00:00:00Z", None, queries)


def test_migrate_creates_the_schema_and_is_idempotent(ledger_url: str) -> None:
    first = Ledger(ledger_url)
    assert first.schema_version() == Ledger.SCHEMA_VERSION >= 1
    tables = set(sa.inspect(first.engine).get_table_names())
    assert {"schema_version", "actions", "cached_reports"} <= tables
    first.record_actions([_action("r1", "archive", 0)])
    first.store_reports("acme", [_report("r1")])
    first.migrate()  # again: nothing to do
    first.close()

    second = Ledger(ledger_url)
    assert second.schema_version() == Ledger.SCHEMA_VERSION
    assert second.actions("acme") == [_action("r1", "archive", 0)]
    assert second.cached_reports("acme") == {"r1": _report("r1")}
    with second.engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM schema_version")) == 1
    second.close()


def test_a_database_newer_than_the_code_is_refused(ledger_url: str) -> None:
    ledger = Ledger(ledger_url)
    with ledger.engine.begin() as conn:
        conn.execute(sa.text("UPDATE schema_version SET version = version + 1"))
    ledger.close()
    with pytest.raises(
        RuntimeError, match=rf"schema version {Ledger.SCHEMA_VERSION + 1}.*newer metapipeline"
    ):
        Ledger(ledger_url)


def test_actions_round_trip_oldest_first_in_utc(ledger: Ledger) -> None:
    paris = timezone(timedelta(hours=2))
    later = Action(
        "acme",
        "r1",
        "Weekly revenue",
        "delete",
        "grace over",
        "run-2",
        datetime(2026, 11, 2, 14, tzinfo=paris),
    )
    earlier = Action("acme", "r1", "Weekly revenue", "archive", "stale", "run-1", T0, dry_run=True)
    other = _action("r2", "archive", 0)
    elsewhere = _action("r1", "archive", 0, workspace="other")
    ledger.record_actions([later, earlier, other, elsewhere])
    ledger.record_actions([])

    got = ledger.actions("acme", "r1")
    assert got == [earlier, later]
    assert [a.at.tzinfo for a in got] == [UTC, UTC]
    assert got[1].at == datetime(2026, 11, 2, 12, tzinfo=UTC)
    assert got[0].dry_run and not got[1].dry_run
    assert ledger.actions("acme") == [earlier, other, later]
    assert ledger.actions("other") == [elsewhere]
    assert ledger.actions("nobody") == []


def test_naive_datetimes_are_refused(ledger: Ledger) -> None:
    naive = Action("acme", "r1", "R", "archive", "stale", "run-1", datetime(2026, 11, 1))
    with pytest.raises(sa.exc.StatementError, match="timezone-aware"):
        ledger.record_actions([naive])
    assert ledger.actions("acme") == []


def test_lifecycle_history_keeps_the_last_real_step_per_report(ledger: Ledger) -> None:
    ledger.record_actions(
        [
            _action("deleted", "archive", 0),
            _action("deleted", "delete", 31),
            _action("restored", "archive", 0),
            _action("restored", "restored", 5),
            _action("unarchived", "archive", 0),
            _action("unarchived", "unarchive", 2),
            _action("gone", "archive", 0),
            _action("gone", "gone", 3),
            _action("dry", "archive", 0, dry_run=True),
            _action("twice", "archive", 0),
            _action("twice", "restored", 1),
            _action("twice", "archive", 9),
            _action("kept", "archive", 0),
            _action("kept", "skip", 4),  # not a lifecycle step: still archived by us
            _action("kept", "delete", 5, dry_run=True),  # only planned
            _action("other-workspace", "archive", 0, workspace="other"),
        ]
    )
    assert ledger.lifecycle_history("acme") == {
        "deleted": _action("deleted", "delete", 31),
        "restored": _action("restored", "restored", 5),
        "unarchived": _action("unarchived", "unarchive", 2),
        "gone": _action("gone", "gone", 3),
        "twice": _action("twice", "archive", 9),
        "kept": _action("kept", "archive", 0),
    }
    assert set(ledger.lifecycle_history("other")) == {"other-workspace"}


def test_cached_reports_upsert_and_forget(ledger: Ledger) -> None:
    assert ledger.cached_reports("acme") == {}
    bare = CachedReport("r3", None, None, ())
    ledger.store_reports("acme", [_report("r1"), _report("r2"), bare])
    ledger.store_reports("other", [_report("r1", 9)])
    ledger.store_reports("acme", [_report("r2", 3), _report("r2", 2)])  # changed since; the last wins
    ledger.store_reports("acme", [])
    assert ledger.cached_reports("acme") == {"r1": _report("r1"), "r2": _report("r2", 2), "r3": bare}

    ledger.forget_reports("acme", ["r1", "r3", "never-seen"])
    ledger.forget_reports("acme", [])
    assert ledger.cached_reports("acme") == {"r2": _report("r2", 2)}
    assert ledger.cached_reports("other") == {"r1": _report("r1", 9)}


def test_ten_thousand_cached_reports(ledger: Ledger, ledger_url: str) -> None:
    reports = [_report(f"report-{i:05d}", i % 28 + 1) for i in range(10_000)]
    started = time.perf_counter()
    ledger.store_reports("acme", reports)
    stored = time.perf_counter()
    cached = ledger.cached_reports("acme")
    read = time.perf_counter()
    print(
        f"\n{ledger_url.split(':')[0]}: stored 10,000 in {stored - started:.2f}s, read in {read - stored:.2f}s"
    )
    assert cached == {r.token: r for r in reports}

    ledger.store_reports("acme", [_report(r.token, 28) for r in reports])  # all updates this time
    assert {r.updated_at for r in ledger.cached_reports("acme").values()} == {"2026-10-28T00:00:00Z"}
    ledger.forget_reports("acme", [r.token for r in reports[:9_000]])
    assert len(ledger.cached_reports("acme")) == 1_000


def test_published_changes_upsert_per_repository_and_branch(ledger: Ledger) -> None:
    assert ledger.published_change("acme/analytics", "metapipeline/x") is None
    first = PublishedChange("acme/analytics", "metapipeline/x", "i1", "c1", 3, T0)
    ledger.record_published_change(first)
    assert ledger.published_change("acme/analytics", "metapipeline/x") == first
    moved = PublishedChange("acme/analytics", "metapipeline/x", "i2", "c2", 5, T0 + timedelta(days=1))
    ledger.record_published_change(moved)
    ledger.record_published_change(PublishedChange("acme/analytics", "metapipeline/y", "i9", "c9", 1, T0))
    assert ledger.published_change("acme/analytics", "metapipeline/x") == moved
    assert ledger.published_change("acme/other", "metapipeline/x") is None


def test_creators_are_trusted_for_as_long_as_asked(ledger: Ledger) -> None:
    ledger.store_creators("acme", [Creator("ana", "Ana", "ana@acme.test"), Creator("bo")], T0)
    ledger.store_creators("acme", [Creator("ana", "Ana B.", "ana@acme.test")], T0 + timedelta(days=3))
    ledger.store_creators("other", [Creator("cy", "Cy", None)], T0)
    assert ledger.cached_creators("acme", read_since=T0) == {
        "ana": Creator("ana", "Ana B.", "ana@acme.test"),
        "bo": Creator("bo"),
    }
    assert ledger.cached_creators("acme", read_since=T0 + timedelta(days=1)) == {
        "ana": Creator("ana", "Ana B.", "ana@acme.test")
    }


def test_database_url(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("METAPIPELINE_DATABASE_URL", raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    with pytest.raises(ValueError, match=r"METAPIPELINE_DATABASE_URL.*DAGSTER_HOME"):
        database_url()
    assert database_url(tmp_path) == f"sqlite:///{tmp_path / DEFAULT_FILENAME}"

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    assert database_url() == f"sqlite:///{tmp_path / 'home' / DEFAULT_FILENAME}"
    assert database_url(tmp_path / "explicit") == f"sqlite:///{tmp_path / 'explicit' / DEFAULT_FILENAME}"

    monkeypatch.setenv("METAPIPELINE_DATABASE_URL", "postgresql+psycopg2://db.internal/metapipeline")
    assert database_url(tmp_path) == "postgresql+psycopg2://db.internal/metapipeline"


def test_from_env(monkeypatch: pytest.MonkeyPatch, ledger_url: str) -> None:
    monkeypatch.setenv("METAPIPELINE_DATABASE_URL", ledger_url)
    ledger = Ledger.from_env()
    ledger.record_actions([_action("r1", "archive", 0)])
    assert Ledger(ledger_url).actions("acme") == [_action("r1", "archive", 0)]
    ledger.close()


def test_from_env_creates_sqlite_under_dagster_home(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("METAPIPELINE_DATABASE_URL", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "not-yet"))
    Ledger.from_env().close()
    assert (tmp_path / "not-yet" / DEFAULT_FILENAME).is_file()


def test_two_ledgers_write_concurrently(ledger_url: str) -> None:
    """Two engines (as two processes would have) open, migrate and write the same database at once."""
    start = threading.Barrier(2)
    errors: list[BaseException] = []
    ledgers: list[Ledger] = []

    def work(n: int) -> None:
        try:
            start.wait()
            ledger = Ledger(ledger_url)
            ledgers.append(ledger)
            for i in range(100):
                ledger.record_actions([_action(f"w{n}-{i}", "archive", i)])
                ledger.store_reports("acme", [_report(f"w{n}-{i}"), _report("shared", i % 28 + 1)])
                ledger.lifecycle_history("acme")
        except BaseException as exc:  # reported below: a thread's exception would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    check = Ledger(ledger_url)
    assert len(check.actions("acme")) == 200
    assert len(check.cached_reports("acme")) == 201
    assert check.schema_version() == Ledger.SCHEMA_VERSION
    for ledger in [*ledgers, check]:
        ledger.close()


def test_a_bare_postgresql_url_uses_the_driver_we_ship(ledger_url: str) -> None:
    if not ledger_url.startswith("postgresql+psycopg2://"):
        pytest.skip("PostgreSQL only")
    bare = Ledger(ledger_url.replace("postgresql+psycopg2://", "postgresql://"))
    assert bare.engine.dialect.driver == "psycopg2"
    assert bare.schema_version() == Ledger.SCHEMA_VERSION
    bare.close()

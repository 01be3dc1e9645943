"""The ledger's SQL-lineage reference cache, on SQLite and PostgreSQL: extractions round-trip as
plain JSON, saves are idempotent and safe to run concurrently, unused entries are pruned, and a
warm `resolve_many` parses nothing."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from metapipeline.lineage import resolve
from metapipeline.lineage.cache import ReferenceCache
from metapipeline.lineage.references import FAILED, FALLBACK, PARSED, Extraction, TableRef, extract_references
from metapipeline.lineage.resolve import QueryInput, resolve_many
from metapipeline.lineage.templates import PLACEHOLDER
from metapipeline.store import Ledger
from metapipeline.store.ledger import reference_extractions_table

T0 = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _key(n: int | str) -> str:
    return ReferenceCache.key(f"SELECT * FROM t{n}", "snowflake", "ANALYTICS", None)


def _extraction(n: int) -> Extraction:
    return Extraction(PARSED, (TableRef(("ANALYTICS", "PUBLIC", f"T{n}"), f"analytics.public.t{n}"),))


def _samples() -> dict[str, Extraction]:
    samples = {
        "templated": extract_references(
            f"SELECT * FROM {PLACEHOLDER}.orders_{PLACEHOLDER} JOIN marts.{PLACEHOLDER}",
            "snowflake",
            "ANALYTICS",
        ),
        "quoted": extract_references(
            'SELECT * FROM "Raw Data"."Événements" e JOIN marts."fct Orders" o USING (id)', "postgres", "Prod"
        ),
        "none parts": extract_references("SELECT * FROM orders JOIN s.customers USING (id)", "duckdb"),
        "unicode": extract_references("SELECT * FROM données.clients_日本 -- ✓", "duckdb", None, "main"),
        "fallback": extract_references("SELECT * FROM (broken JOIN s.t", "postgres"),
        "failed": Extraction(FAILED, (), 'unknown definition @café\non line "2" \\ tab\there ✗'),
        "lone surrogate": extract_references('SELECT * FROM "bad\ud800name".t', "postgres"),
        "empty": extract_references("SELECT 1", "bigquery"),
    }
    # The samples cover what the cache must keep.
    assert samples["templated"].tables and all(t.templated for t in samples["templated"].tables)
    assert {t.display for t in samples["quoted"].tables} == {
        "prod.Raw Data.Événements",  # quoted parts keep their case
        "prod.marts.fct Orders",
    }
    assert (None, None, "orders") in {t.parts for t in samples["none parts"].tables}
    assert samples["fallback"].status == FALLBACK and samples["fallback"].error
    assert samples["empty"] == Extraction(PARSED, ())
    assert samples["lone surrogate"].tables[0].parts == (None, "bad\ud800name", "t")
    return {_key(name): extraction for name, extraction in samples.items()}


def _last_used(ledger: Ledger) -> dict[str, datetime]:
    t = reference_extractions_table
    with ledger.engine.connect() as conn:
        return {row.key: row.last_used_at for row in conn.execute(sa.select(t.c.key, t.c.last_used_at))}


def test_the_migration_adds_the_table(ledger: Ledger) -> None:
    assert Ledger.SCHEMA_VERSION >= 4
    assert "reference_extractions" in sa.inspect(ledger.engine).get_table_names()
    assert ledger.load_reference_cache() == {}


def test_extractions_round_trip_as_plain_json(ledger: Ledger) -> None:
    samples = _samples()
    assert ledger.save_reference_cache(samples, (), T0) == 0
    assert ledger.load_reference_cache() == samples

    # Stored as JSON that anything can read: never pickle, since the ledger may be shared.
    with ledger.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT key, extraction FROM reference_extractions"))
        stored = {key: value for key, value in rows}
    decoded = {key: value if isinstance(value, dict) else json.loads(value) for key, value in stored.items()}
    assert decoded == {key: json.loads(json.dumps(e.to_json())) for key, e in samples.items()}
    assert decoded[_key("failed")] == {
        "status": "failed",
        "tables": [],
        "writes": [],
        "error": 'unknown definition @café\non line "2" \\ tab\there ✗',
    }
    assert decoded[_key("none parts")]["tables"][0] == [None, None, "orders", "orders", False]


def test_loading_given_keys_reads_them_in_chunks(ledger: Ledger) -> None:
    entries = {_key(n): _extraction(n) for n in range(1_200)}
    ledger.save_reference_cache(entries, (), T0)
    wanted = [_key(n) for n in range(50, 1_150)] + [_key("never stored")] * 2
    assert ledger.load_reference_cache(wanted) == {_key(n): _extraction(n) for n in range(50, 1_150)}
    assert ledger.load_reference_cache([]) == {}


def test_saving_a_stored_key_again_keeps_its_extraction_and_marks_it_used(ledger: Ledger) -> None:
    first, second = _extraction(1), _extraction(2)
    ledger.save_reference_cache({_key(1): first}, (), T0)
    # Another run parsed the same SQL meanwhile, and both save it; saving nothing is harmless too.
    ledger.save_reference_cache({_key(1): second}, [_key(1)], T0 + DAY)
    ledger.save_reference_cache({}, [], T0 + DAY)
    assert ledger.load_reference_cache() == {_key(1): first}
    assert _last_used(ledger) == {_key(1): T0 + DAY}


def test_used_keys_are_marked_and_unused_ones_pruned(ledger: Ledger) -> None:
    ledger.save_reference_cache({_key("a"): _extraction(1), _key("b"): _extraction(2)}, (), T0)
    # Day 20: a was used, c is new; a key pruned or never stored meanwhile is no error.
    assert (
        ledger.save_reference_cache({_key("c"): _extraction(3)}, [_key("a"), _key("gone")], T0 + 20 * DAY)
        == 0
    )
    assert _last_used(ledger) == {_key("a"): T0 + 20 * DAY, _key("b"): T0, _key("c"): T0 + 20 * DAY}

    assert ledger.save_reference_cache({}, (), T0 + 30 * DAY) == 0  # b unused for exactly 30 days: kept
    assert ledger.save_reference_cache({}, (), T0 + 30 * DAY + timedelta(seconds=1)) == 1
    assert set(ledger.load_reference_cache()) == {_key("a"), _key("c")}

    assert ledger.save_reference_cache({}, [_key("c")], T0 + 28 * DAY, keep_days=7) == 1  # a: 8 days
    assert ledger.load_reference_cache() == {_key("c"): _extraction(3)}


def test_concurrent_runs_save_the_same_keys(ledger_url: str) -> None:
    """Two runs (two engines, as two processes) insert overlapping keys at once: no conflict error,
    no deadlock, every key stored once."""
    start = threading.Barrier(2)
    errors: list[BaseException] = []
    ledgers = [Ledger(ledger_url), Ledger(ledger_url)]

    def work(n: int) -> None:
        try:
            start.wait()
            for round_ in range(10):
                shared = {_key(f"shared-{round_}-{i}"): _extraction(i) for i in range(150)}
                own = {_key(f"own-{n}-{round_}-{i}"): _extraction(i) for i in range(150)}
                before = [_key(f"shared-{round_ - 1}-{i}") for i in range(150)]
                # Each run lists its keys in another order: without the ledger taking one save at a
                # time, PostgreSQL would deadlock.
                new = dict(sorted({**shared, **own}.items(), reverse=n == 1))
                used = sorted([*shared, *before], reverse=n == 0)
                ledgers[n].save_reference_cache(new, used, T0 + round_ * DAY)
        except BaseException as exc:  # reported below: a thread's exception would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(ledgers[0].load_reference_cache()) == 10 * 150 * 3
    for ledger in ledgers:
        ledger.close()


def test_a_warm_run_finds_every_query_in_the_loaded_cache(
    ledger: Ledger, ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    definitions = {"customers": "SELECT * FROM staging.customers WHERE region = '{{ region }}'"}
    items = [
        QueryInput(
            f"SELECT * FROM marts.orders_{i} o JOIN {{{{ @customers }}}} c USING (id)",
            definitions,
            "postgres",
        )
        for i in range(100)
    ]
    items += [
        QueryInput("SELECT * FROM {{ schema }}.events_{{ region }}", {}, "snowflake", "ANALYTICS", "PUBLIC"),
        QueryInput('SELECT * FROM "Raw Data"."Événements"', {}, "jdbc:postgresql", "prod"),
        QueryInput("SELECT * FROM données.clients_日本", {}, "duckdb"),
        QueryInput("SELECT * FROM (broken JOIN s.t", {}, "postgres"),  # falls back to a text scan
        QueryInput("SELECT * FROM orders", {}, "bigquery"),  # no defaults: unknown parts stay None
    ]
    n = len(items)

    # Today: nothing cached yet, every query is parsed and saved.
    cold_cache = ReferenceCache(loader=ledger.load_reference_cache)
    cold = resolve_many(items, cache=cold_cache)
    # Each query under its rendered SQL (for parses) and under its text (to skip rendering).
    assert (cold_cache.hits, cold_cache.misses, len(cold_cache.new_entries)) == (0, n, 2 * n)
    assert cold_cache.used_keys == set()
    ledger.save_reference_cache(cold_cache.new_entries, cold_cache.used_keys, T0)
    assert {r.status for r in cold} == {"parsed", "fallback"}

    # Tomorrow, with a fresh engine as the next run would open: the same SQL parses nothing.
    def no_parsing(*job: object) -> Extraction:
        raise AssertionError(f"parsed {job!r} again")

    monkeypatch.setattr(resolve, "extract_references", no_parsing)
    tomorrow = Ledger(ledger_url)
    cache = ReferenceCache(loader=tomorrow.load_reference_cache)
    warm = resolve_many(items, cache=cache)
    assert warm == cold
    assert (cache.hits, cache.misses) == (n, 0)
    assert cache.new_entries == {}
    raw_keys = {key for key in cold_cache.new_entries if key.startswith("raw\x1f")}
    assert len(raw_keys) == n and cache.used_keys == raw_keys  # found by text, none rendered
    assert tomorrow.save_reference_cache(cache.new_entries, cache.used_keys, T0 + DAY) == 0
    last_used = _last_used(tomorrow)
    assert {last_used[key] for key in raw_keys} == {T0 + DAY}
    tomorrow.close()

"""The reference cache: what it reports for the ledger to save, its keys, and its JSON form."""

from __future__ import annotations

import json

import pytest

from metapipeline.lineage import cache as cache_module
from metapipeline.lineage import resolve as resolve_module
from metapipeline.lineage.cache import ReferenceCache
from metapipeline.lineage.references import FAILED, PARSED, Extraction, TableRef, extract_references
from metapipeline.lineage.resolve import QueryInput, resolve_many
from metapipeline.lineage.templates import PLACEHOLDER


def _extraction(name: str) -> Extraction:
    return Extraction(PARSED, (TableRef(("DB", "S", name.upper()), f"db.s.{name}"),))


QUERIES = [
    QueryInput("SELECT * FROM s.old", adapter="duckdb"),
    QueryInput("SELECT * FROM s.old", adapter="duckdb"),
    QueryInput("SELECT * FROM s.new", adapter="duckdb"),
    QueryInput("SELECT * FROM s.new", adapter="duckdb"),  # parsed once, put once
    QueryInput("SELECT * FROM {{ @missing }}", adapter="duckdb"),  # not renderable: its scan is kept
]


def _raw(item: QueryInput) -> str:
    digest = ReferenceCache.definitions_digest(item.definitions)
    return ReferenceCache.raw_key(item.raw_sql, digest, "duckdb", None, None)


def test_the_cache_reports_the_keys_it_found_and_the_entries_put_since_it_was_made() -> None:
    old = ReferenceCache.key("SELECT * FROM s.old", "duckdb", None, None)
    cache = ReferenceCache({old: _extraction("old")})
    assert (cache.used_keys, cache.new_entries) == (set(), {})

    lineages = resolve_many(QUERIES, cache=cache)
    lineage_failed = cache.new_entries[_raw(QUERIES[4])]
    assert (lineage_failed.status, lineage_failed.error) == (FAILED, "unknown definition @missing")
    new = ReferenceCache.key("SELECT * FROM s.new", "duckdb", None, None)
    parsed_new = extract_references("SELECT * FROM s.new", "duckdb")
    assert cache.used_keys == {old}
    assert cache.new_entries == {
        new: parsed_new,
        _raw(QUERIES[0]): _extraction("old"),
        _raw(QUERIES[2]): parsed_new,
        _raw(QUERIES[4]): lineage_failed,
    }
    assert (cache.hits, cache.misses, len(cache)) == (2, 2, 5)
    assert lineages[4].status == FAILED


def test_an_unchanged_query_is_found_by_its_text_without_rendering(monkeypatch: pytest.MonkeyPatch) -> None:
    first = ReferenceCache()
    expected = resolve_many(QUERIES, cache=first)
    asked: list[set[str]] = []

    def loader(keys):
        asked.append(set(keys))
        return {k: e for k, e in first.new_entries.items() if k in keys}

    def no_rendering(*args, **kwargs):
        raise AssertionError("an unchanged query was rendered")

    monkeypatch.setattr(resolve_module, "render", no_rendering)
    warm = ReferenceCache(loader=loader)
    assert resolve_many(QUERIES, cache=warm) == expected
    assert (warm.hits, warm.misses, warm.new_entries) == (5, 0, {})
    assert asked == [{_raw(q) for q in QUERIES}]  # one read, of the keys this batch needs


def test_an_edited_definition_re_renders_but_reuses_the_parse() -> None:
    before = QueryInput("SELECT * FROM {{ @orders }}", {"orders": "SELECT * FROM s.orders"}, "duckdb")
    cache = ReferenceCache()
    resolve_many([before], cache=cache)
    after = QueryInput(before.raw_sql, {"orders": "SELECT * FROM s.orders", "unused": "SELECT 1"}, "duckdb")
    assert _raw(after) != _raw(before)
    hits, misses = cache.hits, cache.misses
    resolve_many([after], cache=cache)
    assert (cache.hits - hits, cache.misses - misses) == (1, 0)  # the rendered SQL was already parsed


def test_keys_change_with_the_extractor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Extractions persisted by another sqlglot, or another extract_references, are not reused."""
    before = ReferenceCache.key("SELECT 1", "duckdb", "db", "s")
    monkeypatch.setattr(cache_module, "EXTRACTOR_VERSION", "2+sqlglot99.0.0")
    assert ReferenceCache.key("SELECT 1", "duckdb", "db", "s") != before


@pytest.mark.parametrize(
    "extraction",
    [
        extract_references(f"SELECT * FROM {PLACEHOLDER}.t_{PLACEHOLDER}", "snowflake", "A"),
        extract_references('SELECT * FROM "Mixed Case".données JOIN t USING (id)', "postgres"),
        extract_references("SELECT * FROM (broken", "postgres"),
        Extraction(FAILED, (), "unknown definition @x\nline 2 ✗"),
        Extraction(PARSED, ()),
    ],
)
def test_extractions_round_trip_through_json_text(extraction: Extraction) -> None:
    text = json.dumps(extraction.to_json())
    assert Extraction.from_json(json.loads(text)) == extraction
    for ref in extraction.tables:
        assert TableRef.from_json(json.loads(json.dumps(ref.to_json()))) == ref

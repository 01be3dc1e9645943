"""The reference cache: what it reports for the ledger to save, its keys, and its JSON form."""

from __future__ import annotations

import json

import pytest

from metapipeline.lineage import cache as cache_module
from metapipeline.lineage.cache import ReferenceCache
from metapipeline.lineage.references import FAILED, PARSED, Extraction, TableRef, extract_references
from metapipeline.lineage.resolve import QueryInput, resolve_many
from metapipeline.lineage.templates import PLACEHOLDER


def _extraction(name: str) -> Extraction:
    return Extraction(PARSED, (TableRef(("DB", "S", name.upper()), f"db.s.{name}"),))


def test_the_cache_reports_the_keys_it_found_and_the_entries_put_since_it_was_made() -> None:
    old = ReferenceCache.key("SELECT * FROM s.old", "duckdb", None, None)
    cache = ReferenceCache({old: _extraction("old")})
    assert (cache.used_keys, cache.new_entries) == (set(), {})

    resolve_many(
        [
            QueryInput("SELECT * FROM s.old", adapter="duckdb"),
            QueryInput("SELECT * FROM s.old", adapter="duckdb"),
            QueryInput("SELECT * FROM s.new", adapter="duckdb"),
            QueryInput("SELECT * FROM s.new", adapter="duckdb"),  # parsed once, put once
            QueryInput("SELECT * FROM {{ @missing }}", adapter="duckdb"),  # not renderable: not cached
        ],
        cache=cache,
    )
    new = ReferenceCache.key("SELECT * FROM s.new", "duckdb", None, None)
    assert cache.used_keys == {old}
    assert cache.new_entries == {new: extract_references("SELECT * FROM s.new", "duckdb")}
    assert (cache.hits, cache.misses, len(cache)) == (2, 2, 2)


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

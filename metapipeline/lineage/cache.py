"""A cache of reference extractions keyed by (rendered SQL, dialect, defaults, extractor version).

In memory by default; hand it any MutableMapping as backend, such as the entries the ledger
keeps between runs:

    cache = ReferenceCache(ledger.load_reference_cache())
    resolve_many(items, cache=cache)
    ledger.save_reference_cache(cache.new_entries, cache.used_keys, now)

`new_entries` are what was put since the cache was made and `used_keys` the keys `get` found,
so a caller writes back only what changed and marks what is still in use.
"""

from __future__ import annotations

import hashlib
from collections.abc import MutableMapping

import sqlglot

from metapipeline.lineage.references import Extraction

# In every key, so that extractions persisted by other code are never reused: a new sqlglot may
# parse differently. Bump the number when extract_references starts returning other results.
EXTRACTOR_VERSION = f"1+sqlglot{sqlglot.__version__}"


class ReferenceCache:
    def __init__(self, backend: MutableMapping[str, Extraction] | None = None):
        self._store: MutableMapping[str, Extraction] = {} if backend is None else backend
        self.hits = 0
        self.misses = 0
        self.used_keys: set[str] = set()  # keys `get` found
        self.new_entries: dict[str, Extraction] = {}  # what `put` stored since the cache was made

    @staticmethod
    def key(sql: str, dialect: str, default_database: str | None, default_schema: str | None) -> str:
        # JSON may hold lone surrogates.
        digest = hashlib.sha256(sql.encode(errors="surrogatepass")).hexdigest()
        # \x1f cannot appear in a dialect or a database name, so the fields cannot run together.
        return "\x1f".join((digest, dialect, default_database or "", default_schema or "", EXTRACTOR_VERSION))

    def get(self, key: str) -> Extraction | None:
        found = self._store.get(key)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
            self.used_keys.add(key)
        return found

    def put(self, key: str, extraction: Extraction) -> None:
        self._store[key] = extraction
        self.new_entries[key] = extraction

    def __len__(self) -> int:
        return len(self._store)

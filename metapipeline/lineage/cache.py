"""A cache of reference extractions keyed by (rendered SQL, dialect, defaults).

In memory by default; hand it any MutableMapping (a dict-like view of the ledger, a shelve) to
persist results between runs. Values are plain frozen dataclasses, so a backend can pickle them.
"""

from __future__ import annotations

import hashlib
from collections.abc import MutableMapping

from metapipeline.lineage.references import Extraction


class ReferenceCache:
    def __init__(self, backend: MutableMapping[str, Extraction] | None = None):
        self._store: MutableMapping[str, Extraction] = {} if backend is None else backend
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(sql: str, dialect: str, default_database: str | None, default_schema: str | None) -> str:
        digest = hashlib.sha256(sql.encode()).hexdigest()
        # \x1f cannot appear in a dialect or a database name, so the fields cannot run together.
        return "\x1f".join((digest, dialect, default_database or "", default_schema or ""))

    def get(self, key: str) -> Extraction | None:
        found = self._store.get(key)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, key: str, extraction: Extraction) -> None:
        self._store[key] = extraction

    def __len__(self) -> int:
        return len(self._store)

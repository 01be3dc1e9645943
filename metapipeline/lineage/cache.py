"""A cache of reference extractions keyed by (rendered SQL, dialect, defaults, extractor version).

In memory by default; hand it any MutableMapping as backend, such as the entries the ledger
keeps between runs:

    cache = ReferenceCache(ledger.load_reference_cache())
    resolve_many(items, cache=cache)
    ledger.save_reference_cache(cache.new_entries, cache.used_keys, now)

`new_entries` are what was put since the cache was made and `used_keys` the keys `get` found,
so a caller writes back only what changed and marks what is still in use. With a `loader`
instead, only the keys a batch asks for are read (`prefetch`), in one call per batch.

Two kinds of key lead to an extraction: `key`, from the rendered SQL, and `raw_key`, from the
query's text and definitions before rendering. A query unchanged since the last run is found by
its raw key without rendering its templates; an edit that renders to the same SQL still finds
the parse by the rendered key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Mapping, MutableMapping
from functools import cache
from pathlib import Path

import sqlglot

from metapipeline.lineage import templates
from metapipeline.lineage.references import Extraction

# In every key, so that extractions persisted by other code are never reused: a new sqlglot may
# parse differently. Bump the number when extract_references starts returning other results.
EXTRACTOR_VERSION = f"2+sqlglot{sqlglot.__version__}"  # 2: writes apart, names per dialect


@cache
def renderer_version() -> str:
    """In every raw key too: what a template renders to depends on python-liquid and on our
    renderer. Computed on first use: importing python-liquid is slow, and only raw keys need it."""
    from importlib.metadata import version

    source = hashlib.sha256(Path(templates.__file__).read_bytes()).hexdigest()[:16]
    return f"liquid{version('python-liquid')}+{source}"


class ReferenceCache:
    def __init__(
        self,
        backend: MutableMapping[str, Extraction] | None = None,
        *,
        loader: Callable[[Collection[str]], Mapping[str, Extraction]] | None = None,
    ):
        self._store: MutableMapping[str, Extraction] = {} if backend is None else backend
        self._loader = loader
        self._asked: set[str] = set()  # keys already asked of the loader
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

    @staticmethod
    def raw_key(
        raw_sql: str,
        definitions_digest: str,
        dialect: str,
        default_database: str | None,
        default_schema: str | None,
    ) -> str:
        """The key of a query before rendering; `definitions_digest` from `definitions_digest`."""
        text = raw_sql.encode(errors="surrogatepass")
        digest = hashlib.sha256(text + b"\x1f" + definitions_digest.encode()).hexdigest()
        return "\x1f".join(
            (
                "raw",
                digest,
                dialect,
                default_database or "",
                default_schema or "",
                EXTRACTOR_VERSION,
                renderer_version(),
            )
        )

    @staticmethod
    def definitions_digest(definitions: Mapping[str, str]) -> str:
        hasher = hashlib.sha256()
        for name, source in sorted(definitions.items()):
            hasher.update(f"{name}\x1f{source}\x1e".encode(errors="surrogatepass"))
        return hasher.hexdigest()

    def prefetch(self, keys: Iterable[str]) -> None:
        """Read from the loader, in one call, the keys neither in memory nor asked for before."""
        if self._loader is None:
            return
        wanted = {k for k in keys if k not in self._store and k not in self._asked}
        if wanted:
            self._asked |= wanted
            self._store.update(self._loader(wanted))

    def get(self, key: str, *, count: bool = True) -> Extraction | None:
        """The extraction under `key`; `count=False` leaves `hits` and `misses` alone (a first
        look by raw key, which a miss follows up by rendered key)."""
        found = self._store.get(key)
        if found is not None:
            self.used_keys.add(key)
        if count:
            if found is None:
                self.misses += 1
            else:
                self.hits += 1
        return found

    def put(self, key: str, extraction: Extraction) -> None:
        self._store[key] = extraction
        self.new_entries[key] = extraction

    def __len__(self) -> int:
        return len(self._store)

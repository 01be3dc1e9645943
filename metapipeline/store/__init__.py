"""Persistent state: the ledger of actions taken and the ingestion cache (no Dagster here)."""

from metapipeline.store.ledger import (
    DEFAULT_FILENAME,
    Action,
    CachedReport,
    Ledger,
    PublishedChange,
    database_url,
)

__all__ = ["DEFAULT_FILENAME", "Action", "CachedReport", "Ledger", "PublishedChange", "database_url"]

"""Ledger fixtures: a fresh database per test, on SQLite and on a real PostgreSQL.

The PostgreSQL server is Debian's, started once per session in a temporary directory. Without it
the PostgreSQL tests are skipped, unless METAPIPELINE_REQUIRE_POSTGRES=1 (CI) makes that a failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from metapipeline.store.ledger import Ledger


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    ledger = Ledger(ledger_url)
    yield ledger
    ledger.close()

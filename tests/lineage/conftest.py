"""Lineage fixtures. The sample manifest itself comes from `sample_manifest` (tests/conftest.py:
one real `dbt parse` per session, shared with the other suites)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from metapipeline.dbt.relations import RelationIndex, load_dbt_graph

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"


@pytest.fixture(scope="session")
def corpora() -> Path:
    if not CORPORA.is_dir():
        pytest.skip(f"corpora not found at {CORPORA} (CI puts ../shared beside the repo)")
    return CORPORA


@pytest.fixture(scope="session")
def sample_index(sample_manifest: dict[str, Any]) -> RelationIndex:
    return load_dbt_graph([sample_manifest]).relation_index()

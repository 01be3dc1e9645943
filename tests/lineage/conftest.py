"""Lineage fixtures. The sample manifest itself comes from `sample_manifest` (tests/conftest.py:
one real `dbt parse` per session, shared with the other suites)."""

from __future__ import annotations

from typing import Any

import pytest

from metapipeline.dbt.relations import RelationIndex, load_dbt_graph


@pytest.fixture(scope="session")
def sample_index(sample_manifest: dict[str, Any]) -> RelationIndex:
    return load_dbt_graph([sample_manifest]).relation_index()

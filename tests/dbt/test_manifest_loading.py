"""Loading real manifests of every schema version, and refusing the ones we cannot read."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from metapipeline.dbt.manifest import (
    check_schema_version,
    count_resources,
    read_manifest,
    read_manifests,
)
from metapipeline.dbt.relations import load_dbt_graph

# Real manifests, kept in the repository with their provenance and license.
CORPORA = Path(__file__).resolve().parents[1] / "fixtures" / "corpora"
MANIFESTS = sorted(
    [
        *(CORPORA / "dbt_manifests").rglob("*.json.gz"),
        *(CORPORA / "dbt_metabase" / "tests" / "fixtures").glob("manifest*.json"),
    ]
)


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_every_corpus_manifest_loads_or_fails_clearly(path: Path) -> None:
    try:
        [manifest] = read_manifests([path])
    except ValueError as exc:
        assert "manifest schema" in str(exc) and "is not supported" in str(exc)
        return
    graph = load_dbt_graph([manifest])
    enabled = sum(
        1
        for section in ("nodes", "sources", "exposures", "semantic_models", "metrics", "saved_queries")
        for node in manifest.get(section, {}).values()
        if node.get("resource_type")
        in ("model", "seed", "snapshot", "source", "exposure", "semantic_model", "metric", "saved_query")
        and (node.get("config") or {}).get("enabled", True)
    )
    assert len(graph.nodes) == enabled


def test_tuva_loads_with_its_enabled_models_only() -> None:
    [manifest] = read_manifests([CORPORA / "dbt_manifests" / "tuva_manifest.json.gz"])
    assert check_schema_version(manifest) == 12
    graph = load_dbt_graph([manifest])
    models = [n for n in graph.nodes.values() if n.resource_type == "model"]
    assert len(models) == count_resources(manifest)["model"] == 737
    assert not set(graph.nodes) & set(manifest["disabled"])


def _write(tmp_path: Path, name: str, manifest: dict) -> Path:
    path = tmp_path / name
    with gzip.open(path, "wt") as f:
        json.dump(manifest, f)
    return path


def test_newer_schema_version_is_refused_by_name(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "manifest.json.gz",
        {
            "metadata": {
                "dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v13.json",
                "dbt_version": "1.12.0",
            },
            "nodes": {},
        },
    )
    with pytest.raises(ValueError, match=r"manifest/v13\.json \(dbt 1\.12\.0\) is not supported.*v1-v12"):
        read_manifests([path])


def test_manifest_without_a_schema_version_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "m.json.gz", {"metadata": {}, "nodes": {}})
    with pytest.raises(ValueError, match="no dbt_schema_version"):
        read_manifests([path])


def test_read_manifest_keeps_its_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="run `dbt parse`"):
        read_manifest(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_manifest(tmp_path / "bad.json")
    (tmp_path / "bad.json.gz").write_text("not gzip")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_manifest(tmp_path / "bad.json.gz")

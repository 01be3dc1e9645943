"""Reality checks on other people's data: dbt's own compiled SQL, and dbt-metabase's fixtures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from metapipeline.dbt.manifest import read_manifests
from metapipeline.dbt.relations import load_dbt_graph
from metapipeline.lineage.resolve import QueryInput, resolve_many

# Other people's data, kept in the repository with its provenance and license.
CORPORA = Path(__file__).resolve().parents[1] / "fixtures" / "corpora"


def test_flipside_models_compiled_sql_resolves_to_their_depends_on() -> None:
    [manifest] = read_manifests([CORPORA / "dbt_manifests" / "flipside_ethereum_v4_manifest.json.gz"])
    index = load_dbt_graph([manifest]).relation_index()
    models = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    items = [QueryInput(m["compiled_sql"], {}, "snowflake", m["database"], m["schema"]) for m in models]
    mismatches = {}
    for model, lineage in zip(models, resolve_many(items, index=index), strict=True):
        # Incremental models read themselves ({{ this }}); dbt never lists a node as its own parent.
        found = set(lineage.nodes) - {model["unique_id"]}
        if (lineage.status, found, lineage.unresolved) != ("parsed", set(model["depends_on"]["nodes"]), ()):
            mismatches[model["unique_id"]] = lineage
    assert len(models) == 59
    assert not mismatches, f"{len(models) - len(mismatches)} of {len(models)} match"


def test_dbt_metabase_native_cards_resolve_to_their_expected_exposures() -> None:
    fixtures = CORPORA / "dbt_metabase" / "tests" / "fixtures"
    [manifest] = read_manifests([fixtures / "manifest-v12.json"])
    index = load_dbt_graph([manifest]).relation_index()
    exposures = yaml.safe_load((fixtures / "mbql4" / "exposure" / "default" / "exposures.yml").read_text())
    expected = {
        exposure["url"].rsplit("/", 1)[-1]: {
            re.sub(r"ref\('(\w+)'\)", r"model.sandbox.\1", d) for d in exposure["depends_on"]
        }
        for exposure in exposures["exposures"]
        if "/card/" in exposure["url"]
    }
    database = json.loads((fixtures / "mbql4" / "api" / "database" / "2" / "metadata.json").read_text())
    checked = 0
    for mbql in ("mbql4", "mbql5"):
        for card_file in sorted((fixtures / mbql / "api" / "card").glob("*.json")):
            card = json.loads(card_file.read_text())
            sql = _native_sql(card["dataset_query"])
            if sql is None:
                continue  # a query-builder card: no SQL to read
            item = QueryInput(sql, {}, database["engine"], database["details"]["dbname"], "public")
            [lineage] = resolve_many([item], index=index)
            assert lineage.status == "parsed"
            assert set(lineage.nodes) == expected[str(card["id"])], card["name"]
            checked += 1
    assert checked == 8  # cards 29 to 32 in both MBQL versions


def _native_sql(dataset_query: dict) -> str | None:
    native = dataset_query.get("native") or {}
    stages = [s.get("native") for s in dataset_query.get("stages", []) if s.get("native")]
    return native.get("query") or next(iter(stages), None)

"""Reality checks on other people's data: dbt's own compiled SQL, and dbt-metabase's fixtures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import sqlglot
import yaml
from sqlglot import exp

from metapipeline.dbt.manifest import read_manifests
from metapipeline.dbt.relations import load_dbt_graph
from metapipeline.lineage.references import _tables_and_ctes
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


def test_the_table_walk_finds_every_table_and_cte_find_all_finds_in_its_order() -> None:
    """The walk skips leaves for speed: on TPC-H and TPC-DS, as written and as sqlglot's optimizer
    rewrites them (qualified, CTEs everywhere), it must miss nothing."""
    statements = []
    for name in ("tpc-h.sql", "tpc-ds.sql"):
        text = re.sub(r"^# .*\n", "", (CORPORA / "sqlglot" / name).read_text(), flags=re.MULTILINE)
        statements += [statement for statement in text.split(";\n") if statement.strip()]
    assert len(statements) == 2 * (22 + 99)  # each query and its optimized form
    for statement in statements:
        tree = sqlglot.parse_one(statement)
        tables, ctes = _tables_and_ctes(tree)
        found = tree.find_all(exp.Table, exp.CTE)
        expected = sorted(found, key=lambda node: isinstance(node, exp.CTE))  # tables first, in order
        assert list(map(id, [*tables, *ctes])) == list(map(id, expected))

"""What a removal leaves behind (tests/fixtures/dbt_projects/shop_leftovers, see its README): config
blocks of emptied folders go, sources, macros and selector descriptions only removed models used are
listed for people, and a candidate something odd references is dropped alone, named with where."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from metapipeline.actions.dbt_changes import ChangeSet, plan_removal, read_project, removal_pr_text
from metapipeline.platform.unused import UnusedModel

pytestmark = pytest.mark.slow  # two real `dbt parse` runs

LEFTOVERS = Path(__file__).parents[1] / "fixtures" / "dbt_projects" / "shop_leftovers"
UNUSED_CONFIG = "Configuration paths exist in your dbt_project.yml file which do not apply to any resources"
REMOVED = {"model.shop.stg_refunds", "model.shop.fct_refunds", "model.shop.fct_chargebacks"}
DROPPED = {
    "model.shop.fct_disputes": (
        "referenced in models/marts/core/_core.yml line 13: to: ref('fct_disputes') (under models > "
        "fct_orders > columns > order_id > data_test > relationships > arguments)"
    ),
    "model.shop.fct_large_orders": (
        'models/marts/ops/_ops.yml cannot be loaded for editing: found duplicate key "description" (line 6)'
    ),
    "model.shop.int_legacy_orders": "referenced by the disabled model model.shop.old_orders",
    "model.shop.int_payments": "read by the snapshot snapshots/_snapshots.yml",
}
FOLLOW_UPS = [
    "the source raw.refunds (models/staging/_sources.yml): only removed models read it",
    "the macro cents_to_dollars (macros/cents_to_dollars.sql): only removed models call it",
    "the selector month_end (selectors.yml): its description names removed models (fct_chargebacks, fct_refunds)",
]


def parse(project: Path) -> tuple[dict[str, Any], str]:
    """A real `dbt parse` (not quiet: its warnings are part of the answer): the manifest and the log."""
    result = subprocess.run(
        [
            *(str(Path(sys.executable).parent / "dbt"), "parse", "--no-partial-parse"),
            *("--profiles-dir", str(project), "--project-dir", str(project)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "NO_COLOR": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads((project / "target" / "manifest.json").read_text()), result.stdout + result.stderr


def copy_of(directory: Path) -> Path:
    project = directory / "shop"
    shutil.copytree(LEFTOVERS, project, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb"))
    return project


def candidates(manifest: dict[str, Any]) -> list[UnusedModel]:
    nodes = manifest["nodes"]
    return [
        UnusedModel(u, nodes[u]["name"], nodes[u]["original_file_path"], "li.wei@shop.example", ())
        for u in sorted(REMOVED | DROPPED.keys())
    ]


@pytest.fixture(scope="module")
def parsed(tmp_path_factory) -> tuple[dict[str, Any], str]:
    return parse(copy_of(tmp_path_factory.mktemp("before")))


@pytest.fixture(scope="module")
def removal(parsed) -> ChangeSet:
    return plan_removal(read_project(LEFTOVERS).files, parsed[0], candidates(parsed[0]))


def test_emptied_folder_configs_go_and_dbt_no_longer_warns(removal, parsed, tmp_path):
    before, log_before = parsed
    assert UNUSED_CONFIG not in log_before
    project = copy_of(tmp_path)
    removal.apply_to(project)
    after, log_after = parse(project)

    assert UNUSED_CONFIG not in log_after, log_after
    models = {u for u, n in after["nodes"].items() if n["resource_type"] == "model"}
    assert models == {u for u, n in before["nodes"].items() if n["resource_type"] == "model"} - REMOVED
    config = yaml.safe_load(removal.files["dbt_project.yml"])["models"]["shop"]  # type: ignore[arg-type]
    assert set(config["marts"]) == {"+materialized", "core", "ops"}  # finance (and fct_refunds in it) went
    assert config["legacy"] == {"+enabled": False}  # its disabled model still counts for dbt
    assert "# -- core ----" in (removal.files["dbt_project.yml"] or "")
    # Follow-ups are not removed: the source and the macro are still there.
    assert "source.shop.raw.refunds" in after["sources"] and "macro.shop.cents_to_dollars" in after["macros"]
    assert "month_end" in (
        removal.files.get("selectors.yml") or read_project(LEFTOVERS).files["selectors.yml"]
    )


def test_a_candidate_an_odd_place_references_is_dropped_alone_and_named_with_where(removal):
    assert removal.dropped == DROPPED
    assert {p for p, text in removal.files.items() if text is None} == {
        "models/staging/stg_refunds.sql",
        "models/marts/finance/fct_refunds.sql",
        "models/marts/finance/fct_chargebacks.sql",
        "models/marts/finance/_finance.yml",
    }


def test_what_only_removed_models_used_is_listed_for_people(removal, parsed):
    assert removal.follow_ups == FOLLOW_UPS
    assert "selectors.yml" not in removal.files  # flagged, not edited
    title, body = removal_pr_text(candidates(parsed[0]), {}, parsed[0], change=removal)
    assert title == "Remove 3 unused dbt models"
    follow_ups = body.split("### Follow-ups (not changed here)\n\n")[1].split("\n\n")[1]
    assert len(follow_ups.splitlines()) == 3 and "the macro cents\\_to\\_dollars" in follow_ups
    kept = body.split("### Kept, because something that stays still references them\n\n")[1]
    assert "data\\_test &gt; relationships" in kept and 'duplicate key "description"' in kept
    assert "li.wei@shop.example" in body and "\u2060" not in body  # plain text, no invisible character

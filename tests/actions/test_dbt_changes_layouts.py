"""YAML layouts of real projects a removal must keep intact (tests/fixtures/dbt_projects/yaml_layouts,
see its README): anchors a kept entry aliases, section-header comments, files whose last entries go
and block scalars. The removal is applied to a copy and parsed by dbt again."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from metapipeline.actions.dbt_changes import ChangeSet, plan_removal, read_project
from metapipeline.actions.dbt_changes.yaml_edit import BLOCK_SCALAR_END
from metapipeline.platform.unused import UnusedModel

pytestmark = pytest.mark.slow  # two real `dbt parse` runs

LAYOUTS = Path(__file__).parents[1] / "fixtures" / "dbt_projects" / "yaml_layouts"
REMOVED = {
    "model.layouts.stg_legacy",
    "model.layouts.stg_refunds",
    "model.layouts.stg_returns",
    "model.layouts.fct_refunds",
    "model.layouts.rpt_weekly",
}


def copy_of_layouts(directory: Path) -> Path:
    project = directory / "layouts"
    shutil.copytree(LAYOUTS, project, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb"))
    return project


@pytest.fixture(scope="module")
def before(tmp_path_factory, dbt_parse) -> dict[str, Any]:
    return dbt_parse(copy_of_layouts(tmp_path_factory.mktemp("before")))


@pytest.fixture(scope="module")
def removal(before) -> ChangeSet:
    nodes = before["nodes"]
    models = [
        UnusedModel(u, nodes[u]["name"], nodes[u]["original_file_path"], None, ()) for u in sorted(REMOVED)
    ]
    return plan_removal(read_project(LAYOUTS).files, before, models)


@pytest.fixture(scope="module")
def after(removal, tmp_path_factory, dbt_parse) -> dict[str, Any]:
    project = copy_of_layouts(tmp_path_factory.mktemp("after"))
    removal.apply_to(project)
    manifest = dbt_parse(project)
    assert {u for u, n in manifest["nodes"].items() if n["resource_type"] == "model"} == {
        "model.layouts.stg_orders",
        "model.layouts.fct_orders",
        "model.layouts.dim_customers",
        "model.layouts.rpt_daily",
    }
    return manifest


def test_an_anchor_moves_with_its_node_to_the_first_kept_alias(removal, before, after):
    assert (
        removal.files["models/marts/_marts.yml"]
        == """\
version: 2

models:
  - name: fct_orders
    config:
      <<: &finance_config
        tags: [finance]
        meta:
          owner: finance@example.com
      materialized: table
    columns:
      - name: id
        data_tests: &key_tests   # the same checks as refunds
          - unique
          - not_null

  - name: dim_customers
    config: *finance_config
    columns:
      - name: id
        data_tests: *key_tests
"""
    )
    for model in ("fct_orders", "dim_customers"):
        kept, was = after["nodes"][f"model.layouts.{model}"], before["nodes"][f"model.layouts.{model}"]
        assert (kept["config"]["tags"], kept["config"]["meta"]) == (
            was["config"]["tags"],
            was["config"]["meta"],
        )
    tests = {u.split(".")[2] for u, n in after["nodes"].items() if n["resource_type"] == "test"}
    assert tests == {f"{t}_{m}_id" for t in ("unique", "not_null") for m in ("fct_orders", "dim_customers")}


def test_a_section_header_stays_with_the_entry_below_it_and_no_blank_line_is_left_over(removal, after):
    assert (
        removal.files["models/staging/_staging.yml"]
        == """\
version: 2

models:
  ## Staging: one model per source table

  - name: stg_orders
    description: |
      One row per order.
      Cancelled orders included.
"""
        + BLOCK_SCALAR_END  # dbt strips the file: without it the description would lose its last "\n"
    )


def test_a_block_scalar_that_becomes_the_last_value_keeps_its_parsed_text(removal, before, after):
    assert removal.files["models/marts/_reports.yml"] == (
        "version: 2\n\nmodels:\n  - name: rpt_daily\n    description: |+\n      Orders per day.\n\n"
        + BLOCK_SCALAR_END
    )
    for model in ("stg_orders", "rpt_daily"):
        unique_id = f"model.layouts.{model}"
        assert after["nodes"][unique_id]["description"] == before["nodes"][unique_id]["description"]
    assert after["nodes"]["model.layouts.rpt_daily"]["description"] == "Orders per day.\n\n"

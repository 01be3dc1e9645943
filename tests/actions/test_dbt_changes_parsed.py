"""A removal over a small real dbt project (tests/fixtures/dbt_projects/shop_removal, see its README):
parsed by dbt, planned from that manifest, applied to a copy, and parsed by dbt again."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from metapipeline.actions.dbt_changes import ChangeSet, plan_removal, read_project, removal_pr_text
from metapipeline.platform.unused import UnusedModel

SHOP = Path(__file__).parents[1] / "fixtures" / "dbt_projects" / "shop_removal"

REMOVED = {"model.shop.dim_customers.v1", "model.shop.fct_refunds", "model.shop.stg_refunds"}
DROPPED = {
    "model.shop.int_orders_enriched": "read by the snapshot snapshots/orders_snapshot.sql",
    "model.shop.int_orders_base": (
        "read by the model int_orders_enriched, which stays: "
        "read by the snapshot snapshots/orders_snapshot.sql"
    ),
    "model.shop.fct_customer_churn": "read by the analysis analyses/customer_churn.sql",
    "model.shop.stg_legacy_orders": "referenced by the disabled model model.shop.old_orders",
    "model.shop.fct_payments": (
        "read by the singular test tests/assert_payments_match_orders.sql, which also tests kept models"
    ),
    "model.shop.stg_payments": (
        "read by the model fct_payments, which stays: read by the singular test "
        "tests/assert_payments_match_orders.sql, which also tests kept models"
    ),
    "model.shop.int_refund_reasons": (
        "referenced in macros/refund_report.sql line 2: "
        "select reason, count(*) from {{ ref('int_refund_reasons') }} group by 1"
    ),
}


def copy_of_shop(directory: Path) -> Path:
    project = directory / "shop"
    shutil.copytree(SHOP, project, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb"))
    return project


def candidates(manifest: dict[str, Any], unique_ids: set[str]) -> list[UnusedModel]:
    nodes = manifest["nodes"]
    return [
        UnusedModel(
            unique_id=u, name=nodes[u]["name"], path=nodes[u]["original_file_path"], owner=None, downstream=()
        )
        for u in sorted(unique_ids)
    ]


@pytest.fixture(scope="module")
def shop_manifest(tmp_path_factory, dbt_parse) -> dict[str, Any]:
    return dbt_parse(copy_of_shop(tmp_path_factory.mktemp("before")))


@pytest.fixture(scope="module")
def shop_files() -> dict[str, str]:
    return read_project(SHOP).files


@pytest.fixture(scope="module")
def removal(shop_files, shop_manifest) -> ChangeSet:
    return plan_removal(shop_files, shop_manifest, candidates(shop_manifest, REMOVED | DROPPED.keys()))


def test_the_removal_parses_and_removes_only_what_nothing_staying_references(
    removal, shop_manifest, tmp_path, dbt_parse
):
    project = copy_of_shop(tmp_path)
    removal.apply_to(project)
    after = dbt_parse(project)

    assert set(shop_manifest["nodes"]) - set(after["nodes"]) == REMOVED | {
        "test.shop.assert_refunds_positive",  # read only removed models
        *(u for u, n in shop_manifest["nodes"].items() if n.get("attached_node") in REMOVED),
        *(u for u, n in shop_manifest["nodes"].items() if "dim_customers_v_1_" in u),  # ref(.., v=1)
    }
    assert set(after["nodes"]) <= set(shop_manifest["nodes"])
    kept = after["nodes"]
    assert kept["model.shop.dim_customers.v2"]["latest_version"] == 2
    assert {"snapshot.shop.orders_snapshot", "analysis.shop.customer_churn"} <= kept.keys()
    assert "test.shop.assert_payments_match_orders" in kept
    assert set(after["disabled"]) == {"model.shop.old_orders"}
    assert set(after["docs"]) == set(shop_manifest["docs"]) - {"doc.shop.refunds"}


def test_each_kept_candidate_says_what_references_it(removal):
    assert removal.dropped == dict(sorted(DROPPED.items()))


def test_edits_cut_lines_and_keep_section_comments_and_anchors(removal, shop_files):
    assert {p for p, text in removal.files.items() if text is not None} == {
        "dbt_project.yml",
        "models/marts/_docs.md",
        "models/marts/_marts.yml",
    }
    for path, text in removal.files.items():
        remaining = iter(shop_files[path].splitlines())
        assert all(line in remaining for line in (text or "").splitlines()), f"{path} gained lines"
    properties = removal.files["models/marts/_marts.yml"] or ""
    assert properties.count("# ====") == 6 and "data_tests: &order_key_tests" in properties
    assert "fct_refunds" not in properties and "v=1" not in properties and "- v: 1" not in properties
    assert "v1 kept the region column" not in properties  # the comment went with its version
    dim_customers = next(m for m in yaml.safe_load(properties)["models"] if m["name"] == "dim_customers")
    assert dim_customers["latest_version"] == 2 and dim_customers["versions"] == [{"v": 2}]


def test_the_latest_version_is_kept_while_another_version_stays(shop_files, shop_manifest):
    only_latest = plan_removal(
        shop_files, shop_manifest, candidates(shop_manifest, {"model.shop.dim_customers.v2"})
    )
    assert not only_latest
    assert only_latest.dropped == {"model.shop.dim_customers.v2": "v2 is the latest_version of dim_customers"}

    both = {"model.shop.dim_customers.v1", "model.shop.dim_customers.v2"}
    change = plan_removal(shop_files, shop_manifest, candidates(shop_manifest, both))
    assert change.dropped == {
        "model.shop.dim_customers.v2": "read by the model fct_customer_churn, which stays"
    }
    assert change.files["models/marts/dim_customers_v1.sql"] is None
    assert "models/marts/dim_customers_v2.sql" not in change.files


def test_the_pull_request_body_lists_the_kept_models(removal, shop_manifest):
    title, body = removal_pr_text(
        candidates(shop_manifest, REMOVED | DROPPED.keys()), {}, shop_manifest, change=removal
    )
    assert title == "Remove 3 unused dbt models"
    kept = body.split("### Kept, because something that stays still references them\n\n")[1].split("\n\n")[0]
    assert len(kept.splitlines()) == len(DROPPED)
    assert "- stg\\_legacy\\_orders: referenced by the disabled model model.shop.old\\_orders" in kept
    assert "| dim\\_customers v1 |" in body

"""The removal change set: over the sample project (checked by a real `dbt parse`) and small
hand-made projects for the edge cases the sample does not have."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from metapipeline.actions import dbt_changes
from metapipeline.actions.dbt_changes import (
    ChangeSet,
    ModelRunInfo,
    ParseCache,
    RemovalError,
    UnsafePathError,
    plan_removal,
    properties,
    read_project,
    removal_pr_text,
    yaml_edit,
)
from metapipeline.actions.dbt_changes.yaml_edit import BLOCK_SCALAR_END, has_entries, opens_with_a_list
from metapipeline.platform.unused import Downstream, UnusedModel
from metapipeline.sandbox.sample import DBT_PROJECT_DIR, expected_outcomes

UNUSED = sorted(expected_outcomes()["unused_models"])


def unused(manifest: dict[str, Any], unique_ids: list[str]) -> list[UnusedModel]:
    nodes = manifest["nodes"]
    return [UnusedModel(u, nodes[u]["name"], nodes[u]["original_file_path"], None, ()) for u in unique_ids]


@pytest.fixture(scope="module")
def sample_files() -> dict[str, str]:
    return read_project(DBT_PROJECT_DIR).files


@pytest.fixture(scope="module")
def removal(sample_files, sample_manifest) -> ChangeSet:
    return plan_removal(sample_files, sample_manifest, unused(sample_manifest, UNUSED))


def test_removing_the_expected_models_leaves_a_project_dbt_parses(
    removal, sample_manifest, tmp_path, dbt_parse
):
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb"))
    removal.apply_to(project)
    after = dbt_parse(project)

    models = {u for u, n in after["nodes"].items() if n["resource_type"] == "model"}
    before = {u for u, n in sample_manifest["nodes"].items() if n["resource_type"] == "model"}
    assert models == before - set(UNUSED)
    assert set(after["exposures"]) == set(sample_manifest["exposures"])
    # Model files and the properties file left empty are deleted; nothing else goes.
    deleted = {p for p, text in removal.files.items() if text is None}
    model_files = {sample_manifest["nodes"][u]["original_file_path"] for u in UNUSED}
    assert deleted == model_files | {"models/marts/ops/_ops__models.yml"}


def test_untouched_files_stay_byte_identical_and_edits_only_delete_lines(removal, sample_files):
    edited = {p for p, text in removal.files.items() if text is not None}
    assert edited == {
        "dbt_project.yml",
        "selectors.yml",
        "models/intermediate/_intermediate__models.yml",
        "models/marts/core/_core__models.yml",
        "models/marts/marketing/_marketing__models.yml",
        "models/staging/logistics/_logistics__models.yml",
    }
    for path in edited:
        before, after = sample_files[path].splitlines(), removal.files[path].splitlines()  # type: ignore[union-attr]
        remaining = iter(before)
        assert all(line in remaining for line in after), f"{path} gained or reordered lines"
    assert removal.before == {p: sample_files[p] for p in removal.files}


def test_dbt_project_and_selectors_lose_only_what_named_removed_models(removal):
    project = yaml.safe_load(removal.files["dbt_project.yml"])  # type: ignore[arg-type]
    # Both ops models go: dbt would warn that the ops block applies to nothing, so it goes too.
    assert "ops" not in project["models"]["freshcart"]["marts"]
    assert set(project["models"]["freshcart"]["marts"]) == {
        "+schema", "+materialized", "core", "finance", "marketing"
    }  # fmt: skip

    selectors = {
        s["name"]: s["definition"] for s in yaml.safe_load(removal.files["selectors.yml"])["selectors"]
    }  # type: ignore[arg-type]
    assert set(selectors) == {"nightly", "finance_intraday", "marketing"}  # ops selected only removed models
    assert selectors["nightly"] == {"union": [{"method": "fqn", "value": "*"}]}
    assert selectors["marketing"] == {
        "union": [{"method": "path", "value": "models/marts/marketing", "parents": True}]
    }
    assert selectors["finance_intraday"] == {"method": "fqn", "value": "fct_orders", "children": True}


def test_pull_request_text_escapes_what_people_typed(sample_manifest):
    hostile = UnusedModel(
        "model.freshcart.fct_app_funnel",
        "fct_app_funnel",
        "models/marts/marketing/fct_app_funnel.sql",
        '<img src=x onerror=alert(1)> | @everyone `x` [link](http://evil) "]; A-->B',
        (Downstream("mode.report.abc", "mode_report", "archived in Mode"),),
    )
    title, body = removal_pr_text(
        [hostile],
        {hostile.unique_id: ModelRunInfo(None, 12.34)},
        sample_manifest,
    )
    assert title == "Remove 1 unused dbt model"
    row = next(line for line in body.splitlines() if line.startswith("| fct"))
    assert row.count(" | ") == 4  # the owner's pipe did not add a column
    assert "<img" not in body and "[link](" not in body
    assert "`@everyone`" in row and "\u2060" not in body  # a code span mentions no one
    assert "12.3 s" in row and "never" in row and "archived in Mode" in row
    mermaid = body.split("```mermaid\n")[1].split("```")[0]
    assert '["fct_app_funnel"]' in mermaid and "onerror" not in mermaid
    assert "int_app_sessions" in mermaid  # its parent, one hop away
    assert "tags: [keep]" in body and "keep: true" in body


# -- small hand-made projects ----------------------------------------------------------------------


def model_node(name: str, path: str, fqn: list[str] | None = None) -> dict[str, Any]:
    return {
        "unique_id": f"model.shop.{name}",
        "resource_type": "model",
        "name": name,
        "package_name": "shop",
        "original_file_path": path,
        "fqn": fqn or ["shop", name],
        "tags": [],
    }


def manifest_of(*nodes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"metadata": {"project_name": "shop"}, "nodes": {n["unique_id"]: n for n in nodes}, **extra}


PROPERTIES = """\
version: 2

# Marts, reviewed quarterly.
models:
  - name: keep_me   # the one finance reads
    description: "Kept: {{ doc('shared') }}"
    columns:
      - name: id
        data_tests:
          - unique
          - relationships:
              arguments:
                to: ref('gone')
                field: id

  # Retired in 2024; see the ticket.
  - name: gone
    description: '{{ doc("only_gone") }}'
    columns:
      - name: id
        data_tests: [unique, not_null]

  - name: also_kept
    description: >
      Folded text
      stays folded.

exposures:
  - name: mode_abc123
    type: dashboard
    owner: {name: Mode}
    depends_on:
      - ref('gone')
  - name: mode_def456
    type: dashboard
    owner: {name: Mode}
    depends_on:
      - ref('keep_me')
      - ref('gone')
"""

DOCS = """\
{% docs shared %}
Shared text.
{% enddocs %}

{% docs only_gone %}
Only the removed model used this.
{% enddocs %}
"""


def small_project() -> tuple[dict[str, str], dict[str, Any]]:
    files = {
        "dbt/models/_models.yml": PROPERTIES,
        "dbt/models/_docs.md": DOCS,
        "dbt/models/gone.sql": "select 1 as id\n",
        "dbt/models/keep_me.sql": "select 1 as id\n",
        "dbt/tests/assert_gone.sql": "select * from {{ ref('gone') }} where id < 0\n",
    }
    test = {
        "unique_id": "test.shop.assert_gone",
        "resource_type": "test",
        "name": "assert_gone",
        "original_file_path": "tests/assert_gone.sql",
        "depends_on": {"nodes": ["model.shop.gone"]},
    }
    docs = {
        f"doc.shop.{name}": {"name": name, "original_file_path": "models/_docs.md"}
        for name in ("shared", "only_gone")
    }
    manifest = manifest_of(
        model_node("gone", "models/gone.sql"), model_node("keep_me", "models/keep_me.sql"), test, docs=docs
    )
    return files, manifest


def test_edits_keep_comments_and_remove_everything_only_the_model_used():
    files, manifest = small_project()
    change = plan_removal(files, manifest, unused(manifest, ["model.shop.gone"]), project_root="dbt")
    assert change.files["dbt/models/gone.sql"] is None
    assert change.files["dbt/tests/assert_gone.sql"] is None
    assert "dbt/models/keep_me.sql" not in change.files
    assert change.files["dbt/models/_docs.md"] == "{% docs shared %}\nShared text.\n{% enddocs %}\n\n"
    assert (
        change.files["dbt/models/_models.yml"]
        == """\
version: 2

# Marts, reviewed quarterly.
models:
  - name: keep_me   # the one finance reads
    description: "Kept: {{ doc('shared') }}"
    columns:
      - name: id
        data_tests:
          - unique

  - name: also_kept
    description: >
      Folded text
      stays folded.

exposures:
  - name: mode_def456
    type: dashboard
    owner: {name: Mode}
    depends_on:
      - ref('keep_me')
"""
    )


def test_only_docs_blocks_the_removed_entries_use_go_not_ones_their_comments_name():
    files, manifest = small_project()
    files["dbt/models/_models.yml"] = files["dbt/models/_models.yml"].replace(
        "  - name: gone\n", "  - name: gone\n    # formerly {{ doc('retired') }}\n"
    )
    files["dbt/models/_docs.md"] += "\n{% docs retired %}\nNobody uses this one.\n{% enddocs %}\n"
    manifest["docs"]["doc.shop.retired"] = {"name": "retired", "original_file_path": "models/_docs.md"}
    change = plan_removal(files, manifest, unused(manifest, ["model.shop.gone"]), project_root="dbt")
    docs = change.files["dbt/models/_docs.md"] or ""
    assert "only_gone" not in docs and "{% docs retired %}" in docs


def test_a_file_the_plan_only_read_is_never_deleted():
    files, manifest = small_project()
    files["dbt/models/_notes.yml"] = "version: 2\n# gone was retired in 2024\n"  # names it, holds nothing
    files["dbt/models/_empty.yml"] = "version: 2\nmodels: []  # gone\n"
    change = plan_removal(files, manifest, unused(manifest, ["model.shop.gone"]), project_root="dbt")
    assert "dbt/models/_notes.yml" not in change.files and "dbt/models/_empty.yml" not in change.files
    assert change.files["dbt/models/gone.sql"] is None


def test_a_manifest_without_docs_leaves_docs_blocks_alone():
    files, manifest = small_project()
    manifest["docs"] = None
    change = plan_removal(files, manifest, unused(manifest, ["model.shop.gone"]), project_root="dbt")
    assert "dbt/models/_docs.md" not in change.files and change.files["dbt/models/gone.sql"] is None


def test_flow_style_yaml_is_re_emitted_by_ruamel():
    manifest = manifest_of(model_node("gone", "models/gone.sql"), model_node("kept", "models/kept.sql"))
    files = {
        "models/gone.sql": "select 1\n",
        "models/_models.yml": "# flow style\nmodels: [{name: kept}, {name: gone}]\n",
    }
    change = plan_removal(files, manifest, unused(manifest, ["model.shop.gone"]))
    text = change.files["models/_models.yml"]
    assert text is not None and text.startswith("# flow style\n")
    assert yaml.safe_load(text) == {"models": [{"name": "kept"}]}


# -- candidates something that stays references --------------------------------------------------


def test_a_reference_only_the_text_shows_keeps_the_model_and_what_it_reads():
    files, manifest = small_project()
    files["dbt/models/_models.yml"] += "  - name: weekly\n    depends_on:\n      - ref('gone')\n"
    files["dbt/models/upstream.sql"] = "select 1 as id\n"
    manifest["nodes"]["model.shop.upstream"] = model_node("upstream", "models/upstream.sql")
    manifest["nodes"]["model.shop.gone"]["depends_on"] = {"nodes": ["model.shop.upstream"]}
    change = plan_removal(
        files, manifest, unused(manifest, ["model.shop.gone", "model.shop.upstream"]), project_root="dbt"
    )
    assert not change and change.files == {}
    where = "referenced in models/_models.yml line 42: - ref('gone') (under exposures > weekly > depends_on)"
    assert change.dropped == {
        "model.shop.gone": where,
        "model.shop.upstream": f"read by the model gone, which stays: {where}",
    }


def reader(kind: str, name: str, path: str, *parents: str, **extra: Any) -> dict[str, Any]:
    return {
        "unique_id": f"{kind}.shop.{name}",
        "resource_type": kind,
        "name": name,
        "package_name": "shop",
        "original_file_path": path,
        "fqn": ["shop", name],
        "depends_on": {"nodes": list(parents)},
        **extra,
    }


GONE, KEPT = "model.shop.gone", "model.shop.keep_me"
READERS = {
    "snapshot": (
        {"nodes": [reader("snapshot", "snap", "snapshots/snap.sql", GONE)]},
        "read by the snapshot snapshots/snap.sql",
    ),
    "analysis": (
        {"nodes": [reader("analysis", "a", "analyses/a.sql", GONE)]},
        "read by the analysis analyses/a.sql",
    ),
    "singular-test-of-kept-models": (
        {"nodes": [reader("test", "t", "tests/t.sql", GONE, KEPT)]},
        "read by the singular test tests/t.sql, which also tests kept models",
    ),
    "kept-model": (
        {"nodes": [reader("model", "weekly", "models/weekly.sql", GONE)]},
        "read by the model weekly, which stays",
    ),
    "disabled-model": (
        {"disabled": [reader("model", "old", "models/old.sql", refs=[{"name": "gone", "version": None}])]},
        "referenced by the disabled model model.shop.old",
    ),
    "hand-written-exposure": (
        {"exposures": [reader("exposure", "weekly_review", "models/_exposures.yml", GONE)]},
        "read by the exposure weekly_review",
    ),
    "semantic-model": (
        {"semantic_models": [reader("semantic_model", "orders", "models/_semantic.yml", GONE)]},
        "read by the semantic model orders",
    ),
    "generated-exposure": (
        {"exposures": [reader("exposure", "mode_abc123", "models/_exposures.yml", GONE)]},
        None,  # it follows Mode: its depends_on is edited
    ),
    "generic-test": (
        {"nodes": [reader("test", "rel", "models/_m.yml", KEPT, GONE, test_metadata={"name": "x"})]},
        None,  # edited out of its YAML
    ),
    "singular-test-only-of-removed-models": (
        {"nodes": [reader("test", "t", "tests/t.sql", GONE)]},
        None,  # deleted with it
    ),
}


@pytest.mark.parametrize(("sections", "why"), READERS.values(), ids=READERS.keys())
def test_a_candidate_something_staying_reads_is_dropped_with_why(sections, why):
    manifest = manifest_of(model_node("gone", "models/gone.sql"), model_node("keep_me", "models/keep_me.sql"))
    files = {"models/gone.sql": "select 1\n", "models/keep_me.sql": "select 1\n", "tests/t.sql": "select 1\n"}
    for section, nodes in sections.items():
        if section == "disabled":
            manifest["disabled"] = {n["unique_id"]: [n] for n in nodes}
        else:
            manifest.setdefault(section, {}).update({n["unique_id"]: n for n in nodes})
    change = plan_removal(files, manifest, unused(manifest, [GONE]))
    if why is None:
        assert change.dropped == {} and change.files["models/gone.sql"] is None
    else:
        assert change.dropped == {GONE: why} and not change


def test_one_blocked_candidate_never_refuses_the_others():
    manifest = manifest_of(
        model_node("gone", "models/gone.sql"),
        model_node("upstream", "models/upstream.sql"),
        model_node("also_gone", "models/also_gone.sql"),
        reader("snapshot", "snap", "snapshots/snap.sql", GONE),
    )
    manifest["nodes"][GONE]["depends_on"] = {"nodes": ["model.shop.upstream"]}
    files = {p: "select 1\n" for p in ("models/gone.sql", "models/upstream.sql", "models/also_gone.sql")}
    change = plan_removal(
        files, manifest, unused(manifest, [GONE, "model.shop.upstream", "model.shop.also_gone"])
    )
    assert change.files == {"models/also_gone.sql": None}
    assert change.dropped == {
        GONE: "read by the snapshot snapshots/snap.sql",
        "model.shop.upstream": "read by the model gone, which stays: read by the snapshot snapshots/snap.sql",
    }


def test_the_pull_request_lists_the_kept_candidates_apart():
    manifest = manifest_of(model_node("gone", "models/gone.sql"), model_node("kept_1", "models/kept_1.sql"))
    models = unused(manifest, [GONE, "model.shop.kept_1"])
    change = ChangeSet(
        files={"models/gone.sql": None},
        dropped={"model.shop.kept_1": "read by the snapshot snapshots/snap_<b>.sql"},
    )
    title, body = removal_pr_text(models, {}, manifest, change=change)
    assert title == "Remove 1 unused dbt model"
    assert "found 2 dbt models" in body and "1 of them stays" in body
    table = [line for line in body.splitlines() if line.startswith("| ")]
    assert len(table) == 2 and "gone" in table[1]  # header and the removed model
    kept = body.split("### Kept, because something that stays still references them\n\n")[1]
    assert kept.startswith("- kept\\_1: read by the snapshot snapshots/snap\\_&lt;b&gt;.sql\n")
    assert '["kept_1"]' not in body.split("```mermaid")[1].split("```")[0]


def test_an_anchor_a_kept_entry_aliases_survives_the_removal_of_its_entry():
    manifest = manifest_of(model_node("gone", "models/gone.sql"), model_node("kept", "models/kept.sql"))
    files = {
        "models/gone.sql": "select 1\n",
        "models/_models.yml": """\
version: 2

models:
  # Removed
  - name: gone
    columns:
      - name: id
        data_tests: &key_tests
          - unique
          - not_null

  # Kept
  - name: kept
    columns:
      - name: id
        data_tests: *key_tests  # the same checks
""",
    }
    change = plan_removal(files, manifest, unused(manifest, [GONE]))
    after = yaml.safe_load(change.files["models/_models.yml"])  # type: ignore[arg-type]
    assert after == {
        "version": 2,
        "models": [{"name": "kept", "columns": [{"name": "id", "data_tests": ["unique", "not_null"]}]}],
    }


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (  # a merge key and a second alias: the first takes the node, the second still aliases it
            "models:\n  - name: gone\n    config: &c\n      tags: [a]\n  - name: kept\n    config:\n"
            "      <<: *c\n      materialized: table\n  - name: also_kept\n    config: *c  # same\n",
            "models:\n  - name: kept\n    config:\n      <<: &c\n        tags: [a]\n      materialized: table\n"
            "  - name: also_kept\n    config: *c  # same\n",
        ),
        (  # a sequence item aliased from a deeper level: the node's lines are indented to fit
            "models:\n  - name: gone\n    columns:\n      - &id\n        name: id\n        data_tests: [unique]\n"
            "  - name: kept\n    versions:\n      - v: 1\n        columns:\n          - *id\n",
            "models:\n  - name: kept\n    versions:\n      - v: 1\n        columns:\n          - &id\n"
            "            name: id\n            data_tests: [unique]\n",
        ),
    ],
)
def test_an_anchor_of_a_removed_entry_moves_to_its_first_kept_alias(before, after):
    manifest = manifest_of(model_node("gone", "models/gone.sql"), model_node("kept", "models/kept.sql"))
    files = {"models/gone.sql": "select 1\n", "models/_models.yml": before}
    change = plan_removal(files, manifest, unused(manifest, [GONE]))
    assert change.files["models/_models.yml"] == after


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (  # a section header below the removed entry, then a blank line: it heads what stays
            "models:\n  - name: kept\n\n  - name: gone\n\n  ## Staging\n\n  - name: also_kept\n",
            "models:\n  - name: kept\n\n  ## Staging\n\n  - name: also_kept\n",
        ),
        (  # the last two entries go: no blank line is left at the end
            "models:\n  - name: kept\n\n  - name: gone\n\n  - name: gone_too\n",
            "models:\n  - name: kept\n",
        ),
        (  # the same before another section
            "models:\n  - name: kept\n\n  - name: gone\n\n  - name: gone_too\n\nsources:\n  - name: s\n",
            "models:\n  - name: kept\n\nsources:\n  - name: s\n",
        ),
        (  # a `|+` scalar keeps the blank line that is part of its value
            "models:\n  - name: kept\n    description: |+\n      Text.\n\n  - name: gone\n",
            "models:\n  - name: kept\n    description: |+\n      Text.\n\n" + BLOCK_SCALAR_END,
        ),
    ],
)
def test_comments_and_blank_lines_of_what_stays_stay(before, after):
    manifest = manifest_of(
        *(model_node(n, f"models/{n}.sql") for n in ("gone", "gone_too", "kept", "also_kept"))
    )
    files = {
        "models/gone.sql": "select 1\n",
        "models/gone_too.sql": "select 1\n",
        "models/_models.yml": before,
    }
    change = plan_removal(files, manifest, unused(manifest, [GONE, "model.shop.gone_too"]))
    assert change.files["models/_models.yml"] == after


def test_only_files_naming_a_removed_model_as_a_value_are_loaded(monkeypatch, sample_files, sample_manifest):
    """The text search finds every file a plain search for the names finds an edit in."""
    loads: list[str] = []
    real_parse = yaml_edit._parse
    monkeypatch.setattr(yaml_edit, "_parse", lambda text: loads.append(text) or real_parse(text))
    files, manifest = small_project()
    files["dbt/models/_prose.yml"] = (
        "version: 2\nmodels:\n  - name: keep_me2\n    description: Unlike gone, kept.\n"
    )
    files["dbt/models/_substring.yml"] = "version: 2\nmodels:\n  - name: gone_daily\n"
    screened = _outcome(files, manifest, ["model.shop.gone"], project_root="dbt")
    assert files["dbt/models/_models.yml"] in loads
    assert files["dbt/models/_prose.yml"] not in loads and files["dbt/models/_substring.yml"] not in loads
    sample = _outcome(sample_files, sample_manifest, UNUSED)

    def substring_search(plan, text):
        return any(name in text for name in plan.names)

    monkeypatch.setattr(properties, "may_name_a_removed_model", substring_search)
    assert _outcome(files, manifest, ["model.shop.gone"], project_root="dbt") == screened
    assert _outcome(sample_files, sample_manifest, UNUSED) == sample


# -- versioned models ---------------------------------------------------------------------------------


def version_node(name: str, version: int, latest: int, path: str | None = None) -> dict[str, Any]:
    node = model_node(name, path or f"models/{name}_v{version}.sql", ["shop", name, f"v{version}"])
    return {
        **node,
        "unique_id": f"model.shop.{name}.v{version}",
        "version": version,
        "latest_version": latest,
    }


V1, V2 = "model.shop.dim_customers.v1", "model.shop.dim_customers.v2"
VERSIONED_PROPERTIES = """\
version: 2

models:
  - name: dim_customers
    latest_version: 2
    columns:
      - name: id
    versions:
      # The legacy shape, for the old dashboards.
      - v: 1
        columns:
          - include: all
          - name: region
            data_tests:
              - relationships:
                  arguments:
                    to: ref('dim_customers', v=2)
                    field: region
      - v: 2
        defined_in: dim_customers

  - name: keep_me

unit_tests:
  - name: test_v1_only
    model: dim_customers
    versions:
      include: [1]
    given: []
    expect: {rows: []}
  - name: test_both
    model: dim_customers
    versions:
      include:
        - 1
        - 2
    given: []
    expect: {rows: []}
"""
VERSIONED_PROJECT = """\
name: shop
models:
  shop:
    dim_customers:
      +materialized: table
    keep_me:
      +materialized: view
"""


def versioned_project() -> tuple[dict[str, str], dict[str, Any]]:
    files = {
        "dbt_project.yml": VERSIONED_PROJECT,
        "models/_models.yml": VERSIONED_PROPERTIES,
        "models/dim_customers_v1.sql": "select 1 as id, 'x' as region\n",
        "models/dim_customers.sql": "select 1 as id\n",
        "models/keep_me.sql": "select 1 as id\n",
    }
    manifest = manifest_of(
        version_node("dim_customers", 1, 2),
        version_node("dim_customers", 2, 2, "models/dim_customers.sql"),
        model_node("keep_me", "models/keep_me.sql"),
    )
    return files, manifest


def test_removing_one_version_removes_its_file_and_its_item_and_keeps_the_model():
    files, manifest = versioned_project()
    change = plan_removal(files, manifest, unused(manifest, [V1]))
    assert change.dropped == {}
    assert change.files["models/dim_customers_v1.sql"] is None
    assert set(change.files) == {"models/dim_customers_v1.sql", "models/_models.yml"}  # dbt_project.yml kept
    text = change.files["models/_models.yml"] or ""
    assert "legacy shape" not in text and "region" not in text
    after = yaml.safe_load(text)
    (model, keep_me) = after["models"]
    assert model["latest_version"] == 2 and model["versions"] == [{"v": 2, "defined_in": "dim_customers"}]
    assert keep_me == {"name": "keep_me"}
    assert [(t["name"], t["versions"]["include"]) for t in after["unit_tests"]] == [("test_both", [2])]
    assert "remove version v1 of dim_customers from models/_models.yml" in change.summary


def test_removing_every_version_removes_the_whole_model():
    files, manifest = versioned_project()
    change = plan_removal(files, manifest, unused(manifest, [V1, V2]))
    assert change.dropped == {}
    assert (
        change.files["models/dim_customers_v1.sql"] is None
        and change.files["models/dim_customers.sql"] is None
    )
    after = yaml.safe_load(change.files["models/_models.yml"])  # type: ignore[arg-type]
    assert after == {"version": 2, "models": [{"name": "keep_me"}]}
    project = yaml.safe_load(change.files["dbt_project.yml"])  # type: ignore[arg-type]
    assert project["models"]["shop"] == {"keep_me": {"+materialized": "view"}}


def test_the_latest_version_stays_while_another_version_does():
    files, manifest = versioned_project()
    change = plan_removal(files, manifest, unused(manifest, [V2]))
    assert not change and change.dropped == {V2: "v2 is the latest_version of dim_customers"}


@pytest.mark.parametrize(
    ("text", "removed", "dropped"),
    [
        ("ref('dim_customers', v=1)", [V1], {V1}),
        ("ref('dim_customers', version='1')", [V1], {V1}),
        ("ref('shop', 'dim_customers', v=1)", [V1], {V1}),
        ("ref('dim_customers', v=var('which'))", [V1], {V1}),  # could be any version
        ("ref('dim_customers', v=2)", [V1], set()),
        ("ref('dim_customers')", [V1], set()),  # the latest version, v2
        ("ref('dim_customers')", [V1, V2], {V2}),  # v2 stays for it; v1 still goes
    ],
)
def test_a_ref_reaches_the_version_it_names(text, removed, dropped):
    files, manifest = versioned_project()
    files["macros/report.sql"] = f"{{% macro report() %}}select * from {{{{ {text} }}}}{{% endmacro %}}\n"
    change = plan_removal(files, manifest, unused(manifest, removed))
    line = files["macros/report.sql"].strip()
    assert change.dropped == {uid: f"referenced in macros/report.sql line 1: {line}" for uid in dropped}
    assert {p for p, t in change.files.items() if t is None} >= {
        manifest["nodes"][uid]["original_file_path"] for uid in set(removed) - dropped
    }


def test_a_package_model_of_the_same_name_is_another_model():
    files, manifest = versioned_project()
    theirs = {**model_node("dim_customers", "models/dim_customers.sql"), "package_name": "crm"}
    manifest["nodes"]["model.crm.dim_customers"] = {**theirs, "unique_id": "model.crm.dim_customers"}
    change = plan_removal(files, manifest, unused(manifest, [V1, V2]))
    assert change.dropped == {} and yaml.safe_load(change.files["models/_models.yml"] or "")["models"] == [
        {"name": "keep_me"}
    ]


def test_a_disabled_node_pinned_to_a_version_keeps_only_that_version():
    files, manifest = versioned_project()
    old = reader("model", "old", "models/old.sql", refs=[{"name": "dim_customers", "version": 1}])
    manifest["disabled"] = {old["unique_id"]: [old]}
    change = plan_removal(files, manifest, unused(manifest, [V1, V2]))
    assert change.dropped == {
        V1: "referenced by the disabled model model.shop.old",
        V2: "v2 is the latest_version of dim_customers",
    }


@pytest.mark.parametrize(
    ("path", "root", "symlinks"),
    [
        ("../outside.sql", "", ()),
        ("models/../../outside.sql", "", ()),
        ("/etc/passwd", "", ()),
        ("C:/models/x.sql", "", ()),
        ("models/gone.sql", "../elsewhere", ()),
        ("models/gone.sql", "", ("models",)),
        ("models/gone.sql", "", ("models/gone.sql",)),
    ],
    ids=["parent", "nested-parent", "absolute", "drive", "root-escape", "symlinked-dir", "symlinked-file"],
)
def test_paths_outside_the_project_are_refused(path, root, symlinks):
    node = model_node("gone", path)
    manifest = manifest_of(node)
    files = {"models/gone.sql": "select 1\n", "../outside.sql": "x", "/etc/passwd": "x"}
    with pytest.raises(UnsafePathError):
        plan_removal(
            files, manifest, unused(manifest, ["model.shop.gone"]), project_root=root, symlinks=symlinks
        )


def test_read_project_lists_symlinks_without_following_them(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "a.sql").write_text("select 1\n")
    (tmp_path / "models" / "b.sql").symlink_to("/etc/hostname")
    project = read_project(tmp_path)
    assert project.files == {"models/a.sql": "select 1\n"}
    assert project.symlinks == {"models/b.sql"}


def test_a_model_of_an_installed_package_is_not_ours_to_remove():
    node = {**model_node("pkg_model", "models/pkg_model.sql"), "package_name": "dbt_utils"}
    manifest = manifest_of(node)
    with pytest.raises(RemovalError, match="package dbt_utils"):
        plan_removal({"models/pkg_model.sql": ""}, manifest, unused(manifest, ["model.shop.pkg_model"]))


def test_the_pull_requests_fingerprint_reads_every_module_of_the_planner():
    package = Path(dbt_changes.__file__).parent
    assert {Path(m.__file__ or "") for m in dbt_changes.MODULES} == set(package.glob("*.py"))


def test_nothing_to_remove_is_an_empty_change_set(sample_files, sample_manifest):
    assert not plan_removal(sample_files, sample_manifest, [])


# -- parsing each YAML file once ---------------------------------------------------------------------


def test_each_yaml_file_is_parsed_once(monkeypatch):
    """Planning is dominated by parsing: one parse per file it edits, none to re-check."""
    parses: list[str] = []
    real_parse = yaml_edit._parse
    monkeypatch.setattr(yaml_edit, "_parse", lambda text: parses.append(text) or real_parse(text))
    files, manifest = small_project()
    change = plan_removal(files, manifest, unused(manifest, ["model.shop.gone"]), project_root="dbt")
    assert change.files["dbt/models/_models.yml"] is not None
    assert parses == [files["dbt/models/_models.yml"]]


def test_libyaml_builds_the_document_ruamel_loads_and_the_plan_is_the_same(
    monkeypatch, sample_files, sample_manifest
):
    """`_composed` (libyaml) gives ruamel's containers, keys, lines, columns and styles, much faster."""
    for text in sample_files.values():
        composed = yaml_edit._composed(text) if text.startswith("version") else None
        if composed is not None:
            assert _shape(composed) == _shape(yaml_edit._round_trip_yaml((None, None)).load(text))
    fast = _outcome(sample_files, sample_manifest, UNUSED)
    monkeypatch.setattr(yaml_edit, "_composed", lambda text: None)
    assert _outcome(sample_files, sample_manifest, UNUSED) == fast


def _shape(node: Any) -> Any:
    if isinstance(node, CommentedMap | CommentedSeq):
        keys = range(len(node)) if isinstance(node, CommentedSeq) else list(node)
        style = bool(node.fa.flow_style())
        return (type(node), node.lc.line, node.lc.col, style, node.lc.data, [_shape(node[k]) for k in keys])
    return (type(node), node)


def _outcome(files, manifest, unique_ids, **kwargs):
    change = plan_removal(files, manifest, unused(manifest, unique_ids), **kwargs)
    return change.files, change.before, change.summary


FLOW_STYLE = {
    "models/gone.sql": "select 1\n",
    "models/_models.yml": "# flow style\nmodels: [{name: kept}, {name: gone}]  # trailing\n",
}


@pytest.mark.parametrize("project", ["sample", "small", "flow-style"])
def test_a_cached_parse_plans_exactly_what_a_fresh_parse_plans(
    project, tmp_path, sample_files, sample_manifest
):
    if project == "sample":
        files, manifest, removed, root = sample_files, sample_manifest, UNUSED, ""
    elif project == "small":
        (files, manifest), removed, root = small_project(), ["model.shop.gone"], "dbt"
    else:
        manifest = manifest_of(model_node("gone", "models/gone.sql"), model_node("kept", "models/kept.sql"))
        files, removed, root = FLOW_STYLE, ["model.shop.gone"], ""
    fresh = _outcome(files, manifest, removed, project_root=root)

    filling = ParseCache(tmp_path)
    assert _outcome(files, manifest, removed, project_root=root, parse_cache=filling) == fresh
    assert filling.hits == 0 and filling.misses > 0
    reading = ParseCache(tmp_path)
    assert _outcome(files, manifest, removed, project_root=root, parse_cache=reading) == fresh
    assert (reading.hits, reading.misses) == (filling.misses, 0)


def test_a_cached_parse_is_keyed_by_the_text(tmp_path, monkeypatch):
    files, manifest = small_project()
    plan_removal(
        files,
        manifest,
        unused(manifest, ["model.shop.gone"]),
        project_root="dbt",
        parse_cache=ParseCache(tmp_path),
    )
    files["dbt/models/_models.yml"] = files["dbt/models/_models.yml"].replace("also_kept", "still_kept")
    cache = ParseCache(tmp_path)
    change = plan_removal(
        files, manifest, unused(manifest, ["model.shop.gone"]), project_root="dbt", parse_cache=cache
    )
    assert (cache.hits, cache.misses) == (0, 1)
    assert "still_kept" in (change.files["dbt/models/_models.yml"] or "")


def test_an_unreadable_cache_entry_is_parsed_again_and_replaced(tmp_path):
    files, manifest = small_project()
    fresh = _outcome(files, manifest, ["model.shop.gone"], project_root="dbt")
    _outcome(files, manifest, ["model.shop.gone"], project_root="dbt", parse_cache=ParseCache(tmp_path))
    (entry,) = tmp_path.glob("*.parse")
    entry.write_bytes(entry.read_bytes()[:100])  # torn
    torn = ParseCache(tmp_path)
    assert _outcome(files, manifest, ["model.shop.gone"], project_root="dbt", parse_cache=torn) == fresh
    assert (torn.unreadable, torn.hits) == (1, 0)
    again = ParseCache(tmp_path)
    assert _outcome(files, manifest, ["model.shop.gone"], project_root="dbt", parse_cache=again) == fresh
    assert again.hits == 1


def test_prune_removes_only_entries_unused_for_the_keep_period(tmp_path):
    files, manifest = small_project()
    # A column named like the removed model: the file is loaded (and cached), not edited.
    files["dbt/models/_more.yml"] = (
        "version: 2\nmodels:\n  - name: gone_too\n    columns:\n      - name: gone\n"
    )
    _outcome(files, manifest, ["model.shop.gone"], project_root="dbt", parse_cache=ParseCache(tmp_path))
    old, recent = sorted(tmp_path.glob("*.parse"))
    month_ago = time.time() - 31 * 86400
    os.utime(old, (month_ago, month_ago))
    assert ParseCache(tmp_path, keep_days=30).prune() == 1
    assert list(tmp_path.glob("*.parse")) == [recent]


@pytest.mark.parametrize(
    "text",
    [
        "version: 2\nmodels:\n  - name: a\n",
        "version: 2\nmodels: []\nseeds: [a]\n",
        "version: 2\n",
        "version: [a]\n",
        "models: []\n",
        "models: [a]\nmodels: []\n",  # a duplicate key: the load fails, the file is kept
        "<<: {x: 1}\nmodels: [a]\nmodels: []\n",  # a merge key turns off the duplicate check
        "x: &a {}\n<<: *a\nmodels: [a]\n",
        "!!set {models}\n",
        "models: !!omap [a: 1]\n",
        "models: !!null [a]\n",
        "---\n---\nmodels: [a]\n",
        "a: 1\n---\nmodels: [a]\n",
        "models: [a\n",
        "'version': [a]\n",
        "? [a]\n: [b]\n",
        "",
    ],
)
def test_has_entries_shortcut_agrees_with_a_full_load(text):
    """The shortcut only answers True, and only where loading the whole file would too."""
    assert has_entries("x.yml", text) == has_entries_by_full_load(text)
    assert not opens_with_a_list(text) or has_entries_by_full_load(text)


def has_entries_by_full_load(text: str) -> bool:
    try:
        doc = YAML(typ="safe").load(text)
    except Exception:
        return True  # kept: a parse problem is dbt's to report
    if isinstance(doc, dict):
        return any(value for key, value in doc.items() if key != "version")
    return doc is not None


def test_a_removal_of_thousands_of_models_fits_a_pull_request_body():
    names = [f"stg_source_{i:04d}__table" for i in range(3_000)]
    models = [UnusedModel(f"model.shop.{n}", n, f"models/{n}.sql", "Data Platform Team", ()) for n in names]
    manifest = manifest_of(*(model_node(n, f"models/{n}.sql") for n in names))
    change = ChangeSet(
        files={f"models/{n}.sql": None for n in names},
        summary=[f"delete models/{n}.sql (the {n} model)" for n in names],
    )
    title, body = removal_pr_text(models, {}, manifest, change=change)
    assert title == "Remove 3000 unused dbt models"
    assert len(body) < 60_000  # GitHub takes 65,536 with our marker
    rows = [line for line in body.splitlines() if line.startswith("| stg")]
    assert 100 < len(rows) < 3_000 and f"| ... and {3_000 - len(rows)} more: see Files changed |" in body
    assert "too many to draw here" in body and "```mermaid" not in body
    assert "more: see Files changed" in body.split("### Changes")[1]
    assert "### Keeping a model" in body

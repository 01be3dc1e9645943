"""The FreshCart Finance dbt project, the sandbox's projects file and expected_outcomes.yaml agree."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from metapipeline.sandbox import platform
from metapipeline.sandbox.platform import DBT_PROJECTS_FILE, prepare_sample_files
from metapipeline.sandbox.sample import FINANCE_PROJECT_DIR, SAMPLE_DIR, expected_outcomes

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
BUILD_OUTPUTS = ("target", "logs", "dbt_packages", "*.duckdb", "*.duckdb.wal", ".user.yml")
FINANCE = expected_outcomes()["freshcart_finance"]
PROJECTS = expected_outcomes()["projects"]


def test_no_build_outputs_in_the_packaged_finance_project():
    assert not [p for pattern in BUILD_OUTPUTS for p in FINANCE_PROJECT_DIR.glob(pattern)]


def test_each_expected_project_is_a_sample_folder_of_that_dbt_project():
    assert [p["name"] for p in PROJECTS] == ["freshcart", "freshcart_finance"]
    for project in PROJECTS:
        config = yaml.safe_load((SAMPLE_DIR / project["sample_dir"] / "dbt_project.yml").read_text())
        assert config["name"] == project["name"]
    assert SAMPLE_DIR / PROJECTS[1]["sample_dir"] == FINANCE_PROJECT_DIR


def test_finance_outcomes_hold_together():
    unused = set(FINANCE["unused_models"])
    assert set(FINANCE["unused_models_without_cascade"]) == unused  # Mode reads no finance relation
    never = {*FINANCE["protected_models"], *FINANCE["package_models"], FINANCE["time_spine"]}
    never |= {*FINANCE["semantic_layer"].values(), *FINANCE["notable_models"]}
    never |= {uid for nodes in FINANCE["hand_written_exposures"].values() for uid in nodes}
    assert not unused & never
    assert all(uid.startswith("model.finance_utils.") for uid in FINANCE["package_models"])
    (versioned,) = FINANCE["versioned_models"].values()
    assert set(versioned["unused"]) <= unused and not set(versioned["used"]) & unused
    # The cap: unused models are at most 20% of the project's own models.
    assert len(unused) / PROJECTS[1]["models"] <= 0.2

    # The models fct_refunds_monthly feeds live on in the other project; freshcart's list drops it.
    links, freshcart_unused = expected_outcomes()["cross_project_links"], expected_outcomes()["unused_models"]
    assert "model.freshcart.fct_refunds_monthly" in links.values()
    assert not set(links.values()) & set(freshcart_unused)
    assert not set(links.values()) & set(expected_outcomes()["unused_models_without_cascade"])


def test_the_expected_removal_deletes_exactly_the_unused_models_files():
    def file_of(uid: str) -> str:
        _, _, name, *version = uid.split(".")
        return f"{name}_{version[0]}.sql" if version else f"{name}.sql"

    deleted = FINANCE["removal"]["deleted"]
    assert sorted(Path(path).name for path in deleted) == sorted(map(file_of, FINANCE["unused_models"]))
    for path in [*deleted, *FINANCE["removal"]["edited"]]:
        assert (FINANCE_PROJECT_DIR / path).is_file(), path


def _installed_by_a_fake_deps(calls: list[Path]):
    def install(project_dir: Path) -> None:
        calls.append(project_dir)
        package = project_dir / "dbt_packages" / "finance_utils"
        package.mkdir(parents=True)
        (package / "dbt_project.yml").write_text("name: finance_utils\n")

    return install


def test_prepare_sample_files_copies_both_projects_and_lists_them(tmp_path, monkeypatch):
    calls: list[Path] = []
    monkeypatch.setattr(platform, "install_dbt_packages", _installed_by_a_fake_deps(calls))
    env = prepare_sample_files(tmp_path, NOW)

    projects_file = tmp_path / DBT_PROJECTS_FILE
    assert env["METAPIPELINE_DBT_PROJECTS"] == str(projects_file.resolve())
    assert env["DBT_PROJECT_DIR"] == str((tmp_path / "dbt_project").resolve())
    assert projects_file.read_text() == (
        "# dbt projects this platform holds; paths relative to this file\n"
        "projects:\n"
        "  - project_dir: dbt_project\n"
        "    repository: freshcart/analytics\n"
        '    subdirectory: ""\n'
        "  - project_dir: finance_project\n"
        "    repository: freshcart/finance\n"
        '    subdirectory: ""\n'
    )
    listed = yaml.safe_load(projects_file.read_text())["projects"]
    assert [(p["project_dir"], p["repository"], p["subdirectory"]) for p in listed] == [
        (p["sample_dir"], p["repository"], p["subdirectory"]) for p in PROJECTS
    ]
    for entry, expected in zip(listed, PROJECTS, strict=True):
        config = yaml.safe_load((projects_file.parent / entry["project_dir"] / "dbt_project.yml").read_text())
        assert config["name"] == expected["name"]
    finance = tmp_path / "finance_project"
    assert calls == [finance]
    assert (finance / "packages" / "finance_utils" / "dbt_project.yml").is_file()
    assert not (finance / "target").exists()

    # Again on the same data dir: nothing copied over, the installed package kept.
    (finance / "models" / "marts" / "fct_pnl_monthly.sql").write_text("select 1 as edited\n")
    assert prepare_sample_files(tmp_path, NOW) == env
    assert calls == [finance]
    assert (finance / "models" / "marts" / "fct_pnl_monthly.sql").read_text() == "select 1 as edited\n"


# ------------------------------------------------------------------------------- real dbt (slow)


def _by_kind(manifest: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {uid: n for uid, n in manifest["nodes"].items() if n["resource_type"] == kind}


@pytest.mark.slow
def test_the_finance_project_parses_into_what_the_expected_outcomes_assume(finance_manifest):
    manifest = finance_manifest
    assert manifest["metadata"]["project_name"] == "freshcart_finance"
    assert manifest["metadata"]["adapter_type"] == "duckdb"
    models = _by_kind(manifest, "model")
    own = {uid for uid, n in models.items() if n["package_name"] == "freshcart_finance"}
    assert len(own) == PROJECTS[1]["models"]
    assert {uid for uid in models if uid not in own} == set(FINANCE["package_models"])
    assert {models[uid]["package_name"] for uid in FINANCE["package_models"]} == {"finance_utils"}

    # The semantic layer: each node reads the one the expected outcomes name; the time spine.
    semantic = {**manifest["semantic_models"], **manifest["metrics"], **manifest["saved_queries"]}
    assert {uid: semantic[uid]["depends_on"]["nodes"] for uid in FINANCE["semantic_layer"]} == {
        uid: [read] for uid, read in FINANCE["semantic_layer"].items()
    }
    assert models[FINANCE["time_spine"]]["time_spine"]["standard_granularity_column"] == "date_day"

    # The versioned model: two versions, the latest read by the exposure, the old one by nothing.
    ((name, versioned),) = FINANCE["versioned_models"].items()
    versions = {uid: n for uid, n in models.items() if uid.startswith(name + ".")}
    assert {n["version"] for n in versions.values()} == {1, 2}
    assert {n["latest_version"] for n in versions.values()} == {versioned["latest_version"]}

    exposures = {uid: e["depends_on"]["nodes"] for uid, e in manifest["exposures"].items()}
    assert {uid: set(nodes) for uid, nodes in exposures.items()} == {
        uid: set(nodes) for uid, nodes in FINANCE["hand_written_exposures"].items()
    }
    assert all("mode.com" not in (e.get("url") or "") for e in manifest["exposures"].values())
    (protected,) = FINANCE["protected_models"]
    assert models[protected]["config"]["meta"]["keep"] is True

    # Unused models are read only by unused models; everything else has a reader or is a consumer's.
    readers: dict[str, set[str]] = defaultdict(set)
    for uid, node in [*models.items(), *semantic.items(), *manifest["exposures"].items()]:
        for parent in node["depends_on"]["nodes"]:
            readers[parent].add(uid)
    unused = set(FINANCE["unused_models"])
    for uid in unused:
        assert readers[uid] <= unused, uid
    kept_alive = own - unused - set(FINANCE["protected_models"]) - {FINANCE["time_spine"]}
    assert all(readers[uid] for uid in kept_alive)
    assert not readers[FINANCE["time_spine"]] and not readers[protected]


@pytest.mark.slow
def test_sources_name_the_relations_the_other_project_builds(finance_manifest, sample_manifest):
    def relation(node: dict[str, Any]) -> str:
        return node["relation_name"].lower()  # DuckDB folds unquoted names; both quote lower case

    sources = finance_manifest["sources"]
    for source, model in expected_outcomes()["cross_project_links"].items():
        assert relation(sources[source]) == relation(sample_manifest["nodes"][model]), source
    for name, (freshcart_source, finance_source) in expected_outcomes()["shared_relations"].items():
        assert relation(sample_manifest["sources"][freshcart_source]) == relation(sources[finance_source])
        assert relation(sources[finance_source]) == ".".join(f'"{part}"' for part in name.split("."))
    # Only those: no finance model builds a relation freshcart also builds or reads.
    freshcart = {
        relation(n)
        for n in [*sample_manifest["nodes"].values(), *sample_manifest["sources"].values()]
        if n.get("relation_name")
    }
    finance_built = {relation(n) for n in finance_manifest["nodes"].values() if n.get("relation_name")}
    assert not finance_built & freshcart
    linked = set(expected_outcomes()["cross_project_links"]) | {
        uid for uids in expected_outcomes()["shared_relations"].values() for uid in uids
    }
    assert set(sources) <= linked

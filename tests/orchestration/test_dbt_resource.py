"""Which dbt projects the job loads: a projects file, or today's single-project variables."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from dagster import Failure

from metapipeline.dbt.projects import ProjectSource
from metapipeline.orchestration.resources import DbtProjectsResource
from metapipeline.sandbox.sample import FINANCE_PROJECT_DIR

VARIABLES = ("METAPIPELINE_DBT_PROJECTS", "DBT_PROJECT_DIR", "DBT_MANIFEST_PATH")


@pytest.fixture(autouse=True)
def _no_configuration(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_single_project_variables_keep_working(monkeypatch):
    monkeypatch.setenv("DBT_PROJECT_DIR", "/srv/dbt")
    assert DbtProjectsResource().sources() == [ProjectSource(project_dir=Path("/srv/dbt"))]
    monkeypatch.setenv("DBT_MANIFEST_PATH", "/srv/dbt/target/manifest.json")
    assert DbtProjectsResource().sources() == [
        ProjectSource(manifest_path=Path("/srv/dbt/target/manifest.json"))
    ]


def test_a_projects_file_wins_and_its_errors_fail_the_step(monkeypatch, tmp_path):
    projects = tmp_path / "dbt_projects.yaml"
    projects.write_text("projects:\n  - project_dir: a\n    repository: acme/a\n  - manifest_path: b.json\n")
    monkeypatch.setenv("DBT_PROJECT_DIR", "/srv/dbt")
    monkeypatch.setenv("METAPIPELINE_DBT_PROJECTS", str(projects))
    assert [s.describe() for s in DbtProjectsResource().sources()] == [
        str(tmp_path / "a"),
        str(tmp_path / "b.json"),
    ]
    projects.write_text("projects:\n  - repository: acme/a\n")
    with pytest.raises(Failure, match="give exactly one of project_dir and manifest_path"):
        DbtProjectsResource().sources()


def test_nothing_configured_says_what_to_set():
    with pytest.raises(Failure, match=r"METAPIPELINE_DBT_PROJECTS .* DBT_PROJECT_DIR .* DBT_MANIFEST_PATH"):
        DbtProjectsResource().sources()


def test_a_fresh_checkout_with_packages_is_installed_then_parsed(tmp_path):
    project = tmp_path / "finance_project"
    shutil.copytree(FINANCE_PROJECT_DIR, project, ignore=shutil.ignore_patterns("dbt_packages", "target"))
    path = DbtProjectsResource().manifest_file(ProjectSource(project_dir=project))
    manifest = json.loads(path.read_text())
    assert manifest["metadata"]["project_name"] == "freshcart_finance"
    assert "model.finance_utils.fx_rates_daily" in manifest["nodes"]  # the package's models, installed

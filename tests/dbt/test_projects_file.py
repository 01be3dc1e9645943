"""The dbt projects file: several projects, each with its repository and folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from metapipeline.dbt.projects import ProjectsFileError, ProjectSource, read_projects_file


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config" / "dbt_projects.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def test_paths_are_relative_to_the_file_and_unset_places_fall_back_to_the_github_resource(tmp_path):
    path = _write(
        tmp_path,
        """\
projects:
  - project_dir: ../repos/analytics/dbt
    repository: acme/analytics
    subdirectory: /dbt/
  - manifest_path: /srv/finance/target/manifest.json
    adapter: snowflake
""",
    )
    assert read_projects_file(path) == [
        ProjectSource(
            project_dir=path.parent / "../repos/analytics/dbt",
            repository="acme/analytics",
            subdirectory="dbt",
        ),
        ProjectSource(manifest_path=Path("/srv/finance/target/manifest.json"), adapter="snowflake"),
    ]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("projects: []", "expected a non-empty `projects:` list"),
        ("- project_dir: x", "expected a non-empty `projects:` list"),
        ("projects: [{repository: a/b}]", "give exactly one of project_dir and manifest_path"),
        (
            "projects: [{project_dir: a, manifest_path: b}]",
            "give exactly one of project_dir and manifest_path",
        ),
        ("projects: [{project_dir: a, repo: a/b}]", "unknown keys ['repo']"),
        ("projects: [{project_dir: a, repository: analytics}]", "repository must be owner/name"),
        ("projects: [{project_dir: 3}]", "project_dir must be a string"),
        ("projects: [a]", "project 1: expected a mapping"),
        ("projects: [{project_dir: a", "is not valid YAML"),
    ],
)
def test_a_wrong_file_says_what_is_wrong_and_where(tmp_path, text, says):
    path = _write(tmp_path, text)
    with pytest.raises(ProjectsFileError) as raised:
        read_projects_file(path)
    assert says in str(raised.value) and str(path) in str(raised.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ProjectsFileError, match=r"dbt projects file .*nowhere\.yaml: No such file"):
        read_projects_file(tmp_path / "nowhere.yaml")

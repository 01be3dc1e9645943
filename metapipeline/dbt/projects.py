"""The dbt projects of one platform: each project's manifest and where its files live.

A platform may hold several dbt projects (a dbt mesh, or teams with their own repositories). Each
one is loaded, joined into the one platform graph, and gets its own removal pull request in the
repository (and sub-directory) that holds it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from metapipeline.dbt.manifest import metadata


@dataclass(frozen=True)
class DbtProject:
    """One loaded dbt project: plain data that ops pass along."""

    name: str  # the dbt project name (`name:` in dbt_project.yml)
    manifest: dict[str, Any]
    repository: str | None = None  # GitHub owner/name that holds it; None: the configured default
    subdirectory: str | None = None  # its folder inside the repository; None: the configured default
    adapter: str | None = None  # overrides the manifest's metadata.adapter_type when it is wrong

    @classmethod
    def of(cls, manifest: dict[str, Any], **where: Any) -> DbtProject:
        """A project named as its manifest names it (`metadata.project_name`)."""
        name = metadata(manifest).get("project_name")
        if not isinstance(name, str) or not name:
            name = _only_own_package(manifest)
        return cls(name=name, manifest=manifest, **where)

    @property
    def adapter_type(self) -> str | None:
        found = self.adapter or metadata(self.manifest).get("adapter_type")
        return found if isinstance(found, str) else None


def _only_own_package(manifest: dict[str, Any]) -> str:
    """Older manifests do not name their project: the package of most of their models does."""
    packages: dict[str, int] = {}
    for entry in (manifest.get("nodes") or {}).values():
        if isinstance(entry, dict) and entry.get("resource_type") == "model":
            package = entry.get("package_name") or ""
            packages[package] = packages.get(package, 0) + 1
    return max(packages, key=lambda p: packages[p]) if packages else "dbt_project"


def as_projects(items: Iterable[DbtProject | dict[str, Any]]) -> list[DbtProject]:
    """Projects as given; a bare manifest becomes the project its metadata names."""
    return [item if isinstance(item, DbtProject) else DbtProject.of(item) for item in items]


@dataclass(frozen=True)
class ProjectSource:
    """Where one configured dbt project comes from: a project to parse or a ready manifest."""

    project_dir: Path | None = None
    manifest_path: Path | None = None
    repository: str | None = None  # None: the GitHub resource's repository
    subdirectory: str | None = None  # None: the GitHub resource's project_dir
    adapter: str | None = None

    def describe(self) -> str:
        return str(self.project_dir or self.manifest_path)


class ProjectsFileError(ValueError):
    """A dbt projects file that does not say what is needed, with what to write instead."""


_FIELDS = {"project_dir", "manifest_path", "repository", "subdirectory", "adapter"}


def read_projects_file(path: Path) -> list[ProjectSource]:
    """The `projects:` list of a dbt projects file; relative paths are relative to the file.

    projects:
      - project_dir: analytics/dbt        # or manifest_path: .../manifest.json
        repository: acme/analytics        # GitHub owner/name holding it
        subdirectory: dbt                 # its folder in that repository ("" = the root)
        adapter: snowflake                # optional: when the manifest names the wrong one
    """
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ProjectsFileError(f"dbt projects file {path}: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise ProjectsFileError(f"dbt projects file {path} is not valid YAML: {error}") from None
    entries = document.get("projects") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ProjectsFileError(f"dbt projects file {path}: expected a non-empty `projects:` list")
    return [_project_source(entry, path, number) for number, entry in enumerate(entries, 1)]


def _project_source(entry: Any, path: Path, number: int) -> ProjectSource:
    where = f"dbt projects file {path}, project {number}"
    if not isinstance(entry, dict):
        raise ProjectsFileError(f"{where}: expected a mapping with project_dir or manifest_path")
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise ProjectsFileError(f"{where}: unknown keys {unknown}; known: {sorted(_FIELDS)}")
    if ("project_dir" in entry) == ("manifest_path" in entry):
        raise ProjectsFileError(f"{where}: give exactly one of project_dir and manifest_path")
    for key in _FIELDS & set(entry):
        if not isinstance(entry[key], str):
            raise ProjectsFileError(f"{where}: {key} must be a string, not {entry[key]!r}")
    repository = entry.get("repository")
    if repository is not None and repository.count("/") != 1:
        raise ProjectsFileError(f"{where}: repository must be owner/name, not {repository!r}")

    def located(key: str) -> Path | None:
        return path.parent / entry[key] if key in entry else None

    return ProjectSource(
        project_dir=located("project_dir"),
        manifest_path=located("manifest_path"),
        repository=repository,
        subdirectory=entry["subdirectory"].strip("/") if "subdirectory" in entry else None,
        adapter=entry.get("adapter"),
    )

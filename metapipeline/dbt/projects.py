"""The dbt projects of one platform: each project's manifest and where its files live.

A platform may hold several dbt projects (a dbt mesh, or teams with their own repositories). Each
one is loaded, joined into the one platform graph, and gets its own removal pull request in the
repository (and sub-directory) that holds it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from metapipeline.dbt.manifest import metadata


@dataclass(frozen=True)
class DbtProject:
    """One loaded dbt project: plain data that ops pass along."""

    name: str  # the dbt project name (`name:` in dbt_project.yml)
    manifest: dict[str, Any]
    repository: str | None = None  # GitHub owner/name that holds it; None: the configured default
    subdirectory: str = ""  # the folder of dbt_project.yml inside the repository
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

"""One planning pass: the files as read, the models removed, and the edits planned so far."""

from __future__ import annotations

import functools
import posixpath
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from metapipeline.actions.dbt_changes.changeset import RemovalError
from metapipeline.actions.dbt_changes.project_files import safe_path
from metapipeline.actions.dbt_changes.refs import ModelIndex, RefMatcher, version_key
from metapipeline.actions.dbt_changes.yaml_edit import ParseCache, YamlFile


@dataclass
class Plan:
    project_root: str
    files: Mapping[str, str]
    symlinks: Collection[str]
    manifest: dict[str, Any]
    models: ModelIndex
    removed: dict[str, dict[str, Any]]  # unique_id -> manifest node
    parse_cache: ParseCache | None = None
    yaml_files: dict[str, YamlFile] = field(default_factory=dict)
    deletions: set[str] = field(default_factory=set)
    rewrites: dict[str, str] = field(default_factory=dict)
    summary: list[str] = field(default_factory=list)

    @functools.cached_property
    def names(self) -> set[str]:
        """Names of the removed models, whole or some of their versions."""
        return {node["name"] for node in self.removed.values()}

    @functools.cached_property
    def whole_names(self) -> set[str]:
        """Models removed with every version: their properties entries go."""
        return {name for name in self.names if set(self.models.versions[name].values()) <= set(self.removed)}

    @functools.cached_property
    def removed_versions(self) -> dict[str, set[str]]:
        """Model name -> the versions removed, for models some of whose versions stay."""
        removed: dict[str, set[str]] = {}
        for node in self.removed.values():
            version = version_key(node)
            if node["name"] not in self.whole_names and version is not None:
                removed.setdefault(node["name"], set()).add(version)
        return removed

    @functools.cached_property
    def refs(self) -> RefMatcher:
        return RefMatcher(self.models, self.removed, self.names)

    def path(self, relative: str) -> str:
        return safe_path(self.project_root, relative, self.symlinks)

    def text(self, path: str) -> str:
        if path not in self.files:
            raise RemovalError(f"{path} is not among the project files read from the default branch")
        return self.files[path]

    def yaml(self, path: str) -> YamlFile:
        if path not in self.yaml_files:
            self.yaml_files[path] = YamlFile(path, self.text(path), self.parse_cache)
        return self.yaml_files[path]

    def delete_file(self, path: str, why: str) -> None:
        self.text(path)
        self.deletions.add(path)
        self.summary.append(f"delete {path} ({why})")

    def relative(self, path: str) -> str:
        return posixpath.relpath(path, self.project_root) if self.project_root else path

    def current(self, path: str) -> str | None:
        """A file's text once the planned edits are applied so far (None if deleted)."""
        if path in self.deletions:
            return None
        if path in self.yaml_files and self.yaml_files[path].changed:
            return self.yaml_files[path].render()
        return self.rewrites.get(path, self.files.get(path))

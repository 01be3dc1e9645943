"""One planning pass: the files as read, the models removed, and the edits planned so far."""

from __future__ import annotations

import functools
import posixpath
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from metapipeline.actions.dbt_changes.changeset import RemovalError, UneditableFileError
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
    follow_ups: list[str] = field(default_factory=list)  # for people: not edited, see ChangeSet

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
    def gone(self) -> set[str]:
        """The removed models and the tests and unit tests that read any of them (their YAML entries
        and files go with the models)."""
        gone = set(self.removed)
        for section in ("nodes", "unit_tests"):
            for unique_id, node in (self.manifest.get(section) or {}).items():
                parents = (node.get("depends_on") or {}).get("nodes") or ()
                if node.get("resource_type") in ("test", "unit_test") and gone.intersection(parents):
                    gone.add(unique_id)
        return gone

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
            text = self.text(path)
            try:
                self.yaml_files[path] = YamlFile(path, text, self.parse_cache)
            except RemovalError as error:
                raise UneditableFileError(path, _yaml_problem(error)) from error
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


def _yaml_problem(error: RemovalError) -> str:
    """ruamel's complaint in one line (`found duplicate key "description" (line 6)`): PyYAML, which
    dbt uses, lets some of them pass (a duplicate key: the last one wins)."""
    cause = error.__cause__
    problem = getattr(cause, "problem", None)
    mark = getattr(cause, "problem_mark", None)
    if not isinstance(problem, str):
        return f"cannot be loaded for editing: {str(cause or error).splitlines()[0]}"
    where = f" (line {mark.line + 1})" if mark is not None else ""
    return f"cannot be loaded for editing: {problem.split(' with value ')[0]}{where}"

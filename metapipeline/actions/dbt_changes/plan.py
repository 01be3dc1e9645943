"""One planning pass: the files as read, the models removed, and the edits planned so far."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from metapipeline.actions.dbt_changes.changeset import RemovalError
from metapipeline.actions.dbt_changes.project_files import safe_path
from metapipeline.actions.dbt_changes.yaml_edit import ParseCache, YamlFile


def ref_pattern(names: Iterable[str]) -> re.Pattern[str]:
    """`ref('name')`, `ref("pkg", "name")`, `dbt.ref('name')` for any of `names`."""
    alternatives = "|".join(re.escape(n) for n in sorted(names))
    return re.compile(rf"""\bref\(\s*(?:['"][\w-]+['"]\s*,\s*)?['"](?:{alternatives})['"]\s*(?:,[^)]*)?\)""")


@dataclass
class Plan:
    project_root: str
    files: Mapping[str, str]
    symlinks: Collection[str]
    manifest: dict[str, Any]
    removed: dict[str, dict[str, Any]]  # unique_id -> manifest node
    parse_cache: ParseCache | None = None
    yaml_files: dict[str, YamlFile] = field(default_factory=dict)
    deletions: set[str] = field(default_factory=set)
    rewrites: dict[str, str] = field(default_factory=dict)
    summary: list[str] = field(default_factory=list)

    @property
    def names(self) -> set[str]:
        return {node["name"] for node in self.removed.values()}

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

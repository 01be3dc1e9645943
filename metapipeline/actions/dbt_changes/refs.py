"""What a `ref()` names: the project's models by name and version, and the removed ones a text reads.

dbt resolves `ref('name')` to the model's latest version and `ref('name', v=1)` (or `version=1`) to
that version; an unversioned model has one node, which both forms reach.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any

ANY_VERSION = "*"  # a version argument that is not a literal (`v=var('x')`): it could be any

_VERSION_ARGUMENT = re.compile(r"""\b(?:v|version)\s*=\s*([^,]*)""")
_LITERAL = re.compile(r"""(['"]?)([\w.]+)\1""")


def version_key(node: Mapping[str, Any]) -> str | None:
    """A model node's version as YAML and `ref()` spell it, None for an unversioned model."""
    version = node.get("version")
    return None if version is None else str(version)


def model_label(node: Mapping[str, Any]) -> str:
    """`dim_customers v1`, or just the name of an unversioned model."""
    version = version_key(node)
    return str(node.get("name")) + (f" v{version}" if version is not None else "")


class ModelIndex:
    """The project's models by name (an installed package's are not ours to remove): each version's
    unique id, and the one `ref('name')` reaches."""

    def __init__(self, manifest: Mapping[str, Any]):
        self.versions: dict[str, dict[str | None, str]] = {}
        nodes = manifest.get("nodes") or {}
        project = (manifest.get("metadata") or {}).get("project_name")
        for unique_id, node in nodes.items():
            ours = project is None or node.get("package_name", project) == project
            if node.get("resource_type") == "model" and ours:
                self.versions.setdefault(node["name"], {})[version_key(node)] = unique_id
        self.latest = {name: _latest(nodes, by_version) for name, by_version in self.versions.items()}

    def resolve(self, name: str, version: str | None) -> set[str]:
        """Unique ids `ref(name)` (version None), `ref(name, v=version)` or a non-literal version
        (ANY_VERSION) may reach."""
        by_version = self.versions.get(name) or {}
        if version == ANY_VERSION or list(by_version) == [None]:
            return set(by_version.values())  # an unversioned model answers whatever version is asked
        if version is None:
            return {self.latest[name]} if name in self.latest else set()
        return {by_version[version]} if version in by_version else set()

    def siblings(self, unique_id: str, node: Mapping[str, Any]) -> set[str]:
        """The other versions of a model."""
        return set((self.versions.get(node["name"]) or {}).values()) - {unique_id}


def _latest(nodes: Mapping[str, Any], by_version: Mapping[str | None, str]) -> str:
    """dbt's `latest_version`, or the greatest version when the YAML names none."""
    for unique_id in by_version.values():
        declared = nodes[unique_id].get("latest_version")
        if declared is not None and str(declared) in by_version:
            return by_version[str(declared)]
    return by_version[max(by_version, key=_version_order)]


def _version_order(version: str | None) -> tuple[int, float, str]:
    if version is None:
        return (0, 0.0, "")
    try:
        return (1, float(version), version)
    except ValueError:
        return (2, 0.0, version)


class RefMatcher:
    """The removed models a text `ref()`s: `ref('name')`, `ref("pkg", "name")`, `dbt.ref('name')`,
    `ref('name', v=1)`."""

    def __init__(self, index: ModelIndex, removed: Collection[str], names: Iterable[str]):
        self.index = index
        self.removed = set(removed)
        alternatives = "|".join(re.escape(n) for n in sorted(set(names)))
        self.pattern = re.compile(
            rf"""\bref\(\s*(?:['"][\w-]+['"]\s*,\s*)?['"]({alternatives})['"]\s*(?:,([^)]*))?\)"""
        )

    def hits(self, text: str) -> set[str]:
        return {unique_id for unique_id, _ in self.references(text)}

    def references(self, text: str) -> Iterator[tuple[str, re.Match[str]]]:
        """Each removed model a `ref()` in `text` reaches, with that `ref()` (where it stands)."""
        if not self.removed:
            return
        for match in self.pattern.finditer(text):
            for unique_id in sorted(self.index.resolve(match[1], _version_argument(match[2])) & self.removed):
                yield unique_id, match


def _version_argument(arguments: str | None) -> str | None:
    """The version a `ref()`'s arguments after the name ask for: None, a literal, or ANY_VERSION."""
    found = _VERSION_ARGUMENT.search(arguments or "")
    if found is None:
        return None
    literal = _LITERAL.fullmatch(found[1].strip())
    return literal[2] if literal else ANY_VERSION

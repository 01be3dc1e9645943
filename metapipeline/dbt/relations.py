"""The dbt graph of one or more manifests, and the index from warehouse relations to dbt nodes.

A relation is keyed by (database, schema, identifier) as the warehouse stores it: each part is
normalised under the adapter's own case rules (Snowflake folds unquoted names to UPPER, PostgreSQL
to lower, ...). Lookups try that exact key first, then a case-folded one, so a query written for
one warehouse still finds the relations of a project built on another (the sample: Snowflake SQL
over a DuckDB project).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp

from metapipeline.dbt.manifest import (
    NODE_SECTIONS,
    ManifestError,
    adapter_type,
    check_node,
    metadata,
    section,
)

RELATION_TYPES = frozenset({"model", "seed", "snapshot", "source"})
GRAPH_TYPES = RELATION_TYPES | {"exposure"}

# dbt adapter type -> sqlglot dialect, where the names differ.
_DBT_ADAPTER_DIALECTS = {
    "sqlserver": "tsql",
    "synapse": "tsql",
    "fabric": "tsql",
    "postgresql": "postgres",
    "glue": "spark",
    "hive": "hive",
}

# How a dialect stores an unquoted identifier: fold to "upper" or "lower"; "insensitive" means
# quoting does not matter either (stored lower for lookup). Unlisted dialects are insensitive.
_CASE_RULES = {
    "snowflake": "upper",
    "oracle": "upper",
    "postgres": "lower",
    "redshift": "insensitive",  # folds even quoted names unless enable_case_sensitive_identifier
}

Key = tuple[str, str, str]


def dialect_for_dbt_adapter(adapter_type: str | None) -> str:
    """The sqlglot dialect of a dbt adapter type ("" when the manifest does not say)."""
    adapter = (adapter_type or "").lower()
    return _DBT_ADAPTER_DIALECTS.get(adapter, adapter)


def normalize_part(name: str, quoted: bool, dialect: str, position: int = 2) -> str:
    """One part of a relation name as the warehouse stores it; position 0 database, 1 schema, 2 name."""
    if dialect == "bigquery":  # project ids and (here) datasets are case-insensitive, tables are not
        return name if position == 2 else name.lower()
    rule = _CASE_RULES.get(dialect, "insensitive")
    if quoted and rule != "insensitive":
        return name
    return name.upper() if rule == "upper" else name.lower()


@dataclass(frozen=True)
class DbtNode:
    unique_id: str
    resource_type: str
    name: str
    package_name: str
    database: str | None
    schema: str | None
    identifier: str | None  # the relation's own name: alias for nodes, identifier for sources
    relation_name: str | None
    dialect: str
    depends_on: tuple[str, ...] = ()
    original_file_path: str | None = None
    materialized: str | None = None
    tags: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict, compare=False)
    url: str | None = None  # exposures

    @property
    def is_relation(self) -> bool:
        return self.resource_type in RELATION_TYPES and self.materialized != "ephemeral"

    def relation_key(self) -> Key | None:
        """(database, schema, identifier) as the warehouse stores them, or None for non-relations."""
        if not self.is_relation:
            return None
        parts = _parse_relation_name(self.relation_name, self.dialect) if self.relation_name else None
        if parts is None:
            # No relation_name (older or uncompiled manifests): dbt quotes by default except on Snowflake.
            quoted = self.dialect != "snowflake"
            raw = (self.database or "", self.schema or "", self.identifier or self.name)
            parts = tuple((name, quoted) for name in raw)
        database, schema, identifier = (
            normalize_part(n, q, self.dialect, i) for i, (n, q) in enumerate(parts)
        )
        return database, schema, identifier


def _parse_relation_name(relation_name: str, dialect: str) -> tuple[tuple[str, bool], ...] | None:
    try:
        table = exp.to_table(relation_name, dialect=dialect or None)
    except (sqlglot.errors.SqlglotError, RecursionError):
        return None  # not a plain name: the parts dbt also records are used instead
    parts = [(p.name, bool(p.args.get("quoted"))) for p in table.parts]
    if len(parts) != 3 or not all(isinstance(p, exp.Identifier) for p in table.parts):
        return None
    return tuple(parts)


def _node_from_manifest(entry: dict[str, Any], dialect: str) -> DbtNode:
    config = entry.get("config") or {}
    return DbtNode(
        unique_id=entry["unique_id"],
        resource_type=entry["resource_type"],
        name=entry["name"],
        package_name=entry.get("package_name") or "",
        database=entry.get("database"),
        schema=entry.get("schema"),
        identifier=entry.get("alias") or entry.get("identifier") or entry.get("name"),
        relation_name=entry.get("relation_name"),
        dialect=dialect,
        depends_on=tuple((entry.get("depends_on") or {}).get("nodes") or ()),
        original_file_path=entry.get("original_file_path"),
        materialized=config.get("materialized"),
        tags=tuple(entry.get("tags") or ()),
        meta=dict(config.get("meta") or entry.get("meta") or {}),
        url=entry.get("url"),
    )


def manifest_nodes(manifest: dict[str, Any], origin: str | None = None) -> Iterator[DbtNode]:
    """The enabled models, seeds, snapshots, sources and exposures of a manifest (`disabled` is skipped).

    An entry without the fields read here, or with one of the wrong type, raises a ManifestError
    naming `origin` (by default the manifest's project) and the entry."""
    if not isinstance(manifest, dict):
        raise ManifestError(f"{origin or 'dbt manifest'} is not a JSON object")
    if origin is None:
        project = metadata(manifest).get("project_name")
        origin = f"dbt manifest of project {project}" if isinstance(project, str) else "dbt manifest"
    dialect = dialect_for_dbt_adapter(adapter_type(manifest, origin))
    for name in NODE_SECTIONS:
        for unique_id, entry in section(manifest, name, origin).items():
            check_node(entry, f"{origin}: {name}[{unique_id!r}]")
            if entry["resource_type"] in GRAPH_TYPES and (entry.get("config") or {}).get("enabled", True):
                yield _node_from_manifest(entry, dialect)


@dataclass
class DbtGraph:
    """Nodes by unique_id and the edges along the data (parent -> child) of one or more projects."""

    nodes: dict[str, DbtNode] = field(default_factory=dict)
    edges: set[tuple[str, str]] = field(default_factory=set)

    def relation_index(self) -> RelationIndex:
        return RelationIndex(self.nodes.values())


def load_dbt_graph(manifests: Iterable[dict[str, Any]]) -> DbtGraph:
    """Merge manifests into one graph; a source of one project that is a relation built by another
    project (a dbt mesh without cross-project refs) gets an edge from that builder."""
    graph = DbtGraph()
    for manifest in manifests:
        for node in manifest_nodes(manifest):
            graph.nodes.setdefault(node.unique_id, node)  # the same node in two manifests: first wins
    for node in graph.nodes.values():
        graph.edges.update((parent, node.unique_id) for parent in node.depends_on if parent in graph.nodes)
    index = graph.relation_index()
    for node in graph.nodes.values():
        key = node.relation_key() if node.resource_type == "source" else None
        if key is not None:
            for builder in index.lookup(*key):
                if graph.nodes[builder].resource_type != "source":
                    graph.edges.add((builder, node.unique_id))
    return graph


class RelationIndex:
    """Warehouse relation -> the dbt nodes that are that relation."""

    def __init__(self, nodes: Iterable[DbtNode]):
        self._exact: dict[Key, list[str]] = defaultdict(list)
        self._folded: dict[tuple[str, ...], list[str]] = defaultdict(list)
        # Partial names (a query without database or schema) -> the full folded keys they may mean.
        self._partial: dict[tuple[str, ...], set[tuple[str, ...]]] = defaultdict(set)
        self._answers: dict[tuple[str | None, str | None, str], tuple[str, ...]] = {}  # lookups repeat
        for node in nodes:
            key = node.relation_key()
            if key is None:
                continue
            folded = _fold(key)
            self._exact[key].append(node.unique_id)
            self._folded[folded].append(node.unique_id)
            self._partial[folded[1:]].add(folded)
            self._partial[folded[2:]].add(folded)

    def __len__(self) -> int:
        return len(self._folded)

    def lookup(self, database: str | None, schema: str | None, identifier: str) -> tuple[str, ...]:
        """The nodes of a relation (parts normalised by `normalize_part`; None = unknown part).

        A name with unknown parts resolves only when exactly one relation ends with it."""
        key = (database, schema, identifier)
        if key not in self._answers:
            self._answers[key] = self._lookup(database, schema, identifier)
        return self._answers[key]

    def _lookup(self, database: str | None, schema: str | None, identifier: str) -> tuple[str, ...]:
        if database is not None and schema is not None:
            exact = self._exact.get((database, schema, identifier))
            folded = _fold((database, schema, identifier))
            # Spark-like adapters have no database in the manifest: any database the query names may be it.
            return tuple(exact or self._folded.get(folded) or self._folded.get(("", *folded[1:]), []))
        suffix = _fold((schema, identifier) if schema is not None else (identifier,))
        candidates = self._partial.get(suffix, set())
        return tuple(self._folded[next(iter(candidates))]) if len(candidates) == 1 else ()

    def match(self, pattern: re.Pattern[str]) -> tuple[str, ...]:
        """Nodes whose folded `database.schema.identifier` fully matches a pattern (templated names)."""
        found: list[str] = []
        for key, ids in self._folded.items():
            if pattern.fullmatch(".".join(key)):
                found.extend(ids)
        return tuple(found)


def _fold(parts: tuple[str | None, ...]) -> tuple[str, ...]:
    return tuple((p or "").casefold() for p in parts)

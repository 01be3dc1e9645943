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
from dataclasses import dataclass, field, replace
from typing import Any

import sqlglot
from sqlglot import exp

from metapipeline.dbt.manifest import GRAPH_SECTIONS, ManifestError, check_node, section
from metapipeline.dbt.projects import DbtProject, as_projects

RELATION_TYPES = frozenset({"model", "seed", "snapshot", "source"})
# The dbt semantic layer: each of these reads the nodes it depends on (and counts as their consumer).
SEMANTIC_TYPES = frozenset({"semantic_model", "metric", "saved_query"})
GRAPH_TYPES = RELATION_TYPES | SEMANTIC_TYPES | {"exposure"}

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
    label: str | None = None  # exposures, semantic models, metrics
    owner: str | None = None
    maturity: str | None = None  # exposures
    version: str | None = None  # versioned models: "1", "2", ...
    time_spine: bool = False  # the MetricFlow time spine model
    declared_as: tuple[str, ...] = ()  # a relation several sources declare: their unique ids

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
    meta = dict(config.get("meta") or entry.get("meta") or {})
    version = entry.get("version")
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
        tags=tuple(entry.get("tags") or config.get("tags") or ()),
        meta=meta,
        url=entry.get("url"),
        label=entry.get("label") if isinstance(entry.get("label"), str) else None,
        owner=_owner(entry, meta),
        maturity=entry.get("maturity") if isinstance(entry.get("maturity"), str) else None,
        version=None if version is None else str(version),
        # dbt 1.9+ declares it in YAML (`time_spine:`); before, the model's name was the declaration.
        time_spine=bool(entry.get("time_spine")) or entry["name"] == "metricflow_time_spine",
    )


def _owner(entry: dict[str, Any], meta: dict[str, Any]) -> str | None:
    owner = entry.get("owner")
    found = (
        (owner.get("email") or owner.get("name")) if isinstance(owner, dict) else (meta.get("owner") or owner)
    )
    return found if isinstance(found, str) else None


def manifest_nodes(
    manifest: dict[str, Any], origin: str | None = None, adapter: str | None = None
) -> Iterator[DbtNode]:
    """The enabled models, seeds, snapshots, sources, exposures and semantic-layer nodes of a
    manifest (`disabled` is skipped).

    An entry without the fields read here, or with one of the wrong type, raises a ManifestError
    naming `origin` (by default the manifest's project) and the entry."""
    if not isinstance(manifest, dict):
        raise ManifestError(f"{origin or 'dbt manifest'} is not a JSON object")
    project = DbtProject.of(manifest)
    origin = origin or f"dbt manifest of project {project.name}"
    dialect = dialect_for_dbt_adapter(adapter or project.adapter_type)
    for name in GRAPH_SECTIONS:
        for unique_id, entry in section(manifest, name, origin).items():
            check_node(entry, f"{origin}: {name}[{unique_id!r}]")
            if entry["resource_type"] in GRAPH_TYPES and (entry.get("config") or {}).get("enabled", True):
                yield _node_from_manifest(entry, dialect)


@dataclass
class DbtGraph:
    """The dbt nodes of one or more projects and the edges along the data (parent -> child).

    One node per warehouse relation: a source whose relation a loaded model (or seed, snapshot)
    builds stands for that builder, and a relation several sources declare (projects sharing raw
    tables) is one node, the first loaded project's source, whose `declared_as` lists them all;
    `aliases` maps each source that is not a node of its own to the node standing for it. `edges` join node ids, aliases applied."""

    nodes: dict[str, DbtNode] = field(default_factory=dict)  # every enabled node, aliased ones too
    edges: set[tuple[str, str]] = field(default_factory=set)
    aliases: dict[str, str] = field(default_factory=dict)
    projects: tuple[str, ...] = ()  # the loaded projects' names
    # (kind, upstream, downstream): "source" = a builder joined to another project's source,
    # "ref" = a dbt mesh cross-project ref (a node of one project depending on another's model).
    cross_project_links: list[tuple[str, str, str]] = field(default_factory=list)

    def node_id(self, unique_id: str) -> str:
        """The node that stands for `unique_id` (itself unless it is an aliased source)."""
        return self.aliases.get(unique_id, unique_id)

    def own_project(self, unique_id: str) -> str | None:
        """The loaded project a node belongs to; None for packages and projects not loaded."""
        package = self.nodes[unique_id].package_name
        return package if package in self.projects else None

    def graph_nodes(self) -> Iterator[DbtNode]:
        """The nodes of the graph: every node no other node stands for."""
        return (node for uid, node in self.nodes.items() if uid not in self.aliases)

    def crosses_projects(self, parent: str, child: str) -> bool:
        """An edge between two different loaded projects."""
        upstream, downstream = self.own_project(parent), self.own_project(child)
        return upstream is not None and downstream is not None and upstream != downstream

    def relation_index(self) -> RelationIndex:
        """Relations -> the nodes that stand for them (an aliased source answers as its node)."""
        return RelationIndex(self.graph_nodes())


def load_dbt_graph(projects: Iterable[DbtProject | dict[str, Any]]) -> DbtGraph:
    """Merge the projects' manifests into one graph, joined across projects by warehouse relation
    and by dbt mesh cross-project refs."""
    loaded = as_projects(projects)
    graph = DbtGraph(projects=tuple(p.name for p in loaded))
    for project in loaded:
        for node in manifest_nodes(project.manifest, adapter=project.adapter):
            known = graph.nodes.get(node.unique_id)
            # A downstream project's manifest carries stubs of the upstream models it refs (dbt
            # mesh): the upstream project's own entry wins over them, whatever the loading order.
            if known is None or (node.package_name == project.name and known.package_name != project.name):
                graph.nodes[node.unique_id] = node
    _join_relations(graph)
    for node in list(graph.nodes.values()):
        child = graph.node_id(node.unique_id)
        for parent in node.depends_on:
            if parent not in graph.nodes or graph.node_id(parent) == child:
                continue
            graph.edges.add((graph.node_id(parent), child))
            if graph.nodes[parent].resource_type == "model" and graph.crosses_projects(
                parent, node.unique_id
            ):
                graph.cross_project_links.append(("ref", parent, node.unique_id))
    return graph


def _join_relations(graph: DbtGraph) -> None:
    """Sources built by a loaded node alias to that builder; sources sharing a relation merge."""
    index = graph.relation_index()
    loading_order = {uid: position for position, uid in enumerate(graph.nodes)}
    seen: set[str] = set()
    for node in list(graph.nodes.values()):
        key = node.relation_key() if node.resource_type == "source" and node.unique_id not in seen else None
        if key is None:
            continue
        same = [uid for uid in index.lookup(*key) if uid != node.unique_id]
        builders = sorted(uid for uid in same if graph.nodes[uid].resource_type != "source")
        if builders:
            graph.aliases[node.unique_id] = builders[0]
            if graph.crosses_projects(builders[0], node.unique_id):
                graph.cross_project_links.append(("source", builders[0], node.unique_id))
            continue
        # Loading order: the first project's source stands for the relation, so its id (the one
        # Mode lineage and `explain` already show for a single project) stays the node's.
        declared = sorted({node.unique_id, *same}, key=loading_order.__getitem__)
        seen.update(declared)
        if len(declared) > 1:
            first, *others = declared
            graph.nodes[first] = replace(graph.nodes[first], declared_as=tuple(declared))
            graph.aliases.update((uid, first) for uid in others)


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

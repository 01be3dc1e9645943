"""A whole Mode workspace through lineage: what every query and every definition reads.

`workspace_items` turns a snapshot into plain work items (picklable, so a batch can be fanned out
to other processes or Dagster ops); `resolve_items` resolves one batch; `WorkspaceLineage` gathers
the results the platform graph needs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from metapipeline.dbt.relations import RelationIndex
from metapipeline.lineage.cache import ReferenceCache
from metapipeline.lineage.dialects import data_source_defaults
from metapipeline.lineage.references import FAILED
from metapipeline.lineage.resolve import QueryInput, QueryLineage, resolve_many
from metapipeline.lineage.templates import DEFINITION_PATTERN
from metapipeline.mode.snapshot import WorkspaceSnapshot

QUERY, DEFINITION = "query", "definition"


@dataclass(frozen=True)
class LineageItem:
    kind: str  # QUERY or DEFINITION
    token: str
    label: str  # for people: "report name / query name"
    input: QueryInput
    uses: tuple[str, ...] = ()  # tokens of the definitions a query includes


@dataclass(frozen=True)
class ResolvedItem:
    item: LineageItem
    lineage: QueryLineage


@dataclass
class WorkspaceLineage:
    queries: dict[str, QueryLineage] = field(default_factory=dict)
    definitions: dict[str, QueryLineage] = field(default_factory=dict)
    definitions_used: dict[str, tuple[str, ...]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # query/definition token -> label

    @classmethod
    def gather(cls, resolved: Iterable[ResolvedItem]) -> WorkspaceLineage:
        lineage = cls()
        for result in resolved:
            item = result.item
            target = lineage.queries if item.kind == QUERY else lineage.definitions
            target[item.token] = result.lineage
            lineage.labels[item.token] = item.label
            if item.uses:
                lineage.definitions_used[item.token] = item.uses
        return lineage

    def status_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(q.status for q in self.queries.values()).items()))

    def failed(self) -> list[tuple[str, str, str]]:
        """(token, label, error) of every query or definition that could not be rendered."""
        everything = {**self.definitions, **self.queries}
        return sorted(
            (token, self.labels.get(token, ""), lineage.error or "")
            for token, lineage in everything.items()
            if lineage.status == FAILED
        )

    def reviews(self) -> list[dict[str, Any]]:
        """What a person should look at: queries that write a dbt model's relation (Mode should only
        read), and reads known only through a parameter of unknown values (they protect models but
        feed no exposure and no centrality)."""
        found = []
        for token, lineage in sorted(self.queries.items()):
            label = self.labels.get(token, "")
            if lineage.written_nodes:
                found.append(
                    {"query": token, "label": label, "kind": "writes a dbt relation",
                     "tables": list(lineage.writes), "nodes": list(lineage.written_nodes)}
                )  # fmt: skip
            if lineage.ambiguous:
                found.append(
                    {"query": token, "label": label, "kind": "ambiguous (parameter of unknown values)",
                     "tables": list(lineage.ambiguous_tables), "nodes": list(lineage.ambiguous)}
                )  # fmt: skip
        return found

    def unresolved(self) -> dict[str, list[str]]:
        """Warehouse table dbt does not build -> the tokens of the queries reading it."""
        readers: dict[str, list[str]] = {}
        for token, lineage in sorted(self.queries.items()):
            for table in lineage.unresolved:
                readers.setdefault(table, []).append(token)
        return dict(sorted(readers.items()))


def workspace_items(snapshot: WorkspaceSnapshot) -> list[LineageItem]:
    """Every definition and every query of every report and Dataset (archived ones too: they
    explain verdicts)."""
    sources = {s.id: s for s in snapshot.data_sources}
    definitions = {d.name: d.source for d in snapshot.definitions}
    definition_tokens = {d.name: d.token for d in snapshot.definitions}

    def input_for(sql: str, data_source_id: int | None) -> QueryInput:
        source = sources.get(data_source_id) if data_source_id is not None else None
        dialect, database, schema = data_source_defaults(source) if source else (None, None, None)
        return QueryInput(sql, definitions, dialect, database, schema)

    items = [
        LineageItem(DEFINITION, d.token, f"definition @{d.name}", input_for(d.source, d.data_source_id))
        for d in snapshot.definitions
    ]
    for report in (*snapshot.reports, *snapshot.datasets):
        for query in report.queries:
            used = {m.group(1) for m in DEFINITION_PATTERN.finditer(query.raw_query)}
            items.append(
                LineageItem(
                    QUERY,
                    query.token,
                    f"{report.name} / {query.name}",
                    input_for(query.raw_query, query.data_source_id),
                    tuple(sorted(definition_tokens[name] for name in used if name in definition_tokens)),
                )
            )
    return items


def resolve_items(
    items: Sequence[LineageItem],
    index: RelationIndex,
    *,
    cache: ReferenceCache | None = None,
    processes: int | None = None,
) -> list[ResolvedItem]:
    results = resolve_many([i.input for i in items], index=index, cache=cache, processes=processes)
    return [ResolvedItem(item, lineage) for item, lineage in zip(items, results, strict=True)]


def batches(items: Sequence[LineageItem], size: int) -> list[list[LineageItem]]:
    return [list(items[start : start + size]) for start in range(0, len(items), size)]

"""The analysis of one run, from plain inputs: the platform graph, unused models and exposure records.

The Dagster ops and `metapipeline plan` both call these, so a dry run, a real run and an offline
plan reach the same conclusions from the same evidence.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from typing import Any

import networkx as nx

from metapipeline.actions.exposures import ReportRecord
from metapipeline.dbt.projects import DbtProject
from metapipeline.dbt.relations import DbtGraph
from metapipeline.lineage.workspace import WorkspaceLineage
from metapipeline.mode.models import parse_mode_timestamp
from metapipeline.mode.snapshot import WorkspaceSnapshot
from metapipeline.platform.graph import build_platform_graph
from metapipeline.platform.unused import Protections, UnusedModels, find_unused_models
from metapipeline.warehouse.usage import WarehouseUsage


def platform_graph(
    projects: Iterable[DbtProject | dict[str, Any]] | DbtGraph,
    snapshot: WorkspaceSnapshot,
    lineage: WorkspaceLineage,
    warehouse: WarehouseUsage | None = None,
) -> nx.DiGraph:
    return build_platform_graph(
        projects,
        snapshot,
        lineage.queries,
        definition_reads=lineage.definitions,
        definitions_used=lineage.definitions_used,
        warehouse=warehouse,
    )


def evidence_gaps(snapshot: WorkspaceSnapshot, warehouse: WarehouseUsage | None = None) -> str:
    """Why the evidence is incomplete ("" when it is complete): what could not be read."""
    gaps = [f"the Mode snapshot is incomplete: {snapshot.incomplete_because()}"] if snapshot.failures else []
    if warehouse is not None and (because := warehouse.incomplete_because()):
        gaps.append(because)
    return "; ".join(gaps)


def warehouse_evidence(warehouse: WarehouseUsage | None) -> dict[str, Any]:
    """What the plan records about the warehouse's access history."""
    if warehouse is None:
        return {"warehouse usage": "not configured: direct readers in the warehouse are not seen"}
    return {
        "warehouse usage source": warehouse.source,
        "warehouse usage window": f"{warehouse.window_start:%Y-%m-%d} to {warehouse.window_end:%Y-%m-%d}",
        "warehouse history from": f"{warehouse.history_from:%Y-%m-%d}" if warehouse.history_from else "none",
        "warehouse usage complete": warehouse.incomplete_because() is None,
        "warehouse readers": len(warehouse.readers()),
        "warehouse reads left out (dbt's own, metapipeline's, below min_reads)": warehouse.excluded_reads,
    }


def snapshot_evidence(snapshot: WorkspaceSnapshot) -> dict[str, Any]:
    """What the plan records about the Mode snapshot, offline and in a run alike."""
    evidence: dict[str, Any] = {
        "mode snapshot complete": snapshot.complete,
        "mode Datasets": len(snapshot.datasets),
    }
    if snapshot.skipped_spaces:
        # The user accepted these gaps: models only they read may be proposed.
        evidence["mode spaces skipped (skip_spaces, not read)"] = ", ".join(snapshot.skipped_spaces)
    return evidence


def dbt_evidence(dbt: DbtGraph) -> dict[str, Any]:
    """What the plan records about the dbt projects it joined."""
    kinds = Counter(kind for kind, _, _ in dbt.cross_project_links)
    return {
        "dbt projects": ", ".join(dbt.projects),
        "cross-project links (sources joined to the model building them)": kinds["source"],
        "cross-project links (dbt mesh refs)": kinds["ref"],
        "relations several sources declare": sum(1 for n in dbt.nodes.values() if n.declared_as),
    }


def unused_models(
    graph: nx.DiGraph,
    snapshot: WorkspaceSnapshot,
    *,
    archived_now: Collection[str],
    protections: Protections,
    max_share: float,
    max_share_setting: str = "max_share",
    warehouse: WarehouseUsage | None = None,
) -> UnusedModels:
    """Unused models, refused outright when the Mode snapshot is incomplete (a report we could not
    read may be the one consumer of a model) or the warehouse usage source, when configured,
    failed or does not cover its window. Queries that failed to render still count: their raw
    text was matched against known relation names, so the models they mention stay used."""
    gaps = evidence_gaps(snapshot, warehouse)
    return find_unused_models(
        graph,
        archived_now=archived_now,
        protections=protections,
        evidence_complete=not gaps,
        incomplete_because=gaps,
        max_share=max_share,
        max_share_setting=max_share_setting,
    )


def exposure_reports(
    snapshot: WorkspaceSnapshot, lineage: WorkspaceLineage, archived_now: Collection[str]
) -> list[ReportRecord]:
    """One record per report with what its queries read; reports archived in this run count as archived."""
    creators = snapshot.creators
    spaces = {s.token: s.name for s in snapshot.spaces}
    records = []
    datasets = {d.token: d for d in snapshot.datasets}
    for report in snapshot.reports:
        creator = creators.get(report.creator_username or "")
        # What it reads through the Datasets it imports counts as its own.
        queries = [
            *report.queries,
            *(q for t in report.imported_datasets if t in datasets for q in datasets[t].queries),
        ]
        # A read known only through a parameter of unknown values is no basis for an exposure.
        nodes = {
            n
            for q in queries
            if (found := lineage.queries.get(q.token))
            for n in found.nodes
            if n not in found.ambiguous
        }
        records.append(
            ReportRecord(
                token=report.token,
                title=report.name,
                owner_name=(creator.name if creator else None) or report.creator_username,
                owner_email=creator.email if creator else None,
                url=report.web_url,
                space=spaces.get(report.space_token),
                last_run_at=parse_mode_timestamp(report.last_run_at),
                views=report.view_count,
                runs=report.runs_count,
                schedules=report.schedules_count,
                nodes=tuple(sorted(nodes)),
                archived=report.archived or report.token in archived_now,
            )
        )
    return records

"""The `platform` graph: dbt and Mode in one DiGraph, unused models with evidence, centrality, the plan."""

from contextlib import closing
from datetime import timedelta
from typing import Any

import networkx as nx
import pandas as pd
from dagster import Config, GraphOut, MetadataValue, OpExecutionContext, Output, graph, op
from pydantic import Field

from metapipeline.actions.exposures import exposure_changes
from metapipeline.actions.mode_lifecycle import LifecycleOutcome
from metapipeline.cost import RECENT_RUN_DAYS
from metapipeline.dbt.projects import DbtProject
from metapipeline.lineage.workspace import WorkspaceLineage
from metapipeline.markdown import table as markdown_table
from metapipeline.mode.snapshot import WorkspaceSnapshot
from metapipeline.orchestration.artifacts import run_artifacts
from metapipeline.orchestration.policies import kind
from metapipeline.orchestration.resources import ClockResource, LedgerResource
from metapipeline.platform.analysis import (
    exposure_reports,
    platform_graph,
    snapshot_evidence,
    unused_models,
    warehouse_evidence,
)
from metapipeline.platform.centrality import centrality_table, optimisation_priority
from metapipeline.platform.export import write_graph
from metapipeline.platform.plan import Plan, build_plan
from metapipeline.platform.stale import ReportVerdict
from metapipeline.platform.unused import Protections, UnusedModels
from metapipeline.warehouse.usage import WarehouseUsage

TOP_ROWS = 20
RUN_TIME_WINDOW = timedelta(days=RECENT_RUN_DAYS)  # "recent run time" for the optimisation priority
MARKDOWN_LIMIT = 50_000  # characters of the plan shown in the UI; the artifact holds all of it


@op(tags=kind("networkx"))
def join_platform(
    context: OpExecutionContext,
    projects: list[DbtProject],
    snapshot: WorkspaceSnapshot,
    lineage: WorkspaceLineage,
    usage: WarehouseUsage | None,
) -> Output[nx.DiGraph]:
    """Join the dbt projects, Mode and the warehouse's direct readers into one DiGraph; write it as
    GraphML, node-link JSON and a nodes table."""
    joined = platform_graph(projects, snapshot, lineage, usage)
    paths = write_graph(joined, run_artifacts(context, "platform"))
    kinds = pd.Series(dict(joined.nodes(data="kind"))).value_counts().sort_index()
    links = joined.graph["cross_project_links"]
    context.log.info(
        f"platform graph: {joined.number_of_nodes()} nodes, {joined.number_of_edges()} edges; "
        f"{len(projects)} dbt projects, {len(links)} links across them"
    )
    metadata: dict[str, Any] = {f"{k} nodes": MetadataValue.int(int(n)) for k, n in kinds.items()}
    metadata["edges"] = MetadataValue.int(joined.number_of_edges())
    metadata["dbt projects"] = MetadataValue.text(", ".join(p.name for p in projects))
    metadata["cross-project links"] = MetadataValue.md(
        markdown_table(["kind", "upstream", "downstream"], links[:TOP_ROWS])
        + (f"\n\n(and {len(links) - TOP_ROWS} more)" if len(links) > TOP_ROWS else "")
    )
    metadata |= {f"{name} file": MetadataValue.path(str(path)) for name, path in paths.items()}
    return Output(joined, metadata=metadata)


class UnusedModelsConfig(Config):
    protect_tags: list[str] = Field(default_factory=lambda: ["keep"], description="Tags that keep a model")
    protect_meta_keys: list[str] = Field(
        default_factory=lambda: ["keep"], description="Meta keys that keep a model when true"
    )
    protect_paths: list[str] = Field(default_factory=list, description="Path globs of models always kept")
    protect_unique_ids: list[str] = Field(default_factory=list, description="unique_ids always kept")
    max_share: float = Field(0.2, description="Propose nothing if more than this share of models look unused")

    def protections(self) -> Protections:
        return Protections(
            tuple(self.protect_tags),
            tuple(self.protect_meta_keys),
            tuple(self.protect_paths),
            tuple(self.protect_unique_ids),
        )


@op(tags=kind("networkx"))
def find_unused_models(
    context: OpExecutionContext,
    config: UnusedModelsConfig,
    platform: nx.DiGraph,
    snapshot: WorkspaceSnapshot,
    lifecycle: LifecycleOutcome,
    usage: WarehouseUsage | None,
) -> Output[UnusedModels]:
    """Models with no path to a live consumer; reports archived in this run no longer count."""
    unused = unused_models(
        platform,
        snapshot,
        warehouse=usage,
        archived_now=lifecycle.archived_now(),
        protections=config.protections(),
        max_share=config.max_share,
        max_share_setting="max_share in the find_unused_models op config",
    )
    if unused.refusal:
        context.log.warning(unused.refusal)
    context.log.info(f"{len(unused.candidates)} unused models, {len(unused.protected)} kept by protections")
    for unique_id, advice in unused.package_models.items():
        context.log.info(f"unused, from an installed package (not proposed): {unique_id}: {advice}")
    rows = [(m.unique_id, m.project or "", m.owner or "", m.why) for m in unused.candidates]
    return Output(
        unused,
        metadata={
            "unused models": MetadataValue.int(len(unused.candidates)),
            "protected": MetadataValue.int(len(unused.protected)),
            "unused package models": MetadataValue.int(len(unused.package_models)),
            "refusal": MetadataValue.text(unused.refusal or "none"),
            "candidates": MetadataValue.md(markdown_table(["model", "project", "owner", "why"], rows)),
        },
    )


@op(tags=kind("networkx"))
def centrality(
    context: OpExecutionContext,
    platform: nx.DiGraph,
    ledger: LedgerResource,
    clock: ClockResource,
) -> Output[pd.DataFrame]:
    """Every node's centrality; models ranked by importance x their run time over the last week."""
    table = centrality_table(platform)
    with closing(ledger.open()) as store:
        run_seconds = store.run_seconds_since(clock.now() - RUN_TIME_WINDOW)
    priorities = optimisation_priority(table, run_seconds)
    path = run_artifacts(context, "platform") / "centrality.csv"
    table.to_csv(path)
    context.log.info(f"centrality of {len(table)} nodes; {len(run_seconds)} models have recent run times")
    top = priorities.head(TOP_ROWS)
    rows = [
        (
            node,
            r["owner"] or "",
            f"{r['importance']:.3f}",
            f"{r['recent_run_seconds']:.0f}",
            f"{r['priority']:.1f}",
        )
        for node, r in top.iterrows()
    ]
    return Output(
        priorities,
        metadata={
            "nodes": MetadataValue.int(len(table)),
            "table file": MetadataValue.path(str(path)),
            "top priorities": MetadataValue.md(
                markdown_table(["model", "owner", "importance", "run s (7 days)", "priority"], rows)
            ),
        },
    )


@op
def write_plan(
    context: OpExecutionContext,
    clock: ClockResource,
    ledger: LedgerResource,
    projects: list[DbtProject],
    snapshot: WorkspaceSnapshot,
    lineage: WorkspaceLineage,
    verdicts: list[ReportVerdict],
    lifecycle: LifecycleOutcome,
    unused: UnusedModels,
    usage: WarehouseUsage | None,
) -> Output[Plan]:
    """The run's decisions and their evidence, as JSON and markdown (dry runs and real runs alike)."""
    archived_now = lifecycle.archived_now()
    reports = exposure_reports(snapshot, lineage, archived_now)
    with closing(ledger.open()) as store:
        last_runs = store.last_runs(m.unique_id for m in unused.candidates)
    plan = build_plan(
        workspace=snapshot.workspace,
        as_of=clock.now().isoformat(),
        dry_run=lifecycle.dry_run,
        verdicts=verdicts,
        lifecycle_refusal=lifecycle.refusal,
        unused=unused,
        lineage_reviews=lineage.reviews(),
        exposure_changes=[
            change for project in projects for change in exposure_changes(project.manifest, reports)
        ],
        evidence={
            **snapshot_evidence(snapshot),
            "dbt projects": len(projects),
            **warehouse_evidence(usage),
            "mode ingestion failures": len(snapshot.failures),
            **{f"queries {status}": n for status, n in lineage.status_counts().items()},
            "tables dbt does not build": len(lineage.unresolved()),
        },
        last_runs=last_runs,
    )
    directory = run_artifacts(context, "plan")
    markdown = plan.to_markdown()
    (directory / "plan.json").write_text(plan.to_json())
    (directory / "plan.md").write_text(markdown)
    shown = markdown if len(markdown) <= MARKDOWN_LIMIT else markdown[:MARKDOWN_LIMIT] + "\n\n(truncated)"
    return Output(
        plan,
        metadata={
            "plan": MetadataValue.md(shown),
            "plan json": MetadataValue.path(str(directory / "plan.json")),
            "plan markdown": MetadataValue.path(str(directory / "plan.md")),
        },
    )


@graph(
    description="Join dbt and Mode into one graph, find unused models with evidence, rank nodes, write the plan.",
    out={"platform": GraphOut(), "unused": GraphOut(), "priorities": GraphOut(), "plan": GraphOut()},
)
def platform(
    projects: list[DbtProject],
    snapshot: WorkspaceSnapshot,
    lineage: WorkspaceLineage,
    verdicts: list[ReportVerdict],
    lifecycle: LifecycleOutcome,
    usage: WarehouseUsage | None,
) -> Any:
    joined = join_platform(projects, snapshot, lineage, usage)
    unused = find_unused_models(joined, snapshot, lifecycle, usage)
    return {
        "platform": joined,
        "unused": unused,
        "priorities": centrality(joined),
        "plan": write_plan(projects, snapshot, lineage, verdicts, lifecycle, unused, usage),
    }

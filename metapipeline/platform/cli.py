"""`metapipeline plan` and `metapipeline explain`: the whole analysis offline, from files only.

Inputs are dbt manifests and a saved Mode snapshot (each run of the job saves one as an artifact).
Nothing talks to Mode, GitHub or Slack. Reports the policy would archive now count as archived,
exactly as in a run, so the plan shows the cascade a real run would act on.
"""

from __future__ import annotations

import difflib
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import networkx as nx

from metapipeline.actions.exposures import exposure_changes
from metapipeline.actions.mode_lifecycle import ArchivedReads, LifecycleSettings, plan_lifecycle
from metapipeline.dbt.manifest import metadata, mode_reports_behind_exposures, read_manifests
from metapipeline.dbt.relations import dialect_for_dbt_adapter, load_dbt_graph
from metapipeline.lineage.workspace import WorkspaceLineage, resolve_items, workspace_items
from metapipeline.mode.snapshot_file import read_snapshot
from metapipeline.platform.analysis import (
    dbt_evidence,
    exposure_reports,
    platform_graph,
    snapshot_evidence,
    unused_models,
    warehouse_evidence,
)
from metapipeline.platform.graph import report_id
from metapipeline.platform.plan import Plan, build_plan
from metapipeline.platform.stale import StalePolicy, judge_reports
from metapipeline.platform.unused import Protections, explain
from metapipeline.warehouse.files import file_usage
from metapipeline.warehouse.usage import UsageSettings, WarehouseUsage, read_usage


@dataclass
class OfflineAnalysis:
    graph: nx.DiGraph
    plan: Plan
    archived_now: set[str]
    seconds: dict[str, float]  # each stage's wall time, in order


@dataclass(frozen=True)
class OfflinePolicy:
    """The knobs a run's op config has, for `metapipeline plan` and `explain`."""

    stale: StalePolicy = field(default_factory=StalePolicy)
    lifecycle: LifecycleSettings = field(
        default_factory=lambda: LifecycleSettings(
            dry_run=True, max_share_setting="--lifecycle-max-share", max_actions_setting="--max-actions"
        )
    )
    protections: Protections = field(default_factory=Protections)
    max_share: float = 0.2  # of the models: propose nothing above it
    max_share_setting: str = "--max-share"  # how a user raises it, named in the refusal
    usage: UsageSettings = field(default_factory=UsageSettings)  # for a reads file


def analyse_offline(
    manifest_paths: Sequence[Path],
    snapshot_path: Path,
    now: datetime,
    *,
    policy: OfflinePolicy | None = None,
    progress: TextIO | None = None,
    warehouse: Path | None = None,
) -> OfflineAnalysis:
    """`warehouse`: a saved usage (a run's warehouse/usage.json) or a reads file (.csv, .jsonl)."""
    policy = policy or OfflinePolicy()
    seconds: dict[str, float] = {}
    started = time.perf_counter()

    def stage(name: str, message: str = "") -> None:
        nonlocal started
        seconds[name] = time.perf_counter() - started
        started = time.perf_counter()
        if progress is not None and message:
            print(f"{message} ({seconds[name]:.1f} s)", file=progress, flush=True)

    manifests = read_manifests(manifest_paths)
    snapshot = read_snapshot(snapshot_path)
    usage = _warehouse_usage(warehouse, manifests, policy, now)
    stage(
        "read",
        f"{len(manifests)} manifest(s); {len(snapshot.reports)} reports, {len(snapshot.datasets)} Datasets, "
        f"{len(snapshot.queries)} queries"
        + (f"; warehouse usage: {len(usage.usages)} relation reads ({usage.source})" if usage else ""),
    )
    dbt = load_dbt_graph(manifests)
    stage(
        "dbt graph",
        f"dbt: {len(dbt.projects)} project(s) ({', '.join(dbt.projects)}), {len(dbt.edges)} edges, "
        f"{len(dbt.cross_project_links)} cross-project links",
    )
    lineage = WorkspaceLineage.gather(resolve_items(workspace_items(snapshot), dbt.relation_index()))
    stage("lineage", f"lineage: {lineage.status_counts()}")
    verdicts = judge_reports(
        snapshot.reports,
        policy.stale,
        now,
        datasets=snapshot.datasets,
        space_names={s.token: s.name for s in snapshot.spaces},
        exposure_backed=mode_reports_behind_exposures(*manifests),
    )
    lifecycle = plan_lifecycle(snapshot, verdicts, {}, policy.lifecycle, now, ArchivedReads())
    archived_now = {a.report_token for a in lifecycle.of_kind("archive")}
    stage("reports", f"reports: {len(archived_now)} to archive")
    graph = platform_graph(dbt, snapshot, lineage, usage)
    stage(
        "platform graph", f"platform graph: {graph.number_of_nodes()} nodes, {graph.number_of_edges()} edges"
    )
    unused = unused_models(
        graph,
        snapshot,
        archived_now=archived_now,
        protections=policy.protections,
        max_share=policy.max_share,
        max_share_setting=policy.max_share_setting,
        warehouse=usage,
    )
    stage("unused models", f"unused models: {len(unused.candidates)} proposed")
    changes = [
        c for m in manifests for c in exposure_changes(m, exposure_reports(snapshot, lineage, archived_now))
    ]
    plan = build_plan(
        workspace=snapshot.workspace,
        as_of=now.isoformat(),
        dry_run=True,
        verdicts=verdicts,
        lifecycle_refusal=lifecycle.refusal,
        unused=unused,
        exposure_changes=changes,
        lineage_reviews=lineage.reviews(),
        evidence={
            **snapshot_evidence(snapshot),
            **dbt_evidence(dbt),
            **warehouse_evidence(usage),
            "mode snapshot taken at": snapshot.taken_at,
            **{f"queries {status}": n for status, n in lineage.status_counts().items()},
        },
    )
    stage("plan", "plan written")
    return OfflineAnalysis(graph, plan, archived_now, seconds)


def _warehouse_usage(
    path: Path | None, manifests: Sequence[dict], policy: OfflinePolicy, now: datetime
) -> WarehouseUsage | None:
    if path is None:
        return None
    if path.suffix.lower() in {".csv", ".jsonl"}:
        adapter = metadata(manifests[0]).get("adapter_type") if manifests else None
        return file_usage(path, policy.usage, now, dialect=dialect_for_dbt_adapter(adapter))
    return read_usage(path)


def run_plan(
    manifests: Sequence[Path],
    snapshot: Path,
    out: Path,
    now: datetime | None = None,
    policy: OfflinePolicy | None = None,
    warehouse: Path | None = None,
) -> int:
    try:
        analysis = analyse_offline(
            manifests,
            snapshot,
            now or datetime.now(UTC),
            policy=policy,
            progress=sys.stderr,
            warehouse=warehouse,
        )
    except (OSError, ValueError) as exc:
        print(f"metapipeline plan: {exc}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    (out / "plan.json").write_text(analysis.plan.to_json())
    (out / "plan.md").write_text(analysis.plan.to_markdown())
    plan = analysis.plan
    print(
        f"{len(plan.stale_reports)} stale reports, {len(plan.unused_models)} unused models, "
        f"{len(plan.exposure_changes)} exposure changes: {out / 'plan.md'} and {out / 'plan.json'}"
    )
    for refusal in (plan.lifecycle_refusal, plan.unused_refusal):
        if refusal:
            print(f"refused: {refusal}")
    return 0


def run_explain(
    node: str,
    manifests: Sequence[Path],
    snapshot: Path,
    now: datetime | None = None,
    policy: OfflinePolicy | None = None,
    warehouse: Path | None = None,
) -> int:
    try:
        analysis = analyse_offline(
            manifests, snapshot, now or datetime.now(UTC), policy=policy, warehouse=warehouse
        )
    except (OSError, ValueError) as exc:
        print(f"metapipeline explain: {exc}", file=sys.stderr)
        return 2
    found = resolve_node(analysis.graph, node)
    if isinstance(found, list):
        hint = f"; did you mean {', '.join(found)}?" if found else ""
        print(f"metapipeline explain: no node {node!r} in the platform graph{hint}", file=sys.stderr)
        return 1
    protections = (policy or OfflinePolicy()).protections
    print(
        "\n".join(explain(analysis.graph, found, archived_now=analysis.archived_now, protections=protections))
    )
    return 0


def resolve_node(graph: nx.DiGraph, text: str) -> str | list[str]:
    """A node id from an id (a source another node stands for gives that node), a report token or
    a unique name; else the closest ids (a list)."""
    if text in graph:
        return text
    if text in graph.graph.get("aliases", {}):
        return str(graph.graph["aliases"][text])
    if report_id(text) in graph:
        return report_id(text)
    named = [n for n, name in graph.nodes(data="name") if name == text]
    if len(named) == 1:
        return named[0]
    return sorted(named) or difflib.get_close_matches(text, list(graph), n=3, cutoff=0.6)

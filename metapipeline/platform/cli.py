"""`metapipeline plan` and `metapipeline explain`: the whole analysis offline, from files only.

Inputs are dbt manifests and a saved Mode snapshot (each run of the job saves one as an artifact).
Nothing talks to Mode, GitHub or Slack. Reports the policy would archive now count as archived,
exactly as in a run, so the plan shows the cascade a real run would act on.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import networkx as nx

from metapipeline.actions.exposures import exposure_changes
from metapipeline.actions.mode_lifecycle import ArchivedReads, LifecycleSettings, plan_lifecycle
from metapipeline.dbt.manifest import mode_reports_behind_exposures, read_manifests
from metapipeline.dbt.relations import load_dbt_graph
from metapipeline.lineage.workspace import WorkspaceLineage, resolve_items, workspace_items
from metapipeline.mode.snapshot_file import read_snapshot
from metapipeline.platform.analysis import (
    exposure_reports,
    platform_graph,
    snapshot_evidence,
    unused_models,
)
from metapipeline.platform.graph import report_id
from metapipeline.platform.plan import Plan, build_plan
from metapipeline.platform.stale import StalePolicy, judge_reports
from metapipeline.platform.unused import Protections, explain


@dataclass
class OfflineAnalysis:
    graph: nx.DiGraph
    plan: Plan
    archived_now: set[str]


def analyse_offline(
    manifest_paths: Sequence[Path],
    snapshot_path: Path,
    now: datetime,
    *,
    protections: Protections | None = None,
    max_share: float = 0.2,
    progress: TextIO | None = None,
) -> OfflineAnalysis:
    def say(message: str) -> None:
        if progress is not None:
            print(message, file=progress, flush=True)

    manifests = read_manifests(manifest_paths)
    snapshot = read_snapshot(snapshot_path)
    say(
        f"{len(manifests)} manifest(s); {len(snapshot.reports)} reports, {len(snapshot.datasets)} Datasets, {len(snapshot.queries)} queries"
    )
    index = load_dbt_graph(manifests).relation_index()
    lineage = WorkspaceLineage.gather(resolve_items(workspace_items(snapshot), index))
    say(f"lineage: {lineage.status_counts()}")
    exposure_backed: dict[str, str] = {}
    for manifest in manifests:
        exposure_backed |= mode_reports_behind_exposures(manifest)
    verdicts = judge_reports(
        snapshot.reports,
        StalePolicy(),
        now,
        datasets=snapshot.datasets,
        space_names={s.token: s.name for s in snapshot.spaces},
        exposure_backed=exposure_backed,
    )
    lifecycle = plan_lifecycle(snapshot, verdicts, {}, LifecycleSettings(dry_run=True), now, ArchivedReads())
    archived_now = {a.report_token for a in lifecycle.of_kind("archive")}
    graph = platform_graph(manifests, snapshot, lineage)
    say(f"platform graph: {graph.number_of_nodes()} nodes, {graph.number_of_edges()} edges")
    protections = protections or Protections()
    unused = unused_models(
        graph, snapshot, archived_now=archived_now, protections=protections, max_share=max_share
    )
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
        evidence={
            **snapshot_evidence(snapshot),
            "mode snapshot taken at": snapshot.taken_at,
            **{f"queries {status}": n for status, n in lineage.status_counts().items()},
        },
    )
    return OfflineAnalysis(graph, plan, archived_now)


def run_plan(manifests: Sequence[Path], snapshot: Path, out: Path, now: datetime | None = None) -> int:
    try:
        analysis = analyse_offline(manifests, snapshot, now or datetime.now(UTC), progress=sys.stderr)
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


def run_explain(node: str, manifests: Sequence[Path], snapshot: Path, now: datetime | None = None) -> int:
    try:
        analysis = analyse_offline(manifests, snapshot, now or datetime.now(UTC))
    except (OSError, ValueError) as exc:
        print(f"metapipeline explain: {exc}", file=sys.stderr)
        return 2
    found = resolve_node(analysis.graph, node)
    if isinstance(found, list):
        hint = f"; did you mean {', '.join(found)}?" if found else ""
        print(f"metapipeline explain: no node {node!r} in the platform graph{hint}", file=sys.stderr)
        return 1
    print("\n".join(explain(analysis.graph, found, archived_now=analysis.archived_now)))
    return 0


def resolve_node(graph: nx.DiGraph, text: str) -> str | list[str]:
    """A node id from an id, a report token or a unique name; else the closest ids (a list)."""
    if text in graph:
        return text
    if report_id(text) in graph:
        return report_id(text)
    named = [n for n, name in graph.nodes(data="name") if name == text]
    if len(named) == 1:
        return named[0]
    return sorted(named) or difflib.get_close_matches(text, list(graph), n=3, cutoff=0.6)

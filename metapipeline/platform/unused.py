"""Consumers and unused models: which dbt models no live consumer reads, with the evidence.

A consumer is an active Mode report (not archived, not archived in this run), an active Mode
Dataset (imported by a live report, or run recently enough not to be stale), a hand-written dbt
exposure of any loaded project, a semantic model, metric or saved query, the MetricFlow time spine,
or a model a user protects. A model is unused when no path leads from it to a consumer; paths cross
projects (a model another project's live model reads is used).

Only models of the loaded projects are candidates: a model of an installed package is reported
apart (the fix is to disable or drop the package, not to delete its files).
Exposures metapipeline generates from Mode (`mode_<token>`) mirror Mode and are not consumers
themselves: otherwise an archived report would keep its models alive through its own exposure.
"""

from __future__ import annotations

import fnmatch
from collections import deque
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import networkx as nx

from metapipeline.platform.graph import dataset_id, report_id

GENERATED_EXPOSURE_PREFIX = "mode_"
ARCHIVED_NOW = "archived in this run (stale)"  # a report or Dataset's why_not_a_consumer
SEMANTIC_CONSUMERS = {
    "semantic_model": "dbt semantic model",
    "metric": "dbt metric",
    "saved_query": "dbt saved query",
}


@dataclass(frozen=True)
class Protections:
    """How users keep a model that nothing reads (the names dbt users already use)."""

    tags: tuple[str, ...] = ("keep",)
    meta_keys: tuple[str, ...] = ("keep",)
    path_globs: tuple[str, ...] = ()
    unique_ids: tuple[str, ...] = ()

    def reason(self, unique_id: str, attrs: dict[str, Any]) -> str | None:
        if unique_id in self.unique_ids:
            return "listed in protected unique ids"
        tag = next((t for t in attrs.get("tags", ()) if t in self.tags), None)
        if tag:
            return f"tagged {tag}"
        key = next((k for k in self.meta_keys if attrs.get("meta", {}).get(k) is True), None)
        if key:
            return f"meta {key}: true"
        path = attrs.get("path") or ""
        glob = next((g for g in self.path_globs if fnmatch.fnmatch(path, g)), None)
        return f"path matches {glob}" if glob else None


@dataclass(frozen=True)
class Downstream:
    node: str
    kind: str
    why_not_a_consumer: str


@dataclass(frozen=True)
class UnusedModel:
    unique_id: str
    name: str
    path: str | None
    owner: str | None
    downstream: tuple[Downstream, ...]  # everything it feeds, none of which is a consumer
    project: str | None = None  # the loaded dbt project whose files hold it
    warehouse_window: str | None = None  # the access history's window, when one was read

    @property
    def why(self) -> str:
        found = (
            "; ".join(f"{d.node}: {d.why_not_a_consumer}" for d in self.downstream[:5])
            if self.downstream
            else "nothing reads it"
        )
        if self.warehouse_window:
            found += f"; no direct reads in the warehouse {self.warehouse_window}"
        return found


@dataclass
class UnusedModels:
    candidates: list[UnusedModel] = field(default_factory=list)
    protected: dict[str, str] = field(default_factory=dict)  # unused but protected: id -> why
    package_models: dict[str, str] = field(default_factory=dict)  # unused, from a package: id -> what to do
    refusal: str | None = None

    def by_project(self) -> dict[str | None, list[UnusedModel]]:
        """The candidates grouped by the project (and so the repository) that holds them."""
        grouped: dict[str | None, list[UnusedModel]] = {}
        for model in self.candidates:
            grouped.setdefault(model.project, []).append(model)
        return grouped


def consumers(graph: nx.DiGraph, archived_now: Collection[str], protections: Protections) -> dict[str, str]:
    """Consumer node -> why it counts. `archived_now` holds report tokens archived in this run."""
    archived_ids = {make(token) for token in archived_now for make in (report_id, dataset_id)}
    found = {}
    datasets = []
    for node, attrs in graph.nodes(data=True):
        kind = attrs["kind"]
        live = not attrs.get("archived") and node not in archived_ids
        if kind == "mode_report" and live:
            found[node] = "active Mode report"
        elif kind == "mode_dataset" and live:
            datasets.append(node)
        elif kind == "exposure" and not attrs["name"].startswith(GENERATED_EXPOSURE_PREFIX):
            found[node] = "dbt exposure"
        elif kind in SEMANTIC_CONSUMERS:
            found[node] = SEMANTIC_CONSUMERS[kind]
        elif kind == "warehouse_reader":  # its reads below min_reads never made an edge
            tool = f", via {attrs['tool']}" if attrs.get("tool") else ""
            found[node] = f"reads it straight from the warehouse{tool}"
        elif kind == "model" and attrs.get("time_spine"):
            found[node] = "MetricFlow time spine (the semantic layer needs it)"
        elif kind == "model" and (why := protections.reason(node, attrs)):
            found[node] = f"protected ({why})"
    for node in datasets:  # not archived, nor stale now: a live report imports it, or it runs
        importers = [r for r in sorted(graph.successors(node)) if found.get(r) == "active Mode report"]
        found[node] = (
            f"active Mode Dataset imported by {', '.join(importers)}"
            if importers
            else "active Mode Dataset (run recently, not stale)"
        )
    return found


def find_unused_models(
    graph: nx.DiGraph,
    *,
    archived_now: Collection[str] = (),
    protections: Protections | None = None,
    evidence_complete: bool = True,
    incomplete_because: str = "",
    max_share: float = 0.2,
    max_share_setting: str = "max_share",
) -> UnusedModels:
    """`max_share_setting` names where a user raises the cap (a CLI flag, an op's config)."""
    protections = protections or Protections()
    result = UnusedModels()
    if not evidence_complete:
        result.refusal = (
            f"Evidence is incomplete ({incomplete_because or 'see the Mode snapshot'}): "
            "no model is proposed for removal on partial evidence."
        )
        return result
    # Protected models are consumers (their parents live on); report the ones only protection keeps.
    live = _reaching(graph, consumers(graph, archived_now, protections))
    live_unprotected = _reaching(graph, consumers(graph, archived_now, Protections(tags=(), meta_keys=())))
    models = [n for n, a in graph.nodes(data=True) if a["kind"] == "model" and a.get("project")]
    packaged = (n for n, a in graph.nodes(data=True) if a["kind"] == "model" and not a.get("project"))
    result.package_models = {
        model: f"from the package {graph.nodes[model].get('package')}: disable or drop the package if nothing needs it"
        for model in sorted(packaged)
        if model not in live
    }
    for model in models:
        attrs = graph.nodes[model]
        if model not in live_unprotected and (why_protected := protections.reason(model, attrs)):
            result.protected[model] = why_protected
        if model in live:
            continue
        result.candidates.append(
            UnusedModel(
                unique_id=model,
                name=attrs["name"],
                path=attrs.get("path"),
                owner=attrs.get("owner"),
                downstream=tuple(
                    _explain(graph, d, archived_now) for d in sorted(nx.descendants(graph, model))
                ),
                project=attrs["project"],
                warehouse_window=graph.graph.get("warehouse", {}).get("window"),
            )
        )
    if models and len(result.candidates) / len(models) > max_share:
        result.refusal = (
            f"{len(result.candidates)} of {len(models)} models ({len(result.candidates) / len(models):.0%}) "
            f"look unused, above the cap of {max_share:.0%}: nothing is proposed. This usually means "
            f"missing evidence (a Mode workspace or dbt project not loaded); check, then raise {max_share_setting}."
        )
        result.candidates = []
    return result


def _reaching(graph: nx.DiGraph, targets: Iterable[str]) -> set[str]:
    """Every node with a path to one of `targets` (targets included): one reverse BFS."""
    seen = set(targets)
    queue = deque(seen)
    while queue:
        for parent in graph.predecessors(queue.popleft()):
            if parent not in seen:
                seen.add(parent)
                queue.append(parent)
    return seen


def _explain(graph: nx.DiGraph, node: str, archived_now: Collection[str]) -> Downstream:
    attrs = graph.nodes[node]
    kind = attrs["kind"]
    if kind in {"mode_report", "mode_dataset"}:
        token = node.rsplit(".", 1)[-1]
        why = ARCHIVED_NOW if token in archived_now else "archived in Mode"
    elif kind == "mode_query":
        why = "its report or Dataset is archived"
    elif kind == "exposure":
        why = "generated from Mode, follows its report"
    else:
        why = "no consumer downstream"
    return Downstream(node, kind, why)


def _path_text(graph: nx.DiGraph, path: list[str]) -> str:
    """`a -> b`, with `=[project a -> project b]=>` where the path crosses dbt projects and
    `-[read N times, last DATE]->` into a warehouse reader."""
    text = path[0]
    for parent, child in pairwise(path):
        edge = graph.edges[parent, child]
        if edge.get("how") == "cross-project":
            crossing = f"{graph.nodes[parent].get('project')} -> {graph.nodes[child].get('project')}"
            text += f" =[{crossing}]=> {child}"
        elif edge.get("how") == "warehouse":
            text += f" -[read {edge['reads']} times, last {edge['last_read'][:10]}]-> {child}"
        else:
            text += f" -> {child}"
    return text


def explain(
    graph: nx.DiGraph,
    node: str,
    *,
    archived_now: Collection[str] = (),
    protections: Protections | None = None,
    max_paths: int = 5,
) -> list[str]:
    """Why `node` is or is not a consumer, and its shortest paths to consumers (lines for people)."""
    found = consumers(graph, archived_now, protections or Protections())
    attrs = graph.nodes[node]
    lines = [f"{node} ({attrs['kind']}, {attrs.get('name')})"]
    if node in found:
        lines.append(f"is a consumer: {found[node]}")
    elif attrs["kind"] in {"mode_report", "mode_dataset"}:
        lines.append(f"is not a consumer: {_explain(graph, node, archived_now).why_not_a_consumer}")
    if attrs["kind"] == "mode_dataset":
        importers = [f"{r} ({graph.nodes[r].get('name')})" for r in sorted(graph.successors(node))]
        queries = sorted(graph.predecessors(node))
        lines.append(f"imported by: {', '.join(importers) or 'no report'}")
        lines.append(f"its queries: {', '.join(queries) or 'none'}")
    # Breadth-first downstream: the first time a consumer is reached is along a shortest path.
    parents: dict[str, str | None] = {node: None}
    queue = deque([node])
    paths: list[str] = []
    while queue and len(paths) < max_paths:
        current = queue.popleft()
        if current != node and current in found:
            path = [current]
            while (previous := parents[path[-1]]) is not None:
                path.append(previous)
            name = graph.nodes[current].get("name")
            paths.append(f"  {_path_text(graph, path[::-1])}  ({found[current]}: {name})")
            continue  # a consumer's own consumers add nothing
        for child in sorted(graph.successors(current)):
            if child not in parents:
                parents[child] = current
                queue.append(child)
    if paths:
        lines.append(f"reaches {'these consumers' if len(paths) > 1 else 'this consumer'}:")
        lines += paths
    elif node not in found:
        lines.append("reaches no consumer" + (": unused" if attrs["kind"] == "model" else ""))
        lines += [
            f"  {d.node}: {d.why_not_a_consumer}"
            for d in (_explain(graph, n, archived_now) for n in sorted(nx.descendants(graph, node)))
        ][:20]
    return lines

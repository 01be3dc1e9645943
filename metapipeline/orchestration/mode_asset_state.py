"""What the Mode asset specs are built from: the newest run's files and the ledger, read offline.

A run of the job keeps, under DAGSTER_HOME/storage/<run id>/, the platform graph it joined
(`platform/platform.json`: dbt nodes, Mode reports, Datasets, queries and the lineage edges
between them), its plan (`plan/plan.json`: the stale verdicts) and each dbt project's manifest
(`dbt/<project>/manifest.json`: what dagster-dbt keys a node by). The ledger adds what
metapipeline did to reports since (archived, deleted). Reading these files is all a code location
does at load: no Mode, dbt or warehouse call, so loading stays fast and works offline, and the
next run of the job refreshes the state.

Plain data only (no Dagster): `mode_assets` turns a `ModeAssetState` into asset specs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from contextlib import closing
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from metapipeline.dbt.manifest import read_manifests
from metapipeline.run_files import MANIFESTS, dagster_home
from metapipeline.store.ledger import Action, Ledger, database_url

PLATFORM_GRAPH = "platform/platform.json"  # join_platform's write_graph, under run_artifacts "platform"
PLAN = "plan/plan.json"  # write_plan's, under run_artifacts "plan"
# What dagster-dbt makes assets of (dagster_dbt.asset_utils.ASSET_RESOURCE_TYPES, plus sources).
DBT_ASSET_TYPES = ("model", "seed", "snapshot", "source")
_READ_EDGES = {"parsed", "fallback", "ambiguous"}  # lineage edges into a query or definition
_DBT_EDGES = {"dbt", "cross-project"}
_GONE = {"delete", "gone"}  # a report in this state is no longer in Mode


@dataclass(frozen=True)
class ModeContent:
    """One Mode report or Dataset, as the newest run saw it and the ledger has it since."""

    workspace: str
    token: str
    kind: Literal["report", "dataset"]
    name: str
    space: str | None
    owner: str | None  # the creator's email, else their name or username
    url: str | None
    last_run_at: str | None
    view_count: int
    runs_count: int
    archived: bool  # archived in Mode when the snapshot was taken, or by metapipeline since
    archived_by_metapipeline: bool
    stale_reason: str | None  # why the stale policy calls it stale; None when it does not
    kept_reason: str | None  # why it is kept although its numbers say stale
    reads: tuple[str, ...]  # dbt unique ids its queries and the definitions they include read
    imports: tuple[str, ...]  # tokens of the Datasets it imports

    @property
    def status(self) -> Literal["active", "stale", "archived"]:
        if self.archived:
            return "archived"
        return "stale" if self.stale_reason else "active"


@dataclass(frozen=True)
class ModeAssetState:
    """Everything the asset specs need, from one run (`run_dir`) and the ledger."""

    workspace: str
    run_dir: Path
    contents: tuple[ModeContent, ...]
    # unique_id -> the manifest's properties of each dbt model, seed, snapshot and source on the
    # platform graph: what dagster-dbt's translator reads to key it.
    dbt_nodes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    dbt_parents: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # among dbt_nodes
    ledger_problem: str | None = None  # why the ledger's lifecycle actions are missing, if they are

    @cached_property
    def by_token(self) -> dict[str, ModeContent]:
        return {content.token: content for content in self.contents}


class NoModeState(LookupError):
    """No run has kept the files the specs are built from (yet)."""


def newest_run_dir(home: Path | None = None) -> Path:
    """The newest run directory holding a platform graph and a plan (a run that failed between the
    two is skipped), so that verdicts, lineage and keys always come from the same run."""
    storage = (home or dagster_home()) / "storage"
    graphs = [path for path in storage.glob(f"*/{PLATFORM_GRAPH}") if (_run_of(path) / PLAN).exists()]
    if not graphs:
        raise NoModeState(
            f"no run under {storage} has kept {PLATFORM_GRAPH} and {PLAN}: run the metapipeline job "
            "once (or set DAGSTER_HOME to where it ran)"
        )
    return _run_of(max(graphs, key=lambda path: path.stat().st_mtime))


def _run_of(graph_path: Path) -> Path:
    return graph_path.parents[len(Path(PLATFORM_GRAPH).parts) - 1]


def read_state(
    run_dir: Path, lifecycle: Mapping[str, Action] | None = None, ledger_problem: str | None = None
) -> ModeAssetState:
    """The state kept by one run. `lifecycle`: the ledger's `lifecycle_history` for the workspace
    (what metapipeline last did to each report), None when it cannot be read."""
    graph = json.loads((run_dir / PLATFORM_GRAPH).read_text())
    plan = json.loads((run_dir / PLAN).read_text())
    manifests = read_manifests(sorted(_manifest_paths(run_dir)))
    state = state_from_documents(graph, plan, manifests, lifecycle or {}, run_dir)
    return replace(state, ledger_problem=ledger_problem)


def state_from_documents(
    graph: Mapping[str, Any],
    plan: Mapping[str, Any],
    manifests: Iterable[Mapping[str, Any]],
    lifecycle: Mapping[str, Action],
    run_dir: Path,
) -> ModeAssetState:
    """`graph`: the platform graph as node-link data; `plan`: the same run's plan as JSON."""
    nodes = {node["id"]: node for node in graph["nodes"]}
    parents: dict[str, list[tuple[str, str]]] = {}
    for link in graph["links"]:
        parents.setdefault(link["target"], []).append((link["source"], link.get("how", "")))
    stale = {r["token"]: r["reason"] for r in plan.get("stale_reports", [])}
    kept = {r["token"]: r["reason"] for r in plan.get("kept_reports", [])}
    workspace = str(plan["workspace"])

    def reads_of(reader: str) -> list[str]:
        """dbt nodes a query reads, itself or through the definitions it includes."""
        found = []
        for parent, how in parents.get(reader, ()):
            if how in _READ_EDGES:
                found.append(parent)
            elif nodes[parent].get("kind") == "mode_definition":
                found += [p for p, h in parents.get(parent, ()) if h in _READ_EDGES]
        return found

    contents = []
    for node_id, node in nodes.items():
        kind = {"mode_report": "report", "mode_dataset": "dataset"}.get(node.get("kind", ""))
        if kind is None:
            continue
        token = node_id.rsplit(".", 1)[-1]
        last = lifecycle.get(token)
        if last is not None and last.action in _GONE:
            continue
        by_us = last is not None and last.action == "archive"
        reads: list[str] = []
        imports = []
        for parent, how in parents.get(node_id, ()):
            if how == "imports":
                imports.append(parent.rsplit(".", 1)[-1])
            elif nodes[parent].get("kind") == "mode_query":
                reads += reads_of(parent)
        contents.append(
            ModeContent(
                workspace=workspace,
                token=token,
                kind=kind,  # type: ignore[arg-type]  # one of the two literals above
                name=node.get("name") or token,
                space=node.get("space"),
                owner=node.get("owner"),
                url=node.get("url"),
                last_run_at=node.get("last_run_at"),
                view_count=int(node.get("view_count") or 0),
                runs_count=int(node.get("runs_count") or 0),
                archived=bool(node.get("archived")) or by_us,
                archived_by_metapipeline=by_us,
                stale_reason=stale.get(token),
                kept_reason=kept.get(token),
                reads=tuple(sorted(set(reads))),
                imports=tuple(sorted(set(imports))),
            )
        )
    dbt_nodes = _dbt_properties(manifests, nodes)
    dbt_parents = {
        unique_id: tuple(
            sorted({p for p, how in parents.get(unique_id, ()) if how in _DBT_EDGES and p in dbt_nodes})
        )
        for unique_id in dbt_nodes
    }
    return ModeAssetState(workspace, run_dir, tuple(contents), dbt_nodes, dbt_parents)


def load_state(home: Path | None = None, ledger_url: str | None = None) -> ModeAssetState:
    """The newest run's state, with the ledger's lifecycle actions when the ledger can be read.
    Raises NoModeState when no run has kept one."""
    run_dir = newest_run_dir(home)
    workspace = _workspace_of(run_dir)
    lifecycle: dict[str, Action] = {}
    problem = None
    try:
        with closing(Ledger(ledger_url or database_url(home or dagster_home()))) as ledger:
            lifecycle = ledger.lifecycle_history(workspace)
    except Exception as exc:  # offline or misconfigured: the run's files still say most
        problem = f"{type(exc).__name__}: {exc}"
    return read_state(run_dir, lifecycle, problem)


def _workspace_of(run_dir: Path) -> str:
    return str(json.loads((run_dir / PLAN).read_text())["workspace"])


def _manifest_paths(run_dir: Path) -> Iterable[Path]:
    for path in (run_dir / MANIFESTS).glob("*/manifest.json*"):
        if path.name in {"manifest.json", "manifest.json.gz"}:
            yield path


def _dbt_properties(
    manifests: Iterable[Mapping[str, Any]], graph_nodes: Mapping[str, Any]
) -> dict[str, Mapping[str, Any]]:
    """The manifest entries of the graph's dbt asset nodes. A node several projects declare is one
    graph node (the first project's), so entries not on the graph are left out."""
    found: dict[str, Mapping[str, Any]] = {}
    for manifest in manifests:
        for section in ("nodes", "sources"):
            for unique_id, props in manifest.get(section, {}).items():
                if (
                    props.get("resource_type") in DBT_ASSET_TYPES
                    and unique_id in graph_nodes
                    and unique_id not in found
                ):
                    found[unique_id] = props
    return found

"""The metapipeline job. At this stage it ingests Mode and dbt and counts; later steps plug in here."""

from __future__ import annotations

from typing import Any

from dagster import MetadataValue, OpExecutionContext, Out, Output, graph, job, op

from metapipeline.dbt.manifest import count_resources
from metapipeline.mode.snapshot import WorkspaceSnapshot, take_snapshot
from metapipeline.orchestration.resources import DbtManifestResource, ModeResource
from metapipeline.summary import platform_summary


@op(tags={"dagster/kind/mode": ""}, out=Out(WorkspaceSnapshot))
def mode_snapshot(context: OpExecutionContext, mode: ModeResource) -> Output[WorkspaceSnapshot]:
    """Read every space, report, query, definition and data source of the Mode workspace."""
    snapshot = take_snapshot(mode.client(), progress=context.log.info)
    for problem in snapshot.failures:
        context.log.warning(f"could not read {problem.what}: {problem.error}")
    metadata: dict[str, Any] = {name: MetadataValue.int(value) for name, value in snapshot.counts().items()}
    metadata["complete"] = MetadataValue.bool(snapshot.complete)
    metadata["requests"] = MetadataValue.int(snapshot.requests_sent)
    return Output(snapshot, metadata=metadata)


@op(tags={"dagster/kind/dbt": ""})
def dbt_manifest(context: OpExecutionContext, dbt: DbtManifestResource) -> Output[dict]:
    """Load the dbt manifest (parsing the project when no ready manifest is given)."""
    manifest = dbt.load_manifest()
    counts = count_resources(manifest)
    context.log.info(f"dbt manifest: {counts}")
    return Output(manifest, metadata={kind: MetadataValue.int(n) for kind, n in counts.items()})


@graph(description="Pull the Mode workspace.")
def mode() -> WorkspaceSnapshot:
    return mode_snapshot()


@graph(description="Load the dbt project's manifest.")
def dbt() -> dict:
    return dbt_manifest()


@op
def summarize(context: OpExecutionContext, snapshot: WorkspaceSnapshot, manifest: dict) -> Output[dict]:
    """What this run saw, for people: shown in the UI and printed by `make demo`."""
    summary = platform_summary(snapshot, manifest)
    lines = [f"| {key} | {value} |" for key, value in summary.items()]
    table = "\n".join(["| | |", "|---|---|", *lines])
    return Output(summary, metadata={"summary": MetadataValue.md(table)})


@job(
    description="Daily clean-up of the dbt project and the Mode workspace: ingest, join, act, report.",
    tags={"metapipeline/job": "metapipeline"},
)
def metapipeline() -> None:
    summarize(mode(), dbt())

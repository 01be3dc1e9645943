"""The metapipeline job: the flow of the design, one nested graph per stage."""

import os
import shutil
from typing import Any

from dagster import (
    DefaultScheduleStatus,
    MetadataValue,
    OpExecutionContext,
    Output,
    ScheduleDefinition,
    graph,
    job,
    op,
)

from metapipeline.actions.mode_lifecycle import LifecycleOutcome
from metapipeline.dbt.manifest import count_resources, read_manifest
from metapipeline.lineage.workspace import WorkspaceLineage
from metapipeline.markdown import table as markdown_table
from metapipeline.mode.snapshot import WorkspaceSnapshot
from metapipeline.orchestration.artifacts import run_file
from metapipeline.orchestration.github_graph import PullRequestOutcome, github
from metapipeline.orchestration.lineage_graph import lineage
from metapipeline.orchestration.mode_graph import mode
from metapipeline.orchestration.platform_graph import platform
from metapipeline.orchestration.policies import SERVICE_RETRY, kind
from metapipeline.orchestration.report_graph import report
from metapipeline.orchestration.resources import DbtManifestResource
from metapipeline.platform.unused import UnusedModels
from metapipeline.run_files import MANIFEST
from metapipeline.summary import platform_summary


@op(tags=kind("dbt"), retry_policy=SERVICE_RETRY)
def dbt_manifest(context: OpExecutionContext, dbt: DbtManifestResource) -> Output[dict]:
    """Load the dbt manifest (parsing the project when no ready manifest is given), and keep a copy
    among the run's files for `metapipeline plan/explain/refs` and for later questions."""
    source = dbt.manifest_file()
    manifest = read_manifest(source)  # says what is wrong with a missing or broken manifest
    shutil.copyfile(source, run_file(context, MANIFEST + (".gz" if source.suffix == ".gz" else "")))
    counts = count_resources(manifest)
    context.log.info(f"dbt manifest: {counts}")
    return Output(manifest, metadata={kind: MetadataValue.int(n) for kind, n in counts.items()})


@graph(description="Load the dbt project's manifest.")
def dbt() -> dict:
    return dbt_manifest()


@op
def summarize(
    context: OpExecutionContext,
    snapshot: WorkspaceSnapshot,
    manifest: dict,
    lineage: WorkspaceLineage,
    lifecycle: LifecycleOutcome,
    unused: UnusedModels,
    removal: PullRequestOutcome,
    exposures: PullRequestOutcome,
    charts: list,
) -> Output[dict]:
    """What this run saw and did, for people: shown in the UI and printed by `make demo`."""
    summary = platform_summary(snapshot, manifest, lifecycle)
    summary |= {f"queries {status}": n for status, n in lineage.status_counts().items()}
    summary["unused models proposed"] = len(unused.candidates)
    for pr in (removal, exposures):
        summary[f"{pr.kind} pull request"] = f"{pr.action} {pr.url or pr.reason}".strip()
    summary["charts"] = len(charts)
    table = markdown_table(["", ""], summary.items())
    return Output(summary, metadata={"summary": MetadataValue.md(table)})


# Steps run one after another in the run's own process by default: the steps mostly wait on one
# rate-limited service after another, and a process per step pays seconds of imports each (a UI
# launch took 17 min on a busy machine). `multiprocess` (or a Kubernetes executor) stays one
# Launchpad edit away.
IN_PROCESS_BY_DEFAULT: dict[str, Any] = {"execution": {"config": {"in_process": {}}}}


@job(
    description="Daily clean-up of the dbt project and the Mode workspace: ingest, join, act, report.",
    tags={"metapipeline/job": "metapipeline"},
    config=IN_PROCESS_BY_DEFAULT,
)
def metapipeline() -> None:
    manifest = dbt()
    workspace: Any = mode(manifest)  # the graphs' named outputs
    resolved = lineage(workspace.snapshot, manifest)
    joined: Any = platform(manifest, workspace.snapshot, resolved, workspace.verdicts, workspace.lifecycle)
    prs: Any = github(manifest, workspace.snapshot, resolved, workspace.lifecycle, joined.unused)
    charts = report(joined.priorities, workspace.lifecycle, joined.unused, prs.removal, prs.exposures)
    summarize(
        workspace.snapshot,
        manifest,
        resolved,
        workspace.lifecycle,
        joined.unused,
        prs.removal,
        prs.exposures,
        charts,
    )


# Daily, on by default once deployed (switch it off in the UI); time and zone from the environment.
metapipeline_schedule = ScheduleDefinition(
    name="metapipeline_daily",
    job=metapipeline,
    cron_schedule=os.environ.get("METAPIPELINE_SCHEDULE_CRON", "0 6 * * *"),
    execution_timezone=os.environ.get("METAPIPELINE_SCHEDULE_TIMEZONE", "UTC"),
    default_status=DefaultScheduleStatus.RUNNING,
    description="The daily metapipeline run (METAPIPELINE_SCHEDULE_CRON, METAPIPELINE_SCHEDULE_TIMEZONE)",
)

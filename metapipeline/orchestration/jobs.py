"""The metapipeline job: the flow of the design, one nested graph per stage."""

import os
import shutil
from collections import Counter
from typing import Any

from dagster import (
    DefaultScheduleStatus,
    Failure,
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
from metapipeline.dbt.projects import DbtProject
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
from metapipeline.orchestration.resources import DbtProjectsResource
from metapipeline.orchestration.warehouse_graph import warehouse
from metapipeline.platform.unused import UnusedModels
from metapipeline.run_files import manifest_file
from metapipeline.summary import platform_summary


@op(tags=kind("dbt"), retry_policy=SERVICE_RETRY)
def dbt_projects(context: OpExecutionContext, dbt: DbtProjectsResource) -> Output[list[DbtProject]]:
    """Load every configured dbt project's manifest (parsing projects without a ready one), and keep
    a copy of each among the run's files for `metapipeline plan/explain/refs` and later questions."""
    projects: list[DbtProject] = []
    rows = []
    totals: Counter[str] = Counter()
    for source in dbt.sources():
        path = dbt.manifest_file(source)
        manifest = read_manifest(path)  # says what is wrong with a missing or broken manifest
        project = DbtProject.of(
            manifest, repository=source.repository, subdirectory=source.subdirectory, adapter=source.adapter
        )
        if any(known.name == project.name for known in projects):
            raise Failure(f"dbt project {project.name} is configured twice (again at {source.describe()})")
        kept = manifest_file(project.name, compressed=path.suffix == ".gz")
        shutil.copyfile(path, run_file(context, kept))
        counts = count_resources(manifest)
        totals.update(counts)
        context.log.info(f"dbt project {project.name} ({source.describe()}): {counts}")
        where = f"{project.repository or 'the GitHub resource'}: {project.subdirectory or '/'}"
        rows.append((project.name, where, *(counts.get(k, 0) for k in _COUNTED)))
        projects.append(project)
    metadata: dict[str, Any] = {"projects": MetadataValue.int(len(projects))}
    metadata |= {f"{kind}s": MetadataValue.int(totals[kind]) for kind in _COUNTED}
    metadata["by project"] = MetadataValue.md(
        markdown_table(["project", "repository: folder", *(f"{k}s" for k in _COUNTED)], rows)
    )
    return Output(projects, metadata=metadata)


_COUNTED = ("model", "source", "exposure", "semantic_model", "metric")


@graph(description="Load the dbt projects' manifests.")
def dbt() -> list[DbtProject]:
    return dbt_projects()


@op
def summarize(
    context: OpExecutionContext,
    snapshot: WorkspaceSnapshot,
    projects: list[DbtProject],
    lineage: WorkspaceLineage,
    lifecycle: LifecycleOutcome,
    unused: UnusedModels,
    removal: list[PullRequestOutcome],
    exposures: list[PullRequestOutcome],
    charts: list,
) -> Output[dict]:
    """What this run saw and did, for people: shown in the UI and printed by `make demo`."""
    summary = platform_summary(snapshot, projects, lifecycle)
    summary |= {f"queries {status}": n for status, n in lineage.status_counts().items()}
    summary["unused models proposed"] = len(unused.candidates)
    if unused.package_models:
        summary["unused package models (not proposed)"] = len(unused.package_models)
    for pr in (*removal, *exposures):
        summary[pr.label()] = f"{pr.action} {pr.url or pr.reason}".strip()
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
    projects = dbt()
    workspace: Any = mode(projects)  # the graphs' named outputs
    resolved = lineage(workspace.snapshot, projects)
    usage = warehouse(projects)
    joined: Any = platform(
        projects, workspace.snapshot, resolved, workspace.verdicts, workspace.lifecycle, usage
    )
    prs: Any = github(projects, workspace.snapshot, resolved, workspace.lifecycle, joined.unused)
    charts = report(joined.priorities, workspace.lifecycle, joined.unused, prs.removal, prs.exposures)
    summarize(
        workspace.snapshot,
        projects,
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

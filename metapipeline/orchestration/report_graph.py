"""The `report` graph: the Dagstermill meta-analysis notebook draws the charts and posts them to Slack."""

from collections import Counter
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import Field, In, MetadataValue, OpExecutionContext, Out, Output, graph, op
from dagstermill import define_dagstermill_op

from metapipeline.actions.dbt_changes.pr_text import models_removed
from metapipeline.actions.mode_lifecycle import LifecycleOutcome
from metapipeline.actions.pull_requests import GitHubPublishError, merged_pulls
from metapipeline.orchestration.artifacts import executed_notebook, run_artifacts
from metapipeline.orchestration.github_graph import PullRequestOutcome, configured_credit_rate
from metapipeline.orchestration.policies import SERVICE_RETRY, kind
from metapipeline.orchestration.resources import ClockResource, GitHubResource, LedgerResource
from metapipeline.platform.unused import UnusedModels

HISTORY_WINDOW = timedelta(days=60)
SCRAPBOOK = "application/scrapbook"

# A link to notebooks/meta_analysis.ipynb: inside the package, so `pip install .` ships the notebook.
NOTEBOOK = Path(__file__).resolve().parent / "meta_analysis.ipynb"

meta_analysis = define_dagstermill_op(
    name="meta_analysis",
    notebook_path=str(NOTEBOOK),
    ins={
        "priorities": In(pd.DataFrame),
        "models_per_day": In(dict),
        "outcome": In(dict),
        "charts_dir": In(str),
    },
    outs={"charts": Out(list)},
    config_schema={
        "post_to_slack": Field(bool, default_value=True, description="Post the charts and summary to Slack")
    },
    required_resource_keys={"slack", "ledger"},
    output_notebook_name="executed_notebook",
    save_notebook_on_failure=True,
    tags=kind("jupyter") | kind("slack"),
    description="The report: models run per day, top models by importance, where optimisation pays, each "
    "chart with its table; posted to Slack.",
)


def notebook_settings(context: Any) -> dict[str, Any]:
    """The meta_analysis op's config, seen from the notebook.

    dagstermill looks config up by op name at the top level only, so inside the `report` graph it
    finds None; read it where the graph nests it, falling back to the defaults."""
    nested = context.run_config.get("ops", {}).get("report", {}).get("ops", {}).get("meta_analysis", {})
    return {"post_to_slack": True} | (context.op_config or nested.get("config") or {})


@op(tags=kind("jupyter"), out=Out(str))
def charts_dir(context: OpExecutionContext) -> str:
    """Where this run's charts go: beside its other artifacts in DAGSTER_HOME."""
    return str(run_artifacts(context, "charts"))


@op(tags=kind("dbt"))
def models_per_day(context: OpExecutionContext, ledger: LedgerResource, clock: ClockResource) -> dict:
    """Distinct models run per day over the history window, from the ledger's dbt run history."""
    end = clock.now().date()
    with closing(ledger.open()) as store:
        counts = store.models_run_per_day(end - HISTORY_WINDOW, end)
    context.log.info(f"{len(counts)} days of dbt run history")
    return {day.isoformat(): n for day, n in sorted(counts.items())}


@op(tags=kind("github"))
def removals_merged(
    context: OpExecutionContext,
    github: GitHubResource,
    clock: ClockResource,
    removal: list[PullRequestOutcome],
) -> dict:
    """Models removed per day (ISO date: count) by the removal pull requests merged in the history
    window, to mark on the models-per-day chart. Only reads: when GitHub fails, the chart goes
    without marks rather than the report without charts."""
    since = clock.now() - HISTORY_WINDOW
    per_day: Counter[str] = Counter()
    for repository, branch in sorted({(pr.repository, pr.branch) for pr in removal if pr.branch}):
        try:
            merged = merged_pulls(github.repo(repository), branch, since)
        except GitHubPublishError as error:
            context.log.warning(f"merged removals not marked on the chart: {error}")
            continue
        for merged_at, title in merged:
            if (count := models_removed(title)) is not None:
                per_day[merged_at.date().isoformat()] += count
    return dict(sorted(per_day.items()))


@op
def report_outcome(
    context: OpExecutionContext,
    lifecycle: LifecycleOutcome,
    unused: UnusedModels,
    removal: list[PullRequestOutcome],
    exposures: list[PullRequestOutcome],
    removals_merged: dict,
) -> dict:
    """What the Slack summary says was done: archives, proposed removals (names, and unique ids
    for the charts), pull request links (keyed "removal" or "exposures", then the project when
    the platform has several), the credit rate the removal pull request prices run time at, and
    the removals merged by day."""
    # A pull request closed today (nothing left to propose) is no longer one to review.
    outcomes = [pr for pr in (*removal, *exposures) if pr.url and pr.action != "closed"]
    several = len({pr.project for pr in outcomes}) > 1
    return {
        "archived": sorted(a.report_name for a in lifecycle.done if a.action == "archive"),
        "removal_candidates": sorted(m.name for m in unused.candidates),
        "removal_candidate_ids": sorted(m.unique_id for m in unused.candidates),
        "credits_per_hour": configured_credit_rate(context.run_config),
        "removals_merged": removals_merged,
        "pull_requests": {f"{pr.kind} {pr.project}" if several else pr.kind: pr.url for pr in outcomes},
    }


@op(tags=kind("jupyter"))
def publish_charts(context: OpExecutionContext, charts: list, notebook: bytes) -> Output[list]:
    """Show the charts' paths in the UI, and write the executed notebook (the report, which the
    notebook op links) as HTML beside it: readable with no Jupyter, images included."""
    import nbconvert  # here: it takes a second to import, and only this op needs it
    import nbformat

    saved = executed_notebook(context.instance, context.run_id)
    html = (
        saved.with_suffix(".html") if saved else run_artifacts(context, "report") / "executed_notebook.html"
    )
    executed = nbformat.reads(notebook.decode(), as_version=4)
    for cell in executed.cells:  # dagstermill's scrapbook outputs carry results to Dagster, not to people
        cell["outputs"] = [
            o for o in cell.get("outputs", []) if not any(k.startswith(SCRAPBOOK) for k in o.get("data", {}))
        ]
    body, _ = nbconvert.HTMLExporter().from_notebook_node(executed)
    html.write_text(body, encoding="utf-8")
    metadata: dict[str, Any] = {Path(p).stem: MetadataValue.path(p) for p in charts}
    metadata["executed notebook (HTML)"] = MetadataValue.path(str(html))
    return Output(charts, metadata=metadata)


@graph(description="Run the meta-analysis notebook and post its charts to Slack.")
def report(
    priorities: pd.DataFrame,
    lifecycle: LifecycleOutcome,
    unused: UnusedModels,
    removal: list[PullRequestOutcome],
    exposures: list[PullRequestOutcome],
) -> list:
    outcome = report_outcome(lifecycle, unused, removal, exposures, removals_merged(removal))
    # Retrying is safe: the Slack post is keyed by run in the ledger, so a retry never posts twice.
    charts, notebook = meta_analysis.with_retry_policy(SERVICE_RETRY)(
        priorities=priorities, models_per_day=models_per_day(), outcome=outcome, charts_dir=charts_dir()
    )
    return publish_charts(charts, notebook)

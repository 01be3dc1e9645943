"""The `report` graph: the Dagstermill meta-analysis notebook draws the charts and posts them to Slack."""

from pathlib import Path
from typing import Any

import pandas as pd
from dagster import Field, In, MetadataValue, OpExecutionContext, Out, Output, graph, op
from dagstermill import define_dagstermill_op

from metapipeline.orchestration.policies import kind

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "meta_analysis.ipynb"

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
    config_schema={"post_to_slack": Field(bool, default_value=True, description="Post the charts to Slack")},
    required_resource_keys={"slack", "ledger"},
    output_notebook_name="executed_notebook",
    save_notebook_on_failure=True,
    tags=kind("jupyter"),
    description="Charts: models run per day, top models by importance, the optimisation quadrant; posted to Slack.",
)


@op(tags=kind("jupyter"), out=Out(str))
def charts_dir(context: OpExecutionContext) -> str:
    """Where this run's charts go: beside its other artifacts in DAGSTER_HOME."""
    return str(Path(context.instance.storage_directory()) / context.run_id / "charts")


@op(tags=kind("jupyter"))
def publish_charts(context: OpExecutionContext, charts: list) -> Output[list]:
    """Show the charts' paths in the UI (the notebook op links the executed notebook)."""
    metadata: dict[str, Any] = {Path(p).stem: MetadataValue.path(p) for p in charts}
    return Output(charts, metadata=metadata)


@graph(description="Run the meta-analysis notebook and post its charts to Slack.")
def report(priorities: pd.DataFrame, models_per_day: dict, outcome: dict) -> list:
    charts, _notebook = meta_analysis(priorities, models_per_day, outcome, charts_dir())
    return publish_charts(charts)

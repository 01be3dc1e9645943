"""The charts are real PNGs of the right shape, drawn from the data they are given; the importance
ranking leaves removal candidates out, and the optimisation list is one computation."""

from __future__ import annotations

from datetime import date, timedelta

import matplotlib.image
import pandas as pd

from metapipeline.actions.slack import daily_summary
from metapipeline.charts import (
    models_per_day_chart,
    optimisation_quadrant_chart,
    top_models,
    top_models_chart,
)
from metapipeline.platform.centrality import optimisation_priority, optimise_first


def _table() -> pd.DataFrame:
    rows = [
        {
            "node": f"model.shop.model_{i}",
            "kind": "model",
            "name": f"model_{i}",
            "importance": i / 20,
            "recent_run_seconds": (20 - i) * 3.0,
            "priority": i,
        }
        for i in range(20)
    ]
    rows.append(
        {
            "node": "mode.report.a1",
            "kind": "mode_report",
            "name": "a report",
            "importance": 1.0,
            "recent_run_seconds": 0.0,
            "priority": 0,
        }
    )
    return pd.DataFrame(rows).set_index("node")


def test_each_chart_is_a_png(tmp_path):
    per_day = {date(2026, 9, 1) + timedelta(days=d): 30 + d // 7 for d in range(60)}
    paths = [
        models_per_day_chart(per_day, tmp_path / "models_run_per_day.png", {date(2026, 10, 1): 3}),
        top_models_chart(_table(), tmp_path / "top_models.png", {"model.shop.model_19"}),
        optimisation_quadrant_chart(
            _table(), optimise_first(_table()), tmp_path / "optimisation_quadrant.png", credits_per_hour=2.0
        ),
    ]
    for path in paths:
        assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        height, width, _ = matplotlib.image.imread(path).shape
        assert width > 600 and height > 400


def test_a_model_proposed_for_removal_is_not_ranked_by_importance():
    shown, left_out = top_models(_table(), {"model.shop.model_19", "model.shop.model_3"})
    assert list(shown.index[:2]) == ["model.shop.model_18", "model.shop.model_17"]  # 19 would lead
    assert "model.shop.model_19" not in shown.index and list(left_out.index) == [
        "model.shop.model_3",
        "model.shop.model_19",
    ]
    assert set(shown["kind"]) == {"model"}  # the report scores 1.0 but is no dbt model


def test_the_optimise_first_list_is_what_slack_says_and_leaves_out_candidates_and_idle_models():
    importance = pd.DataFrame(
        {
            "kind": "model",
            "name": list("abcdefg"),
            "owner": None,
            "importance": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3],
        },
        index=[f"model.shop.{n}" for n in "abcdefg"],
    )
    seconds = {"model.shop.a": 100.0, "model.shop.b": 90.0, "model.shop.c": 80.0, "model.shop.d": 70.0}
    seconds |= {"model.shop.e": 60.0, "model.shop.f": 500.0}  # g never ran: nothing to save
    priorities = optimisation_priority(importance, seconds)
    chosen = optimise_first(priorities, leave_out={"model.shop.b"})
    assert list(chosen["name"]) == ["f", "a", "c", "d", "e"]  # b is proposed for removal
    listed = [
        line.split("`")[1]
        for line in daily_summary(chosen.to_dict("records"), [], [], {}).splitlines()
        if line.startswith("• ")
    ]
    assert listed == list(chosen["name"])
    assert list(optimise_first(priorities, count=10)["name"]) == ["f", "a", "b", "c", "d", "e"]  # never g

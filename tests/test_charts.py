"""The charts are real PNGs of the right shape, drawn from the data they are given."""

from __future__ import annotations

from datetime import date, timedelta

import matplotlib.image
import pandas as pd

from metapipeline.charts import models_per_day_chart, optimisation_quadrant_chart, top_models_chart


def _table() -> pd.DataFrame:
    rows = [
        {
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
            "kind": "mode_report",
            "name": "a report",
            "importance": 1.0,
            "recent_run_seconds": 0.0,
            "priority": 0,
        }
    )
    return pd.DataFrame(rows)


def test_each_chart_is_a_png(tmp_path):
    per_day = {date(2026, 9, 1) + timedelta(days=d): 30 + d // 7 for d in range(60)}
    paths = [
        models_per_day_chart(per_day, tmp_path / "models_run_per_day.png"),
        top_models_chart(_table(), tmp_path / "top_models.png"),
        optimisation_quadrant_chart(_table(), tmp_path / "optimisation_quadrant.png"),
    ]
    for path in paths:
        assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        height, width, _ = matplotlib.image.imread(path).shape
        assert width > 600 and height > 400

"""The three charts the daily meta-analysis posts: each a PNG whose title says what it shows."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: charts are files

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

TOP = 15


def models_per_day_chart(models_per_day: Mapping[date, int], path: Path) -> Path:
    """Distinct models run per day, with a least-squares trend line."""
    days = np.array(sorted(models_per_day), dtype="datetime64[D]")
    counts = [models_per_day[d] for d in sorted(models_per_day)]
    figure, axes = plt.subplots(figsize=(10, 4.5))
    axes.bar(days, counts, color="#5b8def", label="models run")
    if len(days) > 1:
        x = np.arange(len(days))
        slope, intercept = np.polyfit(x, counts, 1)
        axes.plot(
            days,
            slope * x + intercept,
            color="#d1495b",
            linewidth=2,
            label=f"trend ({slope * 7:+.1f} / week)",
        )
    axes.set_title("Distinct dbt models run per day")
    axes.set_ylabel("models")
    axes.legend(loc="lower right")
    figure.autofmt_xdate()
    return _save(figure, path)


def top_models_chart(table: pd.DataFrame, path: Path) -> Path:
    """The most important models by the composite importance score."""
    top = table[table["kind"] == "model"].nlargest(TOP, "importance").iloc[::-1]
    figure, axes = plt.subplots(figsize=(10, 6))
    axes.barh(top["name"], top["importance"], color="#2a9d8f")
    axes.set_title(f"Top {len(top)} dbt models by importance")
    axes.set_xlabel("importance (composite of centrality measures)")
    return _save(figure, path)


def optimisation_quadrant_chart(table: pd.DataFrame, path: Path) -> Path:
    """Importance against recent run time: the top right is where optimising pays most."""
    models = table[table["kind"] == "model"]
    figure, axes = plt.subplots(figsize=(8, 7))
    axes.scatter(models["recent_run_seconds"], models["importance"], color="#264653", alpha=0.7)
    for _, row in models.nlargest(5, "priority").iterrows():
        axes.annotate(row["name"], (row["recent_run_seconds"], row["importance"]), fontsize=8)
    axes.axvline(models["recent_run_seconds"].median(), color="grey", linestyle="--", linewidth=1)
    axes.axhline(models["importance"].median(), color="grey", linestyle="--", linewidth=1)
    axes.set_title("Optimisation quadrant: importance vs recent run time")
    axes.set_xlabel("run time, last 7 days (s)")
    axes.set_ylabel("importance")
    return _save(figure, path)


def _save(figure: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path

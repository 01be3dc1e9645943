"""The three charts the daily meta-analysis shows and posts, each answering one question:
is the project shrinking, which models matter, where optimisation pays. Each is a PNG."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: charts are files

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, MaxNLocator

from metapipeline.cost import RECENT_RUN_DAYS, monthly_credits
from metapipeline.platform.centrality import importance_explained

TOP = 15
BLUE, RED, GREY, GREEN = "#3a6ea5", "#d1495b", "#9a9a9a", "#2a9d8f"


def models_per_day_chart(
    models_per_day: Mapping[date, int], path: Path, removals_merged: Mapping[date, int] | None = None
) -> Path:
    """Distinct models run per day with a least-squares trend; each merged removal (date: models
    removed) is a line on the time axis, so a drop can be read against what caused it."""
    ordered = sorted(models_per_day)
    days = np.array(ordered, dtype="datetime64[D]")
    counts = np.array([models_per_day[d] for d in ordered], dtype=float)
    figure, axes = plt.subplots(figsize=(11, 4.8))
    axes.plot(days, counts, color=BLUE, marker="o", markersize=3, linewidth=1, label="models run that day")
    subtitle = "no run history"
    if len(days) > 1:
        x = np.arange(len(days))
        slope, intercept = np.polyfit(x, counts, 1)
        fitted = slope * x + intercept
        axes.plot(days, fitted, color=RED, linewidth=2.5, label=f"trend: {slope * 7:+.1f} models a week")
        direction = "shrinking" if slope < 0 else "growing" if slope > 0 else "steady"
        subtitle = f"{direction}: trend {fitted[0]:.0f} \u2192 {fitted[-1]:.0f} models over {len(days)} days"
    elif len(days) == 1:
        subtitle = f"one day of history: {counts[0]:.0f} models"
    for when, removed in sorted((removals_merged or {}).items()):
        axes.axvline(mdates.date2num(when), color=GREEN, linestyle="--", linewidth=1.5)
        axes.annotate(
            f"\u2212{removed}",
            (np.datetime64(when, "D"), 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -12),
            textcoords="offset points",
            color=GREEN,
            fontsize=9,
        )
    if removals_merged:
        axes.plot([], [], color=GREEN, linestyle="--", label="removal merged (\u2212models)")
    if len(counts):
        # Not from 0: the change is a few models out of dozens and would be a flat line.
        spread = max(counts.max() - counts.min(), 4.0)
        axes.set_ylim(counts.min() - 0.25 * spread, counts.max() + 0.35 * spread)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(axis="y", alpha=0.3)
    axes.set_title(f"Is the project shrinking? Distinct dbt models run per day\n{subtitle}")
    axes.set_ylabel("models (axis does not start at 0)")
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    figure.autofmt_xdate()
    return _save(figure, path)


def top_models(table: pd.DataFrame, leave_out: Collection[str] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The TOP models by importance, most important first, none of `leave_out` (unique ids of
    models proposed for removal: one about to go is no answer to which models matter); and the
    models left out."""
    models = table[table["kind"] == "model"]
    left_out = models[models.index.isin(list(leave_out))]
    return models.drop(left_out.index).nlargest(TOP, "importance"), left_out


def top_models_chart(table: pd.DataFrame, path: Path, leave_out: Collection[str] = ()) -> Path:
    """`top_models` as a dot plot, the composite explained and the models left out named below it."""
    top, left_out = top_models(table, leave_out)
    top = top.iloc[::-1]  # barh draws bottom up: the most important on top
    figure, axes = plt.subplots(figsize=(10, 7))
    positions = np.arange(len(top))
    # A dot plot on a zoomed axis: the top models all score high, and bars from 0 would look equal.
    low = math.floor((top["importance"].min() - 0.03) * 20) / 20 if len(top) else 0.0
    axes.hlines(positions, low, top["importance"], color=GREEN, linewidth=2)
    axes.plot(top["importance"], positions, "o", color=GREEN, markersize=7)
    for position, value in zip(positions, top["importance"], strict=True):
        axes.annotate(
            f"{value:.3f}", (value, position), xytext=(6, 0), textcoords="offset points", va="center"
        )
    axes.set_yticks(positions, top["name"])
    axes.set_xlim(low, 1.02)
    axes.grid(axis="x", alpha=0.3)
    axes.set_title(f"Which models matter? Top {len(top)} dbt models by importance")
    axes.set_xlabel(f"importance (axis starts at {low:.2f})")
    notes = [importance_explained()]
    if len(left_out):
        names = ", ".join(sorted(left_out["name"].astype(str)))
        notes.append(f"Left out, proposed for removal ({len(left_out)}): {names}")
    figure.text(0.01, 0.01, "\n".join(notes), fontsize=8, wrap=True, va="bottom")
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    return _save(figure, path, layout=False)


def optimisation_quadrant_chart(
    table: pd.DataFrame,
    chosen: pd.DataFrame,
    path: Path,
    leave_out: Collection[str] = (),
    credits_per_hour: float | None = None,
) -> Path:
    """Importance against recent run time (or its cost a month, given a credit rate). `chosen` is
    `optimise_first`'s table: those models are marked and numbered, and the line is where their
    lowest priority (importance x run time) lies, so everything above it is on the list."""
    models = table[table["kind"] == "model"]
    scale, unit = _cost_scale(credits_per_hour)
    # A log axis: run times span orders of magnitude. A model that did not run has nothing to save.
    idle = models[models["recent_run_seconds"] <= 0]
    models = models[models["recent_run_seconds"] > 0]
    x = models["recent_run_seconds"] * scale
    candidates = models.index.isin(list(leave_out))
    picked = models.index.isin(list(chosen.index))
    rest = ~candidates & ~picked
    figure, axes = plt.subplots(figsize=(10, 7.5))
    axes.set_xscale("log")
    axes.scatter(x[rest], models["importance"][rest], color=BLUE, alpha=0.6, label="other models")
    axes.scatter(
        x[candidates], models["importance"][candidates], color=GREY, marker="x", s=50,
        label="proposed for removal (never listed)",
    )  # fmt: skip
    axes.scatter(
        x[picked], models["importance"][picked], color=RED, s=70, label="optimise first (the Slack list)"
    )
    for rank, (_, row) in enumerate(chosen.iterrows(), start=1):
        axes.annotate(
            f"{rank}. {row['name']}",
            (row["recent_run_seconds"] * scale, row["importance"]),
            xytext=(7, -3 if rank % 2 else 7),
            textcoords="offset points",
            fontsize=9,
            color=RED,
            fontweight="bold",
        )
    left = float(x.min()) / 2 if len(x) else 0.1 * scale
    right = float(x.max()) * 3 if len(x) else 10.0 * scale
    if len(chosen):
        threshold = float(chosen["priority"].min()) * scale  # importance x cost at the last listed model
        curve_x = np.geomspace(max(threshold, left), right, 200)
        what = "cost" if credits_per_hour is not None else "run time"
        axes.plot(
            curve_x, threshold / curve_x, color=RED, linestyle="--", linewidth=1,
            label=f"importance \u00d7 {what} = {threshold:.3g}: on or above it, optimise first",
        )  # fmt: skip
    axes.set_xlim(left, right)
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))  # 0.001, not 10^-3
    axes.set_ylim(0, 1.05)
    axes.grid(alpha=0.3, which="both")
    what = "estimated cost a month" if credits_per_hour is not None else "recent run time"
    axes.set_title(f"Where does optimisation pay? Importance against {what}")
    axes.set_xlabel(unit + " (log scale)")
    axes.set_ylabel("importance (composite of centrality ranks, 0 to 1)")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, frameon=False)
    if len(idle):
        figure.text(
            0.01,
            0.0,
            f"Not shown: {len(idle)} models with no run in the last {RECENT_RUN_DAYS} days (nothing to save).",
            fontsize=8,
        )
    return _save(figure, path)


def _cost_scale(credits_per_hour: float | None) -> tuple[float, str]:
    """What one second of recent run time is on the x axis, and the axis label."""
    if credits_per_hour is None:
        return 1.0, f"run time in the last {RECENT_RUN_DAYS} days (s)"
    scale = monthly_credits(1.0, RECENT_RUN_DAYS, credits_per_hour)
    return scale, f"estimated credits a month (at {credits_per_hour:g} credits an hour of run time)"


def _save(figure: plt.Figure, path: Path, *, layout: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if layout:
        figure.tight_layout()
    # "tight" keeps the legends placed beside the axes (outside the data) inside the image.
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path

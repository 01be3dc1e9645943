"""Warehouse cost from dbt run time: the one place seconds become credits.

The rate is the removal pull request's `credits_per_hour` setting (its op config, else the
METAPIPELINE_CREDITS_PER_HOUR environment variable); without one, everything reports time only.
"""

from __future__ import annotations

import math
import os

CREDITS_PER_HOUR_ENV = "METAPIPELINE_CREDITS_PER_HOUR"
MONTH_DAYS = 30
RECENT_RUN_DAYS = 7  # the window of the optimisation priority's `recent_run_seconds`


def credit_rate(configured: float | None = None) -> float | None:
    """The configured rate, else the environment's; None when neither is a finite number."""
    if configured is not None:
        return configured if math.isfinite(configured) else None
    try:
        rate = float(os.environ[CREDITS_PER_HOUR_ENV])
    except (KeyError, ValueError):  # unset or not a number: time only
        return None
    return rate if math.isfinite(rate) else None


def credits(seconds: float, credits_per_hour: float) -> float:
    """What `seconds` of model run time cost."""
    return seconds / 3600 * credits_per_hour


def per_month(seconds: float, window_days: float) -> float:
    """Run time over a `window_days`-day window, at the same pace over a 30-day month."""
    return seconds * MONTH_DAYS / window_days


def monthly_credits(seconds: float, window_days: float, credits_per_hour: float) -> float:
    """What run time seen over a `window_days`-day window costs a month at that pace."""
    return credits(per_month(seconds, window_days), credits_per_hour)


def credits_text(amount: float) -> str:
    """Credits to two decimals, or two significant digits below 1: a cheap model still shows a figure."""
    return f"{amount:,.2f}" if amount >= 1 or amount == 0 else f"{amount:.2g}"

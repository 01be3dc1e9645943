"""Sixty days of FreshCart dbt invocations, as run_results.json files, derived from one real build.

`run_results_build.json` is the run_results.json of a real `dbt build` of the sample project. Every
invocation in the history reuses its results, filtered to the nodes the invocation selected, with
new timestamps and a new invocation id. The schedule is deterministic (a pure function of `today`):

- a nightly `dbt build` every day; on weekends it skips the marketing marts (a weekend dip);
- models added during the window (fewer models in the early weeks);
- in the last 30 days, weekday `dbt run`s of the hourly orders mart every three hours;
- in the last 18 days, a weekday afternoon `dbt build --selector finance_intraday`;
- one nightly build that failed on int_payments_reconciled, skipping its children.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any

TEMPLATE_FILE = Path(__file__).parent / "run_results_build.json"
DAYS = 60

# Day index (0 = first day of the window) on which a model first ran: the project grew.
ADDED_ON_DAY = {
    "fct_basket_affinity": 14,
    "dim_dates": 21,
    "dim_customer_segments": 28,
    "fct_customer_ltv": 35,
}
MARKETING_MODELS = ("dim_campaigns", "fct_campaign_performance", "fct_customer_acquisition", "fct_app_funnel")
HOURLY_MODELS = (
    "stg_shop__orders",
    "stg_shop__order_items",
    "stg_shop__products",
    "stg_payments__charges",
    "int_orders_enriched",
    "fct_orders",
    "fct_orders_hourly",
)
FINANCE_INTRADAY_MODELS = (
    "fct_orders",
    "fct_orders_hourly",
    "fct_revenue_daily",
    "fct_campaign_performance",
    "fct_store_ops_daily",
)
FAILED_MODEL = "int_payments_reconciled"
SKIPPED_AFTER_FAILURE = ("fct_payments", "fct_revenue_daily", "fct_customer_ltv")
_RUN_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{4}_[0-9a-f-]{36}$")


@dataclass(frozen=True)
class Invocation:
    started_at: datetime
    command: str  # "build" or "run"
    args: dict[str, Any]  # select / exclude / selector, as dbt records them
    statuses: dict[str, str]  # model name -> success | error | skipped
    full: bool  # a full build also runs seeds, the snapshot, source tests and exposures


@cache
def _template() -> dict[str, Any]:
    with TEMPLATE_FILE.open() as f:
        template: dict[str, Any] = json.load(f)
    return template


def _name(unique_id: str) -> str:
    return unique_id.split(".")[2]


@cache
def _all_models() -> tuple[str, ...]:
    return tuple(_name(r["unique_id"]) for r in _template()["results"] if r["unique_id"].startswith("model."))


def _failure_day(today: date) -> date:
    # The last Wednesday at least a week ago, so the failure is always inside the window on a weekday.
    day = today - timedelta(days=7)
    return day - timedelta(days=(day.weekday() - 2) % 7)


def schedule(today: date) -> list[Invocation]:
    """Every invocation of the window ending on `today`, oldest first."""
    invocations = []
    for index in range(DAYS):
        day = today - timedelta(days=DAYS - 1 - index)
        weekend = day.weekday() >= 5
        models = [m for m in _all_models() if ADDED_ON_DAY.get(m, 0) <= index]
        if weekend:
            models = [m for m in models if m not in MARKETING_MODELS]
        statuses = dict.fromkeys(models, "success")
        if day == _failure_day(today):
            statuses[FAILED_MODEL] = "error"
            statuses.update(dict.fromkeys((m for m in SKIPPED_AFTER_FAILURE if m in statuses), "skipped"))
        nightly = datetime.combine(day, time(3, (index * 7) % 20), UTC)
        exclude = ["path:models/marts/marketing"] if weekend else []
        invocations.append(Invocation(nightly, "build", {"exclude": exclude}, statuses, full=True))
        if weekend:
            continue
        if index >= DAYS - 30:
            for hour in (9, 12, 15, 18):
                invocations.append(
                    Invocation(
                        datetime.combine(day, time(hour, 5), UTC),
                        "run",
                        {"select": ["+fct_orders_hourly"]},
                        dict.fromkeys(HOURLY_MODELS, "success"),
                        full=False,
                    )
                )
        if index >= DAYS - 18:
            intraday = [m for m in FINANCE_INTRADAY_MODELS if ADDED_ON_DAY.get(m, 0) <= index]
            invocations.append(
                Invocation(
                    datetime.combine(day, time(15, 30), UTC),
                    "build",
                    {"selector": "finance_intraday"},
                    dict.fromkeys(intraday, "success"),
                    full=False,
                )
            )
    return sorted(invocations, key=lambda inv: inv.started_at)


def models_run_per_day(today: date) -> dict[date, int]:
    """Distinct models that ran successfully each day, from the schedule (not from the files)."""
    per_day: dict[date, set[str]] = {}
    for inv in schedule(today):
        ok = {m for m, status in inv.statuses.items() if status == "success"}
        per_day.setdefault(inv.started_at.date(), set()).update(ok)
    return {day: len(models) for day, models in per_day.items()}


def _owner(unique_id: str, models: tuple[str, ...]) -> str | None:
    # A generic test's name starts with the model it tests; the earliest, longest match wins
    # (relationships tests also name the model they point to; fct_orders is a prefix of fct_orders_hourly).
    name = _name(unique_id)
    found = [(name.find(m), -len(m), m) for m in models if name.find(m) >= 0]
    return min(found)[2] if found else None


def _select_results(inv: Invocation) -> list[dict[str, Any]]:
    models = _all_models()
    selected = []
    for result in _template()["results"]:
        kind = result["unique_id"].split(".")[0]
        if kind == "model":
            status = inv.statuses.get(_name(result["unique_id"]))
        elif kind == "test" and inv.command == "build":
            owner = _owner(result["unique_id"], models)
            if owner is None:  # source and singular tests run only in full builds
                status = result["status"] if inv.full else None
            elif owner in inv.statuses:
                status = "pass" if inv.statuses[owner] == "success" else "skipped"
            else:
                status = None
        elif kind == "operation":  # the on-run-start hook runs on every invocation
            status = result["status"]
        else:  # seeds, the snapshot and exposures
            status = result["status"] if inv.full else None
        if status is not None:
            selected.append(_with_status(result, status))
    return selected


def _with_status(result: dict[str, Any], status: str) -> dict[str, Any]:
    result = copy.deepcopy(result)
    if status == result["status"] or status == "pass":
        result["status"] = status
    elif status == "skipped":
        result.update(status="skipped", timing=[], execution_time=0.0, message=None, adapter_response={})
        result.update(failures=None, compiled=False, compiled_code=None)
    elif status == "error":
        result.update(status="error", adapter_response={}, failures=None)
        result["message"] = (
            f"Runtime Error in model {FAILED_MODEL} (models/intermediate/{FAILED_MODEL}.sql)\n"
            "  Conversion Error: Could not convert string 'n/a' to INT64"
        )
    return result


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_ts(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _invocation_id(inv: Invocation) -> str:
    digest = hashlib.sha256(f"{inv.started_at.isoformat()}|{inv.command}|{inv.args}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def render(inv: Invocation, today: date) -> dict[str, Any]:
    """One run_results.json: the selected results laid end to end from the invocation's start."""
    template = _template()
    # Tables grow, so runs get slower over the window (0.8x at the start, 1.2x today).
    age = (today - inv.started_at.date()).days
    scale = 0.8 + 0.4 * (DAYS - 1 - age) / (DAYS - 1)
    cursor = inv.started_at + timedelta(seconds=1.5)  # parsing, before the first node starts
    results = []
    for result in _select_results(inv):
        if result["timing"]:
            origin = _parse_ts(result["timing"][0]["started_at"])
            for step in result["timing"]:
                for key in ("started_at", "completed_at"):
                    step[key] = _ts(cursor + (_parse_ts(step[key]) - origin) * scale)
            cursor = _parse_ts(result["timing"][-1]["completed_at"])
        result["execution_time"] = round(result["execution_time"] * scale, 6)
        results.append(result)
    finished = cursor + timedelta(seconds=0.4)
    args = {**template["args"], "which": inv.command, "select": [], "exclude": [], **inv.args}
    flags = " ".join(
        f"--{key} {' '.join(value) if isinstance(value, list) else value}"
        for key, value in inv.args.items()
        if value
    )
    args["invocation_command"] = f"dbt {inv.command} {flags}".strip()
    metadata = {
        **template["metadata"],
        "generated_at": _ts(finished),
        "invocation_id": _invocation_id(inv),
        "invocation_started_at": _ts(inv.started_at),
    }
    elapsed = (finished - inv.started_at).total_seconds()
    return {"metadata": metadata, "results": results, "elapsed_time": elapsed, "args": args}


def write_run_history(dest_dir: Path, today: date) -> list[Path]:
    """Write the history as dest_dir/<YYYY-MM-DD>T<HHMM>_<invocation_id>/run_results.json."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    # Clear what an earlier call wrote (maybe for another `today`), and nothing else.
    for stale in dest_dir.iterdir():
        if stale.is_dir() and _RUN_DIR.match(stale.name):
            shutil.rmtree(stale)
    paths = []
    for inv in schedule(today):
        document = render(inv, today)
        run_dir = dest_dir / f"{inv.started_at:%Y-%m-%dT%H%M}_{document['metadata']['invocation_id']}"
        run_dir.mkdir()
        path = run_dir / "run_results.json"
        path.write_text(json.dumps(document))
        paths.append(path)
    return paths

"""The FreshCart sample platform: two dbt projects on DuckDB, a Mode workspace and dbt run history.

The analytics project (`dbt_project/`, repository freshcart/analytics) and the finance team's
(`finance_project/`, repository freshcart/finance), which reads the analytics marts as sources.

The Mode workspace is written with dates relative to "now" so the sample never goes out of date;
`materialize_workspace` turns it into the workspace document the Mode emulator serves.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import yaml

SAMPLE_DIR = Path(__file__).parent
DBT_PROJECT_DIR = SAMPLE_DIR / "dbt_project"
FINANCE_PROJECT_DIR = SAMPLE_DIR / "finance_project"
WORKSPACE_FILE = SAMPLE_DIR / "mode_workspace.yaml"
EXPECTED_OUTCOMES_FILE = SAMPLE_DIR / "expected_outcomes.yaml"

_REPORT_ID_BASE = 2_934_000
_QUERY_ID_BASE = 10_149_000
_SPACE_ID_BASE = 1_905_000
_DEFINITION_ID_BASE = 40_060


def mode_timestamp(moment: datetime) -> str:
    """Mode's timestamp format: ISO-8601 UTC with milliseconds and a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _minutes_earlier(token: str, field: str) -> int:
    # A stable time of day per object and field, so timestamps look organic but never move.
    digest = hashlib.sha256(f"{token}:{field}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % (6 * 60)


class _Clock:
    def __init__(self, now: datetime):
        self.now = now

    def ago(self, days: int | None, token: str, field: str) -> str | None:
        if days is None:
            return None
        moment = self.now - timedelta(days=days, minutes=_minutes_earlier(token, field))
        return mode_timestamp(moment)


@cache
def _workspace_source() -> dict[str, Any]:
    with WORKSPACE_FILE.open() as f:
        return yaml.safe_load(f)


def report_times(created: str | None, edited: str | None, last_run: str | None) -> dict[str, str | None]:
    """A report's timestamps under the names Mode's report objects carry (an edit is also a save here)."""
    return {
        "created_at": created,
        "updated_at": edited,
        "edited_at": edited,
        "last_saved_at": edited,
        "last_run_at": last_run,
        "last_successfully_run_at": last_run,
    }


def materialize_workspace(now: datetime | None = None) -> dict[str, Any]:
    """The sample Mode workspace as an emulator document, with timestamps relative to `now`."""
    clock = _Clock(now or datetime.now(UTC))
    src = _workspace_source()
    source_ids = {ds["key"]: ds["id"] for ds in src["data_sources"]}

    data_sources = [{k: v for k, v in ds.items() if k != "key"} for ds in src["data_sources"]]
    definitions = [
        {
            "id": _DEFINITION_ID_BASE + i,
            "token": d["token"],
            "name": d["name"],
            "description": d["description"],
            "source": d["source"],
            "data_source_id": source_ids[d["data_source"]],
            "creator": d["creator"],
            "created_at": clock.ago(d["created_days_ago"], d["token"], "created"),
            "updated_at": clock.ago(d["updated_days_ago"], d["token"], "updated"),
        }
        for i, d in enumerate(src["definitions"])
    ]
    spaces = [
        {
            "id": _SPACE_ID_BASE + i,
            "token": s["token"],
            "name": s["name"],
            "space_type": s["space_type"],
            "description": s.get("description"),
            "restricted": s.get("restricted", False),
            "default_access_level": s.get("default_access_level", "edit"),
            "creator": s["creator"],
            "members": list(s["members"]),
        }
        for i, s in enumerate(src["spaces"])
    ]
    query_index = 0

    def report_object(i: int, r: dict[str, Any], kind: str) -> dict[str, Any]:
        nonlocal query_index
        token = r["token"]
        created = clock.ago(r["created_days_ago"], token, "created")
        edited = clock.ago(r["edited_days_ago"], token, "edited")
        last_run = clock.ago(r["last_run_days_ago"], token, "last_run")
        queries = []
        for q in r["queries"]:
            queries.append(
                {
                    "id": _QUERY_ID_BASE + query_index,
                    "token": q["token"],
                    "name": q["name"],
                    "raw_query": q["sql"],
                    "data_source_id": source_ids[q["data_source"]],
                    "creator": r["creator"],
                    "created_at": created,
                    "updated_at": edited,
                    "charts": [
                        {
                            "token": hashlib.sha1(f"chart:{q['token']}:{n}".encode()).hexdigest()[:12],
                            "title": c["title"],
                            "chart_type": c["type"],
                            "created_at": created,
                            "updated_at": edited,
                        }
                        for n, c in enumerate(q.get("charts", []))
                    ],
                }
            )
            query_index += 1
        return {
            "id": _REPORT_ID_BASE + i,
            "token": token,
            "name": r["name"],
            "description": r.get("description"),
            "space_token": r["space"],
            "creator": r["creator"],
            "type": kind,
            **report_times(created, edited, last_run),
            "archived": r.get("archived", False),
            "runs_count": r["runs"],
            "view_count": r["views"],
            "schedules_count": r.get("schedules", 0),
            "imported_datasets": list(r.get("imports", [])),
            "queries": queries,
        }

    reports = [report_object(i, r, "Report") for i, r in enumerate(src["reports"])]
    datasets = [
        report_object(len(reports) + i, d, "DatasetReport") for i, d in enumerate(src.get("datasets", []))
    ]
    return {
        "workspace": dict(src["workspace"]),
        "users": [dict(u) for u in src["users"]],
        "data_sources": data_sources,
        "definitions": definitions,
        "spaces": spaces,
        "reports": reports,
        "datasets": datasets,
    }


@cache
def expected_outcomes() -> dict[str, Any]:
    """The hand-written expected outcomes every step's tests assert against."""
    with EXPECTED_OUTCOMES_FILE.open() as f:
        return yaml.safe_load(f)


def expected_unused_models(*, cascade: bool = True, warehouse: bool = False) -> list[str]:
    """The unused models of both sample projects (with or without this run's archives, with or
    without the warehouse's access history), sorted."""
    outcomes = expected_outcomes()
    key = "unused_models" if cascade else "unused_models_without_cascade"
    unused = {*outcomes[key], *outcomes["freshcart_finance"][key]}
    if warehouse:
        unused -= set(outcomes["warehouse"]["kept"])
    return sorted(unused)

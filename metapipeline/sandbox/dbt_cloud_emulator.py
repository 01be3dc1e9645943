"""A loopback dbt Cloud Administrative API (v2): the calls that read a job's runs and their artifacts.

It serves runs made from run_results.json documents (by default one run per invocation, after the
clone, profile and `dbt deps` steps every dbt Cloud run starts with; `job_run` puts several dbt
commands in one run) and answers like dbt Cloud: a JSON envelope `{"status": {...}, "data": ...,
"extra": {"pagination": {"count", "total_count"}}}`, `Authorization: Token <token>` (or `Bearer`)
required, `limit` at most 100, unknown query parameters and malformed filters refused with 400.
Artifacts are served as dbt wrote them, per step (`?step=N`, 1-based; the last step without it);
`include_related=run_steps` lists a run's steps; a step that ran no dbt command has none (404).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from metapipeline.dbt.run_history import parse_run_results
from metapipeline.sandbox.harness import Emulator, Request, Response, Route

DEFAULT_TOKEN = "dbtc_sandbox_token"
ACCOUNT_ID = 70403
PROJECT_ID = 211
ENVIRONMENT_ID = 318
JOB_IDS = {"build": 1001, "run": 1002}  # the nightly/intraday `dbt build` job and the hourly `dbt run`
STATUS_NAMES = {1: "Queued", 2: "Starting", 3: "Running", 10: "Success", 20: "Error", 30: "Cancelled"}
MAX_LIMIT = 100
_LIST_PARAMS = frozenset(
    {
        "account_id",
        "project_id",
        "environment_id",
        "job_definition_id",
        "status",
        "status__in",
        "created_at__range",
        "finished_at__range",
        "order_by",
        "limit",
        "offset",
        "include_related",
    }
)
_ORDER_FIELDS = frozenset({"id", "created_at", "started_at", "finished_at", "status"})


class BadRequest(Exception):
    pass


# What every dbt Cloud run does before the job's own commands.
PREAMBLE = ("Clone git repository", "Create profile from connection", "Invoke dbt with `dbt deps`")


@dataclass(frozen=True)
class Step:
    name: str
    run_results: dict[str, Any] | None = None  # what a dbt command step wrote
    failed: bool = False


@dataclass(frozen=True)
class Run:
    id: int
    job_definition_id: int
    created_at: datetime
    started_at: datetime
    finished_at: datetime
    steps: tuple[Step, ...]

    @property
    def status(self) -> int:
        return 20 if any(step.failed for step in self.steps) else 10

    def to_json(self, account_id: int, *, with_steps: bool = False) -> dict[str, Any]:
        run = {
            "id": self.id,
            "account_id": account_id,
            "project_id": PROJECT_ID,
            "environment_id": ENVIRONMENT_ID,
            "job_definition_id": self.job_definition_id,
            "status": self.status,
            "status_humanized": STATUS_NAMES[self.status],
            "in_progress": False,
            "is_complete": True,
            "is_success": self.status == 10,
            "is_error": self.status == 20,
            "created_at": _ts(self.created_at),
            "started_at": _ts(self.started_at),
            "finished_at": _ts(self.finished_at),
            "href": f"https://cloud.getdbt.com/deploy/{account_id}/projects/{PROJECT_ID}/runs/{self.id}/",
        }
        if with_steps:
            run["run_steps"] = [
                {
                    "id": self.id * 100 + index,
                    "run_id": self.id,
                    "account_id": account_id,
                    "index": index,
                    "name": step.name,
                    "status": 20 if step.failed else 10,
                    "status_humanized": "Error" if step.failed else "Success",
                }
                for index, step in enumerate(self.steps, 1)
            ]
        return run


def job_run(documents: list[dict[str, Any]]) -> Run:
    """A run whose dbt commands wrote these run_results.json documents, one step each, in order."""
    invocations = [parse_run_results(d, "a sandbox run_results.json") for d in documents]
    steps = tuple(
        Step(
            f"Invoke dbt with `{d.get('args', {}).get('invocation_command') or 'dbt ' + i.command}`",
            d,
            failed=any(r["status"] in {"error", "fail"} for r in d["results"]),
        )
        for i, d in zip(invocations, documents, strict=True)
    )
    finished = max(
        datetime.fromisoformat(d["metadata"]["generated_at"].replace("Z", "+00:00")) for d in documents
    )
    return Run(
        id=0,
        job_definition_id=JOB_IDS.get(invocations[0].command, JOB_IDS["build"]),
        created_at=invocations[0].started_at - timedelta(seconds=40),
        started_at=invocations[0].started_at - timedelta(seconds=25),  # the preamble first
        finished_at=finished + timedelta(seconds=5),
        steps=tuple(Step(name) for name in PREAMBLE) + steps,
    )


def runs_from_documents(
    documents: Iterable[dict[str, Any]], *, failed_before_dbt: int = 1, first_id: int = 1_000_001
) -> list[Run]:
    """One run per run_results.json, plus `failed_before_dbt` runs whose `dbt deps` failed (no
    run_results.json at all), numbered by creation time."""
    runs = [job_run([document]) for document in documents]
    for run in sorted(runs, key=lambda run: run.created_at)[:failed_before_dbt]:
        moment = run.started_at + timedelta(minutes=30)
        failed_deps = (Step(PREAMBLE[0]), Step(PREAMBLE[1]), Step(PREAMBLE[2], failed=True))
        runs.append(Run(0, JOB_IDS["build"], moment, moment, moment + timedelta(seconds=20), failed_deps))
    runs.sort(key=lambda run: run.created_at)
    return [replace(run, id=first_id + i) for i, run in enumerate(runs)]


class DbtCloudEmulator(Emulator):
    name = "dbt_cloud"

    def __init__(self, runs: list[Run], *, account_id: int = ACCOUNT_ID, token: str = DEFAULT_TOKEN):
        self.runs = {run.id: run for run in runs}
        self.account_id = account_id
        self.token = token

    @classmethod
    def from_history_dir(cls, history_dir: Path, **options: Any) -> DbtCloudEmulator:
        documents = [json.loads(p.read_text()) for p in sorted(history_dir.rglob("run_results.json"))]
        return cls(runs_from_documents(documents), **options)

    def env(self, base_url: str) -> dict[str, str]:
        return {
            "DBT_CLOUD_ACCESS_URL": base_url,
            "DBT_CLOUD_ACCOUNT_ID": str(self.account_id),
            "DBT_CLOUD_TOKEN": self.token,
        }

    def routes(self) -> Iterable[Route]:
        account = r"/api/v2/accounts/(?P<account_id>[^/]+)"
        return [
            Route.of("GET", account + r"/runs", self._list_runs),
            Route.of("GET", account + r"/runs/(?P<run_id>\d+)", self._get_run),
            Route.of(
                "GET", account + r"/runs/(?P<run_id>\d+)/artifacts/(?P<artifact>.+)", self._get_artifact
            ),
        ]

    def error(self, status: int, message: str) -> Response:
        return Response(
            status,
            {
                "status": {
                    "code": status,
                    "is_success": False,
                    "user_message": message,
                    "developer_message": "",
                },
                "data": None,
            },
        )

    def before_route(self, request: Request) -> Response | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme not in {"Token", "Bearer"} or not token:
            return self.error(401, "Authentication credentials were not provided.")
        if token != self.token:
            return self.error(401, "Invalid token.")
        return None

    def _check_account(self, request: Request) -> Response | None:
        if request.params["account_id"] != str(self.account_id):
            return self.error(404, f"Account {request.params['account_id']} not found.")
        return None

    def _list_runs(self, request: Request) -> Response:
        refused = self._check_account(request)
        if refused:
            return refused
        try:
            runs, limit, offset = self._select(request.query)
        except BadRequest as exc:
            return self.error(400, str(exc))
        page = runs[offset : offset + limit]
        with_steps = "run_steps" in request.query.get("include_related", "")
        return Response(
            200,
            {
                "status": _ok(),
                "data": [run.to_json(self.account_id, with_steps=with_steps) for run in page],
                "extra": {
                    "filters": dict(request.query),
                    "order_by": request.query.get("order_by", "id"),
                    "pagination": {"count": len(page), "total_count": len(runs)},
                },
            },
        )

    def _select(self, query: dict[str, str]) -> tuple[list[Run], int, int]:
        unknown = sorted(set(query) - _LIST_PARAMS)
        if unknown:
            raise BadRequest(f"Unknown query parameter(s): {', '.join(unknown)}")
        limit = _int(query, "limit", MAX_LIMIT)
        offset = _int(query, "offset", 0)
        if not 1 <= limit <= MAX_LIMIT or offset < 0:
            raise BadRequest(f"limit must be 1..{MAX_LIMIT} and offset at least 0")
        runs = list(self.runs.values())
        for field in ("project_id", "environment_id", "job_definition_id", "status"):
            if field in query:
                wanted = _int(query, field, 0)
                runs = [r for r in runs if _value(r, field) == wanted]
        if "status__in" in query:
            statuses = _json_list(query, "status__in")
            if not all(isinstance(s, int) for s in statuses):
                raise BadRequest("status__in must be a JSON list of status codes, e.g. [10,20]")
            runs = [r for r in runs if r.status in statuses]
        for field in ("created_at", "finished_at"):
            if f"{field}__range" in query:
                low, high = _range(query, f"{field}__range")
                runs = [r for r in runs if low <= getattr(r, field) <= high]
        order = query.get("order_by", "id")
        if order.lstrip("-") not in _ORDER_FIELDS:
            raise BadRequest(f"Cannot order by {order!r}; one of {', '.join(sorted(_ORDER_FIELDS))}")
        runs.sort(key=lambda r: _value(r, order.lstrip("-")), reverse=order.startswith("-"))
        return runs, limit, offset

    def _get_run(self, request: Request) -> Response:
        refused = self._check_account(request)
        if refused:
            return refused
        run = self.runs.get(int(request.params["run_id"]))
        if run is None:
            return self.error(404, "Run not found.")
        return Response(200, {"status": _ok(), "data": run.to_json(self.account_id)})

    def _get_artifact(self, request: Request) -> Response:
        refused = self._check_account(request)
        if refused:
            return refused
        unknown = sorted(set(request.query) - {"step"})
        if unknown:
            return self.error(400, f"Unknown query parameter(s): {', '.join(unknown)}")
        run = self.runs.get(int(request.params["run_id"]))
        if run is None:
            return self.error(404, "Run not found.")
        try:
            index = _int(request.query, "step", len(run.steps))  # no step: the last one, as dbt Cloud does
        except BadRequest as exc:
            return self.error(400, str(exc))
        step = run.steps[index - 1] if 1 <= index <= len(run.steps) else None
        if request.params["artifact"] != "run_results.json" or step is None or step.run_results is None:
            return self.error(
                404, f"Artifact {request.params['artifact']} not found for run {run.id} step {index}."
            )
        return Response(200, json.dumps(step.run_results).encode())


def _ok() -> dict[str, Any]:
    return {"code": 200, "is_success": True, "user_message": "Success!", "developer_message": ""}


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f+00:00")


def _value(run: Run, field: str) -> Any:
    return {"project_id": PROJECT_ID, "environment_id": ENVIRONMENT_ID}.get(field, getattr(run, field, None))


def _int(query: dict[str, str], name: str, default: int) -> int:
    try:
        return int(query.get(name, default))
    except ValueError:
        raise BadRequest(f"{name} must be an integer, not {query[name]!r}") from None


def _json_list(query: dict[str, str], name: str) -> list[Any]:
    try:
        value = json.loads(query[name])
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, list):
        raise BadRequest(f"{name} must be a JSON list, not {query[name]!r}")
    return value


def _range(query: dict[str, str], name: str) -> tuple[datetime, datetime]:
    bounds = _json_list(query, name)
    try:
        low, high = (datetime.fromisoformat(str(b).replace("Z", "+00:00")) for b in bounds)
    except ValueError:
        raise BadRequest(
            f"{name} must be a JSON list of two ISO-8601 timestamps, not {query[name]!r}"
        ) from None
    if low.tzinfo is None or high.tzinfo is None:
        raise BadRequest(f"{name} needs timestamps with a time zone, not {query[name]!r}")
    return low, high

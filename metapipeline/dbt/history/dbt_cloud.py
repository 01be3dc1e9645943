"""dbt Cloud's Administrative API (v2): a job's runs, and the run_results.json of each dbt step.

`GET /api/v2/accounts/{account}/runs/` lists finished runs with their steps (`finished_at__range`,
`offset`/`limit` pages, as dagster-dbt's dbt Cloud client asks), then
`GET .../runs/{id}/artifacts/run_results.json?step=N` fetches what each dbt command wrote. A service token with the "Job Viewer" (or "Read-only") permission is enough.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from metapipeline.dbt.run_history import Invocation, RunHistoryUnavailable, parse_run_results

log = logging.getLogger(__name__)

DEFAULT_ACCESS_URL = "https://cloud.getdbt.com"
PAGE_SIZE = 100  # the API's largest page
FINISHED = (10, 20)  # success, error: runs that may have written run_results.json
# An invocation counts for the day it started; a run finishes up to a day later than that.
_RUN_SPAN = timedelta(days=1)


class DbtCloudRuns:
    def __init__(
        self,
        account_id: int,
        token: str,
        *,
        access_url: str = DEFAULT_ACCESS_URL,
        job_id: int | None = None,
        timeout_s: float = 30.0,
        retries: int = 3,
        page_size: int = PAGE_SIZE,
    ):
        self.account_id = account_id
        self.job_id = job_id
        self.base = f"{access_url.rstrip('/')}/api/v2/accounts/{account_id}"
        self.timeout_s = timeout_s
        self.page_size = page_size
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Token {token}", "Accept": "application/json"})
        retry = Retry(
            total=retries,
            backoff_factor=0.5,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=("GET",),
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))

    def describe(self) -> str:
        job = f", job {self.job_id}" if self.job_id is not None else ""
        return f"dbt Cloud {self.base}{job}"

    def runs(self, finished_from: datetime, finished_to: datetime) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {
            "finished_at__range": f'["{finished_from.isoformat()}", "{finished_to.isoformat()}"]',
            "status__in": f"[{','.join(map(str, FINISHED))}]",
            "order_by": "id",
            "limit": self.page_size,
            "include_related": "run_steps",
        }
        if self.job_id is not None:
            params["job_definition_id"] = self.job_id
        offset = 0
        while True:
            page = self._get("runs/", {**params, "offset": offset})
            runs = page.get("data") or []
            yield from runs
            offset += len(runs)
            total = int(((page.get("extra") or {}).get("pagination") or {}).get("total_count") or 0)
            if not runs or offset >= total:
                return

    def run_results(self, run_id: int, step: int | None = None) -> dict[str, Any] | None:
        """What a run's step (default: its last) wrote to run_results.json; None when it wrote none."""
        params = {} if step is None else {"step": step}
        return self._get(f"runs/{run_id}/artifacts/run_results.json", params, missing_ok=True)

    def invocations(self, day: date) -> Iterator[Invocation]:
        start = datetime.combine(day, time(), UTC)
        for run in self.runs(start, start + timedelta(days=1) + _RUN_SPAN):
            seen: set[str] = set()
            for step in _dbt_steps(run):
                document = self.run_results(run["id"], step)
                if document is None:
                    log.info("dbt Cloud run %s step %s wrote no run_results.json; skipped", run["id"], step)
                    continue
                where = f"run_results.json of dbt Cloud run {run['id']}" + (f" step {step}" if step else "")
                invocation = parse_run_results(document, where)
                if invocation.invocation_id not in seen and invocation.started_at.date() == day:
                    seen.add(invocation.invocation_id)
                    yield invocation

    def _get(self, path: str, params: dict[str, Any], *, missing_ok: bool = False) -> Any:
        url = f"{self.base}/{path}"
        try:
            response = self.session.get(url, params=params, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise RunHistoryUnavailable(f"dbt Cloud did not answer {url}: {exc}") from None
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code in (401, 403):
            raise RunHistoryUnavailable(
                f"dbt Cloud refused the token for account {self.account_id} ({response.status_code}: "
                f"{_message(response)}): set DBT_CLOUD_TOKEN to a service token of that account with "
                "the Job Viewer or Read-only permission"
            )
        if response.status_code == 404:
            raise RunHistoryUnavailable(
                f"dbt Cloud has no {url} (404: {_message(response)}): check DBT_CLOUD_ACCOUNT_ID and "
                "DBT_CLOUD_ACCESS_URL (your account's access URL, e.g. https://ab123.us1.dbt.com)"
            )
        if not response.ok:
            raise RunHistoryUnavailable(
                f"dbt Cloud answered {response.status_code} to {url}: {_message(response)}"
            )
        try:
            return response.json()
        except ValueError:
            raise ValueError(f"dbt Cloud sent {url} as something other than JSON") from None


def _message(response: requests.Response) -> str:
    """dbt Cloud's reason: `status.user_message` in its JSON envelope, else the start of the body."""
    try:
        status = response.json().get("status") or {}
        return str(status.get("user_message") or status.get("developer_message") or response.reason)
    except (ValueError, AttributeError):
        return response.text[:200] or str(response.reason)


def _dbt_steps(run: dict[str, Any]) -> list[int | None]:
    """The indexes of a run's dbt command steps (a job may run several: `dbt run`, then `dbt test`);
    [None], the last step, when the run came without its steps."""
    steps = run.get("run_steps") or []
    indexes: list[int | None] = [
        int(step["index"])
        for step in steps
        if "`dbt " in str(step.get("name")) and "`dbt deps" not in str(step.get("name"))
    ]
    return indexes if steps else [None]

"""A loopback Mode REST API serving a workspace document (see `sample.materialize_workspace`).

It answers the endpoints metapipeline uses with the shapes of real Mode responses, as Mode's API
reference describes them (tests/fixtures/corpora/mode_api_samples/ holds real ones): HAL
`_links`/`_forms`, hrefs that say `/collections/`, blind `page`/`per_page` pagination, HTTP basic
auth, the per-user rate limit with Retry-After, and Mode's `{"id", "message"}` error bodies.
Archive, unarchive and delete persist in `data_dir/mode_state.json` as an overlay on the document,
so a second run sees what the first one did; every such request that reached a report is also
appended to `data_dir/mode_history.jsonl` (and `history`), so a test can tell a report archived
twice from one archived once and asked again. Datasets are report objects of type DatasetReport
(listed under `/spaces/{s}/datasets`, still under the key `reports`); a report's
`imported_datasets` only appear on `GET /reports/{token}`, its listing says `has_imported_datasets`.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import math
import os
import threading
import time
from collections.abc import Collection, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from metapipeline.mode.client import ModeClient
from metapipeline.sandbox.harness import Emulator, EmulatorServer, Request, Response, Route

DEFAULT_TOKEN = "sandbox-mode-token"
DEFAULT_SECRET = "sandbox-mode-secret"
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 1000

_ERROR_IDS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    429: "too_many_requests",
}
_FILTER_FIELDS = {"created_at", "updated_at"}
_WS = r"/api/(?P<ws>[\w.-]+)"
_SPACES = r"(?:spaces|collections)"


def _now() -> str:
    moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _token_of(*parts: object) -> str:
    return hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()[:12]


def _links(**hrefs: str) -> dict[str, dict[str, str]]:
    return {name: {"href": href} for name, href in hrefs.items()}


class ModeEmulator(Emulator):
    name = "mode"

    def __init__(
        self,
        document: dict[str, Any],
        *,
        data_dir: Path | None = None,
        credentials: dict[str, tuple[str, str]] | None = None,
        rate_limit: tuple[int, float] | None = (40, 10.0),
        past_end: Literal["empty_list", "no_key"] = "empty_list",
        ignore_page_param: bool = False,
        delete_status: Literal[200, 204] = 200,
        host: str = "https://app.mode.com",
        forbidden_spaces: Collection[str] = (),
        archived_in_listings: bool = True,
    ):
        """`credentials` maps an API token to (secret, username); by default one token for the
        workspace's first user. `past_end` and `ignore_page_param` reproduce Mode's pagination quirks.
        `forbidden_spaces` (tokens) answer 403, with their reports, as spaces the token may not read
        do. `archived_in_listings=False` leaves archived reports out of listings (Mode does not say
        whether it lists them); `GET /reports/{token}` still finds them."""
        self.document = copy.deepcopy(document)
        self.ws = self.document["workspace"]["username"]
        first_user = self.document["users"][0]["username"]
        self.credentials = credentials or {DEFAULT_TOKEN: (DEFAULT_SECRET, first_user)}
        self.rate_limit = rate_limit
        self.past_end = past_end
        self.ignore_page_param = ignore_page_param
        self.delete_status = delete_status
        self.forbidden_spaces = set(forbidden_spaces)
        self.archived_in_listings = archived_in_listings
        self.web_host = host.rstrip("/")
        self._state_file = data_dir / "mode_state.json" if data_dir else None
        self._history_file = data_dir / "mode_history.jsonl" if data_dir else None
        self.history: list[dict[str, Any]] = []  # archive/unarchive/delete requests, in order
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # user -> (level, when)
        self._users = {u["username"]: u for u in self.document["users"]}
        self._spaces = {s["token"]: s for s in self.document["spaces"]}
        self._sources = {d["id"]: d for d in self.document["data_sources"]}
        # Datasets are reports to Mode's API: one table, told apart by `type`.
        self._reports = {
            r["token"]: r for r in [*self.document["reports"], *self.document.get("datasets", [])]
        }
        self._overlay: dict[str, Any] = {"reports": {}, "deleted": []}
        self._load_state()

    # -- lifecycle and plumbing ------------------------------------------------------------------

    def env(self, base_url: str) -> dict[str, str]:
        token, (secret, _) = next(iter(self.credentials.items()))
        return {"MODE_HOST": base_url, "MODE_WORKSPACE": self.ws, "MODE_TOKEN": token, "MODE_SECRET": secret}

    def error(self, status: int, message: str) -> Response:
        return Response(status, {"id": _ERROR_IDS.get(status, "error"), "message": message})

    def fault_response(self, status: int, retry_after_s: int) -> Response:
        response = super().fault_response(status, retry_after_s)
        if status == 429 and self.rate_limit:
            response.headers["X-RateLimit-Limit"] = str(self.rate_limit[0])
        return response

    def before_route(self, request: Request) -> Response | None:
        username = self._authenticate(request)
        if username is None:
            return Response(
                401,
                self.error(401, "Unauthorized: check your API token and secret").body,
                {"WWW-Authenticate": 'Basic realm="Mode API"'},
            )
        request.params["username"] = username
        return self._rate_limited(username)

    def _authenticate(self, request: Request) -> str | None:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            token, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        expected = self.credentials.get(token)
        return expected[1] if expected and expected[0] == secret else None

    def _rate_limited(self, username: str) -> Response | None:
        # A leaky bucket per user, as Mode describes it: bursts up to `limit`, refilled at limit/window.
        if not self.rate_limit:
            return None
        limit, window = self.rate_limit
        refill_per_second = limit / window
        now = time.monotonic()
        with self._lock:
            level, last = self._buckets.get(username, (0.0, now))
            level = max(0.0, level - (now - last) * refill_per_second)
            if level + 1 > limit:
                self._buckets[username] = (level, now)
                retry_after = max(1, math.ceil((level + 1 - limit) / refill_per_second))
                return Response(
                    429,
                    self.error(429, f"Rate limit exceeded: {limit} requests per {window:g} seconds").body,
                    {"Retry-After": str(retry_after), "X-RateLimit-Limit": str(limit)},
                )
            self._buckets[username] = (level + 1, now)
        return None

    def _load_state(self) -> None:
        if self._state_file and self._state_file.exists():
            self._overlay = json.loads(self._state_file.read_text())
        for token, changes in self._overlay["reports"].items():
            if token in self._reports:
                self._reports[token].update(changes)
        for token in self._overlay["deleted"]:
            self._reports.pop(token, None)

    def _save_state(self) -> None:
        if not self._state_file:
            return
        self._state_file.parent.mkdir(parents=True, exist_ok=True)
        scratch = self._state_file.with_suffix(".json.tmp")
        scratch.write_text(json.dumps(self._overlay, indent=1, sort_keys=True))
        os.replace(scratch, self._state_file)  # atomic: a crash never leaves half a state file

    def _record(self, action: str, token: str, changed: bool) -> None:
        """One write that reached a report; `changed` is False when it was already in that state."""
        entry = {"action": action, "report": token, "changed": changed, "at": _now()}
        self.history.append(entry)
        if self._history_file:
            self._history_file.parent.mkdir(parents=True, exist_ok=True)
            with self._history_file.open("a") as out:
                out.write(json.dumps(entry, sort_keys=True) + "\n")

    def edit_reports(self, tokens: Iterable[str]) -> None:
        """Simulate people editing reports in Mode: their `updated_at` and `edited_at` move to now."""
        with self._lock:
            for token in tokens:
                stamp = _now()
                self._reports[token].update(updated_at=stamp, edited_at=stamp, last_saved_at=stamp)

    def use_reports(self, tokens: Iterable[str], *, views: int, runs: int, ran_at: str) -> None:
        """Simulate people using reports in Mode: `views` more views, `runs` more runs, the last at
        `ran_at` (Mode's timestamp format). What they read and how they are built stay as they were."""
        with self._lock:
            for token in tokens:
                report = self._reports[token]
                report.update(
                    view_count=report["view_count"] + views,
                    runs_count=report["runs_count"] + runs,
                    last_run_at=ran_at,
                    last_successfully_run_at=ran_at,
                )

    # -- routes ------------------------------------------------------------------------------------

    def routes(self) -> Iterable[Route]:
        return [
            Route.of("GET", r"/api/verify", self._verify),
            Route.of("GET", r"/api/account", self._account),
            Route.of("GET", rf"{_WS}/{_SPACES}", self._list_spaces),
            Route.of("GET", rf"{_WS}/{_SPACES}/(?P<space>\w+)", self._get_space),
            Route.of("GET", rf"{_WS}/{_SPACES}/(?P<space>\w+)/reports", self._list_reports),
            Route.of("GET", rf"{_WS}/{_SPACES}/(?P<space>\w+)/datasets", self._list_datasets),
            Route.of("GET", rf"{_WS}/reports/(?P<report>\w+)", self._get_report),
            Route.of("DELETE", rf"{_WS}/reports/(?P<report>\w+)", self._delete_report),
            Route.of("PATCH", rf"{_WS}/reports/(?P<report>\w+)/archive", self._archive),
            Route.of("PATCH", rf"{_WS}/reports/(?P<report>\w+)/unarchive", self._unarchive),
            Route.of("GET", rf"{_WS}/reports/(?P<report>\w+)/queries", self._list_queries),
            Route.of("GET", rf"{_WS}/reports/(?P<report>\w+)/queries/(?P<query>\w+)", self._get_query),
            Route.of(
                "GET", rf"{_WS}/reports/(?P<report>\w+)/queries/(?P<query>\w+)/charts", self._list_charts
            ),
            Route.of(
                "GET",
                rf"{_WS}/reports/(?P<report>\w+)/queries/(?P<query>\w+)/charts/(?P<chart>\w+)",
                self._get_chart,
            ),
            Route.of("GET", rf"{_WS}/data_sources", self._list_data_sources),
            Route.of("GET", rf"{_WS}/data_sources/(?P<source>\w+)", self._get_data_source),
            Route.of("GET", rf"{_WS}/definitions", self._list_definitions),
            Route.of("GET", rf"{_WS}/definitions/(?P<definition>\w+)", self._get_definition),
            Route.of("GET", rf"{_WS}/memberships", self._list_memberships),
            # Last: /api/{name} is the workspace or a user.
            Route.of("GET", r"/api/(?P<name>[\w.-]+)", self._workspace_or_user),
        ]

    def _check_workspace(self, request: Request) -> Response | None:
        if request.params.get("ws") != self.ws:
            return self.error(404, f"Workspace {request.params.get('ws')!r} not found")
        return None

    def _verify(self, request: Request) -> Response:
        return Response(
            200,
            {
                "workspace": self.ws,
                "workspace_token": _token_of("ws", self.ws),
                "_links": _links(self=f"/api/{self.ws}"),
            },
        )

    def _account(self, request: Request) -> Response:
        return Response(200, self._user(self._users[request.params["username"]]))

    def _workspace_or_user(self, request: Request) -> Response:
        name = request.params["name"]
        if name == self.ws:
            return Response(200, self._workspace())
        if name in self._users:
            return Response(200, self._user(self._users[name]))
        return self.error(404, f"User or workspace {name!r} not found")

    def _list_spaces(self, request: Request) -> Response:
        if (problem := self._check_workspace(request)) is not None:
            return problem
        wanted = request.query.get("filter", "")
        caller = request.params["username"]
        spaces = list(self._spaces.values())
        if wanted == "custom":
            spaces = [s for s in spaces if s["space_type"] != "private"]
        elif wanted not in {"all", "editable"}:
            # Without a filter Mode lists only the spaces the caller belongs to.
            spaces = [s for s in spaces if caller in s["members"]]
        return self._paged(request, "spaces", f"/api/{self.ws}/collections", [self._space(s) for s in spaces])

    def _forbidden(self, space_token: str) -> Response | None:
        if space_token in self.forbidden_spaces:
            return self.error(403, "Forbidden: you do not have permission to view this space")
        return None

    def _get_space(self, request: Request) -> Response:
        if (problem := self._check_workspace(request)) is not None:
            return problem
        space = self._spaces.get(request.params["space"])
        if space is None:
            return self.error(404, f"Space {request.params['space']!r} not found")
        return self._forbidden(space["token"]) or Response(200, self._space(space))

    def _list_reports(self, request: Request) -> Response:
        return self._list_in_space(request, "reports", datasets=False)

    def _list_datasets(self, request: Request) -> Response:
        return self._list_in_space(request, "datasets", datasets=True)

    def _list_in_space(self, request: Request, collection: str, *, datasets: bool) -> Response:
        if (problem := self._check_workspace(request)) is not None:
            return problem
        space_token = request.params["space"]
        if space_token not in self._spaces:
            return self.error(404, f"Space {space_token!r} not found")
        if (refused := self._forbidden(space_token)) is not None:
            return refused
        with self._lock:
            reports = [
                r
                for r in self._reports.values()
                if r["space_token"] == space_token
                and _is_dataset(r) == datasets
                and (self.archived_in_listings or not r["archived"])
            ]
        try:
            reports = _filtered_and_ordered(reports, request.query)
        except ValueError as exc:
            return self.error(400, str(exc))
        items = [self._report(r, listing=True) for r in reports]
        # Like Mode's: Datasets come back under `reports`, the href saying /reports too.
        return self._paged(request, "reports", f"/api/{self.ws}/collections/{space_token}/reports", items)

    def _find_report(self, request: Request) -> dict[str, Any] | Response:
        if (problem := self._check_workspace(request)) is not None:
            return problem
        report = self._reports.get(request.params["report"])
        if report is None:
            return self.error(404, f"Report {request.params['report']!r} not found")
        return self._forbidden(report["space_token"]) or report

    def _get_report(self, request: Request) -> Response:
        report = self._find_report(request)
        return report if isinstance(report, Response) else Response(200, self._report(report))

    def _archive(self, request: Request) -> Response:
        return self._set_archived(request, True)

    def _unarchive(self, request: Request) -> Response:
        return self._set_archived(request, False)

    def _set_archived(self, request: Request, archived: bool) -> Response:
        report = self._find_report(request)
        if isinstance(report, Response):
            return report
        with self._lock:
            changed = report["archived"] != archived
            changes = {"archived": archived, "updated_at": _now()}
            report.update(changes)
            self._overlay["reports"].setdefault(report["token"], {}).update(changes)
            self._save_state()
            self._record("archive" if archived else "unarchive", report["token"], changed)
        return Response(200, self._report(report))

    def _delete_report(self, request: Request) -> Response:
        report = self._find_report(request)
        if isinstance(report, Response):
            return report
        with self._lock:
            self._reports.pop(report["token"], None)
            self._overlay["reports"].pop(report["token"], None)
            self._overlay["deleted"].append(report["token"])
            self._save_state()
            self._record("delete", report["token"], True)
        if self.delete_status == 204:
            return Response(204)
        return Response(200, self._report(report))

    def _list_queries(self, request: Request) -> Response:
        # Unpaginated, like Mode: page/per_page are ignored.
        report = self._find_report(request)
        if isinstance(report, Response):
            return report
        items = [self._query(report, q) for q in report["queries"]]
        href = f"/api/{self.ws}/reports/{report['token']}/queries"
        return Response(200, {"_links": _links(self=href), "_embedded": {"queries": items}})

    def _get_query(self, request: Request) -> Response:
        found = self._find_query(request)
        return found if isinstance(found, Response) else Response(200, self._query(*found))

    def _find_query(self, request: Request) -> tuple[dict[str, Any], dict[str, Any]] | Response:
        report = self._find_report(request)
        if isinstance(report, Response):
            return report
        for query in report["queries"]:
            if query["token"] == request.params["query"]:
                return report, query
        return self.error(404, f"Query {request.params['query']!r} not found in report {report['token']!r}")

    def _list_charts(self, request: Request) -> Response:
        # Unpaginated, like queries.
        found = self._find_query(request)
        if isinstance(found, Response):
            return found
        report, query = found
        items = [self._chart(report, query, c) for c in query.get("charts", [])]
        href = f"/api/{self.ws}/reports/{report['token']}/queries/{query['token']}/charts"
        return Response(200, {"_links": _links(self=href), "_embedded": {"charts": items}})

    def _get_chart(self, request: Request) -> Response:
        found = self._find_query(request)
        if isinstance(found, Response):
            return found
        report, query = found
        for chart in query.get("charts", []):
            if chart["token"] == request.params["chart"]:
                return Response(200, self._chart(report, query, chart))
        return self.error(404, f"Chart {request.params['chart']!r} not found")

    def _list_data_sources(self, request: Request) -> Response:
        if (problem := self._check_workspace(request)) is not None:
            return problem
        items = [self._data_source(d) for d in self._sources.values()]
        return Response(
            200, {"_links": _links(self=f"/api/{self.ws}/data_sources"), "_embedded": {"data_sources": items}}
        )

    def _get_data_source(self, request: Request) -> Response:
        if (problem := self._check_workspace(request)) is not None:
            return problem
        for source in self._sources.values():
            if source["token"] == request.params["source"]:
                return Response(200, self._data_source(source))
        return self.error(404, f"Data source {request.params['source']!r} not found")

    def _list_definitions(self, request: Request) -> Response:
        if (problem := self._check_workspace(request)) is not None:
            return problem
        definitions = self.document["definitions"]
        if request.query.get("filter") == "by_tokens":
            wanted = set(request.query.get("tokens", "").split(","))
            definitions = [d for d in definitions if d["token"] in wanted]
        href = f"/api/{self.ws}/definitions"
        body = {
            "_links": _links(self=href),
            "_forms": {"create": {"method": "post", "action": href}},
            "_embedded": {"definitions": [self._definition(d) for d in definitions]},
        }
        return Response(200, body)

    def _get_definition(self, request: Request) -> Response:
        if (problem := self._check_workspace(request)) is not None:
            return problem
        for definition in self.document["definitions"]:
            if definition["token"] == request.params["definition"]:
                return Response(200, self._definition(definition))
        return self.error(404, f"Definition {request.params['definition']!r} not found")

    def _list_memberships(self, request: Request) -> Response:
        if (problem := self._check_workspace(request)) is not None:
            return problem
        items = [
            {
                "admin": user["username"] == next(iter(self._users)),
                "invited": False,
                "state": "active",
                "member_username": user["username"],
                "member_token": _token_of("user", user["username"]),
                "activated_at": None,
                "managed_by_scim": False,
                "_links": _links(user=f"/api/{user['username']}", organization=f"/api/{self.ws}"),
            }
            for user in self._users.values()
        ]
        return Response(
            200, {"_links": _links(self=f"/api/{self.ws}/memberships"), "_embedded": {"memberships": items}}
        )

    # -- pagination ---------------------------------------------------------------------------------

    def _paged(self, request: Request, key: str, href: str, items: list[dict[str, Any]]) -> Response:
        try:
            per_page = int(request.query.get("per_page", DEFAULT_PER_PAGE))
            page = 1 if self.ignore_page_param else int(request.query.get("page", 1))
        except ValueError:
            return self.error(400, "page and per_page must be integers")
        if not 1 <= per_page <= MAX_PER_PAGE:
            return self.error(400, f"per_page must be between 1 and {MAX_PER_PAGE}")
        if page < 1:
            return self.error(400, "page must be 1 or more")
        chunk = items[(page - 1) * per_page : page * per_page]
        if not chunk and self.past_end == "no_key":
            return Response(200, {"_links": _links(self=""), "_embedded": {}})
        return Response(200, {"_links": _links(self=href), "_embedded": {key: chunk}})

    # -- representations ---------------------------------------------------------------------------

    def _workspace(self) -> dict[str, Any]:
        info = self.document["workspace"]
        return {
            "id": 751000 + len(self.ws),
            "token": _token_of("ws", self.ws),
            "username": self.ws,
            "name": info.get("name", self.ws),
            "user": False,
            "_links": _links(
                self=f"/api/{self.ws}",
                spaces=f"/api/{self.ws}/collections",
                data_sources=f"/api/{self.ws}/data_sources",
                definitions=f"/api/{self.ws}/definitions",
                memberships=f"/api/{self.ws}/memberships",
            ),
        }

    def _user(self, user: dict[str, Any]) -> dict[str, Any]:
        name = user["username"]
        return {
            "username": name,
            "name": user.get("name"),
            "id": int(_token_of("uid", name)[:6], 16),
            "token": _token_of("user", name),
            "email": user.get("email"),
            "email_verified": True,
            "user": True,
            "avatar": {"initials": "".join(p[0] for p in (user.get("name") or name).split()[:2]).upper()},
            "_links": _links(
                self=f"/api/{name}",
                spaces=f"/api/{name}/collections",
                archived_reports=f"/api/{name}/reports?filter=archived",
            ),
        }

    def _space(self, space: dict[str, Any]) -> dict[str, Any]:
        base = f"/api/{self.ws}/collections/{space['token']}"
        return {
            "token": space["token"],
            "id": space["id"],
            "space_type": space["space_type"],
            "name": space["name"],
            "description": space.get("description"),
            "state": "active",
            "restricted": space.get("restricted", False),
            "free_default": False,
            "viewable?": True,
            "default_access_level": space.get("default_access_level", "edit"),
            "_links": _links(
                self=base,
                detail=f"{base}/detail",
                web=f"/{self.ws}/spaces/{space['token']}",
                reports=f"{base}/reports",
                creator=f"/api/{space['creator']}",
                space_memberships=f"{base}/memberships",
            ),
            "_forms": {
                "edit": {"method": "patch", "action": base},
                "destroy": {"method": "delete", "action": base},
            },
        }

    def _report(self, report: dict[str, Any], *, listing: bool = False) -> dict[str, Any]:
        token = report["token"]
        base = f"/api/{self.ws}/reports/{token}"
        run = _token_of("run", token, report["last_run_at"]) if report.get("last_run_at") else None
        body = {
            "token": token,
            "id": report["id"],
            "name": report["name"],
            "description": report.get("description"),
            "created_at": report["created_at"],
            "updated_at": report["updated_at"],
            "published_at": None,
            "edited_at": report["edited_at"],
            "type": report.get("type", "Report"),
            "last_saved_at": report.get("last_saved_at"),
            "archived": report["archived"],
            "space_token": report["space_token"],
            "account_id": 751000 + len(self.ws),
            "account_username": self.ws,
            "public": False,
            "manual_run_disabled": False,
            "run_privately": False,
            "query_count": len(report["queries"]),
            "chart_count": sum(len(q.get("charts", [])) for q in report["queries"]),
            "runs_count": report["runs_count"],
            "schedules_count": report.get("schedules_count", 0),
            "view_count": report["view_count"],
            "last_successfully_run_at": report.get("last_successfully_run_at"),
            "last_run_at": report.get("last_run_at"),
            "last_successful_run_token": run,
            "last_successful_sync_at": None,
            "drilldowns_enabled": False,
            "max_query_count": 160,
            "thoughtspot_published_at": None,
            "_links": _links(
                self=base,
                web=f"{self.web_host}/{self.ws}/reports/{token}",
                web_edit=f"/editor/{self.ws}/reports/{token}",
                share=f"/{self.ws}/reports/{token}",
                account=f"/api/{self.ws}",
                space=f"/api/{self.ws}/collections/{report['space_token']}",
                queries=f"{base}/queries",
                report_runs=f"{base}/runs",
                creator=f"/api/{report['creator']}",
                report_index_web=f"/{self.ws}/spaces/{report['space_token']}",
                report_pins=f"{base}/pins",
                report_schedules=f"{base}/schedules",
                space_links=f"{base}/space_links",
                **(
                    {"last_run": f"{base}/runs/{run}", "last_successful_run": f"{base}/runs/{run}"}
                    if run
                    else {}
                ),
            )
            | {"report_run": {"templated": True, "href": f"{base}/runs/{{id}}?embed[result]=1"}},
            "_forms": {
                "edit": {"method": "patch", "action": base},
                "destroy": {"method": "delete", "action": base},
                "archive": {"method": "patch", "action": f"{base}/archive"},
                "unarchive": {"method": "patch", "action": f"{base}/unarchive"},
            },
        }
        imported = [self._reports[t] for t in report.get("imported_datasets", []) if t in self._reports]
        if _is_dataset(report):
            body.pop("chart_count")  # Mode's Dataset objects carry none
            body["_links"]["web"]["href"] = f"{self.web_host}/{self.ws}/datasets/{token}"
            body["_links"]["web_edit"]["href"] = f"/editor/{self.ws}/datasets/{token}"
            body["_links"]["dataset_dependencies"] = {"href": f"/api/{self.ws}/datasets/{token}/reports"}
            body["query_preview"] = report["queries"][0]["raw_query"][:120] if report["queries"] else None
            if listing:
                space = self._spaces[report["space_token"]]
                body |= {
                    "collection_name": space["name"],
                    "collection_token": space["token"],
                    "is_sample": False,
                    "switch_view_token": _token_of("switch", token),
                }
        elif listing:
            body["has_imported_datasets"] = bool(imported)  # listings omit imported_datasets, like Mode's
        else:
            body["imported_datasets"] = [
                {
                    "name": dataset["name"],
                    "token": dataset["token"],
                    "_links": _links(
                        report=base, source_dataset=f"/api/{self.ws}/reports/{dataset['token']}"
                    ),
                }
                for dataset in imported
            ]
        return body

    def _query(self, report: dict[str, Any], query: dict[str, Any]) -> dict[str, Any]:
        base = f"/api/{self.ws}/reports/{report['token']}"
        href = f"{base}/queries/{query['token']}"
        return {
            "id": query["id"],
            "token": query["token"],
            "raw_query": query["raw_query"],
            "created_at": query["created_at"],
            "updated_at": query["updated_at"],
            "name": query["name"],
            "last_run_id": query["id"] * 7,
            "data_source_id": query["data_source_id"],
            "explorations_count": 0,
            "report_imports_count": 0,
            "dbt_metric_id": None,
            "_links": _links(
                self=href,
                report=base,
                report_runs=f"{base}/runs",
                charts=f"{href}/charts",
                query_runs=f"{href}/runs",
                creator=f"/api/{query['creator']}",
            ),
            "_forms": {
                "edit": {"method": "patch", "action": href, "content_type": "application/json"},
                "destroy": {"method": "delete", "action": href},
            },
        }

    def _chart(self, report: dict[str, Any], query: dict[str, Any], chart: dict[str, Any]) -> dict[str, Any]:
        token, report_token = chart["token"], report["token"]
        href = f"/api/{self.ws}/reports/{report_token}/queries/{query['token']}/charts/{token}"
        return {
            "view": {},
            "view_version": 2,
            "view_vegas": {"title": chart["title"], "description": "", "chartType": chart["chart_type"]},
            "token": token,
            "created_at": chart["created_at"],
            "updated_at": chart["updated_at"],
            "color_palette_token": _token_of("palette", self.ws),
            "switch_view_token": _token_of("switch", token),
            "_links": {
                "self": {"href": href},
                "report_viz_web": {"href": f"/{self.ws}/reports/{report_token}/viz/{token}"},
                "preview": {
                    "templated": True,
                    "href": f"/api/{self.ws}/reports/{report_token}/runs/{{token}}/charts/{token}/preview",
                },
                "report_run_viz_web": {
                    "templated": True,
                    "href": f"/{self.ws}/reports/{report_token}/runs/{{token}}/viz/{token}",
                },
                "creator": {"href": f"/api/{query['creator']}"},
            },
            "_forms": {
                "edit": {"method": "patch", "action": href},
                "destroy": {"method": "delete", "action": href},
            },
        }

    def _data_source(self, source: dict[str, Any]) -> dict[str, Any]:
        adapter = source["adapter"]
        return {
            "id": source["id"],
            "name": source["name"],
            "description": source.get("description", ""),
            "token": source["token"],
            "adapter": adapter,
            "display_name": source["name"],
            "account_id": 751000 + len(self.ws),
            "account_username": self.ws,
            "default": source.get("default", False),
            "database": source.get("database"),
            "host": source.get("host"),
            "port": source.get("port"),
            "vendor": adapter.removeprefix("jdbc:"),  # real payloads: jdbc:postgresql, postgresql
            "provider": "default",
            "warehouse": source.get("warehouse"),
            "queryable": True,
            "asleep": False,
            "custom_attributes": {"instance_name": ""},
            "_links": _links(
                self=f"/api/{self.ws}/data_sources/{source['token']}",
                web=f"/organizations/{self.ws}/data_sources/{source['token']}",
            ),
        }

    def _definition(self, definition: dict[str, Any]) -> dict[str, Any]:
        href = f"/api/{self.ws}/definitions/{definition['token']}"
        return {
            "id": definition["id"],
            "token": definition["token"],
            "name": definition["name"],
            "description": definition.get("description"),
            "source": definition["source"],
            "data_source_id": definition["data_source_id"],
            "created_at": definition.get("created_at"),
            "updated_at": definition.get("updated_at"),
            "last_saved_at": definition.get("updated_at"),
            "last_successful_sync_at": None,
            "_links": _links(
                self=href,
                web_edit=f"/{self.ws}/definitions/{definition['token']}",
                creator=f"/api/{definition['creator']}",
            ),
            "_forms": {
                "edit": {"method": "patch", "action": href},
                "destroy": {"method": "delete", "action": href},
                "execute": {"method": "put", "action": f"{href}/execute"},
            },
        }


def mode_client(server: EmulatorServer, **options: Any) -> ModeClient:
    """The real Mode client, pointed at a served Mode emulator with its credentials; `options` as
    `ModeClient` takes them (requests_per_second, max_backoff_seconds...)."""
    env = server.emulator.env(server.base_url)
    return ModeClient(
        env["MODE_HOST"], env["MODE_WORKSPACE"], env["MODE_TOKEN"], env["MODE_SECRET"], **options
    )


def _is_dataset(report: dict[str, Any]) -> bool:
    return report.get("type") == "DatasetReport"


def _filtered_and_ordered(reports: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
    """Mode's `filter={created_at|updated_at}.{gt|lt}.{ISO8601}` plus `order_by`/`order` on list reports."""
    spec = query.get("filter", "")
    if spec and spec != "all":  # DataHub sends filter=all here; Mode ignores it
        parts = spec.split(".", 2)  # the timestamp itself may hold a dot
        if len(parts) != 3 or parts[0] not in _FILTER_FIELDS or parts[1] not in {"gt", "lt"}:
            raise ValueError(f"filter must look like created_at.gt.2024-01-01T00:00:00Z, not {spec!r}")
        field, op, value = parts
        moment = _parse_moment(value)
        reports = [r for r in reports if (_parse_moment(r[field]) > moment) == (op == "gt")]
    order_by = query.get("order_by", "")
    if order_by:
        if order_by not in _FILTER_FIELDS:
            raise ValueError("order_by must be created_at or updated_at")
        descending = query.get("order", "asc") == "desc"
        reports = sorted(reports, key=lambda r: r[order_by], reverse=descending)
    return reports


def _parse_moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO-8601 timestamp") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

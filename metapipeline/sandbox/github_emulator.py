"""A loopback GitHub REST API backed by real git repositories, for the pull-request flow.

metapipeline changes dbt projects through PyGithub: it reads files and trees, writes blobs, trees
and commits through the Git Data API, moves branch refs, then opens and updates a pull request with
labels and comments. This emulator answers exactly those endpoints with the shapes GitHub sends
(the fields PyGithub reads, absolute `url`s that point back at the emulator, `Link` pagination,
`x-ratelimit-*` headers, `{"message", "documentation_url"}` errors and 422 "Validation Failed"
bodies).

One emulator serves one or more repositories behind one URL and one token, as GitHub does (a dbt
mesh keeps its projects in several). Each is a real bare git repository: blobs, trees and commits
are written with the `git` CLI, so SHAs are genuine and `git -C <repo_dir> diff main..<branch>`
shows what the product did. Each keeps its pull requests, comments and labels, numbered on their
own, in `<git dir>/emulator_state.json`, so a restarted emulator sees what the previous run did.
`merge_pull` and `close_pull` stand in for a person acting on a pull request in the web UI.

The parts live in `metapipeline.sandbox.github`: git plumbing (`git`), one repository and its state
(`repository`), GitHub's REST conventions (`rest`) and the routes by area (`repos`, `git_data`,
`pulls`, `issues`, `labels`). This module is the service around them: credentials, rate-limit
headers, and dispatch of `/repos/{owner}/{repo}/...` to the repository it names.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from metapipeline.sandbox.github import git_data, issues, labels, pulls, repos
from metapipeline.sandbox.github.repos import CODELOAD
from metapipeline.sandbox.github.repository import Repository, RepositoryHandler
from metapipeline.sandbox.github.rest import (
    BOT_LOGIN,
    DOCS,
    REVIEWER_LOGIN,
    GitHubError,
    Urls,
    not_found,
    user_json,
)
from metapipeline.sandbox.harness import Emulator, Handler, Request, Response, Route

DEFAULT_TOKEN = "sandbox-github-token"
DEFAULT_REPOSITORY = "freshcart/analytics"
RATE_LIMIT_PER_HOUR = 5000
_OWNER_REPO = r"(?P<owner>[^/]+)/(?P<repo>[^/]+)"  # the groups that name a route's repository
_REPO = rf"/repos/{_OWNER_REPO}"

RouteHandler = Callable[[Request, Urls], Response]


class GitHubEmulator(Emulator):
    name = "github"

    def __init__(
        self,
        repo_dir: Path,
        *,
        repository: str = DEFAULT_REPOSITORY,
        token: str = DEFAULT_TOKEN,
        default_branch: str = "main",
        seed_dir: Path | None = None,
        rate_limited_status: int = 429,
    ):
        """Serve `repository` from the git repository at `repo_dir`, creating it (seeded with
        `seed_dir`'s files on `default_branch`) when it does not exist yet; `add_repository` serves
        more. This first one is the primary: GITHUB_REPOSITORY names it and helpers default to it.
        `rate_limited_status` is what an injected rate-limit fault answers: GitHub sends 429 or 403
        for secondary limits."""
        self.token = token
        self.rate_limited_status = rate_limited_status
        # One lock for everything: requests are serialised, so refs, state and its file always agree.
        self._lock = threading.RLock()
        self._rate_window = (0, 0)  # (window start, requests used in it)
        self._repositories: dict[str, Repository] = {}  # by lower-cased full name: GitHub ignores case
        self.add_repository(repository, repo_dir, seed_dir=seed_dir, default_branch=default_branch)

    # -- repositories ------------------------------------------------------------------------------

    def add_repository(
        self, full_name: str, repo_dir: Path, *, seed_dir: Path | None = None, default_branch: str = "main"
    ) -> Repository:
        """Serve `full_name` too, from its own git repository at `repo_dir` (created and seeded with
        `seed_dir`'s files when it does not exist yet), behind the same URL and token."""
        with self._lock:
            if full_name.lower() in self._repositories:
                raise ValueError(f"{full_name} is served already")
            in_dir = [
                served.full_name
                for served in self._repositories.values()
                if served.repo_dir == Path(repo_dir).resolve()
            ]
            if in_dir:
                raise ValueError(f"{repo_dir} holds {in_dir[0]} already")
            added = Repository(full_name, repo_dir, default_branch=default_branch, seed_dir=seed_dir)
            self._repositories[full_name.lower()] = added
            return added

    def repository(self, full_name: str | None = None) -> Repository:
        """A served repository (the primary one by default): its `repo_dir`, `git`, `default_branch`."""
        if full_name is None:
            return next(iter(self._repositories.values()))
        served = self._repositories.get(full_name.lower())
        if served is None:
            raise KeyError(f"{full_name} is not served; the emulator serves {', '.join(self.full_names)}")
        return served

    @property
    def full_names(self) -> list[str]:
        """The served repositories, primary first."""
        return [served.full_name for served in self._repositories.values()]

    # -- people acting in the web UI (for tests and the demo) ------------------------------------------

    def merge_pull(
        self, number: int, *, method: str = "merge", by: str = REVIEWER_LOGIN, repository: str | None = None
    ) -> str:
        """Merge a pull request as a person would ("merge", "squash", or fast-forward "rebase");
        returns the new head of the base branch. Raises GitHubError if it cannot be merged."""
        with self._lock:
            served = self.repository(repository)
            return served.merge(served.pull(number), method=method, by=by)

    def close_pull(self, number: int, *, repository: str | None = None) -> None:
        """Close a pull request without merging it, as a person would."""
        with self._lock:
            self.repository(repository).close_pull(number)

    def pull_requests(self, *, repository: str | None = None) -> list[dict[str, Any]]:
        """A repository's stored pull-request records (copies), oldest first."""
        with self._lock:
            return self.repository(repository).pull_requests()

    # -- harness plumbing --------------------------------------------------------------------------

    def env(self, base_url: str) -> dict[str, str]:
        return {
            "GITHUB_API_URL": base_url,
            "GITHUB_TOKEN": self.token,
            "GITHUB_REPOSITORY": self.repository().full_name,
        }

    def error(self, status: int, message: str) -> Response:
        # The harness reports unknown paths as "no route for ..."; GitHub just says Not Found.
        return self._error_response(GitHubError(status, "Not Found" if status == 404 else message))

    def _error_response(self, error: GitHubError) -> Response:
        body: dict[str, Any] = {"message": error.message}
        if error.errors is not None:
            body["errors"] = error.errors
        body.update(documentation_url=DOCS, status=str(error.status))
        return Response(error.status, body, self._rate_headers(count=False))

    def fault_response(self, status: int, retry_after_s: int) -> Response:
        if status != 429:
            return super().fault_response(status, retry_after_s)
        # A secondary rate limit: GitHub answers 403 or 429 with Retry-After while quota remains.
        message = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
        headers = {**self._rate_headers(count=False), "Retry-After": str(retry_after_s)}
        body = {
            "message": message,
            "documentation_url": f"{DOCS}/using-the-rest-api/rate-limits-for-the-rest-api"
            "#about-secondary-rate-limits",
            "status": str(self.rate_limited_status),
        }
        return Response(self.rate_limited_status, body, headers)

    def before_route(self, request: Request) -> Response | None:
        if request.path.startswith(CODELOAD + "/"):
            return None  # like codeload.github.com's signed URLs: the link itself is the credential
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if not credential:
            return self._error_response(GitHubError(401, "Requires authentication"))
        if scheme.lower() not in {"token", "bearer"} or credential.strip() != self.token:
            return self._error_response(GitHubError(401, "Bad credentials"))
        return None

    def _rate_headers(self, *, count: bool) -> dict[str, str]:
        # GitHub's primary limit is per hour; the emulator counts but never enforces it.
        now = int(time.time())
        start, used = self._rate_window
        if now >= start + 3600:
            start, used = now, 0
        if count:
            used += 1
        self._rate_window = (start, used)
        return {
            "x-ratelimit-limit": str(RATE_LIMIT_PER_HOUR),
            "x-ratelimit-remaining": str(max(0, RATE_LIMIT_PER_HOUR - used)),
            "x-ratelimit-reset": str(start + 3600),
            "x-ratelimit-used": str(used),
            "x-ratelimit-resource": "core",
            "x-github-api-version-selected": "2022-11-28",
            "x-github-media-type": "github.v3; format=json",
        }

    def _handled(self, handler: RouteHandler) -> Handler:
        """Wrap a route: decode path parameters, map GitHubError, add rate-limit headers."""

        def handle(request: Request) -> Response:
            params = {k: unquote(v) for k, v in request.params.items() if v is not None}
            request.params.clear()
            request.params.update(params)
            urls = Urls(f"http://{request.headers.get('host', '127.0.0.1')}", "")
            with self._lock:
                try:
                    response = handler(request, urls)
                except GitHubError as error:
                    response = self._error_response(error)
                response.headers.update(self._rate_headers(count=True))
                return response

        return handle

    def _in_repository(self, handler: RepositoryHandler) -> RouteHandler:
        """A route of one repository: run it on the repository its path names (404 for one not
        served). A request that fails leaves the stored state as it was, like GitHub's writes."""

        def in_repository(request: Request, urls: Urls) -> Response:
            served = self._repositories.get(f"{request.params['owner']}/{request.params['repo']}".lower())
            if served is None:
                raise not_found()
            with served.all_or_nothing(writes=request.method != "GET"):
                return handler(served, request, Urls(urls.api, served.full_name))

        return in_repository

    def routes(self) -> Iterable[Route]:
        service: list[tuple[str, str, RouteHandler]] = [
            ("GET", r"/user", self._get_user),
            ("GET", r"/rate_limit", self._get_rate_limit),
        ]
        in_repository: list[tuple[str, str, RepositoryHandler]] = [
            ("GET", _REPO, repos.get_repo),
            ("GET", rf"{_REPO}/branches", repos.list_branches),
            ("GET", rf"{_REPO}/branches/(?P<branch>.+)", repos.get_branch),
            ("GET", rf"{_REPO}/commits/(?P<ref>.+)", repos.get_commit),
            ("GET", rf"{_REPO}/contents(?:/(?P<path>.*))?", repos.get_contents),
            ("GET", rf"{_REPO}/tarball(?:/(?P<ref>.+))?", repos.get_tarball_link),
            ("GET", rf"{CODELOAD}/{_OWNER_REPO}/tar\.gz/(?P<sha>[0-9a-f]{{40}})", repos.get_tarball),
            ("GET", rf"{_REPO}/git/refs", git_data.list_refs),
            ("POST", rf"{_REPO}/git/refs", git_data.create_ref),
            ("GET", rf"{_REPO}/git/matching-refs/(?P<ref>.*)", git_data.list_matching_refs),
            ("GET", rf"{_REPO}/git/ref/(?P<ref>.+)", git_data.get_ref),
            ("GET", rf"{_REPO}/git/refs/(?P<ref>.+)", git_data.get_ref_legacy),
            ("PATCH", rf"{_REPO}/git/refs/(?P<ref>.+)", git_data.update_ref),
            ("DELETE", rf"{_REPO}/git/refs/(?P<ref>.+)", git_data.delete_ref),
            ("POST", rf"{_REPO}/git/blobs", git_data.create_blob),
            ("GET", rf"{_REPO}/git/blobs/(?P<sha>\w+)", git_data.get_blob),
            ("POST", rf"{_REPO}/git/trees", git_data.create_tree),
            ("GET", rf"{_REPO}/git/trees/(?P<sha>.+)", git_data.get_tree),
            ("POST", rf"{_REPO}/git/commits", git_data.create_commit),
            ("GET", rf"{_REPO}/git/commits/(?P<sha>\w+)", git_data.get_git_commit),
            ("GET", rf"{_REPO}/pulls", pulls.list_pulls),
            ("POST", rf"{_REPO}/pulls", pulls.create_pull),
            ("GET", rf"{_REPO}/pulls/(?P<number>\d+)", pulls.get_pull),
            ("PATCH", rf"{_REPO}/pulls/(?P<number>\d+)", pulls.edit_pull),
            ("GET", rf"{_REPO}/pulls/(?P<number>\d+)/merge", pulls.is_merged),
            ("PUT", rf"{_REPO}/pulls/(?P<number>\d+)/merge", pulls.merge_pull_request),
            ("GET", rf"{_REPO}/issues/comments/(?P<id>\d+)", issues.get_comment),
            ("PATCH", rf"{_REPO}/issues/comments/(?P<id>\d+)", issues.edit_comment),
            ("DELETE", rf"{_REPO}/issues/comments/(?P<id>\d+)", issues.delete_comment),
            ("GET", rf"{_REPO}/issues/(?P<number>\d+)", issues.get_issue),
            ("PATCH", rf"{_REPO}/issues/(?P<number>\d+)", issues.edit_issue),
            ("GET", rf"{_REPO}/issues/(?P<number>\d+)/comments", issues.list_comments),
            ("POST", rf"{_REPO}/issues/(?P<number>\d+)/comments", issues.create_comment),
            ("GET", rf"{_REPO}/issues/(?P<number>\d+)/labels", labels.list_issue_labels),
            ("POST", rf"{_REPO}/issues/(?P<number>\d+)/labels", labels.add_issue_labels),
            ("PUT", rf"{_REPO}/issues/(?P<number>\d+)/labels", labels.set_issue_labels),
            ("DELETE", rf"{_REPO}/issues/(?P<number>\d+)/labels/(?P<name>.+)", labels.remove_issue_label),
            ("GET", rf"{_REPO}/labels", labels.list_labels),
            ("POST", rf"{_REPO}/labels", labels.create_label),
            ("GET", rf"{_REPO}/labels/(?P<name>.+)", labels.get_label),
        ]
        service += [(method, path, self._in_repository(handler)) for method, path, handler in in_repository]
        return [Route.of(method, path, self._handled(handler)) for method, path, handler in service]

    # -- users and the rate limit ---------------------------------------------------------------------

    def _get_user(self, request: Request, urls: Urls) -> Response:
        return Response(200, {**user_json(urls, BOT_LOGIN), "name": BOT_LOGIN, "email": None})

    def _get_rate_limit(self, request: Request, urls: Urls) -> Response:
        headers = self._rate_headers(count=False)
        core = {
            "limit": RATE_LIMIT_PER_HOUR,
            "remaining": int(headers["x-ratelimit-remaining"]),
            "reset": int(headers["x-ratelimit-reset"]),
            "used": int(headers["x-ratelimit-used"]),
            "resource": "core",
        }
        return Response(200, {"resources": {"core": core}, "rate": core})

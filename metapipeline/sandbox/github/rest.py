"""GitHub's REST conventions, shared by every route of the emulator: errors, absolute URLs, request
bodies, pagination, and the accounts that act in the sandbox."""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from metapipeline.sandbox.github.git import Identity
from metapipeline.sandbox.harness import Request, Response

BOT_LOGIN = "metapipeline-bot"  # whoever holds the token
REVIEWER_LOGIN = "analytics-lead"  # the person who merges or closes pull requests
DOCS = "https://docs.github.com/rest"
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
BODY_LIMIT = 65_536  # characters GitHub takes in an issue, pull request or comment body


class GitHubError(Exception):
    """A GitHub-shaped error; handlers raise it and the emulator turns it into a response."""

    def __init__(self, status: int, message: str, errors: list[dict[str, Any]] | None = None):
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.errors = errors


def not_found() -> GitHubError:
    return GitHubError(404, "Not Found")


def invalid(*errors: dict[str, Any]) -> GitHubError:
    return GitHubError(422, "Validation Failed", list(errors))


def check_body(resource: str, body: Any) -> None:
    if isinstance(body, str) and len(body) > BODY_LIMIT:
        message = f"body is too long (maximum is {BODY_LIMIT} characters)"
        raise invalid({"resource": resource, "code": "custom", "field": "body", "message": message})


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def stable_id(*parts: object) -> int:
    """Numeric ids that stay the same across restarts (GitHub ids are plain integers)."""
    return zlib.crc32(":".join(map(str, parts)).encode()) & 0x7FFFFFFF


def node_id(kind: str, *parts: object) -> str:
    return f"{kind}_" + base64.b64encode(":".join(map(str, parts)).encode()).decode().rstrip("=")


def person(login: str) -> Identity:
    """A GitHub account as git records it when GitHub writes a commit for it."""
    return Identity(login, f"{login}@users.noreply.github.com", now())


@dataclass(frozen=True)
class Urls:
    """Absolute URLs as GitHub writes them, pointing back at whatever host:port the client used."""

    api: str
    full_name: str  # the repository a request is about ("" outside /repos/...)

    @property
    def repo(self) -> str:
        return f"{self.api}/repos/{self.full_name}"

    @property
    def html(self) -> str:
        # GitHub's web pages are not served, but links must still look like GitHub's.
        return f"{self.api}/{self.full_name}"

    def user(self, login: str) -> str:
        return f"{self.api}/users/{login}"

    def label(self, name: str) -> str:
        return f"{self.repo}/labels/{quote(name, safe='')}"


def user_json(urls: Urls, login: str, kind: str = "User") -> dict[str, Any]:
    return {
        "login": login,
        "id": stable_id("user", login),
        "node_id": node_id("U", login),
        "avatar_url": f"{urls.api}/avatars/{login}",
        "url": urls.user(login),
        "html_url": f"{urls.api}/{login}",
        "type": kind,
        "site_admin": False,
    }


def paged(request: Request, urls: Urls, items: list[Any]) -> Response:
    """One page of `items`, with GitHub's Link header (prev, next, last, first) when there are more."""
    per_page = min(MAX_PER_PAGE, max(1, _int_or(request.query.get("per_page"), DEFAULT_PER_PAGE)))
    page = max(1, _int_or(request.query.get("page"), 1))
    last = max(1, -(-len(items) // per_page))

    def link(to_page: int, rel: str) -> str:
        query = urlencode({**request.query, "page": str(to_page)})
        return f'<{urls.api}{request.path}?{query}>; rel="{rel}"'

    links = []
    if page > 1:
        links.append(link(min(page - 1, last), "prev"))
    if page < last:
        links += [link(page + 1, "next"), link(last, "last")]
    if page > 1:
        links.append(link(1, "first"))
    headers = {"Link": ", ".join(links)} if links else {}
    return Response(200, items[(page - 1) * per_page : page * per_page], headers)


def json_body(request: Request) -> Any:
    try:
        return request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise GitHubError(400, "Problems parsing JSON") from None


def json_object(request: Request) -> dict[str, Any]:
    data = json_body(request)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise GitHubError(400, "Problems parsing JSON")
    return data


def _int_or(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default  # GitHub ignores a page or per_page it cannot read

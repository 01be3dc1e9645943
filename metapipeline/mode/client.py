"""A polite Mode REST API client: basic auth, HAL lists, pagination, retries and one shared rate limit."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import requests

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
TRANSIENT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class ModeAPIError(RuntimeError):
    """Mode answered with an error that retrying will not fix (or retries ran out)."""

    def __init__(self, method: str, path: str, status: int | None, message: str, *, retried: bool = False):
        self.method, self.path, self.status = method, path, status
        # An earlier attempt may have reached Mode (its answer was lost, garbled or a 5xx): a write
        # that now finds nothing to act on (404) was most likely done by that attempt.
        self.retried = retried
        super().__init__(f"Mode {method} {path} failed ({status or 'no response'}): {message}")


class ModeNotFound(ModeAPIError):
    pass


class RateLimiter:
    """Spaces calls at most `per_second` apart across all threads sharing it."""

    def __init__(self, per_second: float):
        self._interval = 1.0 / per_second if per_second > 0 else 0.0
        self._next_slot = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self._interval
        delay = slot - now
        if delay > 0:
            time.sleep(delay)

    def hold_off(self, seconds: float) -> None:
        """Push every caller back after the server said Retry-After."""
        with self._lock:
            self._next_slot = max(self._next_slot, time.monotonic() + seconds)


class ModeClient:
    def __init__(
        self,
        host: str,
        workspace: str,
        token: str,
        secret: str,
        *,
        requests_per_second: float = 4.0,
        timeout_seconds: float = 30.0,
        max_attempts: int = 10,
        max_backoff_seconds: float = 30.0,
    ):
        self.host = host.rstrip("/")
        self.workspace = workspace
        self.timeout_seconds = timeout_seconds
        self.max_attempts = max_attempts
        self.max_backoff_seconds = max_backoff_seconds
        self.rate_limiter = RateLimiter(requests_per_second)
        self.requests_sent = 0
        self._session = requests.Session()
        self._session.auth = (token, secret)
        self._session.headers.update({"Accept": "application/hal+json", "Content-Type": "application/json"})
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=32, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def workspace_path(self, *parts: str) -> str:
        return "/".join((self.workspace, *parts))

    def request(self, method: str, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """One API call with bounded retries; `path` is relative to /api/."""
        url = f"{self.host}/api/{path.lstrip('/')}"
        last_problem = ""
        retried = False  # whether an earlier attempt may have reached Mode
        for attempt in range(1, self.max_attempts + 1):
            self.rate_limiter.acquire()
            self.requests_sent += 1
            try:
                response = self._session.request(method, url, params=params, timeout=self.timeout_seconds)
            except TRANSIENT_ERRORS as exc:
                last_problem = f"{type(exc).__name__}: {exc}"
                retried = True
                self._back_off(attempt, None)
                continue
            if response.status_code in RETRYABLE_STATUSES:
                last_problem = f"HTTP {response.status_code}"
                retried = retried or response.status_code != 429  # a 429 was turned away unread
                self._back_off(attempt, response)
                continue
            if response.status_code == 404:
                raise ModeNotFound(method, path, 404, _error_message(response), retried=retried)
            if response.status_code >= 400:
                raise ModeAPIError(
                    method, path, response.status_code, _error_message(response), retried=retried
                )
            if response.status_code == 204 or not response.content:
                return {}
            try:
                return response.json()
            except json.JSONDecodeError:
                # A truncated body is a transport fault, not an answer: ask again.
                last_problem = "malformed JSON body"
                retried = True
                self._back_off(attempt, None)
        raise ModeAPIError(method, path, None, f"gave up after {self.max_attempts} attempts ({last_problem})")

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.request("GET", path, params)

    def list_embedded(
        self, path: str, key: str, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """An unpaginated HAL list (queries, data sources, definitions)."""
        return list(self.get(path, params).get("_embedded", {}).get(key) or [])

    def paginate(
        self,
        path: str,
        key: str,
        params: dict[str, Any] | None = None,
        per_page: int = 100,
        max_pages: int = 10_000,
    ) -> Iterator[dict[str, Any]]:
        """Walk `page=1,2,...` until an empty or missing page, or a page with nothing new.

        Mode sends no next links, and a server that ignores `page` repeats page one forever:
        stopping on a page of already-seen tokens keeps that from looping.
        """
        seen: set[Any] = set()
        for page in range(1, max_pages + 1):
            items = self.list_embedded(path, key, {**(params or {}), "page": page, "per_page": per_page})
            fresh = [item for item in items if item.get("token") not in seen]
            if not fresh:
                return
            seen.update(item.get("token") for item in fresh)
            # No early stop on a short page: a server may cap per_page below what was asked.
            yield from fresh
        raise ModeAPIError("GET", path, None, f"more than {max_pages} pages; refusing to continue")

    def _back_off(self, attempt: int, response: requests.Response | None) -> None:
        if attempt >= self.max_attempts:
            return
        retry_after = _retry_after_seconds(response)
        if retry_after is not None:
            self.rate_limiter.hold_off(min(retry_after, self.max_backoff_seconds))
            return
        delay = min(self.max_backoff_seconds, 0.25 * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
        time.sleep(delay)


def _retry_after_seconds(response: requests.Response | None) -> float | None:
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _error_message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason
    if isinstance(body, dict):
        return str(body.get("message") or body.get("id") or body)
    return str(body)[:200]

"""Posting to Slack through slack-sdk: escaped text, charts as files, never the same post twice."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import Any, TypeVar
from urllib.error import URLError

import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import HttpRequest, HttpResponse, RetryHandler, RetryState
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from metapipeline.store.ledger import Ledger

T = TypeVar("T")

# The methods that post something: repeating one after an answer we could not read may post twice.
POSTING_METHODS = frozenset({"chat.postMessage", "files.completeUploadExternal"})
UPLOAD_ATTEMPTS = 5
COMPLETE_ATTEMPTS = 3


def escape_mrkdwn(text: str) -> str:
    """Slack's three control characters; everything else people typed stays as it is."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _inline(text: Any, code: bool = False) -> str:
    """A name people typed as one escaped line (a newline would start a line of its own); in a
    `code` span a backtick, which Slack cannot escape, becomes a look-alike (U+02CB), and a lone
    surrogate (no UTF-8 form) becomes U+FFFD."""
    line = _SURROGATE.sub("\ufffd", escape_mrkdwn(" ".join(str(text).split())))
    return line.replace("`", "\u02cb") if code else line


_SURROGATE = re.compile("[\ud800-\udfff]")


class SlackPostError(RuntimeError):
    """A Slack call failed for good; the message says which call and whether a post may have landed."""


class _TransientErrorRetryHandler(RetryHandler):
    """Retries what a moment fixes: 5xx answers, dropped connections, bodies cut short.

    A method that posts is repeated only when Slack surely did not act on it (it refused the
    connection, or said 503 Service Unavailable): after a dropped connection, a gateway error or a
    garbled answer the post may have landed, and posting again would post twice.
    """

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        posting = request.url.rstrip("/").rsplit("/", 1)[-1] in POSTING_METHODS
        if response is not None and response.status_code >= 500:
            return not posting or response.status_code == 503
        if isinstance(error, URLError) and isinstance(error.reason, ConnectionRefusedError):
            return True
        if isinstance(error, ValueError | URLError | ConnectionError | HTTPException):
            return not posting  # ValueError: a JSON body cut short
        return False


@dataclass(frozen=True)
class SlackPost:
    channel_id: str
    ts: str
    reused: bool  # True when this key was posted before and nothing was sent


class SlackPoster:
    def __init__(self, token: str, channel: str, *, base_url: str | None = None):
        self.client = WebClient(
            token=token,
            base_url=base_url or WebClient.BASE_URL,
            retry_handlers=[
                RateLimitErrorRetryHandler(max_retry_count=3),
                _TransientErrorRetryHandler(max_retry_count=4),
            ],
        )
        self.channel = channel

    def _call(self, method: str, call: Callable[[], T]) -> T:
        """One Web API call (already retried by the client); a failure says which call, and if it may have posted."""
        try:
            return call()
        except (SlackClientError, ValueError, OSError, HTTPException) as exc:
            maybe = (
                f"; the message may have been posted to {self.channel}, so it is not posted again"
                if method in POSTING_METHODS
                else ""
            )
            raise SlackPostError(f"Slack {method} failed ({type(exc).__name__}: {exc}){maybe}") from exc

    def channel_id(self) -> str:
        """Resolve `#name` (or an id) to the id that file uploads need, joining it if necessary."""
        wanted = self.channel.lstrip("#")
        pages = self._call(
            "conversations.list",
            lambda: list(self.client.conversations_list(types="public_channel,private_channel", limit=200)),
        )
        found = next((c for page in pages for c in page["channels"] if wanted in (c["id"], c["name"])), None)
        if found is None:
            raise ValueError(
                f"Slack channel {self.channel} not found (or the bot cannot see it); invite the bot to it"
            )
        channel_id = str(found["id"])
        if not found.get("is_member"):
            self._call("conversations.join", lambda: self.client.conversations_join(channel=channel_id))
        return channel_id

    def post(self, key: str, text: str, files: Sequence[Path], ledger: Ledger) -> SlackPost:
        """Post `text` with `files` once per `key`, however often the step is retried.

        The ledger keeps what was posted under `key` and, before each completion is sent, which files
        it shares (under `key#1`, `key#2`, ...): a retry after a crash or a lost answer asks Slack
        (files.info) whether those files were shared, and then records that post instead of posting."""
        done = ledger.slack_post(key)
        if done is not None:
            return SlackPost(done[0], done[1], reused=True)
        tries = 0
        while (earlier := ledger.slack_post(f"{key}#{tries + 1}")) is not None:
            tries += 1
            channel_id, file_id = earlier
            landed = self._shared_ts(file_id, channel_id, "an earlier attempt did not finish")
            if landed is not None:
                ledger.record_slack_post(key, channel_id, landed)
                return SlackPost(channel_id, landed, reused=True)
        channel_id = self.channel_id()
        if files:

            def about_to_share(file_id: str) -> None:
                ledger.record_slack_post(f"{key}#{tries + 1}", channel_id, file_id)

            ts = self._post_files(channel_id, text, files, about_to_share)
        else:
            response = self._call(
                "chat.postMessage", lambda: self.client.chat_postMessage(channel=channel_id, text=text)
            )
            ts = str(response["ts"])
        ledger.record_slack_post(key, channel_id, ts)
        return SlackPost(channel_id, ts, reused=False)

    def _post_files(
        self, channel_id: str, text: str, files: Sequence[Path], about_to_share: Callable[[str], None]
    ) -> str:
        """slack-sdk's `files_upload_v2` in its three steps. The two that post nothing (an upload URL per
        file, the bytes to it) are retried freely; the one that posts (completion) is repeated only when
        files.info shows that the previous try did not share the files, so they are posted once."""
        uploads: list[dict[str, str | None]] = []
        for path in files:
            data = path.read_bytes()

            def ticket_for(name: str = path.name, length: int = len(data)) -> Any:
                return self.client.files_getUploadURLExternal(filename=name, length=length)

            ticket = self._call("files.getUploadURLExternal", ticket_for)
            self._upload(str(ticket["upload_url"]), data, path.name)
            uploads.append({"id": str(ticket["file_id"]), "title": path.stem.replace("_", " ")})
        about_to_share(str(uploads[0]["id"]))
        problem = ""
        for attempt in range(1, COMPLETE_ATTEMPTS + 1):
            try:
                response = self.client.files_completeUploadExternal(
                    files=uploads, channel_id=channel_id, initial_comment=text
                )
                return _share_ts(response["files"][0], channel_id) or ""
            except (SlackClientError, ValueError, OSError, HTTPException) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            landed = self._shared_ts(str(uploads[0]["id"]), channel_id, problem)
            if landed is not None:
                return landed  # it was posted; only the answer was lost
            if attempt < COMPLETE_ATTEMPTS:
                time.sleep(attempt)
        raise SlackPostError(
            f"Slack files.completeUploadExternal failed {COMPLETE_ATTEMPTS} times, nothing was posted ({problem})"
        )

    def _shared_ts(self, file_id: str, channel_id: str, problem: str) -> str | None:
        """After a completion whose answer was lost: the ts of its message if it landed, None if not."""
        try:
            info = self.client.files_info(file=file_id)
        except SlackApiError as exc:
            if exc.response.get("error") == "file_not_found":
                return None  # never completed: nothing was shared
            unknown: Exception = exc
        except (SlackClientError, ValueError, OSError, HTTPException) as exc:
            unknown = exc
        else:
            return _share_ts(info["file"], channel_id)
        raise SlackPostError(
            f"Slack files.completeUploadExternal failed ({problem}) and files.info cannot tell whether "
            f"it was posted ({type(unknown).__name__}: {unknown}); the message may be in {self.channel}, "
            "so it is not posted again"
        ) from unknown

    def _upload(self, url: str, data: bytes, name: str) -> None:
        """The bytes to a pre-signed upload URL (no token); sending them again only replaces them."""
        problem = ""
        for attempt in range(1, UPLOAD_ATTEMPTS + 1):
            wait = min(8.0, 0.5 * 2 ** (attempt - 1))
            try:
                response = requests.post(url, data=data, timeout=self.client.timeout)
            except requests.RequestException as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    return
                problem = f"HTTP {response.status_code}"
                if response.status_code != 429 and response.status_code < 500:
                    break
                wait = max(wait, float(response.headers.get("Retry-After") or 0))
            if attempt < UPLOAD_ATTEMPTS:
                time.sleep(wait)
        raise SlackPostError(f"Slack file upload of {name} failed after {attempt} attempt(s) ({problem})")


def _share_ts(file: Any, channel_id: str) -> str | None:
    """The ts of the message that shared `file` in the channel (a file view's `shares`), if any."""
    for scope in (file.get("shares") or {}).values():
        for channel, shares in scope.items():
            if channel == channel_id and shares:
                return str(shares[0]["ts"])
    return None


def daily_summary(
    priorities: list[dict[str, Any]], archived: list[str], removal_candidates: list[str], pr_urls: list[str]
) -> str:
    """The message above the charts: what to optimise first, what was cleaned, where to review."""
    lines = ["*metapipeline daily report*"]
    if priorities:
        lines.append("*Optimise first* (importance x recent run time):")
        for row in priorities[:5]:
            owner = f" ({_inline(row['owner'])})" if row.get("owner") else ""
            lines.append(
                f"• `{_inline(row['name'], code=True)}`{owner}: {float(row['recent_run_seconds']):.0f} s/week"
            )
    lines.append(f"*Mode reports archived today:* {len(archived)}")
    lines += [f"• {_inline(name)}" for name in archived[:10]]
    lines.append(f"*dbt models proposed for removal:* {len(removal_candidates)}")
    lines += [f"• `{_inline(name, code=True)}`" for name in removal_candidates[:10]]
    lines += [f"Review: {_inline(url)}" for url in pr_urls]
    return "\n".join(lines)

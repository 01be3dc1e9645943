"""Posting to Slack through slack-sdk: escaped text, charts as files, never the same post twice."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from http.client import HTTPException
from pathlib import Path
from typing import Any, TypeVar
from urllib.error import URLError

import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import HttpRequest, HttpResponse, RetryHandler, RetryState
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from metapipeline.cost import RECENT_RUN_DAYS, credits_text, monthly_credits
from metapipeline.store.ledger import Ledger

T = TypeVar("T")

# The methods that post something: repeating one after an answer we could not read may post twice.
POSTING_METHODS = frozenset({"chat.postMessage", "files.completeUploadExternal"})
UPLOAD_ATTEMPTS = 5
COMPLETE_ATTEMPTS = 3
POST_ATTEMPTS = 3
# A post carries its key in message metadata of this type; retries find it in the channel's history.
POST_EVENT_TYPE = "metapipeline_post"
HISTORY_LOOKBACK = timedelta(days=7)  # a retry comes within minutes; a re-execution within days
HISTORY_PAGE = 200
SECTION_CHARS = 3000  # Slack's limits: a section's text, an image's alt text and title, blocks
IMAGE_TEXT_CHARS = 2000
MAX_BLOCKS = 50
# What each pull request in the daily summary is for, by the key report_outcome gives it.
PULL_REQUEST_LABELS = {"removal": "Remove unused models", "exposures": "Sync exposures"}


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

    def post(
        self,
        key: str,
        text: str,
        files: Sequence[Path],
        ledger: Ledger,
        *,
        alt_texts: Mapping[str, str] | None = None,
    ) -> SlackPost:
        """Post `text` with `files` (images, described by `alt_texts` by file name) once per `key`,
        however often the step is retried.

        The message carries `key` in its metadata, which Slack keeps: before posting, and before
        repeating a post whose answer was lost, the channel's history says whether it landed. The
        ledger remembers what was found or posted, so a later retry asks nobody."""
        done = ledger.slack_post(key)
        if done is not None:
            return SlackPost(done[0], done[1], reused=True)
        channel_id = self.channel_id()
        landed = self._posted_ts(channel_id, key)
        if landed is None:
            blocks = _message_blocks(text, self._upload_privately(files, alt_texts or {})) if files else None
            landed, reused = self._post_once(channel_id, key, text, blocks)
        else:
            reused = True
        ledger.record_slack_post(key, channel_id, landed)
        return SlackPost(channel_id, landed, reused=reused)

    def _post_once(
        self, channel_id: str, key: str, text: str, blocks: list[dict[str, Any]] | None
    ) -> tuple[str, bool]:
        """chat.postMessage with the key in its metadata; after an answer that was lost, the history
        decides: the message found there (reused), or a new try."""
        metadata = {"event_type": POST_EVENT_TYPE, "event_payload": {"key": key}}
        problem = ""
        for attempt in range(1, POST_ATTEMPTS + 1):
            try:
                response = self.client.chat_postMessage(
                    channel=channel_id, text=text, blocks=blocks, metadata=metadata
                )
                return str(response["ts"]), False
            except SlackApiError as exc:
                if exc.response.status_code == 200:  # Slack refused it: nothing was posted
                    error = exc.response.get("error")
                    raise SlackPostError(f"Slack chat.postMessage refused the message: {error}") from exc
                problem = f"{type(exc).__name__}: {exc}"
            except (SlackClientError, ValueError, OSError, HTTPException) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            landed = self._posted_ts(channel_id, key, problem)
            if landed is not None:
                return landed, True  # it was posted; only the answer was lost
            if attempt < POST_ATTEMPTS:
                time.sleep(attempt)
        raise SlackPostError(
            f"Slack chat.postMessage failed {POST_ATTEMPTS} times, nothing was posted to {self.channel} ({problem})"
        )

    def _posted_ts(self, channel_id: str, key: str, problem: str = "") -> str | None:
        """The ts of the message posted under `key` in the channel's recent history, if any."""
        oldest = f"{time.time() - HISTORY_LOOKBACK.total_seconds():.6f}"
        try:
            pages = self.client.conversations_history(
                channel=channel_id, include_all_metadata=True, oldest=oldest, limit=HISTORY_PAGE
            )
            for page in pages:  # follows next_cursor; newest first
                for message in page["messages"]:
                    metadata = message.get("metadata") or {}
                    payload = metadata.get("event_payload") or {}
                    if metadata.get("event_type") == POST_EVENT_TYPE and payload.get("key") == key:
                        return str(message["ts"])
        except (SlackClientError, ValueError, OSError, HTTPException) as exc:
            after = f"chat.postMessage failed ({problem}) and " if problem else ""
            raise SlackPostError(
                f"Slack {after}conversations.history cannot tell whether {key} was posted "
                f"({type(exc).__name__}: {exc}); it may be in {self.channel}, so it is not posted"
            ) from exc
        return None

    def _upload_privately(self, files: Sequence[Path], alt_texts: Mapping[str, str]) -> list[dict[str, str]]:
        """files_upload_v2's three steps without a channel, so nothing is posted: the message shows
        the files. Each step may be repeated; a completion whose answer was lost is checked with files.info."""
        uploads = []
        for path in files:
            data = path.read_bytes()
            title = path.stem.replace("_", " ")
            alt = alt_texts.get(path.name) or title

            def ticket_for(name: str = path.name, length: int = len(data), alt_txt: str = alt) -> Any:
                return self.client.files_getUploadURLExternal(filename=name, length=length, alt_txt=alt_txt)

            ticket = self._call("files.getUploadURLExternal", ticket_for)
            self._upload(str(ticket["upload_url"]), data, path.name)
            uploads.append({"id": str(ticket["file_id"]), "title": title, "alt_txt": alt})
        completion: list[dict[str, str | None]] = [{"id": u["id"], "title": u["title"]} for u in uploads]
        problem = ""
        for attempt in range(1, COMPLETE_ATTEMPTS + 1):
            try:
                self.client.files_completeUploadExternal(files=completion)
                return uploads
            except (SlackClientError, ValueError, OSError, HTTPException) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if self._completed(uploads[0]["id"], problem):
                return uploads  # completed; only the answer was lost
            if attempt < COMPLETE_ATTEMPTS:
                time.sleep(attempt)
        raise SlackPostError(
            f"Slack files.completeUploadExternal failed {COMPLETE_ATTEMPTS} times, nothing was posted ({problem})"
        )

    def _completed(self, file_id: str, problem: str) -> bool:
        """After a completion whose answer was lost: whether the upload became a file."""
        try:
            self.client.files_info(file=file_id)
        except SlackApiError as exc:
            if exc.response.get("error") == "file_not_found":
                return False
            unknown: Exception = exc
        except (SlackClientError, ValueError, OSError, HTTPException) as exc:
            unknown = exc
        else:
            return True
        raise SlackPostError(
            f"Slack files.completeUploadExternal failed ({problem}) and files.info cannot tell whether "
            f"the charts were uploaded ({type(unknown).__name__}: {unknown}); nothing was posted"
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


def _message_blocks(text: str, uploads: Sequence[Mapping[str, str]]) -> list[dict[str, Any]]:
    """The summary in sections (each within Slack's 3,000 characters, split between lines), then
    one image block per uploaded chart. `text` stays the notification's fallback."""
    sections: list[str] = []
    for line in text.split("\n"):
        line = line if len(line) <= SECTION_CHARS else line[: SECTION_CHARS - 1] + "…"
        if sections and len(sections[-1]) + 1 + len(line) <= SECTION_CHARS:
            sections[-1] += "\n" + line
        else:
            sections.append(line)
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": section}}
        for section in sections
        if section.strip()
    ]
    blocks += [
        {
            "type": "image",
            "slack_file": {"id": upload["id"]},
            "alt_text": upload["alt_txt"][:IMAGE_TEXT_CHARS],
            "title": {"type": "plain_text", "text": upload["title"][:IMAGE_TEXT_CHARS]},
        }
        for upload in uploads
    ]
    return blocks[:MAX_BLOCKS]


def daily_summary(
    priorities: list[dict[str, Any]],
    archived: list[str],
    removal_candidates: list[str],
    pull_requests: Mapping[str, str],
    credits_per_hour: float | None = None,
) -> str:
    """The message above the charts: what to optimise first (`priorities`: `optimise_first`'s
    rows, all listed), what was cleaned, where to review (`pull_requests`: each pull request's URL
    by purpose, "removal" or "exposures", followed by the dbt project's name when several projects
    have one). Given `credits_per_hour`, each model's run time is priced a month too."""
    lines = ["*metapipeline daily report*"]
    if priorities:
        lines.append("*Optimise first* (importance x recent run time):")
        for row in priorities:
            owner = f" ({_inline(row['owner'])})" if row.get("owner") else ""
            seconds = float(row["recent_run_seconds"])
            cost = ""
            if credits_per_hour is not None:
                month = monthly_credits(seconds, RECENT_RUN_DAYS, credits_per_hour)
                cost = f", about {credits_text(month)} credits a month"
            lines.append(f"• `{_inline(row['name'], code=True)}`{owner}: {seconds:.0f} s/week{cost}")
    lines.append(f"*Mode reports archived today:* {len(archived)}")
    lines += [f"• {_inline(name)}" for name in archived[:10]]
    lines.append(f"*dbt models proposed for removal:* {len(removal_candidates)}")
    lines += [f"• `{_inline(name, code=True)}`" for name in removal_candidates[:10]]
    for purpose, url in pull_requests.items():
        kind, _, project = purpose.partition(" ")  # "removal" or "removal <project>"
        label = PULL_REQUEST_LABELS.get(kind, kind) + (f" in {_inline(project)}" if project else "")
        lines.append(f"{label}: {_inline(url)}")
    return "\n".join(lines)

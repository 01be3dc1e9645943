"""A loopback Slack Web API: the methods slack-sdk's `WebClient` calls to post messages and upload files.

It answers like Slack does: every method is `POST /api/<method>` (slack-sdk sends GET-style methods
as POST too), arguments arrive form-urlencoded, as JSON (chat.postMessage) or in the query string,
and failures are HTTP 200 with `{"ok": false, "error": "<code>"}`. Uploads follow the
`files_upload_v2` flow: files.getUploadURLExternal hands out an upload URL on this emulator, the
client POSTs the bytes there, and files.completeUploadExternal completes them: private without a
channel, else shared in the channel as one message. files.info tells whether (and where) an upload
was shared. Like Slack, sharing is asynchronous: the share (and a completion's message) shows only
`share_delay_s` later, so `shares` is usually empty in the completion's answer. A message can
show private uploads in image blocks (`slack_file`), which shares them the same way.

chat.postMessage keeps a message's `metadata` ({event_type, event_payload}); conversations.history
returns it only with `include_all_metadata`, as Slack does.

Everything posted lands under `data_dir/slack/` so a person can look at it and a restart reloads it:
`messages.jsonl` (one full message per line; a later line with the same channel and ts is an
edit), `files.jsonl` (completed uploads), `files/<file_id>_<filename>` (the bytes) and
`membership.json` (channels the bot joined).
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import logging
import mimetypes
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from metapipeline.sandbox.harness import Emulator, Request, Response, Route

log = logging.getLogger(__name__)

DEFAULT_TOKEN = "xoxb-sandbox-token"
TEAM_ID = "T0SANDBOX01"
TEAM_NAME = "metapipeline sandbox"
BOT_USER_ID = "U0SANDBOXBT"
BOT_ID = "B0SANDBOXBT"
APP_ID = "A0SANDBOXAP"
CHANNEL_CREATED = 1_700_000_000
MAX_TEXT_CHARS = 40_000  # Slack rejects longer messages with msg_too_long
MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000  # a section block's text
MAX_IMAGE_TEXT_CHARS = 2000  # an image block's alt_text and title
# Slack documents no limit for a file's alt_txt; the sandbox takes no more than an image block's.
MAX_ALT_TXT_CHARS = MAX_IMAGE_TEXT_CHARS
IMAGE_TYPES = frozenset({"png", "jpg", "jpeg", "gif"})  # what image blocks and alt_txt are for
DEFAULT_SHARE_DELAY_S = 2.0
_EVENT_TYPE = re.compile(r"[A-Za-z0-9_]{1,255}")

# What the harness's own errors (unknown path, wrong verb, a crash in a handler) look like to a client.
_HTTP_ERRORS = {404: "unknown_method", 405: "invalid_request", 500: "internal_error"}
_SAFE_FILENAME = re.compile(r"[^\w.-]+")

Args = dict[str, Any]


class SlackError(Exception):
    """A failed Slack method: HTTP 200 with `{"ok": false, "error": code}`."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(code)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Channel:
    id: str
    name: str  # without the leading '#'


def _channel_id(name: str) -> str:
    # Stable across restarts, so stored messages keep pointing at the same channel.
    return "C" + hashlib.sha1(name.encode()).hexdigest()[:10].upper()


def _failure(code: str, detail: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {"ok": False, "error": code}
    if detail:  # Slack explains argument errors the same way
        body["response_metadata"] = {"messages": [f"[ERROR] {detail}"]}
    return body


def _arguments(request: Request) -> Args:
    """Query string, then the form or JSON body: slack-sdk uses all three."""
    args: Args = dict(request.query)
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            body = request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise SlackError("invalid_json", "the body is not valid JSON") from None
        if body is not None and not isinstance(body, dict):
            raise SlackError("invalid_json", "the JSON body must be an object")
        args.update(body or {})
    elif request.body:
        try:
            form = parse_qs(request.body.decode(), keep_blank_values=True, strict_parsing=True)
        except (ValueError, UnicodeDecodeError):
            raise SlackError("invalid_form_data", "the body is not form-urlencoded") from None
        args.update({name: values[-1] for name, values in form.items()})
    return args


def _json_argument(args: Args, name: str) -> Any:
    """A structured argument: a JSON string in a form body, already parsed in a JSON body."""
    value = args.get(name)
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        raise SlackError("invalid_arguments", f"{name} is not valid JSON") from None


def _blocks(args: Args) -> list[dict[str, Any]] | None:
    blocks = _json_argument(args, "blocks")
    if blocks in (None, "", []):
        return None
    if not isinstance(blocks, list) or not all(isinstance(b, dict) and "type" in b for b in blocks):
        raise SlackError("invalid_blocks", "blocks must be a list of objects with a type")
    if len(blocks) > MAX_BLOCKS:
        raise SlackError("invalid_blocks", f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    for number, block in enumerate(blocks):
        where = f"[json-pointer:/blocks/{number}]"
        if block["type"] == "section":
            text = (block.get("text") or {}).get("text", "")
            if len(str(text)) > MAX_SECTION_CHARS:
                raise SlackError(
                    "invalid_blocks", f"must be less than {MAX_SECTION_CHARS + 1} characters {where}"
                )
        elif block["type"] == "image":
            source = [name for name in ("image_url", "slack_file") if block.get(name)]
            alt = block.get("alt_text")
            title = (block.get("title") or {}).get("text", "")
            if len(source) != 1 or not isinstance(alt, str) or not alt:
                raise SlackError(
                    "invalid_blocks", f"an image needs alt_text and one of image_url, slack_file {where}"
                )
            if len(alt) > MAX_IMAGE_TEXT_CHARS or len(str(title)) > MAX_IMAGE_TEXT_CHARS:
                raise SlackError(
                    "invalid_blocks", f"must be less than {MAX_IMAGE_TEXT_CHARS + 1} characters {where}"
                )
    return blocks


def _metadata(args: Args) -> dict[str, Any] | None:
    """chat.postMessage's `metadata`: {event_type, event_payload}, checked as Slack does."""
    metadata = _json_argument(args, "metadata")
    if metadata in (None, ""):
        return None
    if not isinstance(metadata, dict) or set(metadata) != {"event_type", "event_payload"}:
        raise SlackError("invalid_metadata_format", "metadata must be {event_type, event_payload}")
    if not isinstance(metadata["event_type"], str) or not _EVENT_TYPE.fullmatch(metadata["event_type"]):
        raise SlackError("invalid_metadata_schema", "event_type must be letters, digits and underscores")
    if not isinstance(metadata["event_payload"], dict):
        raise SlackError("invalid_metadata_schema", "event_payload must be an object")
    return metadata


def _flag(args: Args, name: str) -> bool:
    # slack-sdk sends booleans as 1/0; people type true/false.
    return str(args.get(name) or "").lower() in {"1", "true"}


def _text(args: Args) -> str:
    text = str(args.get("text") or "")
    if len(text) > MAX_TEXT_CHARS:
        raise SlackError("msg_too_long")
    return text


def _require(args: Args, *names: str) -> None:
    missing = [name for name in names if args.get(name) in (None, "")]
    if missing:
        raise SlackError("invalid_arguments", f"missing required field(s): {', '.join(missing)}")


def _multipart_file(body: bytes, content_type: str) -> bytes | None:
    """The first file part of a multipart body, byte for byte (the email parser would rewrite line ends)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        return None
    for part in body.split(b"--" + match.group(1).encode()):
        head, separator, payload = part.partition(b"\r\n\r\n")
        if separator and b"filename=" in head:
            return payload.removesuffix(b"\r\n")
    return None


def _ts_of(micros: int) -> str:
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def _micros_of(ts: str) -> int:
    seconds, _, fraction = ts.partition(".")
    return int(seconds) * 1_000_000 + int(fraction.ljust(6, "0")[:6])


def _shown(record: dict[str, Any]) -> bool:
    """Whether a delayed share (or a completion's message) shows yet; records without one always do."""
    return float(record.get("shown_at") or 0) <= time.time()


class SlackEmulator(Emulator):
    name = "slack"

    def __init__(
        self,
        data_dir: Path,
        *,
        token: str = DEFAULT_TOKEN,
        channels: Iterable[str] = ("#data-platform",),
        bot_member_of: Iterable[str] | None = None,
        share_delay_s: float = DEFAULT_SHARE_DELAY_S,
    ):
        """`channels` are public channel names (with or without '#'); the bot starts as a member of
        `bot_member_of` (default: every channel) and can join the others with conversations.join.
        A share (and a completed upload's message) shows `share_delay_s` after it was asked for."""
        if share_delay_s < 0:
            raise ValueError("share_delay_s cannot be negative")
        self.token = token
        self.share_delay_s = share_delay_s
        self._channels = [Channel(_channel_id(n), n) for n in dict.fromkeys(c.lstrip("#") for c in channels)]
        if not self._channels:
            raise ValueError("the Slack emulator needs at least one channel")
        self._by_id = {c.id: c for c in self._channels}
        self._by_name = {c.name: c for c in self._channels}
        members = self._channels if bot_member_of is None else [self._named(n) for n in bot_member_of]
        self._members = {c.id for c in members}
        self._dir = data_dir / "slack"
        self._files_dir = self._dir / "files"
        self._lock = threading.Lock()
        self._messages: dict[tuple[str, str], dict[str, Any]] = {}  # (channel id, ts) -> record
        self._files: dict[str, dict[str, Any]] = {}  # file id -> record of a completed upload
        self._pending: dict[str, dict[str, Any]] = {}  # file id -> upload not completed yet
        self._last_micros = 0
        self._methods: dict[str, Callable[[Request, Args], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update_message,
            "conversations.list": self._list_conversations,
            "conversations.info": self._conversation_info,
            "conversations.join": self._join_conversation,
            "conversations.history": self._history,
            "files.getUploadURLExternal": self._get_upload_url,
            "files.completeUploadExternal": self._complete_upload,
            "files.info": self._file_info,
        }
        self._load()

    def _named(self, name: str) -> Channel:
        try:
            return self._by_name[name.lstrip("#")]
        except KeyError:
            raise ValueError(
                f"{name!r} is not one of the channels {[c.name for c in self._channels]}"
            ) from None

    # -- harness hooks -----------------------------------------------------------------------------

    def env(self, base_url: str) -> dict[str, str]:
        return {
            "SLACK_API_URL": f"{base_url}/api/",
            "SLACK_BOT_TOKEN": self.token,
            "SLACK_CHANNEL": f"#{self._channels[0].name}",
        }

    def error(self, status: int, message: str) -> Response:
        return Response(status, _failure(_HTTP_ERRORS.get(status, "request_failed"), message))

    def fault_response(self, status: int, retry_after_s: int) -> Response:
        if status == 429:
            return Response(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after_s)})
        return super().fault_response(status, retry_after_s)

    def routes(self) -> Iterable[Route]:
        method = r"/api/(?P<method>[\w.]+)"
        return [
            Route.of("POST", method, self._api),
            Route.of("GET", method, self._api),
            # Upload URLs are pre-signed on Slack too: no token, just the bytes.
            Route.of("POST", r"/upload/v1/(?P<file_id>\w+)", self._upload),
        ]

    # -- reading what was posted (for tests and people) --------------------------------------------

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Messages in ts order, optionally in one channel (by name, '#name' or id), also those
        whose (delayed) share does not show yet."""
        wanted = None if channel is None else (self._by_id.get(channel) or self._named(channel)).id
        with self._lock:
            records = [copy.deepcopy(m) for m in self._messages.values() if wanted in (None, m["channel"])]
        return sorted(records, key=lambda m: (_micros_of(m["ts"]), m["channel"]))

    def files(self) -> list[dict[str, Any]]:
        """Completed uploads in order, each with `path` (absolute), title, channel and the message ts."""
        with self._lock:
            records = [copy.deepcopy(f) for f in self._files.values()]
        for record in records:
            record["path"] = str((self._dir / record["path"]).resolve())
        return records

    # -- persistence -------------------------------------------------------------------------------

    def _load(self) -> None:
        for record in self._read_jsonl("messages.jsonl"):
            self._messages[(record["channel"], record["ts"])] = record
            self._last_micros = max(self._last_micros, _micros_of(record["ts"]))
        for record in self._read_jsonl("files.jsonl"):
            self._files[record["id"]] = record
        membership = self._dir / "membership.json"
        if membership.exists():
            self._members.update(c for c in json.loads(membership.read_text())["joined"] if c in self._by_id)

    def _read_jsonl(self, name: str) -> list[dict[str, Any]]:
        path = self._dir / name
        if not path.exists():
            return []
        records = []
        for number, line in enumerate(path.read_text().splitlines(), 1):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # a crash mid-write leaves half a line; keep the rest
                log.warning("skipping unreadable line %d of %s", number, path)
        return records

    def _append(self, name: str, record: dict[str, Any]) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        with (self._dir / name).open("a") as out:
            out.write(json.dumps(record, sort_keys=True) + "\n")

    def _save_membership(self) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        scratch = self._dir / "membership.json.tmp"
        scratch.write_text(json.dumps({"joined": sorted(self._members)}, indent=1))
        os.replace(scratch, self._dir / "membership.json")  # atomic: never half a file

    # -- plumbing ----------------------------------------------------------------------------------

    def _api(self, request: Request) -> Response:
        handler = self._methods.get(request.params["method"])
        if handler is None:
            return self.error(404, f"{request.params['method']} is not a method the sandbox knows")
        try:
            args = _arguments(request)
            self._authenticate(request, args)
            return Response(200, {"ok": True, **handler(request, args)})
        except SlackError as failure:
            return Response(200, _failure(failure.code, failure.detail))

    def _authenticate(self, request: Request, args: Args) -> None:
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        token = credential.strip() if scheme.lower() == "bearer" else args.pop("token", None)
        if not token:
            raise SlackError("not_authed")
        if token != self.token:
            raise SlackError("invalid_auth")

    def _resolve(self, ref: Any, *, by_name: bool) -> Channel:
        """A channel by id; chat.postMessage alone also takes names, like Slack."""
        channel = self._by_id.get(ref) if isinstance(ref, str) else None
        if channel is None and by_name and isinstance(ref, str):
            channel = self._by_name.get(ref.lstrip("#"))
        if channel is None:
            wanted = "a channel name or id" if by_name else "a channel id"
            raise SlackError("channel_not_found", f"no channel {ref!r}; this method takes {wanted}")
        return channel

    def _member_channel(self, ref: Any, *, by_name: bool = False) -> Channel:
        channel = self._resolve(ref, by_name=by_name)
        if channel.id not in self._members:
            raise SlackError("not_in_channel")
        return channel

    def _next_ts(self) -> str:
        # Microseconds, strictly increasing: ts is a message's identity within a channel.
        self._last_micros = max(time.time_ns() // 1000, self._last_micros + 1)
        return _ts_of(self._last_micros)

    def _check_thread(self, channel: Channel, thread_ts: Any) -> str | None:
        if thread_ts in (None, ""):
            return None
        if (channel.id, thread_ts) not in self._messages:
            raise SlackError("invalid_thread_ts", f"no message {thread_ts} in #{channel.name}")
        return str(thread_ts)

    def _record_message(self, record: dict[str, Any]) -> None:
        self._messages[(record["channel"], record["ts"])] = record
        self._append("messages.jsonl", record)

    # -- views: what Slack returns -----------------------------------------------------------------

    def _channel_view(self, channel: Channel) -> dict[str, Any]:
        empty_text = {"value": "", "creator": "", "last_set": 0}
        return {
            "id": channel.id,
            "name": channel.name,
            "name_normalized": channel.name,
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_mpim": False,
            "is_private": False,
            "is_archived": False,
            "is_general": False,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_member": channel.id in self._members,
            "created": CHANNEL_CREATED,
            "creator": "U0SANDBOXAD",
            "context_team_id": TEAM_ID,
            "unlinked": 0,
            "topic": empty_text,
            "purpose": empty_text,
            "previous_names": [],
            "num_members": 2 if channel.id in self._members else 1,
        }

    def _message_view(self, record: dict[str, Any], *, with_metadata: bool = False) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "text": record["text"],
            "ts": record["ts"],
        }
        if record.get("blocks"):
            message["blocks"] = record["blocks"]
        if record.get("thread_ts"):
            message["thread_ts"] = record["thread_ts"]
        if record.get("files"):
            message["files"] = [self._file_view(self._files[f]) for f in record["files"] if f in self._files]
            message["upload"] = True
        if record.get("edited_ts"):
            message["edited"] = {"user": BOT_USER_ID, "ts": record["edited_ts"]}
        if with_metadata and record.get("metadata"):
            message["metadata"] = record["metadata"]
        return message

    def _file_view(self, record: dict[str, Any]) -> dict[str, Any]:
        file_id, name = record["id"], record["name"]
        extension = Path(name).suffix.lstrip(".").lower()
        shared = record["channel"] is not None and _shown(record)
        view: dict[str, Any] = {
            "id": file_id,
            "created": record["created"],
            "timestamp": record["created"],
            "name": name,
            "title": record["title"],
            "mimetype": record["mimetype"],
            "filetype": extension or "binary",
            "pretty_type": extension.upper() or "Binary",
            "user": BOT_USER_ID,
            "user_team": TEAM_ID,
            "editable": False,
            "size": record["size"],
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": shared,
            "public_url_shared": False,
            "display_as_bot": False,
            "url_private": f"https://files.slack.com/files-pri/{TEAM_ID}-{file_id}/{name}",
            "url_private_download": f"https://files.slack.com/files-pri/{TEAM_ID}-{file_id}/download/{name}",
            "permalink": f"https://metapipeline-sandbox.slack.com/files/{BOT_USER_ID}/{file_id}/{name}",
            "channels": [record["channel"]] if shared else [],
            "groups": [],
            "ims": [],
            "comments_count": 0,
            "shares": {},
        }
        if record.get("alt_txt"):
            view["alt_txt"] = record["alt_txt"]
        if shared:
            share = {
                "ts": record["ts"],
                "channel_name": record["channel_name"],
                "team_id": TEAM_ID,
                "share_user_id": BOT_USER_ID,
                "reply_users": [],
                "reply_users_count": 0,
                "reply_count": 0,
            }
            view["shares"] = {"public": {record["channel"]: [share]}}
        return view

    # -- methods -----------------------------------------------------------------------------------

    def _auth_test(self, request: Request, args: Args) -> dict[str, Any]:
        return {
            "url": "https://metapipeline-sandbox.slack.com/",
            "team": TEAM_NAME,
            "user": "metapipeline",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _post_message(self, request: Request, args: Args) -> dict[str, Any]:
        if args.get("channel") in (None, ""):
            raise SlackError("channel_not_found", "channel is required")
        blocks, text, metadata = _blocks(args), _text(args), _metadata(args)
        if not text and not blocks and not args.get("attachments"):
            raise SlackError("no_text")
        with self._lock:
            channel = self._member_channel(args["channel"], by_name=True)
            shown_files = self._block_files(blocks or [])
            ts = self._next_ts()
            record = {
                "channel": channel.id,
                "channel_name": channel.name,
                "ts": ts,
                "text": text,
                "blocks": blocks,
                "thread_ts": self._check_thread(channel, args.get("thread_ts")),
                "files": [],
                "user": BOT_USER_ID,
                "metadata": metadata,
            }
            self._record_message(record)
            self._share_later(shown_files, channel, ts)
            return {"channel": channel.id, "ts": record["ts"], "message": self._message_view(record)}

    def _block_files(self, blocks: list[dict[str, Any]]) -> list[str]:
        """The uploads image blocks show: each must be a completed image upload of the bot's."""
        by_url = {
            url: record["id"]
            for record in self._files.values()
            for url in (self._file_view(record)["url_private"], self._file_view(record)["permalink"])
        }
        found = []
        for number, block in enumerate(blocks):
            source = block.get("slack_file") if block["type"] == "image" else None
            if source is None:
                continue
            where = f"[json-pointer:/blocks/{number}/slack_file]"
            if not isinstance(source, dict) or len({"id", "url"} & set(source)) != 1:
                raise SlackError("invalid_blocks", f"a slack_file needs exactly one of id, url {where}")
            file_id = source.get("id") or by_url.get(str(source.get("url")))
            record = self._files.get(str(file_id))
            if record is None:
                raise SlackError("invalid_blocks", f"no such file {where}")
            if Path(record["name"]).suffix.lstrip(".").lower() not in IMAGE_TYPES:
                raise SlackError(
                    "invalid_blocks", f"only png, jpg, jpeg and gif files show as images {where}"
                )
            found.append(record["id"])
        return found

    def _share_later(self, file_ids: list[str], channel: Channel, ts: str) -> None:
        """Share private uploads at a message, after the delay (a file already shared stays where it is)."""
        for file_id in dict.fromkeys(file_ids):
            record = self._files[file_id]
            if record["channel"] is not None:
                continue
            record = {
                **record,
                "channel": channel.id,
                "channel_name": channel.name,
                "ts": ts,
                "shown_at": time.time() + self.share_delay_s,
            }
            self._files[file_id] = record
            self._append("files.jsonl", record)  # a later line for the same id wins on reload

    def _update_message(self, request: Request, args: Args) -> dict[str, Any]:
        _require(args, "channel", "ts")
        blocks, text = _blocks(args), _text(args)
        with self._lock:
            channel = self._member_channel(args["channel"])
            old = self._messages.get((channel.id, args["ts"]))
            if old is None:
                raise SlackError("message_not_found")
            changes: dict[str, Any] = {"text": text} if "text" in args else {}
            if "blocks" in args:
                changes["blocks"] = blocks
            record = {**old, **changes, "edited_ts": self._next_ts()}
            self._record_message(record)
            return {
                "channel": channel.id,
                "ts": record["ts"],
                "text": record["text"],
                "message": self._message_view(record),
            }

    def _list_conversations(self, request: Request, args: Args) -> dict[str, Any]:
        types = str(args.get("types") or "public_channel").split(",")
        channels = self._channels if "public_channel" in types else []
        try:
            limit = max(1, min(int(args.get("limit") or 100), 1000))
            start = self._cursor_position(str(args.get("cursor") or ""), channels)
        except ValueError:
            raise SlackError(
                "invalid_arguments", "limit must be a number and cursor one we handed out"
            ) from None
        end = start + limit
        next_cursor = (
            base64.b64encode(f"channel:{channels[end].id}".encode()).decode() if end < len(channels) else ""
        )
        return {
            "channels": [self._channel_view(c) for c in channels[start:end]],
            "response_metadata": {"next_cursor": next_cursor},
        }

    @staticmethod
    def _cursor_position(cursor: str, channels: list[Channel]) -> int:
        # Slack cursors are base64 of "<kind>:<id to start at>".
        if not cursor:
            return 0
        try:
            kind, _, channel_id = base64.b64decode(cursor, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise ValueError(cursor) from None
        ids = [c.id for c in channels]
        if kind != "channel" or channel_id not in ids:
            raise ValueError(cursor)
        return ids.index(channel_id)

    def _conversation_info(self, request: Request, args: Args) -> dict[str, Any]:
        return {"channel": self._channel_view(self._resolve(args.get("channel"), by_name=False))}

    def _join_conversation(self, request: Request, args: Args) -> dict[str, Any]:
        with self._lock:
            channel = self._resolve(args.get("channel"), by_name=False)
            if channel.id in self._members:
                return {
                    "channel": self._channel_view(channel),
                    "warning": "already_in_channel",
                    "response_metadata": {"warnings": ["already_in_channel"]},
                }
            self._members.add(channel.id)
            self._save_membership()
            return {"channel": self._channel_view(channel)}

    def _history(self, request: Request, args: Args) -> dict[str, Any]:
        """A channel's messages, newest first, without thread replies; metadata only when asked for."""
        _require(args, "channel")
        try:
            limit = max(1, min(int(args.get("limit") or 100), 999))
            oldest = _micros_of(str(args.get("oldest") or "0"))
            latest = _micros_of(str(args["latest"])) if args.get("latest") else None
            before = self._history_cursor(str(args.get("cursor") or ""))
        except ValueError:
            raise SlackError(
                "invalid_arguments", "limit, oldest and latest are numbers, cursor one we handed out"
            ) from None
        inclusive, with_metadata = _flag(args, "inclusive"), _flag(args, "include_all_metadata")
        with self._lock:
            channel = self._member_channel(args["channel"])
            found = []
            for record in self._messages.values():
                micros = _micros_of(record["ts"])
                if record["channel"] != channel.id or not _shown(record):
                    continue
                if record.get("thread_ts") not in (None, record["ts"]):
                    continue
                if micros < oldest or (micros == oldest and not inclusive and oldest):
                    continue
                if latest is not None and (micros > latest or (micros == latest and not inclusive)):
                    continue
                if before is not None and micros >= before:
                    continue
                found.append(record)
            found.sort(key=lambda m: _micros_of(m["ts"]), reverse=True)
            page, more = found[:limit], len(found) > limit
            next_cursor = base64.b64encode(f"next_ts:{page[-1]['ts']}".encode()).decode() if more else ""
            return {
                "messages": [self._message_view(m, with_metadata=with_metadata) for m in page],
                "has_more": more,
                "pin_count": 0,
                "channel_actions_ts": None,
                "channel_actions_count": 0,
                "response_metadata": {"next_cursor": next_cursor},
            }

    @staticmethod
    def _history_cursor(cursor: str) -> int | None:
        """The ts a page ends before (cursors are base64 of "next_ts:<ts>")."""
        if not cursor:
            return None
        try:
            kind, _, ts = base64.b64decode(cursor, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise ValueError(cursor) from None
        if kind != "next_ts":
            raise ValueError(cursor)
        return _micros_of(ts)

    def _get_upload_url(self, request: Request, args: Args) -> dict[str, Any]:
        _require(args, "filename", "length")
        try:
            length = int(args["length"])
        except (TypeError, ValueError):
            raise SlackError("invalid_arguments", "length must be a number of bytes") from None
        alt_txt = args.get("alt_txt") or None
        if alt_txt is not None:
            # Slack documents alt_txt for images and has been seen to drop the share of a PDF
            # carrying one (python-slack-sdk#1818): the sandbox refuses instead of failing silently.
            if Path(str(args["filename"])).suffix.lstrip(".").lower() not in IMAGE_TYPES:
                raise SlackError("invalid_arguments", "alt_txt describes an image (png, jpg, jpeg, gif)")
            if len(str(alt_txt)) > MAX_ALT_TXT_CHARS:
                raise SlackError(
                    "invalid_arguments", f"alt_txt is longer than {MAX_ALT_TXT_CHARS} characters"
                )
        with self._lock:
            # Random like Slack's, so ids stay unique across restarts without a counter on disk.
            file_id = "F" + secrets.token_hex(5).upper()
            self._pending[file_id] = {
                "filename": str(args["filename"]),
                "length": length,
                "alt_txt": alt_txt,
                "path": None,
            }
        host = request.headers.get("host", "127.0.0.1")
        # A random tail, like Slack's signed URLs; the file id is what the route needs.
        upload_url = f"http://{host}/upload/v1/{file_id}?sig={secrets.token_urlsafe(12)}"
        return {"upload_url": upload_url, "file_id": file_id}

    def _upload(self, request: Request) -> Response:
        file_id = request.params["file_id"]
        content_type = request.headers.get("content-type", "")
        data = request.body
        if content_type.lower().startswith("multipart/form-data"):
            data = _multipart_file(request.body, content_type) or b""
        with self._lock:
            pending = self._pending.get(file_id)
            if pending is None:
                return Response(404, b"unknown upload", content_type="text/plain; charset=utf-8")
            safe_name = _SAFE_FILENAME.sub("_", Path(pending["filename"]).name) or "file"
            relative = f"files/{file_id}_{safe_name}"
            self._files_dir.mkdir(parents=True, exist_ok=True)
            (self._dir / relative).write_bytes(data)
            pending.update(path=relative, size=len(data))
        # What files.slack.com answers to a successful upload.
        return Response(200, f"OK - {len(data)}".encode(), content_type="text/plain; charset=utf-8")

    def _file_info(self, request: Request, args: Args) -> dict[str, Any]:
        """A completed upload (with where it was shared); one never completed is not a file yet."""
        _require(args, "file")
        with self._lock:
            record = self._files.get(str(args["file"]))
            if record is None:
                raise SlackError("file_not_found")
            return {"file": self._file_view(record), "comments": [], "response_metadata": {"next_cursor": ""}}

    def _complete_upload(self, request: Request, args: Args) -> dict[str, Any]:
        entries = _json_argument(args, "files")
        if not isinstance(entries, list) or not all(isinstance(e, dict) and e.get("id") for e in entries):
            raise SlackError("invalid_arguments", "files must be a JSON list of {id, title}")
        if not entries or len({e["id"] for e in entries}) != len(entries):
            raise SlackError("invalid_arguments", "files must name each upload once")
        refs = [r for r in str(args.get("channels") or "").split(",") if r]
        if args.get("channel_id"):
            refs.insert(0, args["channel_id"])
        if len(set(refs)) > 1:
            raise SlackError("invalid_arguments", "the sandbox shares an upload into one channel at a time")
        blocks, comment = _blocks(args), str(args.get("initial_comment") or "")
        with self._lock:
            channel = self._member_channel(refs[0]) if refs else None
            thread_ts = self._check_thread(channel, args.get("thread_ts")) if channel else None
            for entry in entries:
                if self._pending.get(entry["id"], {}).get("path") is None:
                    raise SlackError("file_not_found", f"{entry['id']} was never uploaded")
            ts = self._next_ts() if channel else None
            now = int(time.time())
            # Sharing is asynchronous on Slack: the message and the shares show a moment later.
            shown_at = time.time() + self.share_delay_s
            for entry in entries:
                pending = self._pending.pop(entry["id"])
                name = pending["filename"]
                record = {
                    "id": entry["id"],
                    "name": name,
                    "title": entry.get("title") or name,
                    "alt_txt": pending["alt_txt"],
                    "size": pending["size"],
                    "mimetype": mimetypes.guess_type(name)[0] or "application/octet-stream",
                    "path": pending["path"],
                    "channel": channel.id if channel else None,
                    "channel_name": channel.name if channel else None,
                    "ts": ts,
                    "created": now,
                    "shown_at": shown_at if channel else None,
                }
                self._files[record["id"]] = record
                self._append("files.jsonl", record)
            if channel and ts:
                self._record_message(
                    {
                        "channel": channel.id,
                        "channel_name": channel.name,
                        "ts": ts,
                        "text": comment,
                        "blocks": blocks,
                        "thread_ts": thread_ts,
                        "files": [e["id"] for e in entries],
                        "user": BOT_USER_ID,
                        "shown_at": shown_at,
                    }
                )
            return {"files": [self._file_view(self._files[e["id"]]) for e in entries]}

"""Posting to Slack through slack-sdk: escaped text, charts as files, never the same post twice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from metapipeline.store.ledger import Ledger


def escape_mrkdwn(text: str) -> str:
    """Slack's three control characters; everything else people typed stays as it is."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class SlackPost:
    channel_id: str
    ts: str
    reused: bool  # True when this key was posted before and nothing was sent


class SlackPoster:
    def __init__(self, token: str, channel: str, *, base_url: str | None = None):
        self.client = WebClient(token=token, base_url=base_url or WebClient.BASE_URL)
        self.client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=3))
        self.channel = channel

    def channel_id(self) -> str:
        """Resolve `#name` (or an id) to the id that file uploads need, joining it if necessary."""
        wanted = self.channel.lstrip("#")
        for page in self.client.conversations_list(types="public_channel,private_channel", limit=200):
            for channel in page["channels"]:
                if wanted in (channel["id"], channel["name"]):
                    if not channel.get("is_member"):
                        self.client.conversations_join(channel=channel["id"])
                    return str(channel["id"])
        raise ValueError(
            f"Slack channel {self.channel} not found (or the bot cannot see it); invite the bot to it"
        )

    def post(self, key: str, text: str, files: Sequence[Path], ledger: Ledger) -> SlackPost:
        """Post `text` with `files` once per `key`: a retried step finds its post in the ledger."""
        done = ledger.slack_post(key)
        if done is not None:
            return SlackPost(done[0], done[1], reused=True)
        channel_id = self.channel_id()
        if files:
            response = self.client.files_upload_v2(
                channel=channel_id,
                initial_comment=text,
                file_uploads=[{"file": str(path), "title": path.stem.replace("_", " ")} for path in files],
            )
            shares = response["files"][0].get("shares", {})
            ts = next(iter(v[0]["ts"] for scope in shares.values() for v in scope.values()), "")
        else:
            ts = str(self.client.chat_postMessage(channel=channel_id, text=text)["ts"])
        ledger.record_slack_post(key, channel_id, ts)
        return SlackPost(channel_id, ts, reused=False)


def daily_summary(
    priorities: list[dict[str, Any]], archived: list[str], removal_candidates: list[str], pr_urls: list[str]
) -> str:
    """The message above the charts: what to optimise first, what was cleaned, where to review."""
    lines = ["*metapipeline daily report*"]
    if priorities:
        lines.append("*Optimise first* (importance x recent run time):")
        for row in priorities[:5]:
            owner = f" ({escape_mrkdwn(str(row['owner']))})" if row.get("owner") else ""
            lines.append(
                f"• `{escape_mrkdwn(str(row['name']))}`{owner}: {float(row['recent_run_seconds']):.0f} s/week"
            )
    lines.append(f"*Mode reports archived today:* {len(archived)}")
    lines += [f"• {escape_mrkdwn(name)}" for name in archived[:10]]
    lines.append(f"*dbt models proposed for removal:* {len(removal_candidates)}")
    lines += [f"• `{escape_mrkdwn(name)}`" for name in removal_candidates[:10]]
    lines += [f"Review: {escape_mrkdwn(url)}" for url in pr_urls]
    return "\n".join(lines)

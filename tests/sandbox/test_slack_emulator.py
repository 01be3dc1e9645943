"""The Slack emulator answers slack-sdk's real WebClient over HTTP: posting, channels, uploads, faults."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from metapipeline.sandbox.faults import FaultSettings
from metapipeline.sandbox.harness import EmulatorServer
from metapipeline.sandbox.slack_emulator import BOT_USER_ID, SlackEmulator

# Two small, different PNGs (signature + junk including CR/LF bytes, which must survive untouched).
PNG_A = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PNG_B = b"\x89PNG\r\n\x1a\n" + b"\r\n\x00chart-b\n\r" * 300


@pytest.fixture
def start_slack(tmp_path: Path) -> Iterator[Callable[..., EmulatorServer]]:
    """Start a Slack emulator over `tmp_path` and stop it after the test."""
    servers: list[EmulatorServer] = []

    def start(faults: FaultSettings | None = None, **options: Any) -> EmulatorServer:
        server = EmulatorServer(SlackEmulator(tmp_path, **options), faults)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def client_for(server: EmulatorServer, token: str | None = None) -> WebClient:
    """A WebClient configured the way the product configures it: from the emulator's env."""
    env = server.emulator.env(server.base_url)
    return WebClient(token=token or env["SLACK_BOT_TOKEN"], base_url=env["SLACK_API_URL"], timeout=5)


def emulator(server: EmulatorServer) -> SlackEmulator:
    assert isinstance(server.emulator, SlackEmulator)
    return server.emulator


def channel_id(client: WebClient, name: str) -> str:
    return next(c["id"] for c in client.conversations_list()["channels"] if c["name"] == name)


def slack_error(call: Callable[[], Any]) -> str:
    with pytest.raises(SlackApiError) as caught:
        call()
    assert caught.value.response.status_code == 200  # Slack reports method failures in the body
    return str(caught.value.response["error"])


def test_env_points_the_client_at_the_emulator(start_slack):
    server = start_slack(channels=("#data-platform", "#alerts"))
    env = server.emulator.env(server.base_url)
    assert env == {
        "SLACK_API_URL": f"{server.base_url}/api/",
        "SLACK_BOT_TOKEN": "xoxb-sandbox-token",
        "SLACK_CHANNEL": "#data-platform",
    }


def test_auth_test_names_the_bot(start_slack):
    response = client_for(start_slack()).auth_test()
    assert response["ok"] is True
    assert response["user_id"] == BOT_USER_ID
    assert response["bot_id"].startswith("B") and response["team_id"].startswith("T")


def test_bad_or_missing_token_fails_like_slack(start_slack):
    server = start_slack()
    assert slack_error(client_for(server, token="xoxb-wrong").auth_test) == "invalid_auth"
    # A token in the form body counts too, and none at all is not_authed.
    url = f"{server.base_url}/api/auth.test"
    assert requests.post(url, data={"token": "xoxb-sandbox-token"}, timeout=5).json()["ok"] is True
    assert requests.post(url, timeout=5).json() == {"ok": False, "error": "not_authed"}


def test_post_message_by_name_and_id_with_blocks_and_a_thread(start_slack):
    server = start_slack()
    client = client_for(server)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Weekly* summary"}}]
    first = client.chat_postMessage(channel="#data-platform", text="Weekly summary", blocks=blocks)
    assert first["channel"].startswith("C")
    assert first["message"]["text"] == "Weekly summary" and first["message"]["blocks"] == blocks
    reply = client.chat_postMessage(channel=first["channel"], text="details", thread_ts=first["ts"])
    assert reply["message"]["thread_ts"] == first["ts"]
    assert float(reply["ts"]) > float(first["ts"])

    posted = emulator(server).messages("#data-platform")
    assert [(m["text"], m["thread_ts"]) for m in posted] == [
        ("Weekly summary", None),
        ("details", first["ts"]),
    ]
    assert posted[0]["blocks"] == blocks


def test_post_to_unknown_channel_or_thread_fails(start_slack):
    client = client_for(start_slack())
    assert slack_error(lambda: client.chat_postMessage(channel="#nowhere", text="hi")) == "channel_not_found"
    no_parent = {"channel": "#data-platform", "text": "hi", "thread_ts": "1.000001"}
    assert slack_error(lambda: client.chat_postMessage(**no_parent)) == "invalid_thread_ts"
    with pytest.warns(UserWarning, match="text"):  # slack-sdk warns before sending, Slack refuses
        assert slack_error(lambda: client.chat_postMessage(channel="#data-platform")) == "no_text"


def test_not_in_channel_until_the_bot_joins(start_slack):
    server = start_slack(channels=("#data-platform", "#alerts"), bot_member_of=("#data-platform",))
    client = client_for(server)
    alerts = channel_id(client, "alerts")
    assert slack_error(lambda: client.chat_postMessage(channel="#alerts", text="hi")) == "not_in_channel"
    assert client.conversations_info(channel=alerts)["channel"]["is_member"] is False
    # Like Slack, conversations.join wants the id, not the name.
    assert slack_error(lambda: client.conversations_join(channel="#alerts")) == "channel_not_found"

    joined = client.conversations_join(channel=alerts)
    assert joined["channel"]["is_member"] is True and "warning" not in joined
    assert client.conversations_join(channel=alerts)["warning"] == "already_in_channel"
    assert client.chat_postMessage(channel="#alerts", text="hi")["channel"] == alerts


def test_conversations_list_pages_with_cursors(start_slack):
    client = client_for(start_slack(channels=("#a", "#b", "#c")))
    # Iterating a SlackResponse follows next_cursor, refilling the same object: read each page as it comes.
    pages = [[c["name"] for c in page["channels"]] for page in client.conversations_list(limit=2)]
    assert pages == [["a", "b"], ["c"]]


def eventually(check: Callable[[], Any], seconds: float = 10.0) -> Any:
    """`check()` once it is truthy: a delayed share shows after a moment (this waits, it asserts no time)."""
    deadline = time.monotonic() + seconds
    while not (result := check()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return result


def test_files_upload_v2_puts_both_files_in_one_message_shared_a_moment_later(start_slack, tmp_path):
    server = start_slack(share_delay_s=0.3)
    client = client_for(server)
    target = channel_id(client, "data-platform")
    response = client.files_upload_v2(
        file_uploads=[
            {"file": PNG_A, "filename": "freshness.png", "title": "Freshness", "alt_txt": "Freshness by day"},
            {"file": PNG_B, "filename": "usage.png", "title": "Usage"},
        ],
        channel=target,
        initial_comment="Charts for this week",
    )
    assert [f["title"] for f in response["files"]] == ["Freshness", "Usage"]
    assert all(f["mimetype"] == "image/png" for f in response["files"])
    assert response["files"][0]["alt_txt"] == "Freshness by day" and "alt_txt" not in response["files"][1]
    # Like Slack: the completion answers before the files are shared (and before the message shows).
    assert [f["shares"] for f in response["files"]] == [{}, {}]

    files = emulator(server).files()
    assert [Path(f["path"]).read_bytes() for f in files] == [PNG_A, PNG_B]
    assert all(Path(f["path"]).is_relative_to(tmp_path / "slack" / "files") for f in files)
    (message,) = emulator(server).messages("#data-platform")
    assert message["text"] == "Charts for this week"
    assert message["files"] == [f["id"] for f in files]
    assert {(f["channel"], f["ts"]) for f in files} == {(target, message["ts"])}
    shares = eventually(lambda: client.files_info(file=files[0]["id"])["file"]["shares"])
    assert shares["public"][target][0]["ts"] == message["ts"]
    assert client.conversations_history(channel=target)["messages"][0]["ts"] == message["ts"]


def test_shares_are_delayed_by_default(start_slack):
    client = client_for(start_slack())
    target = channel_id(client, "data-platform")
    response = client.files_upload_v2(file=PNG_A, filename="a.png", channel=target, initial_comment="hi")
    assert response["file"]["shares"] == {}
    assert client.files_info(file=response["file"]["id"])["file"]["shares"] == {}
    assert client.conversations_history(channel=target)["messages"] == []  # the message shows later too


def test_alt_txt_is_for_images_only(start_slack):
    client = client_for(start_slack())
    refused = slack_error(lambda: client.files_getUploadURLExternal(filename="r.pdf", length=3, alt_txt="x"))
    assert refused == "invalid_arguments"
    long_alt = "x" * 2001
    refused = slack_error(
        lambda: client.files_getUploadURLExternal(filename="a.png", length=3, alt_txt=long_alt)
    )
    assert refused == "invalid_arguments"


def test_image_blocks_show_private_uploads_and_share_them_later(start_slack):
    server = start_slack(share_delay_s=0.3)
    client = client_for(server)
    target = channel_id(client, "data-platform")
    upload = client.files_upload_v2(file=PNG_A, filename="chart.png", title="Chart", alt_txt="A rising line")
    file_id = upload["file"]["id"]
    assert (upload["file"]["shares"], upload["file"]["alt_txt"]) == ({}, "A rising line")  # private

    def image(**fields: Any) -> list[dict[str, Any]]:
        return [{"type": "image", "alt_text": "A rising line", **fields}]

    posted = client.chat_postMessage(channel=target, text="report", blocks=image(slack_file={"id": file_id}))
    shares = eventually(lambda: client.files_info(file=file_id)["file"]["shares"])
    assert shares["public"][target][0]["ts"] == posted["ts"]

    refusals = [
        image(slack_file={"id": "F0NOSUCHFILE"}),
        image(slack_file={"id": file_id, "url": upload["file"]["permalink"]}),
        [{"type": "image", "slack_file": {"id": file_id}}],  # no alt_text
        [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}],
    ]
    for blocks in refusals:
        assert slack_error(lambda b=blocks: client.chat_postMessage(channel=target, text="r", blocks=b)) == (
            "invalid_blocks"
        )
    by_permalink = client.chat_postMessage(
        channel=target, text="again", blocks=image(slack_file={"url": upload["file"]["permalink"]})
    )
    assert by_permalink["ok"] is True


def test_metadata_is_kept_and_history_returns_it_only_when_asked(start_slack):
    server = start_slack(share_delay_s=0)
    client = client_for(server)
    target = channel_id(client, "data-platform")
    metadata = {"event_type": "report_posted", "event_payload": {"key": "run-1"}}
    first = client.chat_postMessage(channel=target, text="one", metadata=metadata)
    client.chat_postMessage(channel=target, text="reply", thread_ts=first["ts"])  # not in history
    second = client.chat_postMessage(channel=target, text="two")

    plain = client.conversations_history(channel=target)["messages"]
    assert [(m["text"], "metadata" in m) for m in plain] == [("two", False), ("one", False)]
    full = client.conversations_history(channel=target, include_all_metadata=True)["messages"]
    assert [m.get("metadata") for m in full] == [None, metadata]
    # Pages, newest first; oldest is exclusive unless inclusive.
    pages = [
        [m["text"] for m in page["messages"]]
        for page in client.conversations_history(channel=target, limit=1)
    ]
    assert pages == [["two"], ["one"]]
    assert (
        client.conversations_history(channel=target, oldest=first["ts"])["messages"][0]["ts"] == second["ts"]
    )
    assert (
        len(client.conversations_history(channel=target, oldest=first["ts"], inclusive=True)["messages"]) == 2
    )

    bad = [
        {"event_type": "has space", "event_payload": {}},
        {"event_type": "ok", "event_payload": "not an object"},
        {"event_type": "ok"},
    ]
    errors = [
        slack_error(lambda m=m: client.chat_postMessage(channel=target, text="x", metadata=m)) for m in bad
    ]
    assert errors == ["invalid_metadata_schema", "invalid_metadata_schema", "invalid_metadata_format"]


def test_history_wants_a_member_and_a_channel_id(start_slack):
    server = start_slack(channels=("#data-platform", "#alerts"), bot_member_of=("#data-platform",))
    client = client_for(server)
    assert slack_error(lambda: client.conversations_history(channel="#data-platform")) == "channel_not_found"
    alerts = channel_id(client, "alerts")
    assert slack_error(lambda: client.conversations_history(channel=alerts)) == "not_in_channel"


def test_upload_url_takes_multipart_too_and_chat_update_edits(start_slack):
    server = start_slack()
    client = client_for(server)
    target = channel_id(client, "data-platform")
    ticket = client.files_getUploadURLExternal(filename="chart.png", length=len(PNG_A))
    upload = requests.post(ticket["upload_url"], files={"file": ("chart.png", PNG_A)}, timeout=5)
    assert upload.status_code == 200 and upload.text == f"OK - {len(PNG_A)}"
    client.files_completeUploadExternal(
        files=[{"id": ticket["file_id"], "title": "Chart"}], channel_id=target
    )
    (stored,) = emulator(server).files()
    assert Path(stored["path"]).read_bytes() == PNG_A

    posted = client.chat_postMessage(channel=target, text="draft")
    updated = client.chat_update(channel=target, ts=posted["ts"], text="final")
    assert updated["message"]["text"] == "final" and "edited" in updated["message"]
    assert [m["text"] for m in emulator(server).messages(target)] == ["", "final"]


def test_a_429_is_retried_after_retry_after(start_slack):
    # A seed whose first roll lands under 0.5 and second over it: exactly one 429, then success.
    seed = next(s for s in range(1000) if (r := random.Random(s)).random() < 0.5 <= r.random())
    faults = FaultSettings(rate_429=0.5, retry_after_s=0, path_pattern=r"chat\.postMessage", seed=seed)
    server = start_slack(faults=faults)
    client = client_for(server)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))

    assert client.chat_postMessage(channel="#data-platform", text="after a pause")["ok"] is True
    assert server.stats()["fault_429"] == 1
    assert [m["text"] for m in emulator(server).messages()] == ["after a pause"]


def test_a_429_looks_like_slacks(start_slack):
    server = start_slack(faults=FaultSettings(rate_429=1.0, retry_after_s=7))
    with pytest.raises(SlackApiError) as caught:
        client_for(server).auth_test()
    response = caught.value.response
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.data == {"ok": False, "error": "ratelimited"}


def test_messages_files_and_membership_survive_a_restart(start_slack):
    options = {"channels": ("#data-platform", "#alerts"), "bot_member_of": ("#data-platform",)}
    first = start_slack(**options)
    client = client_for(first)
    client.conversations_join(channel=channel_id(client, "alerts"))
    client.chat_postMessage(channel="#alerts", text="before")
    client.files_upload_v2(file=PNG_A, filename="a.png", channel=channel_id(client, "data-platform"))
    before_messages, before_files = emulator(first).messages(), emulator(first).files()
    first.stop()

    second = start_slack(**options)
    assert emulator(second).messages() == before_messages
    assert emulator(second).files() == before_files
    after = client_for(second).chat_postMessage(channel="#alerts", text="after")  # still a member
    assert float(after["ts"]) > max(float(m["ts"]) for m in before_messages)
    assert [m["text"] for m in emulator(second).messages("#alerts")] == ["before", "after"]

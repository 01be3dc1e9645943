"""Posting to the Slack emulator with slack-sdk: escaped text, charts, one post per key."""

from __future__ import annotations

from pathlib import Path

import pytest

from metapipeline.actions.slack import SlackPoster, escape_mrkdwn
from metapipeline.sandbox.harness import EmulatorServer
from metapipeline.sandbox.slack_emulator import SlackEmulator
from metapipeline.store.ledger import Ledger

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


@pytest.fixture
def slack(tmp_path):
    server = EmulatorServer(SlackEmulator(tmp_path / "slack-data"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def ledger(tmp_path):
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    yield ledger
    ledger.close()


def _poster(server: EmulatorServer) -> SlackPoster:
    env = server.emulator.env(server.base_url)
    return SlackPoster(env["SLACK_BOT_TOKEN"], env["SLACK_CHANNEL"], base_url=env["SLACK_API_URL"])


def test_charts_and_summary_land_in_one_message_once(slack, ledger, tmp_path):
    charts = []
    for name in ("models_run_per_day", "top_models"):
        path = tmp_path / f"{name}.png"
        path.write_bytes(PNG + name.encode())
        charts.append(path)
    first = _poster(slack).post("run-1:summary", "*Daily report*", charts, ledger)
    again = _poster(slack).post("run-1:summary", "*Daily report*", charts, ledger)  # a retried step
    assert (again.ts, again.reused, first.reused) == (first.ts, True, False)
    emulator = slack.emulator
    (message,) = emulator.messages()
    assert message["text"] == "*Daily report*"
    files = emulator.files()
    assert sorted(f["title"] for f in files) == ["models run per day", "top models"]
    for record in files:
        assert Path(record["path"]).read_bytes().startswith(PNG)


def test_text_only_posts_and_unknown_channels(slack, ledger):
    post = _poster(slack).post("run-2:alert", "run failed", [], ledger)
    assert post.ts and slack.emulator.messages()[0]["text"] == "run failed"
    env = slack.emulator.env(slack.base_url)
    lost = SlackPoster(env["SLACK_BOT_TOKEN"], "#nowhere", base_url=env["SLACK_API_URL"])
    with pytest.raises(ValueError, match="#nowhere not found"):
        lost.post("run-3:alert", "x", [], ledger)


def test_mrkdwn_control_characters_are_escaped():
    assert escape_mrkdwn("<!channel> & <https://x|click>") == "&lt;!channel&gt; &amp; &lt;https://x|click&gt;"

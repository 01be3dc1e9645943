"""Posting to the Slack emulator with slack-sdk: escaped text, charts, one post per key."""

from __future__ import annotations

from pathlib import Path

import pytest

from metapipeline.actions.slack import SlackPoster, _message_blocks, daily_summary, escape_mrkdwn
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
    described = {"models_run_per_day.png": "Line chart of models run per day"}
    first = _poster(slack).post("run-1:summary", "*Daily report*", charts, ledger, alt_texts=described)
    again = _poster(slack).post("run-1:summary", "*Daily report*", charts, ledger)  # a retried step
    assert (again.ts, again.reused, first.reused) == (first.ts, True, False)
    emulator = slack.emulator
    (message,) = emulator.messages()
    assert message["text"] == "*Daily report*"
    assert message["metadata"] == {
        "event_type": "metapipeline_post",
        "event_payload": {"key": "run-1:summary"},
    }
    files = emulator.files()
    assert sorted(f["title"] for f in files) == ["models run per day", "top models"]
    assert sorted(f["alt_txt"] for f in files) == ["Line chart of models run per day", "top models"]
    for record in files:
        assert Path(record["path"]).read_bytes().startswith(PNG)
        assert record["ts"] == message["ts"]  # shared by the message, once the share shows
    section, *images = message["blocks"]
    assert section["text"]["text"] == "*Daily report*"
    assert [block["slack_file"]["id"] for block in images] == [f["id"] for f in files]


def test_a_post_found_in_the_history_is_not_posted_again(slack, ledger):
    # An earlier try posted but crashed before the ledger heard of it: the history remembers.
    _poster(slack).post("run-4:summary", "first", [], ledger)
    fresh = Ledger("sqlite://")
    again = _poster(slack).post("run-4:summary", "first", [], fresh)
    (message,) = slack.emulator.messages()
    assert (again.reused, again.ts) == (True, message["ts"])
    assert fresh.slack_post("run-4:summary") == (again.channel_id, message["ts"])
    other = _poster(slack).post("run-5:summary", "second", [], fresh)
    assert not other.reused and len(slack.emulator.messages()) == 2
    fresh.close()


def test_long_summaries_split_into_sections_slack_accepts():
    text = "\n".join(f"line {n} " + "x" * 990 for n in range(7))
    blocks = _message_blocks(text, [{"id": "F1", "title": "t", "alt_txt": "a" * 2500}])
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert "\n".join(sections) == text and all(len(section) <= 3000 for section in sections)
    assert len(blocks[-1]["alt_text"]) == 2000


def test_pull_requests_are_labelled_by_purpose():
    text = daily_summary([], [], [], {"removal": "https://gh/pull/1", "exposures": "https://gh/pull/2"})
    assert text.splitlines()[-2:] == [
        "Remove unused models: https://gh/pull/1",
        "Sync exposures: https://gh/pull/2",
    ]
    several = {"removal freshcart": "https://gh/a/pull/1", "removal freshcart_finance": "https://gh/f/pull/1"}
    assert daily_summary([], [], [], several).splitlines()[-2:] == [
        "Remove unused models in freshcart: https://gh/a/pull/1",
        "Remove unused models in freshcart_finance: https://gh/f/pull/1",
    ]


def test_text_only_posts_and_unknown_channels(slack, ledger):
    post = _poster(slack).post("run-2:alert", "run failed", [], ledger)
    assert post.ts and slack.emulator.messages()[0]["text"] == "run failed"
    env = slack.emulator.env(slack.base_url)
    lost = SlackPoster(env["SLACK_BOT_TOKEN"], "#nowhere", base_url=env["SLACK_API_URL"])
    with pytest.raises(ValueError, match="#nowhere not found"):
        lost.post("run-3:alert", "x", [], ledger)


def test_mrkdwn_control_characters_are_escaped():
    assert escape_mrkdwn("<!channel> & <https://x|click>") == "&lt;!channel&gt; &amp; &lt;https://x|click&gt;"


def test_the_optimise_first_list_is_the_rows_given_priced_a_month_with_a_credit_rate():
    rows = [
        {"name": "fct_orders", "owner": "dana", "recent_run_seconds": 7 * 3600.0},
        {"name": "dim_stores", "owner": None, "recent_run_seconds": 70.0},
    ]
    listed = [line for line in daily_summary(rows, [], [], {}).splitlines() if line.startswith("• ")]
    assert listed == ["• `fct_orders` (dana): 25200 s/week", "• `dim_stores`: 70 s/week"]
    priced = daily_summary(rows, [], [], {}, credits_per_hour=2.0).splitlines()
    # 7 h a week is 30 h a month: 60 credits at 2 an hour.
    assert "• `fct_orders` (dana): 25200 s/week, about 60.00 credits a month" in priced
    assert "• `dim_stores`: 70 s/week, about 0.17 credits a month" in priced

"""Mode API payloads with missing keys, wrong types and bad timestamps.

The contract: `*.from_api` returns the object with a safe default (a name defaults to the token, a
missing count to 0, a link that is not one to None), or raises ModePayloadError (a ValueError)
naming the object and the field. Defaults are never guessed where a wrong one could archive a
report: a flag, count or timestamp of the wrong type is refused, and the snapshot records it as a
failure (so destructive steps refuse to run) while keeping every payload that did parse.

Inputs: 6 real shapes, 30 misleading payloads, 24 non-objects, 18 odd optional fields, 120
generated field mutations, 21 timestamp spellings, 80 generated timestamps, 1 snapshot with
malformed payloads among good ones.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hostile_inputs import examples, hostile_text, json_values
from hypothesis import event, given
from hypothesis import strategies as st

from metapipeline.mode.models import (
    Creator,
    DataSource,
    Definition,
    ModePayloadError,
    Query,
    Report,
    Space,
    parse_mode_timestamp,
)
from metapipeline.mode.snapshot import take_snapshot

REPORT: dict[str, Any] = {
    "token": "75737b70402e",
    "name": "Weekly KPIs",
    "space_token": "f7a4d0a7c2b1",
    "created_at": "2021-12-10T20:55:24.316Z",
    "updated_at": "2021-12-10T23:12:51.156Z",
    "edited_at": "2021-12-10T23:12:51.156Z",
    "last_run_at": "2021-12-10T23:12:51.490Z",
    "archived": False,
    "runs_count": 12,
    "view_count": 40,
    "schedules_count": 1,
    "_links": {
        "creator": {"href": "/api/dana"},
        "web": {"href": "https://app.mode.com/x/reports/75737b70402e"},
    },
}
QUERY = {"token": "9d2da37fa91e", "name": "orders", "raw_query": "SELECT 1", "data_source_id": 1}
SPACE = {"token": "f7a4d0a7c2b1", "name": "Finance", "space_type": "custom", "restricted": False}
SOURCE = {"id": 1, "token": "a1b2c3", "name": "Warehouse", "adapter": "jdbc:postgresql", "database": "shop"}
DEFINITION = {"token": "d1e2f3", "name": "orders", "source": "SELECT * FROM orders", "data_source_id": 1}
USER = {"username": "dana", "name": "Dana", "email": "dana@example.com"}

PARSERS: dict[str, tuple[Callable[[Any], Any], dict[str, Any]]] = {
    "report": (lambda obj: Report.from_api(obj, "f7a4d0a7c2b1"), REPORT),
    "query": (lambda obj: Query.from_api(obj, "75737b70402e"), QUERY),
    "space": (Space.from_api, SPACE),
    "data source": (DataSource.from_api, SOURCE),
    "definition": (Definition.from_api, DEFINITION),
    "user": (Creator.from_api, USER),
}


@pytest.mark.parametrize("kind", PARSERS)
def test_the_real_shapes_parse(kind: str) -> None:
    parse, payload = PARSERS[kind]
    assert parse(payload) is not None


# (kind, change to the good payload, message the error must hold)
REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("report", {"token": None}, "without a token"),
    ("report", {"token": ""}, "without a token"),
    ("report", {"token": 42}, "without a token"),
    ("report", {"token": ["x"]}, "without a token"),
    ("report", {"archived": "false"}, "archived is 'false', expected true or false"),
    ("report", {"archived": 0}, "archived is 0"),
    ("report", {"runs_count": "12"}, "runs_count is '12', expected a count"),
    ("report", {"view_count": -1}, "view_count is -1"),
    ("report", {"view_count": 1.5}, "view_count is 1.5"),
    ("report", {"schedules_count": True}, "schedules_count is True"),
    ("report", {"schedules_count": {"n": 1}}, "schedules_count"),
    ("report", {"last_run_at": "yesterday"}, "last_run_at: not a Mode timestamp: 'yesterday'"),
    ("report", {"created_at": 1639169724}, "created_at: not a Mode timestamp: 1639169724"),
    ("report", {"updated_at": "2021-13-40T99:00:00Z"}, "updated_at"),
    ("report", {"edited_at": "\0"}, "edited_at"),
    ("report", {"name": {"en": "x"}}, "name is dict, expected text"),
    ("query", {"token": None}, "query of report 75737b70402e without a token"),
    ("query", {"raw_query": 5}, "raw_query is int, expected text"),
    ("query", {"raw_query": ["SELECT 1"]}, "raw_query is list"),
    ("query", {"data_source_id": "1"}, "data_source_id is '1', expected an integer id"),
    ("space", {"token": None}, "space without a token"),
    ("space", {"restricted": "yes"}, "restricted is 'yes'"),
    ("data source", {"id": None}, "without an id"),
    ("data source", {"id": "1"}, "id is '1'"),
    ("data source", {"adapter": ["jdbc"]}, "adapter is list"),
    ("definition", {"name": None}, "without a name"),
    ("definition", {"name": ""}, "without a name"),
    ("definition", {"source": {"sql": "x"}}, "source is dict"),
    ("user", {"username": None}, "user without a username"),
    ("user", {"email": ["a@b"]}, "email is list"),
]


@pytest.mark.parametrize(("kind", "change", "message"), REFUSED, ids=[f"{k}:{c}"[:50] for k, c, _ in REFUSED])
def test_a_payload_that_could_mislead_is_refused_by_name(
    kind: str, change: dict[str, Any], message: str
) -> None:
    parse, payload = PARSERS[kind]
    with pytest.raises(ModePayloadError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse({**payload, **change})


@pytest.mark.parametrize("kind", PARSERS)
@pytest.mark.parametrize("payload", [None, [], "report", 42], ids=repr)
def test_a_payload_that_is_not_an_object_is_refused(kind: str, payload: Any) -> None:
    parse, _ = PARSERS[kind]
    with pytest.raises(ModePayloadError, match="expected a JSON object"):
        parse(payload)


DEFAULTED: list[tuple[str, dict[str, Any], str, Any]] = [
    ("report", {"name": None}, "name", "75737b70402e"),
    ("report", {"runs_count": None}, "runs_count", 0),
    ("report", {"archived": None}, "archived", False),
    ("report", {"last_run_at": None}, "last_run_at", None),
    ("report", {"last_run_at": ""}, "last_run_at", None),
    ("report", {"_links": None}, "web_url", None),
    ("report", {"_links": "x"}, "creator_username", None),
    ("report", {"_links": {"web": {"href": 5}}}, "web_url", None),
    ("report", {"_links": {"creator": []}}, "creator_username", None),
    (
        "report",
        {"edited_at": None, "last_saved_at": "2021-12-11T00:31:24.451Z"},
        "edited_at",
        "2021-12-11T00:31:24.451Z",
    ),
    ("report", {"space_token": None}, "space_token", "f7a4d0a7c2b1"),
    ("report", {"name": 2024}, "name", "2024"),
    ("query", {"raw_query": None}, "raw_query", ""),
    ("query", {"name": None}, "name", "9d2da37fa91e"),
    ("space", {"name": ""}, "name", "f7a4d0a7c2b1"),
    ("space", {"default_access_level": "restricted", "restricted": None}, "restricted", True),
    ("data source", {"name": None}, "name", "a1b2c3"),
    ("user", {"name": None, "email": None}, "name", None),
]


@pytest.mark.parametrize(
    ("kind", "change", "attribute", "expected"), DEFAULTED, ids=[f"{k}:{c}"[:50] for k, c, _, _ in DEFAULTED]
)
def test_a_missing_or_odd_optional_field_gets_a_safe_default(
    kind: str, change: dict[str, Any], attribute: str, expected: Any
) -> None:
    parse, payload = PARSERS[kind]
    assert getattr(parse({**payload, **change}), attribute) == expected


@examples(120)
@given(
    data=st.data(),
    kind=st.sampled_from(sorted(PARSERS)),
    value=st.one_of(json_values, hostile_text, st.just(...)),
)
def test_any_field_of_any_value_parses_or_is_refused_by_name(
    data: st.DataObject, kind: str, value: Any
) -> None:
    parse, payload = PARSERS[kind]
    key = data.draw(st.sampled_from([*sorted(payload), "last_saved_at", "default_access_level"]))
    changed = {k: v for k, v in payload.items() if k != key}
    if value is not ...:  # ... deletes the key
        changed[key] = value
    try:
        parsed = parse(changed)
    except ModePayloadError as exc:
        assert str(exc).startswith("Mode ") or str(exc).startswith("not a Mode timestamp"), exc
        event("refused")
        return
    event("parsed")
    token = getattr(parsed, "token", None) or getattr(parsed, "username", None)
    assert isinstance(token, str) and token
    for attribute in ("runs_count", "view_count", "schedules_count"):
        assert getattr(parsed, attribute, 0) >= 0
    for attribute in ("created_at", "updated_at", "edited_at", "last_run_at"):
        stamp = getattr(parsed, attribute, None)
        assert stamp is None or parse_mode_timestamp(stamp) is not None


# -- timestamps --------------------------------------------------------------------------------------

TIMESTAMPS: list[tuple[Any, datetime | None]] = [
    ("2021-12-10T20:55:24.316Z", datetime(2021, 12, 10, 20, 55, 24, 316000, tzinfo=UTC)),
    ("2021-12-10T20:55:24Z", datetime(2021, 12, 10, 20, 55, 24, tzinfo=UTC)),
    ("2021-12-10T20:55:24", datetime(2021, 12, 10, 20, 55, 24, tzinfo=UTC)),
    ("2021-12-10", datetime(2021, 12, 10, tzinfo=UTC)),
    ("2021-12-10T21:55:24+01:00", datetime(2021, 12, 10, 20, 55, 24, tzinfo=UTC)),
    (None, None),
    ("", None),
]
BAD_TIMESTAMPS: list[Any] = [
    "yesterday", "2021-13-01", "2021-12-32", "2021-12-10T25:00:00Z", "2021-12-10T20:55:24.316ZZ",
    "  ", "\0", "99999-01-01", "1639169724", 1639169724, 1.5, True, ["2021-12-10"], {"t": 1},
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), TIMESTAMPS, ids=repr)
def test_mode_timestamps_parse_to_aware_utc(text: Any, expected: datetime | None) -> None:
    assert parse_mode_timestamp(text) == expected


@pytest.mark.parametrize("text", BAD_TIMESTAMPS, ids=repr)
def test_a_bad_timestamp_is_refused_naming_it(text: Any) -> None:
    with pytest.raises(ModePayloadError, match="not a Mode timestamp"):
        parse_mode_timestamp(text)


@examples(80)
@given(text=st.one_of(hostile_text, st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat())))
def test_any_text_is_a_timestamp_or_refused(text: str) -> None:
    try:
        moment = parse_mode_timestamp(text)
    except ModePayloadError as exc:
        assert "not a Mode timestamp" in str(exc)
        return
    assert moment is None or moment.tzinfo is not None


# -- the snapshot ------------------------------------------------------------------------------------


class _Client:
    """The few ModeClient calls `take_snapshot` makes, answering from memory."""

    workspace = "freshcart"
    requests_sent = 0

    def __init__(self, reports: list[Any]):
        self.reports = reports

    def workspace_path(self, *parts: str) -> str:
        return "/".join((self.workspace, *parts))

    def paginate(self, path: str, key: str, params: dict[str, Any] | None = None) -> list[Any]:
        return [SPACE, {"token": None}] if key == "spaces" else self.reports

    def list_embedded(self, path: str, key: str) -> list[Any]:
        return {"data_sources": [SOURCE], "definitions": [DEFINITION, "junk"], "queries": [QUERY]}[key]

    def get(self, path: str) -> dict[str, Any]:
        return {"username": 7}


def test_a_snapshot_keeps_every_good_payload_and_counts_each_bad_one() -> None:
    good = [REPORT, {**REPORT, "token": "0123456789ab"}]
    bad = [{**REPORT, "token": "badbadbadbad", "archived": "false"}, {"name": "no token"}]
    snapshot = take_snapshot(_Client([good[0], bad[0], good[1], bad[1]]), max_workers=1)  # type: ignore[arg-type]
    assert [r.token for r in snapshot.reports] == ["75737b70402e", "0123456789ab"]
    assert all(r.queries for r in snapshot.reports)
    assert [s.token for s in snapshot.spaces] == ["f7a4d0a7c2b1"]
    assert [d.token for d in snapshot.definitions] == ["d1e2f3"]
    assert not snapshot.complete  # destructive steps refuse to run on it
    problems = [(p.what, p.error) for p in snapshot.failures]
    assert ("spaces", "Mode space without a token (keys: token)") in problems
    assert any(what == "definitions" and "expected a JSON object" in error for what, error in problems)
    assert any("badbadbadbad" in error and "archived is 'false'" in error for _, error in problems)
    assert any("report in space f7a4d0a7c2b1 without a token" in error for _, error in problems)
    assert snapshot.creators == {}  # an unreadable user costs a name, not the run

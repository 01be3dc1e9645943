"""Typed views of Mode API objects. Every field but the token is optional: live payloads omit keys.

A payload that is not what Mode sends (no token, a count or flag of the wrong type, a timestamp
that does not parse) raises ModePayloadError naming the object and the field: a wrong default
there could make a report look stale or archived, so the snapshot records it as a failure instead.
Links (`_links`) are only for display and default to None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class ModePayloadError(ValueError):
    """A Mode API object without a field we need, or with a field of the wrong type."""


def parse_mode_timestamp(text: str | None) -> datetime | None:
    """Mode's '2021-12-10T20:55:24.316Z' as an aware UTC datetime; None stays None."""
    if text is None or text == "":
        return None
    if not isinstance(text, str):
        raise ModePayloadError(f"not a Mode timestamp: {text!r}")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ModePayloadError(f"not a Mode timestamp: {text[:100]!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _object(obj: Any, kind: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ModePayloadError(f"Mode {kind}: expected a JSON object, got {type(obj).__name__}")
    return obj


def _token(obj: dict[str, Any], kind: str, key: str = "token") -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ModePayloadError(f"Mode {kind} without a {key} (keys: {', '.join(sorted(map(str, obj))[:20])})")
    return value


def _text(obj: dict[str, Any], key: str, what: str) -> str | None:
    """A text field; numbers are taken as their text, other types are refused."""
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ModePayloadError(f"{what}: {key} is {type(value).__name__}, expected text")


def _id(obj: dict[str, Any], key: str, what: str) -> int | None:
    value = obj.get(key)
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise ModePayloadError(f"{what}: {key} is {value!r}, expected an integer id")


def _count(obj: dict[str, Any], key: str, what: str) -> int:
    value = obj.get(key)
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ModePayloadError(f"{what}: {key} is {value!r}, expected a count")


def _flag(obj: dict[str, Any], key: str, what: str) -> bool:
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return bool(value)
    raise ModePayloadError(f"{what}: {key} is {value!r}, expected true or false")


def _timestamp(obj: dict[str, Any], key: str, what: str) -> str | None:
    """A timestamp field, kept as Mode's text once it is known to parse."""
    value = obj.get(key)
    try:
        parse_mode_timestamp(value)
    except ModePayloadError as exc:
        raise ModePayloadError(f"{what}: {key}: {exc}") from None
    return value or None


def _link(obj: dict[str, Any], name: str) -> str | None:
    links = obj.get("_links")
    link = links.get(name) if isinstance(links, dict) else None
    href = link.get("href") if isinstance(link, dict) else None
    return href if isinstance(href, str) and href else None


def _creator_username(obj: dict[str, Any]) -> str | None:
    href = _link(obj, "creator") or ""
    return href.rsplit("/", 1)[-1] or None


@dataclass(frozen=True)
class Creator:
    username: str
    name: str | None = None
    email: str | None = None

    @classmethod
    def from_api(cls, obj: dict[str, Any]) -> Creator:
        obj = _object(obj, "user")
        username = _token(obj, "user", "username")
        what = f"Mode user {username}"
        return cls(username=username, name=_text(obj, "name", what), email=_text(obj, "email", what))


@dataclass(frozen=True)
class DataSource:
    id: int
    token: str
    name: str
    adapter: str | None
    database: str | None
    host: str | None

    @classmethod
    def from_api(cls, obj: dict[str, Any]) -> DataSource:
        obj = _object(obj, "data source")
        token = _token(obj, "data source")
        what = f"Mode data source {token}"
        source_id = _id(obj, "id", what)
        if source_id is None:
            raise ModePayloadError(f"{what} without an id")
        return cls(
            id=source_id,
            token=token,
            name=_text(obj, "name", what) or token,
            adapter=_text(obj, "adapter", what),
            database=_text(obj, "database", what),
            host=_text(obj, "host", what),
        )


@dataclass(frozen=True)
class Definition:
    token: str
    name: str
    source: str
    data_source_id: int | None

    @classmethod
    def from_api(cls, obj: dict[str, Any]) -> Definition:
        obj = _object(obj, "definition")
        token = _token(obj, "definition")
        what = f"Mode definition {token}"
        name = _text(obj, "name", what)
        if not name:
            raise ModePayloadError(f"{what} without a name (queries use it as {{{{ @name }}}})")
        return cls(
            token=token,
            name=name,
            source=_text(obj, "source", what) or "",
            data_source_id=_id(obj, "data_source_id", what),
        )


@dataclass(frozen=True)
class Space:
    token: str
    name: str
    space_type: str | None
    restricted: bool

    @property
    def personal(self) -> bool:
        return self.space_type == "private"

    @classmethod
    def from_api(cls, obj: dict[str, Any]) -> Space:
        obj = _object(obj, "space")
        token = _token(obj, "space")
        what = f"Mode space {token}"
        restricted = _flag(obj, "restricted", what) or obj.get("default_access_level") == "restricted"
        return cls(
            token=token,
            name=_text(obj, "name", what) or token,
            space_type=_text(obj, "space_type", what),
            restricted=restricted,
        )


@dataclass(frozen=True)
class Query:
    token: str
    name: str
    raw_query: str
    data_source_id: int | None
    report_token: str

    @classmethod
    def from_api(cls, obj: dict[str, Any], report_token: str) -> Query:
        obj = _object(obj, f"query of report {report_token}")
        token = _token(obj, f"query of report {report_token}")
        what = f"Mode query {token} of report {report_token}"
        raw_query = obj.get("raw_query")
        if raw_query is not None and not isinstance(raw_query, str):
            raise ModePayloadError(f"{what}: raw_query is {type(raw_query).__name__}, expected text")
        return cls(
            token=token,
            name=_text(obj, "name", what) or token,
            raw_query=raw_query or "",
            data_source_id=_id(obj, "data_source_id", what),
            report_token=report_token,
        )


@dataclass(frozen=True)
class Report:
    token: str
    name: str
    space_token: str
    created_at: str | None
    updated_at: str | None
    edited_at: str | None
    last_run_at: str | None
    archived: bool
    runs_count: int
    view_count: int
    schedules_count: int
    creator_username: str | None
    web_url: str | None
    queries: tuple[Query, ...] = field(default=())
    is_dataset: bool = False  # Mode serves Datasets as report objects of type DatasetReport
    # Tokens of the Datasets it imports: only `GET /reports/{token}` carries them, listings do not.
    imported_datasets: tuple[str, ...] = ()
    # A listing's `has_imported_datasets`: False means none; None means the listing did not say.
    lists_imports: bool | None = None

    @classmethod
    def from_api(cls, obj: dict[str, Any], space_token: str) -> Report:
        obj = _object(obj, f"report in space {space_token}")
        token = _token(obj, f"report in space {space_token}")
        what = f"Mode report {token}"
        lists_imports = obj.get("has_imported_datasets")
        if lists_imports is not None and not isinstance(lists_imports, bool):
            raise ModePayloadError(
                f"{what}: has_imported_datasets is {lists_imports!r}, expected true or false"
            )
        return cls(
            token=token,
            name=_text(obj, "name", what) or token,
            space_token=_text(obj, "space_token", what) or space_token,
            created_at=_timestamp(obj, "created_at", what),
            updated_at=_timestamp(obj, "updated_at", what),
            edited_at=_timestamp(obj, "edited_at", what) or _timestamp(obj, "last_saved_at", what),
            last_run_at=_timestamp(obj, "last_run_at", what),
            archived=_flag(obj, "archived", what),
            runs_count=_count(obj, "runs_count", what),
            view_count=_count(obj, "view_count", what),
            schedules_count=_count(obj, "schedules_count", what),
            creator_username=_creator_username(obj),
            web_url=_link(obj, "web"),
            is_dataset=obj.get("type") == "DatasetReport",
            lists_imports=lists_imports,
        )


def imported_dataset_tokens(obj: dict[str, Any]) -> tuple[str, ...]:
    """The tokens in a single report's `imported_datasets` (absent or null: none)."""
    obj = _object(obj, "report")
    what = f"Mode report {obj.get('token')}"
    imported = obj.get("imported_datasets")
    if imported is None:
        return ()
    if not isinstance(imported, list):
        raise ModePayloadError(f"{what}: imported_datasets is {type(imported).__name__}, expected a list")
    return tuple(
        _token(_object(d, f"dataset imported by {what}"), f"dataset imported by {what}") for d in imported
    )

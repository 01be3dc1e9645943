"""Typed views of Mode API objects. Every field but the token is optional: live payloads omit keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def parse_mode_timestamp(text: str | None) -> datetime | None:
    """Mode's '2021-12-10T20:55:24.316Z' as an aware UTC datetime; None stays None."""
    if not text:
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _creator_username(obj: dict[str, Any]) -> str | None:
    href = obj.get("_links", {}).get("creator", {}).get("href") or ""
    return href.rsplit("/", 1)[-1] or None


@dataclass(frozen=True)
class Creator:
    username: str
    name: str | None = None
    email: str | None = None

    @classmethod
    def from_api(cls, obj: dict[str, Any]) -> Creator:
        return cls(username=obj["username"], name=obj.get("name"), email=obj.get("email"))


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
        return cls(
            id=obj["id"],
            token=obj["token"],
            name=obj.get("name") or obj["token"],
            adapter=obj.get("adapter"),
            database=obj.get("database"),
            host=obj.get("host"),
        )


@dataclass(frozen=True)
class Definition:
    token: str
    name: str
    source: str
    data_source_id: int | None

    @classmethod
    def from_api(cls, obj: dict[str, Any]) -> Definition:
        return cls(
            token=obj["token"],
            name=obj["name"],
            source=obj.get("source") or "",
            data_source_id=obj.get("data_source_id"),
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
        restricted = bool(obj.get("restricted")) or obj.get("default_access_level") == "restricted"
        return cls(
            token=obj["token"],
            name=obj.get("name") or obj["token"],
            space_type=obj.get("space_type"),
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
        return cls(
            token=obj["token"],
            name=obj.get("name") or obj["token"],
            raw_query=obj.get("raw_query") or "",
            data_source_id=obj.get("data_source_id"),
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

    @classmethod
    def from_api(cls, obj: dict[str, Any], space_token: str) -> Report:
        return cls(
            token=obj["token"],
            name=obj.get("name") or obj["token"],
            space_token=obj.get("space_token") or space_token,
            created_at=obj.get("created_at"),
            updated_at=obj.get("updated_at"),
            edited_at=obj.get("edited_at") or obj.get("last_saved_at"),
            last_run_at=obj.get("last_run_at"),
            archived=bool(obj.get("archived")),
            runs_count=int(obj.get("runs_count") or 0),
            view_count=int(obj.get("view_count") or 0),
            schedules_count=int(obj.get("schedules_count") or 0),
            creator_username=_creator_username(obj),
            web_url=obj.get("_links", {}).get("web", {}).get("href"),
        )

"""Fault injection for the loopback emulators: latency, 429s, 5xx, dropped connections, bad bodies."""

from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

Fault = Literal["429", "5xx", "drop", "malformed"]

_RATES: tuple[tuple[str, Fault], ...] = (
    ("rate_drop", "drop"),
    ("rate_429", "429"),
    ("rate_5xx", "5xx"),
    ("rate_malformed", "malformed"),
)


@dataclass(frozen=True)
class FaultSettings:
    """How often an emulator misbehaves. Rates are probabilities per request (0..1)."""

    latency_ms: int = 0
    rate_429: float = 0.0
    rate_5xx: float = 0.0
    rate_drop: float = 0.0
    rate_malformed: float = 0.0
    retry_after_s: int = 1
    path_pattern: str = ""  # a regex; faults only hit matching paths (empty: every path)
    method_pattern: str = ""  # a regex; faults only hit matching HTTP methods, e.g. "POST" (empty: all)
    # A regex of paths that are down: every matching request gets a 5xx, whatever the rates say
    # (empty: none). Models an outage of part of an API, e.g. one report's queries.
    outage_pattern: str = ""
    seed: int | None = None

    def __post_init__(self) -> None:
        for name, _ in _RATES:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"fault setting {name}={value} must be between 0 and 1")
        if sum(getattr(self, name) for name, _ in _RATES) > 1.0:
            raise ValueError("fault rates add up to more than 1")
        if self.latency_ms < 0 or self.retry_after_s < 0:
            raise ValueError("latency_ms and retry_after_s cannot be negative")
        re.compile(self.path_pattern)
        re.compile(self.method_pattern)
        re.compile(self.outage_pattern)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FaultSettings:
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown fault setting(s) {', '.join(unknown)}; known: {', '.join(known)}")
        converted: dict[str, Any] = {}
        for name, value in values.items():
            kind = known[name]
            try:
                if value is None or kind == "str":
                    converted[name] = value
                elif "int" in str(kind):
                    converted[name] = int(value)
                else:
                    converted[name] = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"fault setting {name}={value!r} is not a number") from None
        return cls(**converted)

    @classmethod
    def parse(cls, text: str) -> FaultSettings:
        """'latency_ms=25,rate_429=0.1' -> FaultSettings; an empty string means no faults."""
        pairs: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"fault setting {item!r} should look like name=value")
            pairs[name.strip()] = value.strip()
        return cls.from_dict(pairs)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def updated(self, values: dict[str, Any]) -> FaultSettings:
        """These settings with some of them changed (validated like the rest)."""
        return FaultSettings.from_dict({**self.to_dict(), **values})


class FaultInjector:
    """Decides, per request, whether to misbehave; thread-safe and reproducible with a seed."""

    def __init__(self, settings: FaultSettings | None = None):
        self._lock = threading.Lock()
        self.configure(settings or FaultSettings())

    @property
    def settings(self) -> FaultSettings:
        return self._settings

    def configure(self, settings: FaultSettings) -> None:
        with self._lock:
            self._settings = settings
            self._random = random.Random(settings.seed)
            self._pattern = re.compile(settings.path_pattern)
            self._methods = re.compile(settings.method_pattern or ".*", re.IGNORECASE)
            self._outage = re.compile(settings.outage_pattern) if settings.outage_pattern else None

    def choose(self, path: str, method: str = "GET") -> Fault | None:
        """Sleep for the configured latency, then pick a fault (or none) for this request."""
        settings = self._settings
        outage = self._outage
        if outage is not None and outage.search(path):
            return "5xx"
        if not self._pattern.search(path) or not self._methods.fullmatch(method):
            return None
        if settings.latency_ms:
            time.sleep(settings.latency_ms / 1000)
        with self._lock:
            roll = self._random.random()
        for name, fault in _RATES:
            rate = getattr(settings, name)
            if roll < rate:
                return fault
            roll -= rate
        return None

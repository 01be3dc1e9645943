"""Markdown for people: tables in the Dagster UI, the plan and pull requests."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

# Bidirectional controls reorder how the rest of a line displays; a lone surrogate has no UTF-8 form.
_INVISIBLE = re.compile("[\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def escape(value: Any) -> str:
    """One table cell on one line; names come from people, so no markup gets through."""
    text = _INVISIBLE.sub("\ufffd", " ".join(str(value).split()))
    for char in "\\|*_`[]<>#":
        text = text.replace(char, f"\\{char}")
    return text


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    limit: int | None = None,
    max_chars: int | None = None,
) -> str:
    """A table of at most `limit` rows and about `max_chars` characters; a last row says how many
    more there are."""
    rows = list(rows)
    if not rows:
        return "_none_"
    lines = [f"| {' | '.join(escape(cell) for cell in row)} |" for row in rows[:limit]]
    lines = lines[: fitting(lines, max_chars)]
    if len(lines) < len(rows):
        lines.append(f"| ... and {len(rows) - len(lines)} more |{' |' * (len(headers) - 1)}")
    return "\n".join([f"| {' | '.join(headers)} |", f"|{'---|' * len(headers)}", *lines])


MORE_LINE_ROOM = 100  # characters kept for the line that says how many more were left out


def fitting(lines: Sequence[str], max_chars: int | None) -> int:
    """How many of `lines` fit in `max_chars` (newlines counted): all of them, or as many as leave
    room for a line saying how many more there are.

    GitHub refuses a pull request body over 65,536 characters: a list of a thousand models has to
    stop somewhere, and say so."""
    if max_chars is None or sum(len(line) + 1 for line in lines) <= max_chars:
        return len(lines)
    budget = max_chars - MORE_LINE_ROOM
    for count, line in enumerate(lines):
        budget -= len(line) + 1
        if budget < 0:
            return count
    return len(lines)

"""Generated Mode workspaces of any size, built from the sample's real-looking reports and SQL."""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime
from typing import Any

from metapipeline.sandbox.sample import materialize_workspace

REPORTS_PER_SPACE = 50


def synthetic_workspace(reports: int, *, seed: int = 0, now: datetime | None = None) -> dict[str, Any]:
    """A workspace document with `reports` reports spread over spaces of about 50 reports each.

    Reports and their queries are copies of the sample's (same SQL, users, data sources, usage
    figures) under fresh ids and tokens, so every generated workspace is valid emulator input.
    """
    sample = materialize_workspace(now or datetime.now(UTC))
    rng = random.Random(seed)
    document = {
        key: copy.deepcopy(sample[key]) for key in ("workspace", "users", "data_sources", "definitions")
    }
    space_count = max(1, -(-reports // REPORTS_PER_SPACE))
    template_space = next(s for s in sample["spaces"] if s["space_type"] != "private")
    document["spaces"] = [
        {**template_space, "id": 3_000_000 + i, "token": _token(rng), "name": f"Team space {i + 1}"}
        for i in range(space_count)
    ]
    next_query_id = 20_000_000
    generated = []
    for i in range(reports):
        template = rng.choice(sample["reports"])
        queries = []
        for query in template["queries"]:
            queries.append({**query, "id": next_query_id, "token": _token(rng)})
            next_query_id += 1
        generated.append(
            {
                **template,
                "id": 6_000_000 + i,
                "token": _token(rng),
                "name": f"{template['name']} #{i + 1}",
                "space_token": document["spaces"][i % space_count]["token"],
                "queries": queries,
            }
        )
    document["reports"] = generated
    return document


def _token(rng: random.Random) -> str:
    return f"{rng.getrandbits(48):012x}"

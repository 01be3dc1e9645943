"""Reading dbt manifests without dbt: plain JSON in, plain counts and nodes out."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

NODE_SECTIONS = ("nodes", "sources", "exposures")


def read_manifest(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        with path.open() as f:
            manifest = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"dbt manifest not found at {path}: run `dbt parse` or fix DBT_MANIFEST_PATH"
        ) from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"dbt manifest {path} is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or "nodes" not in manifest:
        raise ValueError(f"{path} does not look like a dbt manifest (no 'nodes' section)")
    return manifest


def count_resources(manifest: dict[str, Any]) -> dict[str, int]:
    """Enabled resources by type: model, seed, snapshot, test, source, exposure, ..."""
    counts: Counter[str] = Counter()
    for section in NODE_SECTIONS:
        for unique_id in manifest.get(section, {}):
            counts[unique_id.split(".", 1)[0]] += 1
    return dict(sorted(counts.items()))


_MODE_REPORT_IN_URL = re.compile(r"/reports/([0-9a-f]{12})(?![0-9a-f])")


def mode_reports_behind_exposures(manifest: dict[str, Any], maturity: str = "high") -> dict[str, str]:
    """Mode report token -> name of the exposure (of this maturity) whose URL points at the report."""
    backed = {}
    for exposure in manifest.get("exposures", {}).values():
        match = _MODE_REPORT_IN_URL.search(exposure.get("url") or "")
        if match and exposure.get("maturity") == maturity:
            backed[match.group(1)] = exposure["name"]
    return backed

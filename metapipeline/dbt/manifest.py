"""Reading dbt manifests without dbt: plain JSON in, plain counts and nodes out."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

NODE_SECTIONS = ("nodes", "sources", "exposures")

# Schema versions whose shape the loader is tested against (dbt 0.19 to 1.11; v3 is dbt 0.21,
# shaped like its neighbours). Newer ones may move fields we read, so they are refused.
SUPPORTED_SCHEMA_VERSIONS = range(1, 13)
_SCHEMA_VERSION = re.compile(r"/manifest/v(\d+)\.json$")


def read_manifest(path: str | Path) -> dict[str, Any]:
    """A manifest as plain JSON; `.json.gz` files are read transparently."""
    path = Path(path)
    try:
        with gzip.open(path, "rt") if path.suffix == ".gz" else path.open() as f:
            manifest = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"dbt manifest not found at {path}: run `dbt parse` or fix DBT_MANIFEST_PATH"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError, gzip.BadGzipFile) as exc:
        raise ValueError(f"dbt manifest {path} is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or "nodes" not in manifest:
        raise ValueError(f"{path} does not look like a dbt manifest (no 'nodes' section)")
    return manifest


def schema_version(manifest: dict[str, Any]) -> int | None:
    """The N of `.../manifest/vN.json` in the metadata, or None when the manifest does not say."""
    match = _SCHEMA_VERSION.search(str(manifest.get("metadata", {}).get("dbt_schema_version") or ""))
    return int(match.group(1)) if match else None


def check_schema_version(manifest: dict[str, Any], origin: str = "dbt manifest") -> int:
    """The manifest's schema version, or a ValueError naming it when this loader cannot read it."""
    metadata = manifest.get("metadata", {})
    version = schema_version(manifest)
    if version is not None and version in SUPPORTED_SCHEMA_VERSIONS:
        return version
    declared = metadata.get("dbt_schema_version") or "no dbt_schema_version in its metadata"
    dbt_version = metadata.get("dbt_version") or "unknown"
    raise ValueError(
        f"{origin}: manifest schema {declared} (dbt {dbt_version}) is not supported; "
        f"metapipeline reads schema v{SUPPORTED_SCHEMA_VERSIONS.start}-v{SUPPORTED_SCHEMA_VERSIONS.stop - 1}"
    )


def read_manifests(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Several manifests (projects of a dbt mesh, or unrelated ones), each checked for its schema version."""
    manifests = []
    for path in paths:
        manifest = read_manifest(path)
        check_schema_version(manifest, origin=str(path))
        manifests.append(manifest)
    return manifests


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

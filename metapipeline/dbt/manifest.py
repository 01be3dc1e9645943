"""Reading dbt manifests without dbt: plain JSON in, plain counts and nodes out."""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

NODE_SECTIONS = ("nodes", "sources", "exposures")
SEMANTIC_SECTIONS = ("semantic_models", "metrics", "saved_queries")  # dbt's semantic layer
GRAPH_SECTIONS = NODE_SECTIONS + SEMANTIC_SECTIONS

# Schema versions whose shape the loader is tested against (dbt 0.19 to 1.11; v3 is dbt 0.21,
# shaped like its neighbours). Newer ones may move fields we read, so they are refused.
SUPPORTED_SCHEMA_VERSIONS = range(1, 13)
_SCHEMA_VERSION = re.compile(r"/manifest/v(\d+)\.json$")


class ManifestError(ValueError):
    """A manifest this loader cannot read: the message names the file (or project) and the problem."""


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
    except IsADirectoryError:
        raise ManifestError(f"dbt manifest {path} is a directory, not a manifest file") from None
    except (json.JSONDecodeError, UnicodeDecodeError, gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ManifestError(f"dbt manifest {path} is not valid JSON ({exc})") from None
    except RecursionError:
        raise ManifestError(f"dbt manifest {path} is not valid JSON (nested too deeply)") from None
    if not isinstance(manifest, dict) or "nodes" not in manifest:
        raise ManifestError(f"{path} does not look like a dbt manifest (no 'nodes' section)")
    return manifest


def metadata(manifest: dict[str, Any], origin: str = "dbt manifest") -> dict[str, Any]:
    """The manifest's `metadata` object ({} when it has none)."""
    found = manifest.get("metadata")
    if found is None:
        return {}
    if not isinstance(found, dict):
        raise ManifestError(f"{origin}: 'metadata' is {_kind(found)}, expected an object")
    return found


def section(manifest: dict[str, Any], name: str, origin: str = "dbt manifest") -> dict[str, Any]:
    """One section (`nodes`, `sources`, ...) as unique_id -> entry ({} when it is missing)."""
    found = manifest.get(name)
    if found is None:
        return {}
    if not isinstance(found, dict):
        raise ManifestError(f"{origin}: '{name}' is {_kind(found)}, expected an object")
    return found


_REQUIRED_TEXT = ("unique_id", "resource_type", "name")
_OPTIONAL_TEXT = (
    "package_name", "database", "schema", "alias", "identifier", "relation_name",
    "original_file_path", "url", "source_name",
)  # fmt: skip


def check_node(entry: Any, where: str) -> dict[str, Any]:
    """`entry` when it has the fields the loaders read, with their types; else a ManifestError
    saying `where` (e.g. "manifest.json: nodes['model.shop.orders']") and what is wrong."""
    if not isinstance(entry, dict):
        raise ManifestError(f"{where} is {_kind(entry)}, expected an object")
    for key in _REQUIRED_TEXT:
        if not isinstance(entry.get(key), str) or not entry[key]:
            found = "missing" if entry.get(key) is None else _kind(entry[key])
            raise ManifestError(f"{where}: '{key}' is {found}, expected a non-empty string")
    config = _optional(entry, "config", dict, where) or {}
    depends_on = _optional(entry, "depends_on", dict, where) or {}
    checks = [(entry, key, str, key) for key in _OPTIONAL_TEXT] + [
        (entry, "meta", dict, "meta"),
        (config, "materialized", str, "config.materialized"),
        (config, "enabled", bool, "config.enabled"),
        (config, "meta", dict, "config.meta"),
        (entry, "tags", list, "tags"),
        (depends_on, "nodes", list, "depends_on.nodes"),
    ]
    for holder, key, kind, label in checks:
        value = _optional(holder, key, kind, where, label)
        if kind is list and not all(isinstance(item, str) for item in value or ()):
            raise ManifestError(f"{where}: '{label}' must be a list of strings")
    return entry


def adapter_type(manifest: dict[str, Any], origin: str = "dbt manifest") -> str | None:
    """`metadata.adapter_type` (duckdb, snowflake, ...), or None when the manifest does not say."""
    found: str | None = _optional(
        metadata(manifest, origin), "adapter_type", str, origin, "metadata.adapter_type"
    )
    return found


def check_manifest(manifest: Any, origin: str = "dbt manifest") -> None:
    """Every section and entry metapipeline reads has the shape it expects (ManifestError if not)."""
    if not isinstance(manifest, dict):
        raise ManifestError(f"{origin} is {_kind(manifest)}, expected an object")
    adapter_type(manifest, origin)
    for name in GRAPH_SECTIONS:
        for unique_id, entry in section(manifest, name, origin).items():
            check_node(entry, f"{origin}: {name}[{unique_id!r}]")


def _optional(holder: dict[str, Any], key: str, kind: type, where: str, label: str | None = None) -> Any:
    value = holder.get(key)
    if value is not None and not isinstance(value, kind):
        expected = {str: "a string", dict: "an object", list: "a list", bool: "true or false"}[kind]
        raise ManifestError(f"{where}: '{label or key}' is {_kind(value)}, expected {expected}")
    return value


def _kind(value: Any) -> str:
    """How a JSON value reads in an error message."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else type(value).__name__)


def schema_version(manifest: dict[str, Any]) -> int | None:
    """The N of `.../manifest/vN.json` in the metadata, or None when the manifest does not say."""
    declared = metadata(manifest).get("dbt_schema_version")
    match = _SCHEMA_VERSION.search(declared) if isinstance(declared, str) else None
    return int(match.group(1)) if match else None


def check_schema_version(manifest: dict[str, Any], origin: str = "dbt manifest") -> int:
    """The manifest's schema version, or a ManifestError naming it when this loader cannot read it."""
    found = metadata(manifest, origin)
    version = schema_version(manifest)
    if version is not None and version in SUPPORTED_SCHEMA_VERSIONS:
        return version
    declared = found.get("dbt_schema_version") or "no dbt_schema_version in its metadata"
    dbt_version = found.get("dbt_version") or "unknown"
    raise ManifestError(
        f"{origin}: manifest schema {declared} (dbt {dbt_version}) is not supported; "
        f"metapipeline reads schema v{SUPPORTED_SCHEMA_VERSIONS.start}-v{SUPPORTED_SCHEMA_VERSIONS.stop - 1}"
    )


def read_manifests(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Several manifests (projects of a dbt mesh, or unrelated ones), each checked for its schema
    version and the shape of what metapipeline reads."""
    manifests = []
    for path in paths:
        manifest = read_manifest(path)
        check_schema_version(manifest, origin=str(path))
        check_manifest(manifest, origin=str(path))
        manifests.append(manifest)
    return manifests


def count_resources(manifest: dict[str, Any]) -> dict[str, int]:
    """Enabled resources by type: model, seed, snapshot, test, source, exposure, ..."""
    counts: Counter[str] = Counter()
    for name in GRAPH_SECTIONS:
        for unique_id in section(manifest, name):
            counts[unique_id.split(".", 1)[0]] += 1
    return dict(sorted(counts.items()))


_MODE_REPORT_IN_URL = re.compile(r"/reports/([0-9a-f]{12})(?![0-9a-f])")


def mode_reports_behind_exposures(*manifests: dict[str, Any], maturity: str = "high") -> dict[str, str]:
    """Mode report token -> name of the exposure (of this maturity, in any of the projects' manifests)
    whose URL points at the report."""
    backed = {}
    for manifest in manifests:
        for exposure in section(manifest, "exposures").values():
            match = _MODE_REPORT_IN_URL.search(exposure.get("url") or "")
            if match and exposure.get("maturity") == maturity:
                backed[match.group(1)] = exposure["name"]
    return backed

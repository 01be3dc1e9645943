"""run_results.json files under a folder, file, glob or object-storage prefix, read through fsspec:
`/srv/dbt/runs`, `s3://bucket/dbt/runs`, `gs://bucket/runs/**/run_results.json` work the same.

Credentials come from each store's usual chain (AWS_* variables or profiles for s3://, Application
Default Credentials for gs://); `AWS_ENDPOINT_URL` points s3:// at an S3-compatible store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

from fsspec.core import url_to_fs

from metapipeline.dbt.run_history import Invocation, RunHistoryUnavailable, parse_run_results

RUN_RESULTS = "run_results.json"
_GLOB_CHARS = frozenset("*?[")


class RunResultsFiles:
    def __init__(self, url: str, storage_options: dict[str, Any] | None = None):
        self.url = url
        try:
            self._fs, self._root = url_to_fs(url, **(storage_options or {}))
        except (ImportError, ValueError) as exc:
            # fsspec names the package a protocol needs (gcsfs for gs://, adlfs for az://...).
            raise RunHistoryUnavailable(f"Cannot read run history from {url}: {exc}") from None

    def describe(self) -> str:
        return self.url

    def paths(self) -> list[str]:
        """Every run_results.json under the location, in a stable order."""
        fs, root = self._fs, self._root
        try:
            if _GLOB_CHARS & set(root):
                return sorted(fs.glob(root))
            if fs.isfile(root):
                return [root]
            if fs.isdir(root):
                return sorted(p for p in fs.find(root) if p.rsplit("/", 1)[-1] == RUN_RESULTS)
        except FileNotFoundError:
            pass  # s3fs raises it for a bucket that does not exist
        except PermissionError as exc:
            raise RunHistoryUnavailable(
                f"Not allowed to list {self.url} ({exc}): check the credentials the store reads "
                "(AWS_* or a profile for s3://, GOOGLE_APPLICATION_CREDENTIALS for gs://)"
            ) from None
        raise RunHistoryUnavailable(
            f"{self.url} does not exist (no such folder, file or bucket; for object storage, also when "
            "the store cannot be reached): point the run history `location` (or DBT_RUN_RESULTS_DIR) "
            "at the folder or prefix holding run_results.json files"
        )

    def invocations(self, day: date | None = None) -> Iterator[Invocation]:
        """Invocations that started on `day` (every one when None); a malformed file raises."""
        for path in self.paths():
            where = self._fs.unstrip_protocol(path)
            try:
                with self._fs.open(path, "rb") as f:
                    document = json.load(f)
            except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ValueError(
                    f"{where} is not a dbt run_results.json ({type(exc).__name__}: {exc})"
                ) from None
            invocation = parse_run_results(document, where)
            if day is None or invocation.started_at.date() == day:
                yield invocation

"""Shared fixtures: running loopback emulators over real HTTP."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from metapipeline.sandbox.faults import FaultSettings
from metapipeline.sandbox.harness import EmulatorServer
from metapipeline.sandbox.mode_emulator import ModeEmulator
from metapipeline.sandbox.sample import DBT_PROJECT_DIR, materialize_workspace

SAMPLE_NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def sample_now() -> datetime:
    return SAMPLE_NOW


@pytest.fixture(scope="session")
def sample_workspace() -> dict[str, Any]:
    return materialize_workspace(SAMPLE_NOW)


@pytest.fixture(scope="session")
def sample_manifest(tmp_path_factory) -> dict[str, Any]:
    """The sample dbt project's manifest from a real `dbt parse` (once per session, ~5 s)."""
    project = tmp_path_factory.mktemp("dbt") / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb"))
    dbt = Path(sys.executable).parent / "dbt"
    result = subprocess.run(
        [str(dbt), "parse", "--quiet", "--profiles-dir", str(project), "--project-dir", str(project)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads((project / "target" / "manifest.json").read_text())


@pytest.fixture
def start_mode(sample_workspace) -> Iterator[Callable[..., EmulatorServer]]:
    """Start a Mode emulator (no rate limit unless asked) and stop it after the test."""
    servers: list[EmulatorServer] = []

    def start(
        document: dict[str, Any] | None = None, faults: FaultSettings | None = None, **options: Any
    ) -> EmulatorServer:
        options.setdefault("rate_limit", None)
        server = EmulatorServer(ModeEmulator(document or sample_workspace, **options), faults)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


class ModeHTTP:
    """A plain `requests` session pointed at an emulator, authenticated like the product."""

    def __init__(self, server: EmulatorServer):
        env = server.emulator.env(server.base_url)
        self.base_url = server.base_url
        self.workspace = env["MODE_WORKSPACE"]
        self.session = requests.Session()
        self.session.auth = (env["MODE_TOKEN"], env["MODE_SECRET"])
        self.session.headers["Accept"] = "application/hal+json"

    def ws(self, path: str) -> str:
        return f"{self.base_url}/api/{self.workspace}/{path.lstrip('/')}"

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(self.ws(path), params=params, timeout=10)

    def patch(self, path: str) -> requests.Response:
        return self.session.patch(self.ws(path), timeout=10)

    def delete(self, path: str) -> requests.Response:
        return self.session.delete(self.ws(path), timeout=10)


@pytest.fixture
def mode_http() -> Callable[[EmulatorServer], ModeHTTP]:
    return ModeHTTP

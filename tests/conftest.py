"""Shared fixtures: running loopback emulators over real HTTP."""

from __future__ import annotations

import glob
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from metapipeline.dbt.projects import DbtProject
from metapipeline.sandbox.faults import FaultSettings
from metapipeline.sandbox.harness import EmulatorServer, free_port
from metapipeline.sandbox.mode_emulator import ModeEmulator
from metapipeline.sandbox.platform import install_dbt_packages
from metapipeline.sandbox.sample import DBT_PROJECT_DIR, FINANCE_PROJECT_DIR, materialize_workspace

SAMPLE_NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def no_kept_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty DAGSTER_HOME. The offline commands read the newest run's files from it by default,
    and `make demo` leaves its runs in the checkout's .dagster_home, which `make test` uses."""
    home = tmp_path / "no_kept_runs"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


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
    return parse_dbt_project(project)


@pytest.fixture(scope="session")
def finance_manifest(tmp_path_factory) -> dict[str, Any]:
    """The sample's second project (freshcart_finance) from `dbt deps` and a real `dbt parse`."""
    project = tmp_path_factory.mktemp("dbt") / "finance_project"
    shutil.copytree(
        FINANCE_PROJECT_DIR,
        project,
        ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", "*.duckdb"),
    )
    install_dbt_packages(project)
    return parse_dbt_project(project)


@pytest.fixture(scope="session")
def sample_projects(sample_manifest, finance_manifest) -> list[DbtProject]:
    """Both sample projects as the sandbox's dbt_projects.yaml lists them."""
    return [
        DbtProject.of(sample_manifest, repository="freshcart/analytics"),
        DbtProject.of(finance_manifest, repository="freshcart/finance"),
    ]


def parse_dbt_project(project: Path) -> dict[str, Any]:
    """A real `dbt parse` of a project that holds its own profiles.yml; its manifest."""
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


@pytest.fixture(scope="session")
def dbt_parse() -> Callable[[Path], dict[str, Any]]:
    """`parse_dbt_project` for test modules (conftest is not importable from subpackages)."""
    return parse_dbt_project


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


INSTALL_HINT = "install it with `apt-get install -y postgresql` (Debian/Ubuntu)"
_database_numbers = itertools.count()


def _postgres_bin() -> Path | None:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: float(Path(p).parents[1].name)
    )
    return Path(found[-1]).parent if found else None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A running PostgreSQL for the session; yields the URL of its `postgres` database."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        message = f"PostgreSQL not found in /usr/lib/postgresql/*/bin: {INSTALL_HINT}"
        if os.environ.get("METAPIPELINE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{message} (METAPIPELINE_REQUIRE_POSTGRES=1 forbids skipping)")
        pytest.skip(message)

    # PostgreSQL refuses to run as root: then run it as the `postgres` user, in a directory it owns
    # (pytest's tmp_path lives under a root-only directory).
    as_root = os.geteuid() == 0
    run_as: dict[str, Any] = {"user": "postgres", "group": "postgres", "extra_groups": []} if as_root else {}
    base = Path(tempfile.mkdtemp(prefix="metapipeline-pg-"))
    if as_root:
        shutil.chown(base, "postgres", "postgres")
    data, log = base / "data", base / "postgres.log"
    port = free_port()

    def pg(*args: str) -> None:
        result = subprocess.run(
            [str(bin_dir / args[0]), *args[1:]], cwd=base, capture_output=True, text=True, **run_as
        )
        if result.returncode:
            logged = log.read_text() if log.exists() else ""
            pytest.fail(f"{' '.join(args)} failed:\n{result.stdout}{result.stderr}{logged}")

    pg("initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
    # Durability is pointless for a throwaway server: fsync off keeps the tests quick.
    # pg_stat_statements (the warehouse usage source) counts only when preloaded.
    options = (
        f"-k {base} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
        " -c shared_preload_libraries=pg_stat_statements"
    )
    pg("pg_ctl", "start", "-w", "-D", str(data), "-l", str(log), "-o", options)
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        pg("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(data))
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A new, empty database, so that tests never see each other's rows."""
    name = f"ledger_{os.getpid()}_{next(_database_numbers)}"
    admin = sa.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return postgres_server.rsplit("/", 1)[0] + f"/{name}"

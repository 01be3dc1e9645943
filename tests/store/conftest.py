"""Ledger fixtures: a fresh database per test, on SQLite and on a real PostgreSQL.

The PostgreSQL server is Debian's, started once per session in a temporary directory. Without it
the PostgreSQL tests are skipped, unless METAPIPELINE_REQUIRE_POSTGRES=1 (CI) makes that a failure.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from metapipeline.store.ledger import Ledger

INSTALL_HINT = "install it with `apt-get install -y postgresql` (Debian/Ubuntu)"
_database_numbers = itertools.count()


def _postgres_bin() -> Path | None:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: float(Path(p).parents[1].name)
    )
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    port = _free_port()

    def pg(*args: str) -> None:
        result = subprocess.run(
            [str(bin_dir / args[0]), *args[1:]], cwd=base, capture_output=True, text=True, **run_as
        )
        if result.returncode:
            logged = log.read_text() if log.exists() else ""
            pytest.fail(f"{' '.join(args)} failed:\n{result.stdout}{result.stderr}{logged}")

    pg("initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
    # Durability is pointless for a throwaway server: fsync off keeps the tests quick.
    options = f"-k {base} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
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


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    ledger = Ledger(ledger_url)
    yield ledger
    ledger.close()

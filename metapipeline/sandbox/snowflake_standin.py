"""A Snowflake stand-in the real connector talks to: fakesnow's server, with an access history.

fakesnow (Snowflake on DuckDB) pins its own sqlglot and duckdb, so it never enters the project's
environment: `uv tool run` (uvx) starts it as a separate process in an environment of its own
(uv caches it after the first start). The project's own `snowflake-connector-python` then connects
to it over http on 127.0.0.1, and `load_history` fills `SNOWFLAKE.ACCOUNT_USAGE.ACCESS_HISTORY`
and `QUERY_HISTORY`, tables shaped like Snowflake's views, from `Read`s (one query per read).

fakesnow accepts any user and password: it cannot show a rejected login. Its FLATTEN needs a
current database (`connect_args` names SNOWFLAKE), and its server 0.12.1 sends a NULL timestamp as
1970-01-01 (`snowflake_usage` counts rows rather than trust a NULL minimum).

    with SnowflakeStandin() as standin:
        connect = standin.load_history(sample_reads(now))
        usage = snowflake_usage(connect, UsageSettings(), now)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from metapipeline.sandbox.harness import free_port
from metapipeline.warehouse.usage import Read, Relation

FAKESNOW_REQUIREMENT = "fakesnow[server]==0.12.1"
# fakesnow 0.12.1 imports modules connector 5 removed, and connector 5 cannot log in to it.
FAKESNOW_CONNECTOR = "snowflake-connector-python>=4.7,<5"
REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 180.0  # the first start downloads fakesnow and duckdb into uv's cache
ACCOUNT = "standin"
PLAIN_IDENTIFIER = re.compile(r"[A-Z_][A-Z0-9_$]*")

ACCESS_HISTORY_DDL = """
create or replace table snowflake.account_usage.access_history (
    query_id varchar,
    query_start_time timestamp_ltz,
    user_name varchar,
    direct_objects_accessed array,
    base_objects_accessed array,
    objects_modified array,
    parent_query_id varchar,
    root_query_id varchar
)"""
QUERY_HISTORY_DDL = """
create or replace table snowflake.account_usage.query_history (
    query_id varchar,
    query_text varchar,
    database_name varchar,
    schema_name varchar,
    query_type varchar,
    user_name varchar,
    role_name varchar,
    warehouse_name varchar,
    query_tag varchar,
    execution_status varchar,
    start_time timestamp_ltz,
    end_time timestamp_ltz
)"""
# One statement per table, from a JSON array bound as one string: INSERT ... SELECT, as Snowflake
# allows no PARSE_JSON in VALUES.
ACCESS_HISTORY_INSERT = """
insert into snowflake.account_usage.access_history
    (query_id, query_start_time, user_name, direct_objects_accessed, base_objects_accessed, objects_modified)
select
    r.value:query_id::varchar,
    r.value:start::timestamp_ltz,
    r.value:user_name::varchar,
    r.value:direct,
    r.value:base,
    r.value:modified
from table(flatten(input => parse_json(%(rows)s))) as r"""
QUERY_HISTORY_INSERT = """
insert into snowflake.account_usage.query_history
    (query_id, query_text, query_type, user_name, role_name, warehouse_name, query_tag,
     execution_status, start_time, end_time)
select
    r.value:query_id::varchar,
    r.value:query_text::varchar,
    r.value:query_type::varchar,
    r.value:user_name::varchar,
    r.value:role_name::varchar,
    r.value:warehouse_name::varchar,
    r.value:query_tag::varchar,
    'SUCCESS',
    r.value:start::timestamp_ltz,
    r.value:start::timestamp_ltz
from table(flatten(input => parse_json(%(rows)s))) as r"""


class StandinError(RuntimeError):
    """fakesnow could not be started."""


def object_name(relation: Relation) -> str:
    """A relation as ACCESS_HISTORY's objectName writes it: parts that are not plain upper-case
    identifiers double-quoted (a `"` inside doubled)."""
    return ".".join(
        part if PLAIN_IDENTIFIER.fullmatch(part) else '"' + part.replace('"', '""') + '"'
        for part in relation
        if part
    )


def history_rows(reads: Iterable[Read], writes: Iterable[Read] = ()) -> tuple[list[dict], list[dict]]:
    """ACCESS_HISTORY and QUERY_HISTORY rows: a query per read (its relations in the base and
    direct objects accessed), and a query per write (its relations in `objects_modified` only)."""
    access, queries = [], []
    numbered = [(read, False) for read in reads] + [(write, True) for write in writes]
    for number, (read, is_write) in enumerate(numbered):
        query_id = str(uuid.UUID(int=number + 1))
        names = [object_name(relation) for relation in read.relations]
        objects = [{"objectName": name, "objectDomain": "Table", "columns": []} for name in names]
        start = read.at.isoformat()
        access.append(
            {
                "query_id": query_id,
                "start": start,
                "user_name": read.user,
                "direct": [] if is_write else objects,
                "base": [] if is_write else objects,
                "modified": objects if is_write else [],
            }
        )
        queries.append(
            {
                "query_id": query_id,
                "query_text": f"insert into {names[0]} select 1"
                if is_write
                else f"select * from {', '.join(names)}",
                "query_type": "INSERT" if is_write else "SELECT",
                "user_name": read.user,
                "role_name": read.role,
                "warehouse_name": "TRANSFORMING" if is_write else "REPORTING",
                "query_tag": read.query_tag or "",  # Snowflake writes an empty tag, not NULL
                "start": start,
            }
        )
    return access, queries


def _uv() -> str:
    found = shutil.which("uv") or str(REPO / ".tools" / "bin" / "uv")
    if not Path(found).exists():
        raise StandinError("uv not found (on PATH or in .tools/bin): `make` installs it into .tools")
    return found


class SnowflakeStandin:
    """fakesnow's server on a free loopback port, in its own process group."""

    def __init__(self, port: int | None = None, startup_timeout_s: float = STARTUP_TIMEOUT_S):
        self.port = port or free_port()
        self.startup_timeout_s = startup_timeout_s
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_s: float | None = None
        self._log: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def connect_args(self) -> dict[str, Any]:
        """`snowflake.connector.connect` keywords for the stand-in (any user and password do)."""
        return {
            "account": ACCOUNT,
            "user": "METAPIPELINE",
            "password": "standin-password",
            "host": "127.0.0.1",
            "port": self.port,
            "protocol": "http",
            # fakesnow's FLATTEN is a macro in the session's database: without one it is unknown.
            "database": "SNOWFLAKE",
            "schema": "ACCOUNT_USAGE",
            "login_timeout": 30,
            "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
        }

    def env(self) -> dict[str, str]:
        """SNOWFLAKE_* variables `snowflake_connect_args_from_env` reads back into `connect_args`."""
        args = self.connect_args()
        return {
            "SNOWFLAKE_ACCOUNT": args["account"],
            "SNOWFLAKE_USER": args["user"],
            "SNOWFLAKE_PASSWORD": args["password"],
            "SNOWFLAKE_HOST": args["host"],
            "SNOWFLAKE_PORT": str(args["port"]),
            "SNOWFLAKE_PROTOCOL": args["protocol"],
        }

    def start(self) -> SnowflakeStandin:
        command = [
            _uv(), "tool", "run", "--python", "3.11", "--from", FAKESNOW_REQUIREMENT,
            "--with", FAKESNOW_CONNECTOR, "fakesnow", "-s", "-p", str(self.port),
        ]  # fmt: skip
        env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
        env.pop("VIRTUAL_ENV", None)
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        began = time.monotonic()
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            self._wait_until_up(began)
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - began
        return self

    def _wait_until_up(self, began: float) -> None:
        assert self.process is not None
        while True:
            if self.process.poll() is not None:
                raise StandinError(f"fakesnow exited ({self.process.returncode}):\n{self._output()}")
            try:
                # Up once it answers at all: a session request without a token is a 401.
                urllib.request.urlopen(
                    urllib.request.Request(f"{self.url}/session", method="POST"), timeout=2
                )
                return
            except urllib.error.HTTPError as error:
                if error.code == 401:
                    return
                raise StandinError(
                    f"port {self.port} answers, but not as fakesnow (HTTP {error.code})"
                ) from None
            except OSError:
                pass
            if time.monotonic() - began > self.startup_timeout_s:
                raise StandinError(
                    f"fakesnow did not answer within {self.startup_timeout_s:.0f} s:\n{self._output()}"
                )
            time.sleep(0.1)

    def _output(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-3000:]

    def stop(self) -> None:
        """SIGINT fakesnow's process group (uv and the server it runs), then SIGKILL what is left."""
        process, self.process = self.process, None
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGINT)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=10)
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    os.killpg(process.pid, 0)  # raises ProcessLookupError once the group is gone
                    time.sleep(0.1)
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def load_history(
        self, reads: Iterable[Read], writes: Iterable[Read] = (), *, connector: Any = None
    ) -> dict:
        """(Re)create SNOWFLAKE.ACCOUNT_USAGE's two tables holding `reads` (and `writes`, in
        `objects_modified`); the connect keywords."""
        if connector is None:
            import snowflake.connector as connector
        access, queries = history_rows(reads, writes)
        args = self.connect_args()
        connection = connector.connect(**args)
        try:
            cursor = connection.cursor()
            for statement in (
                "create database if not exists snowflake",
                "create schema if not exists snowflake.account_usage",
                ACCESS_HISTORY_DDL,
                QUERY_HISTORY_DDL,
            ):
                cursor.execute(statement)
            if access:
                cursor.execute(ACCESS_HISTORY_INSERT, {"rows": json.dumps(access)})
                cursor.execute(QUERY_HISTORY_INSERT, {"rows": json.dumps(queries)})
            cursor.close()
        finally:
            connection.close()
        return args

    def __enter__(self) -> SnowflakeStandin:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

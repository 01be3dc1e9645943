"""Snowflake's access history as usage: the real connector against fakesnow (the stand-in, ~3 s to
start once uv has it cached, one per module), and the pieces that need no server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlglot

from metapipeline.mode.snapshot import WorkspaceSnapshot
from metapipeline.platform.graph import build_platform_graph
from metapipeline.platform.unused import find_unused_models
from metapipeline.sandbox.harness import Emulator, EmulatorServer, Request, Response, Route, free_port
from metapipeline.sandbox.sample import expected_outcomes
from metapipeline.sandbox.sample.warehouse_history import sample_reads
from metapipeline.sandbox.snowflake_standin import (
    ACCESS_HISTORY_INSERT,
    QUERY_HISTORY_INSERT,
    SnowflakeStandin,
    history_rows,
    object_name,
)
from metapipeline.warehouse.snowflake import (
    HISTORY_FROM_SQL,
    USAGE_SQL,
    redact,
    snowflake_connect_args_from_env,
    snowflake_usage,
    split_object_name,
)
from metapipeline.warehouse.sources import read_usage_source
from metapipeline.warehouse.usage import Read, UsageSettings, fold_reads

NOW = datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=UTC)
BASKET = ("ANALYTICS", "MARTS", "FCT_BASKET_AFFINITY")
PASSWORD = "Tr0ub4dor&3-not-a-real-one"
DEFAULTS = UsageSettings()


def _expected(reads: list[Read], settings: UsageSettings = DEFAULTS):
    return fold_reads(reads, settings, NOW - timedelta(days=settings.window_days), NOW)


# --- objectName, the environment, redaction: no server ---------------------------------------


@pytest.mark.parametrize(
    ("name", "relation"),
    [
        ("ANALYTICS.MARTS.FCT_ORDERS", ("ANALYTICS", "MARTS", "FCT_ORDERS")),
        ('ANALYTICS."my.schema"."fct.orders"', ("ANALYTICS", "my.schema", "fct.orders")),
        ('"Db.1".S."T"', ("Db.1", "S", "T")),
        ('ANALYTICS.MARTS."say ""hi"".v2"', ("ANALYTICS", "MARTS", 'say "hi".v2')),
        ('ANALYTICS.MARTS.""""', ("ANALYTICS", "MARTS", '"')),
        ("MARTS.FCT_ORDERS", (None, "MARTS", "FCT_ORDERS")),
        ("FCT_ORDERS", (None, None, "FCT_ORDERS")),
    ],
)
def test_object_names_split_into_relations_as_stored(name, relation):
    assert split_object_name(name) == relation


@pytest.mark.parametrize(
    "name", ['A.B."C', "A..C", "A.B.", "", 'A.B"C".D', 'A."B"C.D', "A.B.C.D", '"".B.C']
)  # fmt: skip
def test_malformed_object_names_are_refused(name):
    with pytest.raises(ValueError):
        split_object_name(name)


@pytest.mark.parametrize(
    "relation",
    [("ANALYTICS", "MARTS", "FCT_ORDERS"), ("ANALYTICS", "my.schema", 'Orders "v2".x'), ("A_1", "$S", "1T")],
)
def test_the_standins_object_names_split_back(relation):
    assert split_object_name(object_name(relation)) == relation


def test_the_query_is_snowflake_sql_reading_base_objects_only():
    for sql in (USAGE_SQL, HISTORY_FROM_SQL):
        parsed = sqlglot.parse_one(sql.replace("%(start)s", "'2026-01-01'").replace("%(end)s", "'2026-02-01'"),
                                   read="snowflake")  # fmt: skip
        assert parsed is not None
    assert "base_objects_accessed" in USAGE_SQL
    assert "objects_modified" not in USAGE_SQL and "direct_objects_accessed" not in USAGE_SQL
    assert "group by" in USAGE_SQL.lower()


def test_connect_args_come_from_the_environment():
    env = {
        "SNOWFLAKE_ACCOUNT": "acme-xy12345",
        "SNOWFLAKE_USER": "METAPIPELINE",
        "SNOWFLAKE_PASSWORD": PASSWORD,
        "SNOWFLAKE_ROLE": "USAGE_READER",
        "SNOWFLAKE_WAREHOUSE": "XS",
        "SNOWFLAKE_HOST": "127.0.0.1",
        "SNOWFLAKE_PORT": "8080",
        "SNOWFLAKE_PROTOCOL": "http",
        "UNRELATED": "x",
    }
    assert snowflake_connect_args_from_env(env) == {
        "account": "acme-xy12345",
        "user": "METAPIPELINE",
        "password": PASSWORD,
        "role": "USAGE_READER",
        "warehouse": "XS",
        "host": "127.0.0.1",
        "port": 8080,
        "protocol": "http",
    }
    keyed = snowflake_connect_args_from_env(
        {"SNOWFLAKE_ACCOUNT": "acme", "SNOWFLAKE_USER": "U", "SNOWFLAKE_PASSWORD": "pw",
         "SNOWFLAKE_PRIVATE_KEY_PATH": "/keys/rsa.p8", "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE": "pp"}
    )  # fmt: skip
    assert keyed == {
        "account": "acme",
        "user": "U",
        "private_key_file": "/keys/rsa.p8",
        "private_key_file_pwd": "pp",
    }
    assert snowflake_connect_args_from_env({}) == {}


def test_unconfigured_or_missing_pieces_are_failures_not_exceptions():
    usage = snowflake_usage({}, DEFAULTS, NOW)
    assert usage.failure and "SNOWFLAKE_ACCOUNT" in usage.failure
    assert usage.source == "snowflake" and usage.incomplete_because()
    bad_port = snowflake_usage({"account": "acme", "port": "eighty"}, DEFAULTS, NOW)
    assert bad_port.failure and "port" in bad_port.failure and bad_port.source == "snowflake acme"


def test_secrets_are_redacted_plain_and_url_encoded():
    text = f"login failed for password={PASSWORD} (url ...&pwd={PASSWORD.replace('&', '%26')})"
    cleaned = redact(text, {"password": PASSWORD})
    assert PASSWORD not in cleaned and "Tr0ub4dor" not in cleaned and "***" in cleaned


class _EchoingConnector:
    """A connector whose error names the password, as a careless driver or proxy might."""

    class Error(Exception):
        pass

    def connect(self, **kwargs: Any) -> Any:
        raise self.Error(f"250001: could not log in as {kwargs['user']} with password '{kwargs['password']}'")


def test_an_error_naming_the_password_does_not_pass_it_on():
    usage = snowflake_usage(
        {"account": "acme", "user": "U", "password": PASSWORD}, DEFAULTS, NOW, connector=_EchoingConnector()
    )
    assert usage.failure and "could not log in" in usage.failure
    assert PASSWORD not in usage.failure and PASSWORD not in (usage.incomplete_because() or "")


class _RowsConnector:
    """Hands back grouped rows as the usage query would."""

    def __init__(self, rows: list[tuple], oldest: datetime | None):
        self.rows, self.oldest, self.kwargs = rows, oldest, {}

    def connect(self, **kwargs: Any) -> Any:
        self.kwargs = kwargs
        outer = self

        class Cursor:
            def __init__(self) -> None:
                self.result: list[tuple] = []

            def execute(self, sql: str, params: Any = None) -> None:
                self.result = outer.rows if "group by" in sql else [(outer.oldest, 1 if outer.oldest else 0)]

            def fetchall(self) -> list[tuple]:
                return self.result

            def fetchone(self) -> tuple | None:
                return self.result[0] if self.result else None

            def close(self) -> None:
                pass

        class Connection:
            def cursor(self) -> Cursor:
                return Cursor()

            def close(self) -> None:
                pass

        return Connection()


def test_grouped_rows_fold_by_reader_across_roles_and_tags():
    last = NOW - timedelta(days=1)
    rows = [
        ('ANALYTICS.MARTS."Fct.Orders"', "SAM", "ANALYST", "", 3, last - timedelta(days=2)),
        ('ANALYTICS.MARTS."Fct.Orders"', "SAM", "REPORTER", "mode:report-1", 2, last),
        ("ANALYTICS.MARTS.FCT_ORDERS", "DBT_RUNNER", "TRANSFORMER", "dbt", 7, last),
        ("ANALYTICS.MARTS.FCT_ORDERS", "METAPIPELINE", "X", "metapipeline-usage", 1, last),
        ("ANALYTICS.MARTS.RARE", "ANA", "ANALYST", None, 1, last),
        ('ANALYTICS.MARTS."BROKEN', "ANA", "ANALYST", None, 4, last),
    ]
    connector = _RowsConnector(rows, NOW - timedelta(days=300))
    usage = snowflake_usage({"account": "acme"}, UsageSettings(min_reads=2), NOW, connector=connector)
    [orders] = usage.usages
    assert orders.relation == ("ANALYTICS", "MARTS", "Fct.Orders") and orders.reader == "SAM"
    assert (orders.reads, orders.last_read, orders.tool) == (5, last, "mode")
    assert usage.excluded_reads == 7 + 1 + 1  # dbt's, metapipeline's, and RARE's single read
    assert usage.failure and "1 object names unreadable" in usage.failure
    assert connector.kwargs["session_parameters"]["QUERY_TAG"] == "metapipeline"


# --- the real connector against fakesnow ------------------------------------------------------


@pytest.fixture(scope="module")
def standin():
    with SnowflakeStandin() as running:
        yield running


@pytest.fixture
def sample_loaded(standin) -> dict[str, Any]:
    """The sample's history, and a loader's write into the basket table (writes are not reads)."""
    write = Read(NOW - timedelta(days=2), "LOADER", (BASKET,), "LOADER_ROLE", "fivetran")
    return standin.load_history(sample_reads(NOW), writes=[write])


def test_the_sample_history_read_over_the_connector(sample_loaded):
    usage = snowflake_usage(sample_loaded, DEFAULTS, NOW)
    assert usage.failure is None and usage.incomplete_because() is None
    assert usage.source == "snowflake standin"

    reads = sample_reads(NOW)
    start = NOW - timedelta(days=DEFAULTS.window_days)
    by_reader = {(u.relation, u.reader): u for u in usage.usages}
    hightouch = by_reader[(BASKET, "HIGHTOUCH_SYNC")]
    in_window = [r for r in reads if r.user == "HIGHTOUCH_SYNC" and start <= r.at <= NOW]
    assert hightouch.reads == len(in_window) and 85 <= hightouch.reads <= 95
    assert hightouch.tool == "hightouch" and hightouch.last_read == max(r.at for r in in_window)

    readers = {u.reader for u in usage.usages}
    assert "DBT_RUNNER" not in readers and "ANALYST_PRIYA" not in readers and "LOADER" not in readers
    dbt_reads = sum(len(r.relations) for r in reads if r.user == "DBT_RUNNER" and start <= r.at <= NOW)
    assert dbt_reads > 0 and usage.excluded_reads == dbt_reads

    assert usage.history_from is not None
    assert abs(usage.history_from - (NOW - timedelta(days=200))) < timedelta(days=1)

    expected, excluded, oldest = _expected(reads)
    assert usage.usages == expected  # relations, readers, counts, tools and last reads to the microsecond
    assert usage.excluded_reads == excluded and usage.history_from == oldest


def test_min_reads_and_a_shorter_window_match_fold_reads(sample_loaded):
    settings = UsageSettings(window_days=30, min_reads=11)
    usage = snowflake_usage(sample_loaded, settings, NOW)
    expected, excluded, _ = _expected(sample_reads(NOW), settings)
    assert usage.usages == expected and usage.excluded_reads == excluded
    assert {u.reader for u in usage.usages} == {"HIGHTOUCH_SYNC"}  # SAM's 10 reads in 30 days fall short


def test_the_environment_reaches_the_standin(sample_loaded, standin, monkeypatch):
    for name, value in standin.env().items():
        monkeypatch.setenv(name, value)
    usage = snowflake_usage(snowflake_connect_args_from_env(), DEFAULTS, NOW)
    assert usage.failure is None and usage.usages == _expected(sample_reads(NOW))[0]


def test_quoted_names_with_dots_survive_the_round_trip(standin):
    odd = ("ANALYTICS", "my.schema", 'Orders "v2".x')
    reads = [Read(NOW - timedelta(days=d), "ANALYST_SAM", (odd, BASKET), "ANALYST") for d in range(100)]
    connect = standin.load_history(reads)
    usage = snowflake_usage(connect, DEFAULTS, NOW)
    assert usage.failure is None
    assert [(u.relation, u.reads) for u in usage.usages] == [(BASKET, 91), (odd, 91)]
    assert usage.usages == _expected(reads)[0]


def test_stages_and_functions_are_not_relations_read(standin):
    import snowflake.connector

    connect = standin.load_history([Read(NOW - timedelta(days=1), "ANALYST_SAM", (BASKET,), "ANALYST")])
    access, queries = history_rows([Read(NOW - timedelta(hours=1), "ANALYST_SAM", (BASKET,), "ANALYST")])
    for row in access:
        row["query_id"] = row["query_id"].replace("0", "f")
        row["base"] = [
            {"objectName": "ANALYTICS.RAW.LANDING", "objectDomain": "Stage"},
            {"objectName": "ANALYTICS.UTIL.PARSE_ADDRESS(VARCHAR)", "objectDomain": "Function"},
            {"objectName": 'ANALYTICS.MARTS."Mv.1"', "objectDomain": "Materialized view"},
        ]
    for row in queries:
        row["query_id"] = row["query_id"].replace("0", "f")
    connection = snowflake.connector.connect(**connect)
    try:
        cursor = connection.cursor()
        cursor.execute(ACCESS_HISTORY_INSERT, {"rows": json.dumps(access)})
        cursor.execute(QUERY_HISTORY_INSERT, {"rows": json.dumps(queries)})
    finally:
        connection.close()
    usage = snowflake_usage(connect, DEFAULTS, NOW)
    assert usage.failure is None
    assert [(u.relation, u.reads) for u in usage.usages] == [
        (BASKET, 1),
        (("ANALYTICS", "MARTS", "Mv.1"), 1),
    ]


def test_a_30_day_history_is_incomplete_and_names_the_dates(standin):
    recent = [r for r in sample_reads(NOW) if r.at >= NOW - timedelta(days=30)]
    usage = snowflake_usage(standin.load_history(recent), DEFAULTS, NOW)
    assert usage.failure is None and usage.usages  # what it holds still counts
    reason = usage.incomplete_because()
    assert reason is not None
    assert f"{min(r.at for r in recent):%Y-%m-%d}" in reason
    assert f"{NOW - timedelta(days=90):%Y-%m-%d}" in reason


def test_an_empty_history_is_incomplete(standin):
    usage = snowflake_usage(standin.load_history([]), DEFAULTS, NOW)
    assert usage.failure is None and usage.history_from is None and usage.usages == []
    assert "holds no history" in (usage.incomplete_because() or "")


def test_the_history_rows_keep_writes_out_of_the_objects_read():
    write = Read(NOW, "LOADER", (BASKET,), "LOADER_ROLE")
    access, queries = history_rows([], [write])
    assert (
        access[0]["base"] == []
        and access[0]["modified"][0]["objectName"] == "ANALYTICS.MARTS.FCT_BASKET_AFFINITY"
    )
    assert queries[0]["query_type"] == "INSERT" and json.dumps(access)


# --- failures: a rejected login, nothing listening -------------------------------------------


class _RejectingSnowflake(Emulator):
    """Snowflake's answer to a wrong password (HTTP 200, success false, code 390100)."""

    name = "snowflake-login"

    def routes(self):
        return [Route.of("POST", "/session/v1/login-request", self._login)]

    def env(self, base_url: str) -> dict[str, str]:
        return {}

    def _login(self, request: Request) -> Response:
        return Response(
            200,
            {
                "data": {"nextAction": None, "authnMethod": "PASSWORD"},
                "code": "390100",
                "message": "Incorrect username or password was specified.",
                "success": False,
                "headers": None,
            },
        )


def _connect_to(port: int) -> dict[str, Any]:
    return {
        "account": "acme",
        "user": "METAPIPELINE",
        "password": PASSWORD,
        "host": "127.0.0.1",
        "port": port,
        "protocol": "http",
        "login_timeout": 5,
        "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
    }


def test_a_wrong_password_is_a_failure_without_the_password():
    server = EmulatorServer(_RejectingSnowflake())
    server.start()
    try:
        port = int(server.base_url.rsplit(":", 1)[1])
        usage = snowflake_usage(_connect_to(port), DEFAULTS, NOW)
    finally:
        server.stop()
    assert usage.failure and "Incorrect username or password" in usage.failure
    assert usage.source == "snowflake acme" and usage.usages == [] and usage.history_from is None
    assert PASSWORD not in usage.failure and PASSWORD not in (usage.incomplete_because() or "")


def test_nothing_listening_is_a_failure_without_the_password():
    usage = snowflake_usage(_connect_to(free_port()), DEFAULTS, NOW)
    assert usage.failure and "OperationalError" in usage.failure
    assert PASSWORD not in usage.failure and usage.incomplete_because()


def test_the_sample_outcome_through_the_standin(sample_loaded, standin, sample_projects, monkeypatch):
    """The job's path (METAPIPELINE_WAREHOUSE_USAGE=snowflake): the reverse-ETL model is kept with
    its reads, the dbt-only and the abandoned ones are proposed, exactly as with the reads file."""
    for name, value in standin.env().items():
        monkeypatch.setenv(name, value)
    usage = read_usage_source("snowflake", DEFAULTS, NOW)
    no_mode = WorkspaceSnapshot(workspace="freshcart", taken_at=NOW.isoformat())
    graph = build_platform_graph(sample_projects, no_mode, {}, warehouse=usage)
    candidates = {m.unique_id for m in find_unused_models(graph, max_share=1).candidates}
    warehouse = expected_outcomes()["warehouse"]
    assert not set(warehouse["kept"]) & candidates
    assert set(warehouse["still_unused"]) <= candidates
    assert graph.has_edge("model.freshcart.fct_basket_affinity", "warehouse.reader.HIGHTOUCH_SYNC")

"""The emulator harness: routing, the control API and every injected fault, over real HTTP."""

from __future__ import annotations

import json
import time

import pytest
import requests

from metapipeline.sandbox.faults import FaultInjector, FaultSettings
from metapipeline.sandbox.harness import Emulator, EmulatorServer, Request, Response, Route, Sandbox


class EchoEmulator(Emulator):
    name = "echo"

    def routes(self):
        return [
            Route.of("GET", r"/things/(?P<thing>\w+)", self.get_thing),
            Route.of("POST", r"/things", lambda request: Response(201, {"created": request.json()})),
        ]

    def get_thing(self, request: Request) -> Response:
        return Response(200, {"thing": request.params["thing"], "query": request.query, "padding": "x" * 200})

    def env(self, base_url: str) -> dict[str, str]:
        return {"ECHO_URL": base_url}


@pytest.fixture
def echo():
    server = EmulatorServer(EchoEmulator())
    server.start()
    yield server
    server.stop()


def set_faults(server: EmulatorServer, **settings) -> requests.Response:
    return requests.post(f"{server.base_url}/_sandbox/faults", json=settings, timeout=5)


def test_serves_routes_on_loopback_free_ports(echo):
    other = EmulatorServer(EchoEmulator())
    try:
        assert echo.base_url.startswith("http://127.0.0.1:")
        assert other.base_url != echo.base_url
        response = requests.get(f"{echo.base_url}/things/apple", params={"colour": "red"}, timeout=5)
        assert response.status_code == 200
        assert response.json()["thing"] == "apple"
        assert response.json()["query"] == {"colour": "red"}
        created = requests.post(f"{echo.base_url}/things", json={"name": "pear"}, timeout=5)
        assert (created.status_code, created.json()) == (201, {"created": {"name": "pear"}})
    finally:
        other.stop()


def test_unknown_paths_and_methods_get_clear_errors(echo):
    assert requests.get(f"{echo.base_url}/nothing", timeout=5).status_code == 404
    wrong_method = requests.delete(f"{echo.base_url}/things/apple", timeout=5)
    assert wrong_method.status_code == 405
    assert "DELETE" in wrong_method.json()["error"]


def test_faults_can_be_read_and_changed_while_running(echo):
    assert requests.get(f"{echo.base_url}/_sandbox/faults", timeout=5).json()["rate_429"] == 0
    changed = set_faults(echo, rate_429=1.0, retry_after_s=3)
    assert changed.status_code == 200
    assert changed.json()["rate_429"] == 1.0
    throttled = requests.get(f"{echo.base_url}/things/apple", timeout=5)
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "3"
    set_faults(echo, rate_429=0)
    assert requests.get(f"{echo.base_url}/things/apple", timeout=5).status_code == 200


def test_bad_fault_settings_are_refused_with_the_reason(echo):
    unknown = set_faults(echo, rate_teapot=0.5)
    assert unknown.status_code == 400
    assert "rate_teapot" in unknown.json()["error"]
    out_of_range = set_faults(echo, rate_5xx=1.5)
    assert out_of_range.status_code == 400
    assert "between 0 and 1" in out_of_range.json()["error"]
    assert echo.faults.settings == FaultSettings()


def test_stats_count_requests_statuses_and_faults(echo):
    set_faults(echo, rate_5xx=1.0)
    for _ in range(3):
        requests.get(f"{echo.base_url}/things/apple", timeout=5)
    set_faults(echo, rate_5xx=0.0)
    requests.get(f"{echo.base_url}/things/apple", timeout=5)
    stats = requests.get(f"{echo.base_url}/_sandbox/stats", timeout=5).json()
    assert stats == {"requests": 4, "fault_5xx": 3, "status_200": 1}
    requests.post(f"{echo.base_url}/_sandbox/stats/reset", timeout=5)
    assert requests.get(f"{echo.base_url}/_sandbox/stats", timeout=5).json() == {}


def test_latency_fault_delays_answers(echo):
    set_faults(echo, latency_ms=300)
    started = time.monotonic()
    assert requests.get(f"{echo.base_url}/things/apple", timeout=5).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_server_error_fault_rotates_through_gateway_statuses(echo):
    set_faults(echo, rate_5xx=1.0)
    statuses = [requests.get(f"{echo.base_url}/things/apple", timeout=5).status_code for _ in range(3)]
    assert sorted(statuses) == [502, 503, 504]


def test_dropped_connection_fault_closes_without_an_answer(echo):
    set_faults(echo, rate_drop=1.0)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{echo.base_url}/things/apple", timeout=5)


def test_malformed_fault_truncates_the_json_body(echo):
    set_faults(echo, rate_malformed=1.0)
    response = requests.get(f"{echo.base_url}/things/apple", timeout=5)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_faults_can_target_some_paths_only(echo):
    set_faults(echo, rate_429=1.0, path_pattern="^/things/pear")
    assert requests.get(f"{echo.base_url}/things/apple", timeout=5).status_code == 200
    assert requests.get(f"{echo.base_url}/things/pear", timeout=5).status_code == 429


def test_fault_rates_are_honoured_and_reproducible_with_a_seed():
    settings = FaultSettings(rate_429=0.2, rate_5xx=0.1, rate_drop=0.1, rate_malformed=0.1, seed=7)
    injector_a, injector_b = FaultInjector(settings), FaultInjector(settings)
    draws_a = [injector_a.choose("/x") for _ in range(4000)]
    draws_b = [injector_b.choose("/x") for _ in range(4000)]
    assert draws_a == draws_b
    share = {
        fault: draws_a.count(fault) / len(draws_a) for fault in ("429", "5xx", "drop", "malformed", None)
    }
    assert share["429"] == pytest.approx(0.2, abs=0.03)
    assert share["5xx"] == pytest.approx(0.1, abs=0.03)
    assert share["drop"] == pytest.approx(0.1, abs=0.03)
    assert share["malformed"] == pytest.approx(0.1, abs=0.03)
    assert share[None] == pytest.approx(0.5, abs=0.03)


def test_fault_settings_parse_from_the_command_line_form():
    assert FaultSettings.parse("latency_ms=25, rate_429=0.2,seed=3") == FaultSettings(
        latency_ms=25, rate_429=0.2, seed=3
    )
    assert FaultSettings.parse("") == FaultSettings()
    with pytest.raises(ValueError, match="name=value"):
        FaultSettings.parse("rate_429")
    with pytest.raises(ValueError, match="not a number"):
        FaultSettings.parse("rate_429=often")
    with pytest.raises(ValueError, match="more than 1"):
        FaultSettings.parse("rate_429=0.6,rate_5xx=0.6")


def test_sandbox_merges_environments_and_refuses_faults_for_unknown_emulators():
    with Sandbox([EchoEmulator()], extra_env={"DBT_PROJECT_DIR": "/tmp/x"}).start() as sandbox:
        env = sandbox.env()
        assert env["DBT_PROJECT_DIR"] == "/tmp/x"
        assert requests.get(f"{env['ECHO_URL']}/things/a", timeout=5).status_code == 200
    with pytest.raises(ValueError, match="unknown emulator"):
        Sandbox([EchoEmulator()], faults={"github": FaultSettings()})

"""The Mode emulator speaks Mode's REST API: shapes, pagination, auth, rate limit, mutations, faults."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from metapipeline.mode.snapshot import take_snapshot
from metapipeline.sandbox.faults import FaultSettings
from metapipeline.sandbox.mode_emulator import mode_client
from metapipeline.sandbox.synthetic import synthetic_platform, synthetic_workspace

# Real Mode API responses, kept in the repository with their provenance (tests/fixtures/corpora/).
SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "corpora" / "mode_api_samples"
NOW = datetime(2026, 11, 23, tzinfo=UTC)
MODE_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

EXECUTIVE = "a0e4c1d7f2b9"
PERSONAL_SPACE_TYPE = "private"


def _sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


def _key_sets(items: list[dict]) -> tuple[set[str], set[str]]:
    return set().union(*(item.keys() for item in items)), set().union(
        *(item.get("_links", {}) for item in items)
    )


def _a_report_token(workspace, *, archived=False) -> str:
    return next(r["token"] for r in workspace["reports"] if r["archived"] == archived and r["queries"])


@pytest.mark.parametrize(
    ("sample_file", "key", "path"),
    [
        ("spaces.json", "spaces", "spaces?filter=all"),
        ("reports_75737b70402e.json", "reports", f"spaces/{EXECUTIVE}/reports"),
        ("queries_9d2da37fa91e.json", "queries", "reports/{report}/queries"),
        ("dataset_queries_24f66e1701b6.json", "queries", "reports/{report}/queries"),
        ("datasets_75737b70402e.json", "reports", f"spaces/{EXECUTIVE}/datasets"),
        ("data_sources.json", "data_sources", "data_sources"),
        ("definitions.json", "definitions", "definitions"),
    ],
)
def test_list_responses_carry_every_key_real_mode_sends(
    start_mode, mode_http, sample_workspace, sample_file, key, path
):
    real_items = _sample(sample_file)["_embedded"][key]
    http = mode_http(start_mode())
    response = http.get(path.format(report=_a_report_token(sample_workspace)))
    assert response.status_code == 200
    ours = response.json()["_embedded"][key]
    assert ours
    real_keys, real_links = _key_sets(real_items)
    our_keys, our_links = _key_sets(ours)
    assert real_keys <= our_keys, f"missing {sorted(real_keys - our_keys)}"
    assert real_links <= our_links, f"missing links {sorted(real_links - our_links)}"
    for item in ours:
        assert isinstance(item["id"], int)
        for name, real_value in real_items[0].items():
            if real_value is not None and item.get(name) is not None and name not in {"custom_attributes"}:
                assert type(item[name]) is type(real_value), name


# Fields whose values are free text (names, hosts): their form says nothing about Mode's.
FREE_TEXT_FIELDS = {"name", "description", "display_name", "database", "host", "warehouse"}


def _value_form(value: object) -> str:
    """How a value is written: `jdbc:postgresql` and `jdbc:snowflake` share a form, `snowflake` not."""
    if not isinstance(value, str):
        return type(value).__name__
    for form, pattern in (
        ("jdbc adapter", r"jdbc:[a-z0-9]+"),
        ("token", r"[0-9a-f]{12}"),
        ("lowercase word", r"[a-z0-9_]+"),
    ):
        if re.fullmatch(pattern, value):
            return form
    return "timestamp" if MODE_TIMESTAMP.match(value) else "text"


@pytest.mark.parametrize("workspace", ["sample", "synthetic platform"])
def test_data_sources_are_written_like_real_mode_data_sources(start_mode, mode_http, workspace):
    document = None if workspace == "sample" else synthetic_platform(20, 20, 40, seed=0, now=NOW).workspace
    real = _sample("data_sources.json")["_embedded"]["data_sources"][0]
    assert _value_form(real["adapter"]) == "jdbc adapter"  # what the comparison rests on
    assert real["vendor"] == real["adapter"].removeprefix("jdbc:")
    ours = mode_http(start_mode(document)).get("data_sources").json()["_embedded"]["data_sources"]
    assert len(ours) >= 3
    for source in ours:
        forms = {
            name: (_value_form(source[name]), _value_form(value))
            for name, value in real.items()
            if name not in FREE_TEXT_FIELDS and value is not None and source.get(name) is not None
        }
        assert {name for name, (our, theirs) in forms.items() if our != theirs} == set(), (source, forms)
        assert {"adapter", "vendor", "token", "id"} <= set(forms)
        assert source["vendor"] == source["adapter"].removeprefix("jdbc:")


def test_report_objects_look_like_mode_reports(start_mode, mode_http, sample_workspace):
    http = mode_http(start_mode())
    token = _a_report_token(sample_workspace)
    report = http.get(f"reports/{token}").json()
    assert "_embedded" not in report  # a single object comes bare
    assert report["_links"]["web"]["href"] == f"https://app.mode.com/freshcart/reports/{token}"
    assert report["_links"]["space"]["href"].startswith("/api/freshcart/collections/")
    assert report["_links"]["creator"]["href"].startswith("/api/")
    assert {"archive", "unarchive", "destroy"} <= set(report["_forms"])
    for field in ("created_at", "updated_at", "edited_at", "last_run_at"):
        assert MODE_TIMESTAMP.match(report[field]), field
    creator = http.session.get(http.base_url + report["_links"]["creator"]["href"], timeout=5).json()
    assert {"username", "name", "email"} <= set(creator)


def test_spaces_filter_matches_mode(start_mode, mode_http, sample_workspace):
    http = mode_http(start_mode())
    everything = http.get("spaces", filter="all").json()["_embedded"]["spaces"]
    custom = http.get("spaces", filter="custom").json()["_embedded"]["spaces"]
    mine = http.get("collections").json()["_embedded"]["spaces"]
    assert len(everything) == len(sample_workspace["spaces"])
    assert all(s["space_type"] != PERSONAL_SPACE_TYPE for s in custom)
    assert len(custom) == len(everything) - 1
    member_of = {s["token"] for s in sample_workspace["spaces"] if "data-platform" in s["members"]}
    assert {s["token"] for s in mine} == member_of != {s["token"] for s in everything}


def test_pagination_walks_every_report_once_and_ends_with_an_empty_page(start_mode, mode_http):
    document = synthetic_workspace(150)  # three spaces of 50 reports
    space = document["spaces"][0]["token"]
    http = mode_http(start_mode(document))
    first_default = http.get(f"spaces/{space}/reports").json()["_embedded"]["reports"]
    assert len(first_default) == 30  # Mode's default page size
    seen = []
    for page in range(1, 10):
        body = http.get(f"spaces/{space}/reports", page=page, per_page=20).json()
        assert "next" not in body["_links"]  # Mode sends no next links
        items = body["_embedded"]["reports"]
        if not items:
            break
        seen += [r["token"] for r in items]
    assert page == 4
    assert len(seen) == len(set(seen)) == 50


def test_past_the_end_can_drop_the_list_key_like_some_real_responses(start_mode, mode_http):
    http = mode_http(start_mode(past_end="no_key"))
    assert http.get(f"spaces/{EXECUTIVE}/reports", page=99).json()["_embedded"] == {}


def test_per_page_above_the_maximum_is_a_mode_bad_request(start_mode, mode_http):
    response = mode_http(start_mode()).get(f"spaces/{EXECUTIVE}/reports", per_page=1001)
    assert response.status_code == 400
    assert response.json()["id"] == "bad_request"
    assert "per_page" in response.json()["message"]


def test_a_server_that_ignores_page_does_not_trap_the_client(start_mode):
    document = synthetic_workspace(12)
    server = start_mode(document, ignore_page_param=True)
    client = mode_client(server, requests_per_second=0)
    reports = list(
        client.paginate(
            client.workspace_path("spaces", document["spaces"][0]["token"], "reports"), "reports", per_page=5
        )
    )
    assert len(reports) == 5  # page one, then a repeat of it: stop instead of looping forever
    assert client.requests_sent == 2


def test_report_listing_filters_and_orders_by_timestamp(start_mode, mode_http, sample_workspace):
    http = mode_http(start_mode())
    space = next(s["token"] for s in sample_workspace["spaces"] if s["name"] == "Operations")
    everything = http.get(f"spaces/{space}/reports", order_by="updated_at", order="desc").json()["_embedded"][
        "reports"
    ]
    stamps = [r["updated_at"] for r in everything]
    assert stamps == sorted(stamps, reverse=True)
    cutoff = stamps[len(stamps) // 2]
    newer = http.get(f"spaces/{space}/reports", filter=f"updated_at.gt.{cutoff}").json()["_embedded"][
        "reports"
    ]
    assert {r["token"] for r in newer} == {r["token"] for r in everything if r["updated_at"] > cutoff}
    bad = http.get(f"spaces/{space}/reports", filter="updated_at.soon.yesterday")
    assert (bad.status_code, bad.json()["id"]) == (400, "bad_request")


@pytest.mark.parametrize(
    "auth", [None, ("sandbox-mode-token", "wrong-secret"), ("someone-else", "sandbox-mode-secret")]
)
def test_requests_without_valid_basic_auth_get_401(start_mode, auth):
    server = start_mode()
    response = requests.get(f"{server.base_url}/api/freshcart/spaces", auth=auth, timeout=5)
    assert response.status_code == 401
    assert response.json()["id"] == "unauthorized"


def test_unknown_workspace_and_report_are_mode_404s(start_mode, mode_http):
    http = mode_http(start_mode())
    missing = http.get("reports/000000000000")
    assert (missing.status_code, missing.json()["id"]) == (404, "not_found")
    other = http.session.get(f"{http.base_url}/api/someone-elses/spaces", timeout=5)
    assert other.status_code == 404


def test_rate_limit_is_per_user_with_retry_after(start_mode, sample_workspace):
    server = start_mode(
        rate_limit=(5, 10.0),
        credentials={"token-a": ("secret-a", "data-platform"), "token-b": ("secret-b", "dana")},
    )
    url = f"{server.base_url}/api/freshcart/data_sources"
    statuses = [requests.get(url, auth=("token-a", "secret-a"), timeout=5).status_code for _ in range(5)]
    assert statuses == [200] * 5
    throttled = requests.get(url, auth=("token-a", "secret-a"), timeout=5)
    assert throttled.status_code == 429
    assert 1 <= int(throttled.headers["Retry-After"]) <= 10
    assert throttled.headers["X-RateLimit-Limit"] == "5"
    assert throttled.json()["message"].startswith("Rate limit exceeded")
    assert requests.get(url, auth=("token-b", "secret-b"), timeout=5).status_code == 200


def test_archive_unarchive_and_delete_persist_across_restarts(
    start_mode, mode_http, sample_workspace, tmp_path
):
    token = _a_report_token(sample_workspace)
    http = mode_http(start_mode(data_dir=tmp_path))
    archived = http.patch(f"reports/{token}/archive")
    assert (archived.status_code, archived.json()["archived"]) == (200, True)
    assert (
        archived.json()["updated_at"]
        > next(r for r in sample_workspace["reports"] if r["token"] == token)["updated_at"]
    )

    http = mode_http(start_mode(data_dir=tmp_path))
    assert http.get(f"reports/{token}").json()["archived"] is True
    assert http.patch(f"reports/{token}/unarchive").json()["archived"] is False
    deleted = http.delete(f"reports/{token}")
    assert deleted.status_code == 200

    http = mode_http(start_mode(data_dir=tmp_path))
    gone = http.get(f"reports/{token}")
    assert (gone.status_code, gone.json()["id"]) == (404, "not_found")
    space = next(r["space_token"] for r in sample_workspace["reports"] if r["token"] == token)
    listed = http.get(f"spaces/{space}/reports", per_page=1000).json()["_embedded"]["reports"]
    assert token not in {r["token"] for r in listed}
    assert json.loads((tmp_path / "mode_state.json").read_text())["deleted"] == [token]


def test_listings_include_reports_people_archived(start_mode, mode_http, sample_workspace):
    http = mode_http(start_mode())
    token = _a_report_token(sample_workspace, archived=True)
    space = next(r["space_token"] for r in sample_workspace["reports"] if r["token"] == token)
    listed = {r["token"]: r for r in http.get(f"spaces/{space}/reports").json()["_embedded"]["reports"]}
    assert listed[token]["archived"] is True


def test_delete_can_answer_204_no_content(start_mode, mode_http, sample_workspace):
    http = mode_http(start_mode(delete_status=204))
    response = http.delete(f"reports/{_a_report_token(sample_workspace)}")
    assert (response.status_code, response.content) == (204, b"")


def test_the_product_client_reads_the_same_workspace_through_every_fault(start_mode, sample_workspace):
    clean = start_mode()
    faulty = start_mode(
        faults=FaultSettings(
            rate_429=0.1, rate_5xx=0.1, rate_drop=0.1, rate_malformed=0.1, retry_after_s=0, seed=11
        )
    )
    snapshots = []
    for server in (clean, faulty):
        client = mode_client(
            server,
            requests_per_second=0,
            max_backoff_seconds=0.05,
            max_attempts=12,  # 40% faults: 0.4**12 keeps a give-up out of reach
            timeout_seconds=5,
        )
        snapshots.append(take_snapshot(client, max_workers=4))
    clean_snapshot, faulty_snapshot = snapshots
    assert faulty_snapshot.complete and not faulty_snapshot.failures
    assert faulty_snapshot.counts() == clean_snapshot.counts()
    assert {r.token: r.queries for r in faulty_snapshot.reports} == {
        r.token: r.queries for r in clean_snapshot.reports
    }
    injected = faulty.stats()
    assert all(injected.get(f"fault_{kind}", 0) > 0 for kind in ("429", "5xx", "drop", "malformed")), injected


def test_datasets_are_listed_apart_from_reports_and_imports_only_show_on_the_report(
    start_mode, mode_http, sample_workspace
):
    http = mode_http(start_mode())
    datasets = http.get(f"spaces/{EXECUTIVE}/datasets").json()["_embedded"]["reports"]
    reports = http.get(f"spaces/{EXECUTIVE}/reports").json()["_embedded"]["reports"]
    assert {d["type"] for d in datasets} == {"DatasetReport"} and {r["type"] for r in reports} == {"Report"}
    importer = next(r for r in reports if r["has_imported_datasets"])
    assert "imported_datasets" not in importer  # listings say only whether, like Mode's
    full = http.get(f"reports/{importer['token']}").json()
    assert [d["token"] for d in full["imported_datasets"]] == [datasets[0]["token"]]
    assert full["imported_datasets"][0]["_links"]["source_dataset"]["href"].endswith(datasets[0]["token"])


def test_charts_are_served_and_counted(start_mode, mode_http, sample_workspace):
    http = mode_http(start_mode())
    report = next(r for r in sample_workspace["reports"] if any(q["charts"] for q in r["queries"]))
    charts = [
        chart
        for q in report["queries"]
        for chart in http.get(f"reports/{report['token']}/queries/{q['token']}/charts").json()["_embedded"][
            "charts"
        ]
    ]
    assert http.get(f"reports/{report['token']}").json()["chart_count"] == len(charts) > 0
    one = charts[0]
    assert one["view_vegas"]["title"] and one["view_vegas"]["chartType"]  # what DataHub and OM read
    assert one["_links"]["report_viz_web"]["href"].endswith(f"/viz/{one['token']}")
    again = http.get(one["_links"]["self"]["href"].removeprefix("/api/freshcart/"))
    assert again.status_code == 200 and again.json()["token"] == one["token"]


def test_a_forbidden_space_answers_403_with_its_reports(start_mode, mode_http, sample_workspace):
    http = mode_http(start_mode(forbidden_spaces=[EXECUTIVE]))
    report = next(r["token"] for r in sample_workspace["reports"] if r["space_token"] == EXECUTIVE)
    for path in (f"spaces/{EXECUTIVE}/reports", f"spaces/{EXECUTIVE}/datasets", f"reports/{report}/queries"):
        response = http.get(path)
        assert (response.status_code, response.json()["id"]) == (403, "forbidden"), path
    assert EXECUTIVE in {s["token"] for s in http.get("spaces", filter="all").json()["_embedded"]["spaces"]}
    assert http.get(f"spaces/{sample_workspace['spaces'][1]['token']}/reports").status_code == 200

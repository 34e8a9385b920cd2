"""Fault injection: each kind, schedules, seeded probabilities, latency, resource filter."""

import json
import time

import pytest
import requests


def outcome(api, resource="orders"):
    try:
        r = api.get(resource, {"count": 20})
    except requests.ConnectionError as exc:  # includes ProxyError and ChunkedEncodingError
        return type(exc).__name__
    try:
        r.json()
        return r.status_code
    except ValueError:
        return f"{r.status_code}-not-json"


@pytest.mark.parametrize("kind", ["500", "502", "503"])
def test_server_errors_with_json_body(api, sb, kind):
    sb.control.set_faults(schedule=[kind])
    r = api.get("orders")
    assert r.status_code == int(kind)
    assert r.json()["status_code"] == int(kind)
    assert api.get("orders").status_code == 200  # only the next request


@pytest.mark.parametrize("kind,status", [("html_200", 200), ("html_502", 502)])
def test_html_error_pages(api, sb, kind, status):
    sb.control.set_faults(schedule=[kind])
    r = api.get("orders")
    assert r.status_code == status
    assert r.headers["Content-Type"].startswith("text/html")
    assert "<html>" in r.text
    with pytest.raises(ValueError):
        r.json()


def test_truncated_body_with_full_content_length(api, sb):
    sb.control.set_faults(schedule=["truncated"])
    with pytest.raises(requests.exceptions.ChunkedEncodingError, match="IncompleteRead"):
        api.get("orders")
    assert api.get("orders").status_code == 200


def test_cut_json_with_correct_length(api, sb):
    sb.control.set_faults(schedule=["cut_json"])
    r = api.get("orders")
    assert r.status_code == 200
    assert int(r.headers["Content-Length"]) == len(r.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)


@pytest.mark.parametrize("host", ["store", "direct"])
def test_dropped_connection(api, sb, host):
    sb.control.set_faults(schedule=["drop"])
    with pytest.raises(requests.ConnectionError):
        api.get("orders", host=host)
    assert api.get("orders", host=host).status_code == 200
    assert sb.control.stats(log=False)["faults"] == {"drop": 1}


def test_schedule_with_ok_and_times(api, sb):
    sb.control.set_faults(schedule=[{"kind": "503", "times": 2}, "ok", "500"])
    assert [outcome(api) for _ in range(5)] == [503, 503, 200, 500, 200]


def test_probability_is_deterministic_under_a_seed(api, sb):
    def run(seed):
        sb.control.set_faults(rate=0.5, seed=seed, kinds=["500", "503", "html_200", "cut_json"])
        return [outcome(api) for _ in range(16)]

    first = run(42)
    assert run(42) == first
    assert set(first) - {200}  # some faults happened
    assert 200 in first
    assert run(43) != first


def test_faults_only_on_chosen_resources(api, sb):
    sb.control.set_faults(rate=1.0, kinds=["503"], resources=["orders"])
    assert api.get("customers").status_code == 200
    assert api.get("orders").status_code == 503


def test_latency_fixed_and_range(api, sb):
    sb.control.set_faults(latency_ms=150)
    t = time.monotonic()
    assert api.get("order_statuses").status_code == 200
    assert time.monotonic() - t >= 0.15
    sb.control.set_faults(latency_ms=[50, 80], seed=1)
    t = time.monotonic()
    api.get("order_statuses")
    assert 0.05 <= time.monotonic() - t < 1.0


def test_faults_are_reported(api, sb):
    sb.control.set_faults(schedule=["503", "html_200"])
    api.get("orders")
    api.get("orders")
    f = sb.control.faults()
    assert f["injected"] == {"503": 1, "html_200": 1} and f["schedule"] == []
    log = sb.control.request_log()
    assert [e["fault"] for e in log] == ["503", "html_200"]

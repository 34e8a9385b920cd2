"""Credentials stay with the store: redirects are refused, and credentials never show in output."""

import io
import json
import logging
from typing import Any, Dict, List

import pytest

from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.logger import AirbyteLogFormatter
from airbyte_cdk.test.mock_http import HttpMocker, HttpRequest, HttpResponse

from unit_tests.conftest import ROUTER_CONFIG, TOKEN, all_output, config

FIRST_PAGE = {"count": "1000", "page": "1", "sort": "updated_at"}


def _redirected_read(runtime, cfg: Dict[str, Any], url: str, location: str, status: int, seen: List[Any]):
    def answer(request: Any, context: Any) -> bytes:
        seen.append(request)
        context.status_code = status
        context.headers["Location"] = location
        return b""

    with HttpMocker() as http:
        # HttpMocker fails any request it was not told about: following the redirect would show.
        http.get(HttpRequest(url, query_params=FIRST_PAGE), HttpResponse(answer, status))  # type: ignore[arg-type]
        return runtime.read(cfg, "orders", SyncMode.incremental, expecting_exception=True)


@pytest.mark.parametrize(
    "status, location, shown",
    [
        (302, "http://other.example/steal", "http://other.example/steal"),
        (301, "https://other.example/api/v1/orders", "https://other.example/api/v1/orders"),
        (307, "/elsewhere", "https://mystore.com/elsewhere"),
    ],
)
def test_a_redirect_is_refused_and_no_credential_follows_it(runtime, status, location, shown):
    seen: List[Any] = []
    output = _redirected_read(runtime, config(), "https://mystore.com/api/v1/orders", location, status, seen)

    assert len(seen) == 1, "the redirect must not be followed, not even to the same host"
    errors = [e.trace.error for e in output.errors if "never follows a redirect" in e.trace.error.message]
    assert errors and errors[0].failure_type == FailureType.config_error
    assert f"redirect to {shown}" in errors[0].message and "store_name" in errors[0].message
    assert output.records == []


def test_the_router_refuses_a_redirect_too(runtime):
    seen: List[Any] = []
    output = _redirected_read(
        runtime, config(ROUTER_CONFIG), "https://public.americommerce.com/api/v1/orders",
        "http://other.example/", 302, seen,
    )
    assert len(seen) == 1
    assert "never follows a redirect" in all_output(output)
    assert ROUTER_CONFIG["credentials"]["user_secret"] not in all_output(output)


def test_debug_output_shows_no_credential_and_no_router_signature(runtime):
    """--debug logs every request's headers. The router's signature has no timestamp: a logged
    one would let anyone replay its URL, so it is masked like the credentials."""
    from unit_tests.conftest import components

    page = {"total_count": 1, "orders": [{"id": 1, "updated_at": "2021-07-01T08:00:00Z"}]}
    debug_lines = io.StringIO()  # what --debug prints: the test kit keeps INFO and above only
    handler = logging.StreamHandler(debug_lines)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(AirbyteLogFormatter())
    logging.getLogger("").addHandler(handler)
    try:
        with HttpMocker() as http:
            http.get(HttpRequest("https://public.americommerce.com/api/v1/orders", query_params=FIRST_PAGE),
                     HttpResponse(json.dumps(page)))
            output = runtime.read(config(ROUTER_CONFIG), "orders", SyncMode.incremental, debug=True)
    finally:
        logging.getLogger("").removeHandler(handler)
    shown = all_output(output) + debug_lines.getvalue()
    assert "Making outbound API request" in shown, "the test needs the debug log of the request"
    assert [m.record.data["id"] for m in output.records] == [1]
    credentials = ROUTER_CONFIG["credentials"]
    signature = components().router_signature(
        credentials["user_secret"], "GET", "/api/v1/orders?page=1&sort=updated_at&count=1000", credentials["user_name"]
    )
    for secret in (signature, credentials["user_secret"], credentials["site_id"], credentials["user_name"]):
        assert secret not in shown


@pytest.mark.parametrize("field, value", [("access_token", "tok\nen"), ("access_token", "tök"), ("site_id", "42\r\n42")])
def test_a_credential_no_header_can_carry_is_a_config_error_that_never_shows_it(runtime, field, value):
    base = ROUTER_CONFIG if field == "site_id" else None
    cfg = config(base)
    cfg["credentials"][field] = value
    with HttpMocker():  # no request may be sent
        output = runtime.read(cfg, "orders", SyncMode.incremental, expecting_exception=True)

    errors = [e.trace.error for e in output.errors if f"{field} holds a line break" in e.trace.error.message]
    assert errors and errors[0].failure_type == FailureType.config_error
    text = all_output(output)
    for form in (value, json.dumps(value)[1:-1]):
        assert form not in text


def test_a_token_pasted_with_a_trailing_line_break_is_sent_stripped_and_masked(runtime):
    cfg = config()
    cfg["credentials"]["access_token"] = f" {TOKEN}\n"
    with HttpMocker() as http:
        http.get(
            HttpRequest("https://mystore.com/api/v1/orders", query_params=FIRST_PAGE, headers={"X-AC-Auth-Token": TOKEN}),
            HttpResponse(json.dumps({"status_code": 401, "message": "Unauthorized"}), 401),
        )
        output = runtime.read(cfg, "orders", SyncMode.incremental, expecting_exception=True)

    assert any("refused the credentials (401 Unauthorized)" in e.trace.error.message for e in output.errors)
    assert TOKEN not in all_output(output)


def test_every_request_has_a_connect_and_a_read_timeout(runtime):
    timeouts: List[Any] = []

    def answer(request: Any, context: Any) -> bytes:
        timeouts.append(request.timeout)
        return json.dumps({"total_count": 0, "coupon_codes": []}).encode()

    with HttpMocker() as http:
        http.get(HttpRequest("https://mystore.com/api/v1/coupon_codes", query_params={"count": "1000", "sort": "id"}),
                 HttpResponse(answer, 200))  # type: ignore[arg-type]
        output = runtime.read(config(), "coupon_codes")

    assert not output.errors
    assert timeouts == [(30, 60)]


def _repeating(body: Dict[str, Any], times: int = 3) -> HttpResponse:
    """The same page, `times` times; then a 400, so a connector that keeps asking fails the test
    instead of hanging it."""
    calls: List[int] = []

    def answer(request: Any, context: Any) -> bytes:
        calls.append(1)
        if len(calls) > times:
            context.status_code = 400
            return b'{"status_code": 400, "message": "asked too often"}'
        return json.dumps(body).encode()

    return HttpResponse(answer, 200)  # type: ignore[arg-type]


def _orders_page(ids_and_times: List[Any], total: int) -> HttpResponse:
    records = [{"id": i, "updated_at": t} for i, t in ids_and_times]
    return _repeating({"total_count": total, "next_page": "https://x/next", "orders": records})


def test_an_updated_at_walk_that_does_not_advance_fails_instead_of_looping(runtime):
    tie = "2021-05-01T10:00:00.000000Z"
    with HttpMocker() as http:
        # A first page, then a run of equal timestamps read by id, whose pages never move on.
        http.get(HttpRequest("https://mystore.com/api/v1/orders", query_params=FIRST_PAGE),
                 _orders_page([(1, "2021-04-01T10:00:00Z"), (2, tie)], 50))
        http.get(HttpRequest("https://mystore.com/api/v1/orders", query_params={
            "count": "1000", "page": "1", "sort": "updated_at", "updated_at": f"gte:{tie} AND lte:2030-01-01T00:00:00.000000Z"}),
            _orders_page([(2, tie), (3, tie)], 50))
        http.get(HttpRequest("https://mystore.com/api/v1/orders", query_params={
            "count": "1000", "page": "1", "sort": "id", "updated_at": f"gte:{tie} AND lt:2021-05-01T10:00:00.000001Z"}),
            _orders_page([(2, tie), (3, tie)], 50))
        http.get(HttpRequest("https://mystore.com/api/v1/orders", query_params={
            "count": "1000", "page": "1", "sort": "id", "id": "gt:3", "updated_at": f"gte:{tie} AND lt:2021-05-01T10:00:00.000001Z"}),
            _orders_page([(2, tie), (3, tie)], 50))
        output = runtime.read(config(end_date="2030-01-01T00:00:00Z"), "orders", SyncMode.incremental, expecting_exception=True)

    assert any("paging does not advance" in e.trace.error.message for e in output.errors)
    assert len(output.records) <= 8


def test_an_id_walk_that_does_not_advance_fails_instead_of_looping(runtime):
    page = {"total_count": 9, "next_page": "https://x/next", "coupon_codes": [{"id": 1}, {"id": 2}]}
    with HttpMocker() as http:
        http.get(HttpRequest("https://mystore.com/api/v1/coupon_codes", query_params={"count": "1000", "sort": "id"}),
                 _repeating(page))
        http.get(HttpRequest("https://mystore.com/api/v1/coupon_codes", query_params={"count": "1000", "sort": "id", "id": "gt:2"}),
                 _repeating(page))  # the store ignores id=gt:2
        output = runtime.read(config(), "coupon_codes", expecting_exception=True)

    assert any("above id 2 with id 1: paging does not advance" in e.trace.error.message for e in output.errors)
    assert [m.record.data["id"] for m in output.records] == [1, 2]


def test_a_store_name_that_resolves_to_a_private_address_gets_no_credentials(runtime, monkeypatch):
    """A public-looking name pointing at an internal address (here the cloud metadata service)
    is refused on the request itself, before the token is added: no runtime can be talked into
    calling it. Through a proxy the proxy resolves names, so nothing is asked then."""
    import socket

    real = socket.getaddrinfo
    monkeypatch.setattr(
        socket, "getaddrinfo",
        lambda host, *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 443))]
        if host == "metadata.example.com" else real(host, *a, **k),
    )
    cfg = config()
    cfg["credentials"]["store_name"] = "metadata.example.com"
    with HttpMocker():  # any request sent fails the test
        output = runtime.read(cfg, "coupon_codes", expecting_exception=True)
    assert output.errors and all(e.trace.error.failure_type == FailureType.config_error for e in output.errors)
    assert any("a name for 169.254.169.254" in e.trace.error.message for e in output.errors), all_output(output)
    assert TOKEN not in all_output(output)

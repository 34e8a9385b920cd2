"""Errors: what the user can fix fails at once with a clear message; server faults are retried."""

import datetime
import email.utils
import json

import pytest
import requests
import requests_mock
from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read

from source_cart.components import retry_after_seconds
from source_cart.source import SourceCart
from unit_tests.conftest import ROUTER_CONFIG, TOKEN, all_output, config, ids, run_read

URL = "https://mystore.com/api/v1/orders"
GOOD = {"total_count": 1, "orders": [{"id": 1, "updated_at": "2021-02-01T00:00:00Z"}]}
UNAUTHORIZED = {"status_code": 401, "message": "Unauthorized", "details": "Invalid or missing access token."}


def read_with(responses, cfg=None, stream="orders", url=URL):
    with requests_mock.Mocker() as mocker:
        mocker.get(url, responses)
        output = run_read(cfg or config(), stream, expecting_exception=True)
        return output, mocker.call_count


def error_messages(output):
    return [e.trace.error.message for e in output.errors]


def test_wrong_token_fails_once_with_a_config_error():
    output, calls = read_with([{"status_code": 401, "json": UNAUTHORIZED}])
    assert calls == 1, "a 401 is not retried"
    assert output.errors[0].trace.error.failure_type == FailureType.config_error
    assert "refused the credentials (401 Unauthorized)" in error_messages(output)[0]
    assert "access token" in error_messages(output)[0]
    assert TOKEN not in all_output(output)


def test_any_other_401_fails_rather_than_skip_every_stream():
    output, _ = read_with([{"status_code": 401, "json": {"message": "Unauthorized"}}])
    assert output.errors and "refused the credentials (401 Unauthorized)" in error_messages(output)[0]


def test_wrong_router_secret_names_the_router_credentials():
    output, _ = read_with(
        [{"status_code": 401, "json": UNAUTHORIZED}],
        cfg=config(ROUTER_CONFIG),
        url="https://public.americommerce.com/api/v1/orders",
    )
    message = error_messages(output)[0]
    assert "user secret" in message and "site id" in message
    assert "router-SECRET-abcdef" not in all_output(output)


@pytest.mark.parametrize(
    "status, body",
    [
        (403, {"status_code": 403, "message": "Forbidden"}),
        (401, {"status_code": 401, "message": "Unauthorized", "details": "Token lacks the read_orders scope."}),
    ],
)
def test_stream_without_scope_is_skipped_with_a_warning_and_the_sync_goes_on(status, body):
    catalog_streams = ["orders", "products"]
    with requests_mock.Mocker() as mocker:
        mocker.get(URL, status_code=status, json=body)
        mocker.get("https://mystore.com/api/v1/products", json={"total_count": 1, "products": [
            {"id": 5, "updated_at": "2021-02-01T00:00:00Z"}]})
        catalog = CatalogBuilder()
        for name in catalog_streams:
            catalog = catalog.with_stream(name, SyncMode.full_refresh)
        catalog = catalog.build()
        cfg = config()
        output = read(SourceCart(catalog=catalog, config=cfg, state=[]), cfg, catalog, [])
    assert not output.errors
    assert [m.record.stream for m in output.records] == ["products"]
    warning = [m.log.message for m in output.logs if "skipping the stream of /orders" in m.log.message]
    assert warning and "read_orders" in warning[0] and "/api/v1/orders" in warning[0]


def test_unknown_resource_or_store_fails_instead_of_reading_nothing():
    output, _ = read_with([{"status_code": 404, "json": {"status_code": 404, "message": "Not Found"}}])
    assert output.errors and ids(output) == []
    assert "store_name" in error_messages(output)[0]


@pytest.mark.parametrize(
    "body",
    [
        {"total_count": 3},
        {"total_count": 3, "order": [{"id": 3, "updated_at": "2021-02-01T00:00:00Z"}]},
        {"total_count": 3, "orders": {"id": 3}},
        ["not", "an", "envelope"],
    ],
    ids=["no-list", "other-key", "not-a-list", "bare-list"],
)
def test_response_without_the_record_list_is_an_error_never_zero_records(body):
    output, _ = read_with([{"json": body}])
    assert ids(output) == []
    messages = error_messages(output)
    assert any("without its 'orders' list" in m and "/api/v1/orders" in m for m in messages), messages


@pytest.mark.parametrize("item", ["", [], None, 7, "2021-02-01"], ids=["blank", "list", "null", "number", "text"])
def test_an_item_that_is_not_a_record_stops_the_stream_instead_of_an_empty_record(item):
    good = {"id": 3, "updated_at": "2021-02-01T00:00:00Z"}
    output, _ = read_with([{"json": {"total_count": 2, "orders": [good, item]}}])
    assert ids(output) == []  # the page is refused whole: nothing taken from it
    messages = error_messages(output)
    assert any("not a record in its 'orders' list" in m and "/api/v1/orders" in m for m in messages), messages


@pytest.mark.parametrize(
    "fault",
    [
        {"status_code": 500, "json": {"status_code": 500, "message": "Server Error"}},
        {"status_code": 503, "text": "<html><body>Service Unavailable</body></html>"},
        {"status_code": 200, "text": "<html><body>Bad gateway</body></html>"},
        {"status_code": 200, "text": '{"total_count": 1, "orders": [{"id": 1, "upda'},
        {"status_code": 200, "text": ""},
        {"exc": requests.exceptions.ConnectionError("connection reset by peer")},
        {"exc": requests.exceptions.ChunkedEncodingError("IncompleteRead(120 bytes read)")},
    ],
    ids=["500", "503-html", "200-html", "truncated", "empty", "dropped", "cut-off-stream"],
)
def test_server_faults_are_retried(fault, no_sleep):
    output, calls = read_with([fault, {"json": GOOD}])
    assert ids(output) == [1]
    assert not output.errors
    assert calls == 2
    assert no_sleep, "the retry waited"


def test_when_retries_run_out_the_sync_fails_naming_the_stream():
    output, calls = read_with([{"status_code": 500, "json": {}}] * 10, cfg=config(max_retries=2))
    assert calls == 3
    assert output.errors
    assert any("orders" in m for m in error_messages(output))


def test_429_waits_what_retry_after_says_in_seconds(no_sleep):
    output, _ = read_with([{"status_code": 429, "headers": {"Retry-After": "7"}, "json": {}}, {"json": GOOD}])
    assert ids(output) == [1]
    assert 7.0 in no_sleep, no_sleep


def test_429_waits_until_an_http_date(no_sleep):
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=30)
    header = email.utils.format_datetime(when, usegmt=True)
    output, _ = read_with([{"status_code": 429, "headers": {"Retry-After": header}, "json": {}}, {"json": GOOD}])
    assert ids(output) == [1]
    assert any(25 <= wait <= 31 for wait in no_sleep), no_sleep


def test_retry_after_values():
    now = datetime.datetime.now(datetime.timezone.utc)
    assert retry_after_seconds("12") == 12.0
    assert retry_after_seconds("1.5") == 1.5
    assert retry_after_seconds(email.utils.format_datetime(now - datetime.timedelta(seconds=60), usegmt=True)) == 1.0
    in_a_minute = email.utils.format_datetime(now + datetime.timedelta(seconds=60), usegmt=True)
    assert 58 <= retry_after_seconds(in_a_minute) <= 60
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None

"""Errors: what the user can fix fails at once and says how; a missing scope skips its stream;
server faults are retried; a 429 waits what Retry-After says; nothing fails as "zero records".

Several streams share one sync where they can: building the source is the slow part of a test.
"""

import datetime
import email.utils
import json
from typing import Any, Dict, List

import pytest
from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.test.mock_http import HttpMocker, HttpRequest, HttpResponse
from airbyte_cdk.test.mock_http.request import ANY_QUERY_PARAMS

from unit_tests.conftest import TOKEN, all_output, components, config

STORE = "https://mystore.com/api/v1"
END = "2021-12-31T00:00:00Z"
UNAUTHORIZED = {"status_code": 401, "message": "Unauthorized", "details": "Invalid or missing access token."}


def any_page_of(resource: str) -> HttpRequest:
    return HttpRequest(f"{STORE}/{resource}", query_params=ANY_QUERY_PARAMS)


def records_body(key: str, *record_ids: int) -> str:
    records = [{"id": i, "updated_at": "2021-02-01T00:00:00Z"} for i in record_ids]
    return json.dumps({"total_count": len(records), key: records})


def ok(key: str, *record_ids: int) -> HttpResponse:
    return HttpResponse(records_body(key, *record_ids), 200)


def error(status: int, body: Dict[str, Any]) -> HttpResponse:
    return HttpResponse(json.dumps(body), status)


def read(runtime: Any, streams: List[str], cfg: Any = None) -> Any:
    return runtime.read(cfg or config(end_date=END), streams, SyncMode.incremental, expecting_exception=True)


def records_of(output: Any, stream: str) -> List[int]:
    return [m.record.data["id"] for m in output.records if m.record.stream == stream]


def error_messages(output: Any) -> List[str]:
    return [m.trace.error.message for m in output.errors]


def log_lines(output: Any) -> List[str]:
    return [m.log.message for m in output.logs]


# ---------------------------------------------------------------------------------------------
# What the user must fix
# ---------------------------------------------------------------------------------------------


def test_wrong_token_and_wrong_store_fail_with_config_errors_that_say_what_to_check(runtime):
    orders, products = any_page_of("orders"), any_page_of("products")
    with HttpMocker() as http:
        http.get(orders, error(401, UNAUTHORIZED))
        http.get(products, error(404, {"status_code": 404, "message": "Not Found"}))
        output = read(runtime, ["orders", "products"])
        http.assert_number_of_calls(orders, 1)  # neither is retried
        http.assert_number_of_calls(products, 1)
    config_errors = [
        m.trace.error.message for m in output.errors if m.trace.error.failure_type == FailureType.config_error
    ]
    token = [m for m in config_errors if "401" in m and f"{STORE}/orders" in m]
    assert token and "check the access token" in token[0]
    store = [m for m in config_errors if "404" in m and f"{STORE}/products" in m]
    assert store and "store_name" in store[0]
    assert not output.records
    assert TOKEN not in all_output(output)


def test_a_stream_the_token_has_no_scope_for_is_skipped_with_a_warning_and_the_others_are_read(runtime):
    """A 401 or 403 that names a scope, and any 403, skip the stream: the warning names the
    scope to add; other streams still sync, and the sync succeeds."""
    with HttpMocker() as http:
        missing_scope = {"status_code": 401, "message": "Unauthorized", "details": "Missing scope: read_orders"}
        http.get(any_page_of("orders"), error(401, missing_scope))
        scope_refused = {"status_code": 403, "message": "Token scope does not allow this resource"}
        http.get(any_page_of("customers"), error(403, scope_refused))
        http.get(any_page_of("order_items"), error(403, {"status_code": 403, "message": "Forbidden"}))
        http.get(any_page_of("products"), ok("products", 5))
        output = read(runtime, ["orders", "customers_cart", "order_items", "products"])
    assert not output.errors
    assert records_of(output, "products") == [5]
    assert {m.record.stream for m in output.records} == {"products"}
    for resource, scope in [("orders", "read_orders"), ("customers", "read_people"), ("order_items", "read_orders")]:
        warnings = [m.log for m in output.logs if f"skipping the stream of /{resource}:" in m.log.message]
        assert len(warnings) == 1, resource
        assert f"lacks the '{scope}' scope" in warnings[0].message
        assert warnings[0].level.name == "WARN", "a skipped stream must be seen, not logged at INFO"


CHECK_PROBES = {  # what check reads: one resource per token scope
    "order_statuses": "read_orders", "customer_types": "read_people", "product_statuses": "read_catalog",
    "adcodes": "read_marketing", "pages": "read_content", "regions": "settings", "stores": "system",
    "custom_fields": "custom_fields",
}


@pytest.mark.parametrize("readable", [None, "pages"])
def test_check_fails_naming_the_scopes_only_when_it_can_read_no_resource_at_all(runtime, readable):
    """A token without some scopes still passes check (those streams are skipped in a sync, with a
    warning); one that is refused everything fails it, naming every scope it tried."""
    with HttpMocker() as http:
        for resource in CHECK_PROBES:
            refused = error(403, {"status_code": 403, "message": "Forbidden"})
            http.get(any_page_of(resource), ok(resource, 1) if resource == readable else refused)
        output = runtime.check(config())
    status = output.connection_status_messages[-1].connectionStatus
    if readable:
        assert status.status.name == "SUCCEEDED", all_output(output)
        return
    assert status.status.name == "FAILED", all_output(output)
    assert "refused every resource" in status.message
    for scope in CHECK_PROBES.values():
        assert scope in status.message
    assert TOKEN not in all_output(output)


@pytest.mark.parametrize(
    "updated_at",
    [
        "2021-02-0{}T00:00:00Z",  # walked by updated_at: page 2 starts below the filter it asked
        "",  # no updated_at (Cart.com lists those first), paged by number: page 2 holds page 1's ids
    ],
)
def test_a_store_that_repeats_its_first_page_stops_the_stream_after_one_repeated_page(runtime, updated_at):
    """Whatever is asked, the same page comes back, with a next_page link: the stream fails on
    the second answer, having emitted one page twice at most, instead of walking on forever."""
    page = {
        "total_count": 30, "next_page": "https://mystore.com/api/v1/orders?page=2",
        "orders": [{"id": i, "updated_at": updated_at.format(i)} for i in (1, 2, 3)],
    }
    orders = any_page_of("orders")
    with HttpMocker() as http:
        http.get(orders, HttpResponse(json.dumps(page)))
        output = read(runtime, ["orders"])
        http.assert_number_of_calls(orders, 2)
    assert records_of(output, "orders") == [1, 2, 3, 1, 2, 3]
    messages = error_messages(output)
    assert messages and all("paging does not advance" in m for m in messages), messages


def test_a_record_whose_updated_at_is_no_timestamp_is_emitted_wherever_it_sits_and_counted(runtime):
    dated = [{"id": i, "updated_at": "2021-02-01T00:00:00-05:00"} for i in (1, 3)]
    odd = {"id": 2, "updated_at": "/Date(1704067260000-0500)/"}
    with HttpMocker() as http:
        http.get(any_page_of("orders"), HttpResponse(json.dumps({"total_count": 3, "orders": [dated[0], odd, dated[1]]})))
        output = read(runtime, ["orders"])
    assert not output.errors, all_output(output)
    assert records_of(output, "orders") == [1, 2, 3]
    said = [m.log for m in output.logs if "no timestamp" in m.log.message]
    assert len(said) == 1 and said[0].level.name == "WARN", log_lines(output)
    assert "1 record(s) on this page of /orders (id 2" in said[0].message


def test_a_utc_updated_at_on_a_day_that_does_not_exist_is_counted_among_its_real_neighbours(runtime):
    # Days already seen real are not asked again; 2021-02-29 is not one of them, whatever its
    # month and its neighbours on 2021-02-28 and 2021-03-01.
    page = [
        {"id": 1, "updated_at": "2021-02-28T23:00:00.000000Z"},
        {"id": 2, "updated_at": "2021-02-29T10:00:00.000000Z"},
        {"id": 3, "updated_at": "2021-03-01T00:00:00.000000Z"},
    ]
    with HttpMocker() as http:
        http.get(any_page_of("orders"), HttpResponse(json.dumps({"total_count": 3, "orders": page})))
        output = read(runtime, ["orders"])
    assert not output.errors, all_output(output)
    assert records_of(output, "orders") == [1, 2, 3]
    said = [m.log for m in output.logs if "no timestamp" in m.log.message]
    assert len(said) == 1 and "1 record(s) on this page of /orders (id 2" in said[0].message, log_lines(output)


# ---------------------------------------------------------------------------------------------
# Server faults
# ---------------------------------------------------------------------------------------------


def test_server_errors_html_pages_and_empty_bodies_are_retried_until_the_page_comes(runtime):
    requests = {resource: any_page_of(resource) for resource in ("orders", "products", "customers")}
    with HttpMocker() as http:
        http.get(requests["orders"], [HttpResponse("upstream failed", 503), ok("orders", 1)])
        http.get(requests["products"], [HttpResponse("<html><body>Bad gateway</body></html>", 200), ok("products", 2)])
        http.get(requests["customers"], [HttpResponse("", 200), ok("customers", 3)])
        output = read(runtime, ["orders", "products", "customers_cart"])
        for request in requests.values():
            http.assert_number_of_calls(request, 2)
    assert not output.errors
    synced = [records_of(output, stream) for stream in ("orders", "products", "customers_cart")]
    assert synced == [[1], [2], [3]]


def test_when_retries_run_out_the_stream_fails_naming_it_and_never_as_zero_records(runtime):
    """A 200 without the record list is retried, then fails naming the list it lacked (`items`
    for /order_items); a 429 that never ends fails too. max_retries 2 means three attempts."""
    items, orders = any_page_of("order_items"), any_page_of("orders")
    with HttpMocker() as http:
        http.get(items, HttpResponse(json.dumps({"total_count": 3, "orderitems": []}), 200))
        http.get(orders, HttpResponse("", 429, {"Retry-After": "2"}))
        output = read(runtime, ["order_items", "orders"])
        http.assert_number_of_calls(items, 3)
        http.assert_number_of_calls(orders, 3)
    assert not output.records
    messages = error_messages(output)
    assert any("without its 'items' list" in m and f"{STORE}/order_items" in m for m in messages), messages
    failed_streams = [m for m in messages if "did not sync successfully" in m]
    assert failed_streams and "order_items" in failed_streams[-1] and "orders:" in failed_streams[-1]


def test_retries_stop_after_max_retry_seconds_and_a_store_that_is_down_ends_the_sync_fast(runtime, real_sleep):
    """With max_retry_seconds 1 the first stream's request is tried twice (the first wait passes
    the limit) and its stream fails as a transient error. The store has by then failed for more
    than 1.5 times the limit, so the next stream fails at its first fault instead of retrying:
    a store that is down ends the sync in minutes, not in one retry budget per stream."""
    calls: Dict[str, int] = {}

    def down(resource: str) -> HttpResponse:
        def answer(request: Any, context: Any) -> bytes:
            calls[resource] = calls.get(resource, 0) + 1
            return b"upstream failed"

        return HttpResponse(answer, 503)  # type: ignore[arg-type]

    with HttpMocker() as http:
        for resource in ("orders", "products"):
            http.get(any_page_of(resource), down(resource))
        cfg = config(end_date=END, max_retry_seconds=1, max_retries=20, concurrency=1)
        output = read(runtime, ["orders", "products"], cfg)
    stream_errors = [m.trace.error for m in output.errors if m.trace.error.stream_descriptor]
    assert {e.stream_descriptor.name for e in stream_errors} == {"orders", "products"}
    assert all(e.failure_type == FailureType.transient_error for e in stream_errors)
    assert all("answered no request successfully" in e.message for e in stream_errors), stream_errors
    # Read one after the other, the second stream would be tried once; the CDK may start both
    # partitions at once, so each is tried at most twice.
    assert all(count <= 2 for count in calls.values()) and min(calls.values()) <= 2, calls


# ---------------------------------------------------------------------------------------------
# 429 and Retry-After
# ---------------------------------------------------------------------------------------------


def test_429_waits_what_retry_after_says_as_seconds_or_as_an_http_date(runtime, no_sleep):
    """Retry-After: 7 waits 7 s; an HTTP date waits until that moment (UTC). The CDK adds a second
    to what the backoff strategy returns; RetryAfter asks one less, so the waits are exact."""
    start = datetime.datetime.now(datetime.timezone.utc)
    until = (start + datetime.timedelta(seconds=60)).replace(microsecond=0)
    orders = any_page_of("orders")
    with HttpMocker() as http:
        http.get(
            orders,
            [
                HttpResponse("", 429, {"Retry-After": "7"}),
                HttpResponse("", 429, {"Retry-After": email.utils.format_datetime(until, usegmt=True)}),
                ok("orders", 1),
            ],
        )
        output = read(runtime, ["orders"], config(end_date=END, max_retries=3))
        end = datetime.datetime.now(datetime.timezone.utc)
        http.assert_number_of_calls(orders, 3)
    assert not output.errors
    assert records_of(output, "orders") == [1]
    waits = [w for w in no_sleep if w]  # the backoff library also "sleeps" 0 between attempts
    assert len(waits) == 2
    assert waits[0] == pytest.approx(7.0, abs=0.01)
    assert (until - end).total_seconds() - 0.01 <= waits[1] <= (until - start).total_seconds() + 0.01


@pytest.mark.parametrize(
    "value, seconds",
    [
        ("7", 7.0),
        (" 12 ", 12.0),
        ("2.5", 2.5),
        ("0", 1.0),  # never zero: a pause, not a hammering
        ("86400", 600.0),  # capped
        ("Thu, 01 Jan 1970 00:00:00 GMT", 1.0),  # already past (clock skew)
        ("", None),
        (None, None),
        ("soon", None),
    ],
)
def test_retry_after_seconds(value, seconds):
    assert components().retry_after_seconds(value) == seconds


def test_retry_after_seconds_reads_an_http_date_against_utc_now():
    now = datetime.datetime.now(datetime.timezone.utc)
    in_utc = email.utils.format_datetime(now + datetime.timedelta(seconds=90), usegmt=True)
    assert 88.5 <= components().retry_after_seconds(in_utc) <= 90
    # The same instant written with another offset waits as long.
    five_hours_west = datetime.timezone(datetime.timedelta(hours=-5))
    in_offset = email.utils.format_datetime((now + datetime.timedelta(seconds=90)).astimezone(five_hours_west))
    assert 88.5 <= components().retry_after_seconds(in_offset) <= 90

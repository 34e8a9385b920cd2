"""The requests the connector sends, per stream family: path, parameters, headers, signature.

Each test mocks the exact requests a sync must send (HttpMocker matches the path, every query
parameter and the listed headers) and checks every mocked request was sent. A sync that asks
anything else gets no answer and fails. Several streams share one sync where they can: building
the source is the slow part of a test.
"""

import datetime
import json
from typing import Any, Dict, List, Optional
from urllib.parse import parse_qs, urlsplit

from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.mock_http import HttpMocker, HttpRequest, HttpResponse
from airbyte_cdk.test.mock_http.request import ANY_QUERY_PARAMS

from unit_tests.conftest import (
    FULL_REFRESH_STREAMS,
    INCREMENTAL_STREAMS,
    ROUTER_CONFIG,
    TOKEN,
    components,
    config,
    stream_state,
)

STORE = "https://mystore.com/api/v1"
ROUTER = "https://public.americommerce.com/api/v1"
END = "2021-12-31T00:00:00Z"
END_UTC = "2021-12-31T00:00:00.000000Z"

# Incremental streams, with the path they read and the key their records sit under: the key
# differs from the path for several resources (Cart.com's own naming).
INCREMENTAL = [
    ("orders", "orders", "orders"),
    ("customers_cart", "customers", "customers"),
    ("order_items", "order_items", "items"),
    ("order_payments", "order_payments", "payments"),
    ("product_variants", "product_variants", "variants"),
]


# ---------------------------------------------------------------------------------------------
# Response bodies and requests, as Cart.com shapes them
# ---------------------------------------------------------------------------------------------


def record(record_id: int, updated_at: Optional[str] = None) -> Dict[str, Any]:
    result: Dict[str, Any] = {"id": record_id}
    if updated_at is not None:
        result["updated_at"] = updated_at
    return result


def page_body(
    key: str, records: List[Dict[str, Any]], total_count: Optional[int] = None, next_page: bool = False
) -> str:
    """A list answer: `{"total_count": N, "next_page": URL, "<key>": [...]}`; next_page only when
    there is one, as Cart.com does. total_count defaults to the page's own length."""
    body: Dict[str, Any] = {"total_count": len(records) if total_count is None else total_count, key: records}
    if next_page:
        body["next_page"] = "https://mystore.com/api/v1/unused?page=2"
    return json.dumps(body)


def page(
    key: str, records: List[Dict[str, Any]], total_count: Optional[int] = None, next_page: bool = False
) -> HttpResponse:
    return HttpResponse(page_body(key, records, total_count, next_page), 200)


def incremental_request(
    resource: str, base: str = STORE, headers: Optional[Dict[str, str]] = None, **params: str
) -> HttpRequest:
    """A page of an incremental stream: page 1, 1000 a page, sorted by updated_at, unless given."""
    query = {"page": "1", "count": "1000", "sort": "updated_at", **params}
    return HttpRequest(f"{base}/{resource}", query_params=query, headers=headers)


def full_refresh_request(resource: str, **params: str) -> HttpRequest:
    return HttpRequest(f"{STORE}/{resource}", query_params={"sort": "id", "count": "1000", **params})


def window(since: str, until: str = END_UTC) -> str:
    return f"gte:{since} AND lte:{until}"


class Recorded:
    """Answers with a fixed body and keeps each request as it reached the server (requests-mock
    passes a body callback the request on the wire): for what a test cannot write down before
    the sync, such as a signature over the exact URL or an upper bound of "now"."""

    def __init__(self) -> None:
        self.requests: List[Any] = []

    def answer(self, body: str, status: int = 200) -> HttpResponse:
        def respond(request: Any, context: Any) -> bytes:
            self.requests.append(request)
            return body.encode()

        return HttpResponse(respond, status)  # type: ignore[arg-type]  # a callback, see above


def assert_each_sent_once(http: HttpMocker, *requests: HttpRequest) -> None:
    for request in requests:
        http.assert_number_of_calls(request, 1)


def ids_of(output: Any, stream: str) -> List[int]:
    return [m.record.data["id"] for m in output.records if m.record.stream == stream]


def test_streams_under_test_belong_to_their_family():
    assert {name for name, _, _ in INCREMENTAL} <= set(INCREMENTAL_STREAMS)
    assert {"coupon_codes", "stores"} <= set(FULL_REFRESH_STREAMS)


# ---------------------------------------------------------------------------------------------
# Incremental streams: the updated_at keyset walk
# ---------------------------------------------------------------------------------------------


def test_first_sync_asks_page_1_unfiltered_then_moves_the_lower_bound_to_the_last_updated_at(runtime):
    """A first sync's first page has no updated_at filter (records with an empty updated_at
    match none and sort first); the next page is page 1 again, from the last updated_at read,
    in UTC (the record says -05:00), to end_date."""
    with HttpMocker() as http:
        sent = []
        for stream, resource, key in INCREMENTAL:
            first = incremental_request(resource)
            http.get(first, page(key, [record(1, ""), record(2, "2021-03-01T10:00:00.5-05:00")], total_count=5))
            second = incremental_request(resource, updated_at=window("2021-03-01T15:00:00.500000Z"))
            http.get(second, page(key, [record(3, "2021-04-01T00:00:00Z")]))
            sent += [first, second]
        output = runtime.read(config(end_date=END), [s for s, _, _ in INCREMENTAL], SyncMode.incremental)
        assert_each_sent_once(http, *sent)
    assert not output.errors
    for stream, _, _ in INCREMENTAL:
        assert ids_of(output, stream) == [1, 2, 3], stream


def test_sync_from_state_asks_from_the_state_and_walks_a_run_of_equal_timestamps_by_id(runtime):
    """From state, the window is `gte:<state> AND lte:<end_date>`; page_size sets `count`. A page
    whose last updated_at equals the lower bound (a bulk import sharing one timestamp) is read
    by id inside that microsecond (`lt:T+1us`, sort=id, `id=gt:<last id>`), then the walk goes
    on above it."""
    since = "2021-06-01T00:00:00.000000Z"
    plus_1us = "2021-06-01T00:00:00.000001Z"
    tie = f"gte:{since} AND lt:{plus_1us}"
    state = stream_state("orders", {"updated_at": since}) + stream_state("order_items", {"updated_at": since})
    with HttpMocker() as http:
        orders = incremental_request("orders", count="2", updated_at=window(since))
        http.get(orders, page("orders", [record(1, "2021-07-01T00:00:00Z")]))
        # The same instant written in the store's offset: the walk compares instants, not text.
        same = "2021-05-31T19:00:00-05:00"
        items = [
            incremental_request("order_items", count="2", updated_at=window(since)),
            incremental_request("order_items", count="2", sort="id", updated_at=tie),
            incremental_request("order_items", count="2", sort="id", updated_at=tie, id="gt:11"),
            incremental_request("order_items", count="2", updated_at=window(plus_1us)),
        ]
        http.get(items[0], page("items", [record(10, same), record(11, same)], total_count=4, next_page=True))
        http.get(items[1], page("items", [record(10, same), record(11, same)], total_count=3, next_page=True))
        http.get(items[2], page("items", [record(12, same)]))
        http.get(items[3], page("items", [record(13, "2021-06-02T00:00:00Z")]))
        output = runtime.read(config(end_date=END, page_size=2), ["orders", "order_items"], SyncMode.incremental, state)
        assert_each_sent_once(http, orders, *items)
    assert not output.errors
    assert ids_of(output, "orders") == [1]
    assert set(ids_of(output, "order_items")) == {10, 11, 12, 13}


def test_without_end_date_the_window_ends_now_and_headers_carry_the_trimmed_token(runtime):
    """Without end_date the upper bound is the time of the sync. The token is sent stripped of
    the whitespace a paste leaves, GET caches are bypassed, and a store_name pasted as a URL
    reaches the store's host."""
    cfg = config()
    cfg["credentials"] = {
        **cfg["credentials"],
        "access_token": f" {TOKEN} \n",
        "store_name": "https://MyStore.com/admin",
    }
    since = "2021-06-01T00:00:00.000000Z"
    server = Recorded()
    with HttpMocker() as http:
        request = HttpRequest(
            f"{STORE}/products",
            query_params=ANY_QUERY_PARAMS,
            headers={"X-AC-Auth-Token": TOKEN, "Cache-Control": "no-cache"},
        )
        http.get(request, server.answer(page_body("products", [record(1, "2021-07-01T00:00:00Z")])))
        before = datetime.datetime.now(datetime.timezone.utc)
        output = runtime.read(cfg, "products", SyncMode.incremental, stream_state("products", {"updated_at": since}))
        after = datetime.datetime.now(datetime.timezone.utc)
        http.assert_number_of_calls(request, 1)
    assert not output.errors
    query = parse_qs(urlsplit(server.requests[0].url).query)
    others = {k: v for k, v in query.items() if k != "updated_at"}
    assert others == {"page": ["1"], "count": ["1000"], "sort": ["updated_at"]}
    lower, _, upper = query["updated_at"][0].partition(" AND ")
    assert lower == f"gte:{since}"
    assert upper.startswith("lte:")
    end = datetime.datetime.strptime(upper[4:], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    assert before - datetime.timedelta(seconds=1) <= end <= after


# ---------------------------------------------------------------------------------------------
# Full-refresh streams: the id walk
# ---------------------------------------------------------------------------------------------


def test_full_refresh_walks_ids_until_no_next_page_and_no_larger_total(runtime):
    """`sort=id&count=1000`, then `id=gt:<last id>`. A short page still continues when it links
    a next_page or its total_count is larger (the server may serve fewer than asked); the walk
    stops on a page with neither."""
    with HttpMocker() as http:
        coupons = [
            full_refresh_request("coupon_codes"),
            full_refresh_request("coupon_codes", id="gt:2"),
            full_refresh_request("coupon_codes", id="gt:3"),
        ]
        http.get(coupons[0], page("coupon_codes", [record(1), record(2)], next_page=True))
        http.get(coupons[1], page("coupon_codes", [record(3)], total_count=2))
        http.get(coupons[2], page("coupon_codes", [record(4)], total_count=1))
        stores = full_refresh_request("stores")
        http.get(stores, page("stores", [record(7)], total_count=1))
        output = runtime.read(config(), ["coupon_codes", "stores"], SyncMode.full_refresh)
        assert_each_sent_once(http, *coupons, stores)
    assert not output.errors
    assert ids_of(output, "coupon_codes") == [1, 2, 3, 4]
    assert ids_of(output, "stores") == [7]


# ---------------------------------------------------------------------------------------------
# The Central API Router
# ---------------------------------------------------------------------------------------------


def test_router_signature_matches_a_known_vector():
    # Computed independently: printf 'GET&<target>&<user>' | openssl dgst -sha256 -hmac <secret> -binary | base64
    sign = components().router_signature
    vector = sign("secret", "GET", "/api/v1/orders?page=2&count=5", "user")
    assert vector == "KTnx83cs0FKRjxH1WhXPiw8IWc+13iGXcFLsuQGCabg="
    target = "/api/v1/orders?count=1000&page=1&sort=updated_at&updated_at=gte%3A2024-01-01T00%3A00%3A00Z"
    assert sign("router-SECRET-abcdef", "GET", target, "integrator") == "zsiE3ATfqFHDgc/Qp0dN/QTV/WwQwrZR8km0ypEOgdU="


def test_router_calls_the_router_and_signs_every_page_and_every_retry_for_its_own_url(runtime):
    credentials = ROUTER_CONFIG["credentials"]
    router_headers = {"X-AC-PUB-Site-ID": credentials["site_id"], "X-AC-PUB-User": credentials["user_name"]}
    server = Recorded()
    with HttpMocker() as http:
        first = incremental_request("orders", base=ROUTER, headers=router_headers)
        http.get(first, server.answer(page_body("orders", [record(1, "2021-02-01T00:00:00Z")], next_page=True)))
        second = incremental_request(
            "orders", base=ROUTER, headers=router_headers, updated_at=window("2021-02-01T00:00:00.000000Z")
        )
        http.get(
            second,
            [
                server.answer("<html>502 Bad Gateway</html>", 502),
                server.answer(page_body("orders", [record(2, "2021-03-01T00:00:00Z")])),
            ],
        )
        output = runtime.read(config(ROUTER_CONFIG, end_date=END), "orders", SyncMode.incremental)
        http.assert_number_of_calls(first, 1)
        http.assert_number_of_calls(second, 2)
    assert not output.errors
    assert ids_of(output, "orders") == [1, 2]
    sign = components().router_signature
    signatures = []
    for request in server.requests:
        target = urlsplit(request.url)
        signature = request.headers["X-AC-PUB-Auth-Signature"]
        as_sent = f"{target.path}?{target.query}"
        assert signature == sign(credentials["user_secret"], "GET", as_sent, credentials["user_name"])
        signatures.append(signature)
    assert len(signatures) == 3 and signatures[0] != signatures[1] == signatures[2]
    assert "X-AC-Auth-Token" not in server.requests[0].headers


"""The exact requests the connector sends: host, path, parameters, headers, router signature."""

import base64
import hashlib
import hmac
import json

import pytest
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.mock_http import HttpMocker, HttpRequest, HttpResponse

from source_cart.components import router_signature
from unit_tests.conftest import ROUTER_CONFIG, config, ids, run_read, stream_state

STREAMS = [
    ("customers_cart", "customers", "customers"),
    ("orders", "orders", "orders"),
    ("order_items", "order_items", "items"),
    ("order_payments", "order_payments", "payments"),
    ("order_statuses", "order_statuses", "order_statuses"),
    ("products", "products", "products"),
    ("addresses", "addresses", "addresses"),
]


def first_page_params():
    """A first sync's first page: no updated_at filter (records without one sort first)."""
    return {"page": "1", "count": "1000", "sort": "updated_at"}


@pytest.mark.parametrize("stream, path, key", STREAMS)
def test_each_stream_reads_its_path_and_record_key(stream, path, key):
    with HttpMocker() as http:
        http.get(
            HttpRequest(
                f"https://mystore.com/api/v1/{path}",
                query_params=first_page_params(),
                headers={"X-AC-Auth-Token": "tok-SECRET-1234567890", "Cache-Control": "no-cache"},
            ),
            HttpResponse(json.dumps({"total_count": 2, key: [
                {"id": 7, "updated_at": "2021-03-01T00:00:00-06:00"},
                {"id": 8, "updated_at": "2021-04-01T00:00:00-05:00"},
            ]})),
        )
        output = run_read(config(end_date="2021-12-31T00:00:00Z"), stream, SyncMode.full_refresh)
    assert ids(output) == [7, 8]
    assert output.records[0].record.data["updated_at"] == "2021-03-01T06:00:00.000000Z"
    assert not output.errors


@pytest.mark.parametrize("pasted", ["https://mystore.com/", "mystore.com", " MyStore.com ", "http://mystore.com/api/v1/"])
def test_store_name_is_accepted_as_pasted(pasted):
    cfg = config(end_date="2021-12-31T00:00:00Z")
    cfg["credentials"]["store_name"] = pasted
    with HttpMocker() as http:
        http.get(
            HttpRequest("https://mystore.com/api/v1/orders", query_params=first_page_params()),
            HttpResponse(json.dumps({"total_count": 0, "orders": []})),
        )
        output = run_read(cfg, "orders")
    assert not output.errors


def test_router_signs_the_exact_request_target():
    target = (
        "/api/v1/orders?page=1&sort=updated_at&updated_at=gte%3A2021-06-01T00%3A00%3A00.000000Z"
        "+AND+lte%3A2021-12-31T00%3A00%3A00.000000Z&count=1000"
    )
    expected = base64.b64encode(
        hmac.new(b"router-SECRET-abcdef", f"GET&{target}&integrator".encode(), hashlib.sha256).digest()
    ).decode()
    with HttpMocker() as http:
        http.get(
            HttpRequest(
                "https://public.americommerce.com/api/v1/orders",
                query_params={
                    **first_page_params(),
                    "updated_at": "gte:2021-06-01T00:00:00.000000Z AND lte:2021-12-31T00:00:00.000000Z",
                },
                headers={
                    "X-AC-PUB-Site-ID": "4242",
                    "X-AC-PUB-User": "integrator",
                    "X-AC-PUB-Auth-Signature": expected,
                },
            ),
            HttpResponse(json.dumps({"total_count": 1, "orders": [{"id": 1, "updated_at": "2021-07-01T00:00:00Z"}]})),
        )
        output = run_read(
            config(ROUTER_CONFIG, end_date="2021-12-31T00:00:00Z"),
            "orders",
            SyncMode.incremental,
            stream_state("orders", {"updated_at": "2021-06-01T00:00:00.000000Z"}),
        )
    assert ids(output) == [1]


def test_router_signature_known_vector():
    # Computed with openssl: printf 'GET&<target>&<user>' | openssl dgst -sha256 -hmac <secret> -binary | base64
    assert router_signature("secret", "GET", "/api/v1/orders?page=2&count=5", "user") == (
        "KTnx83cs0FKRjxH1WhXPiw8IWc+13iGXcFLsuQGCabg="
    )
    assert router_signature("k", "get", "/a?b=c%3Ad", "u") == "BZawS/C22TwEX08W8xfCqNRzI1OnFZJLZx9ogAXNZds="


def test_router_signs_every_page_and_every_retry():
    with HttpMocker() as http:
        http.get(
            HttpRequest("https://public.americommerce.com/api/v1/orders", query_params=first_page_params()),
            [
                HttpResponse("<html>502 Bad Gateway</html>", 502),
                HttpResponse(json.dumps({"total_count": 3, "next_page": "x", "orders": [
                    {"id": 1, "updated_at": "2021-02-01T00:00:00Z"}, {"id": 2, "updated_at": "2021-03-01T00:00:00Z"}]})),
            ],
        )
        http.get(
            HttpRequest("https://public.americommerce.com/api/v1/orders", query_params={
                **first_page_params(), "updated_at": "gte:2021-03-01T00:00:00.000000Z AND lte:2021-12-31T00:00:00.000000Z"}),
            HttpResponse(json.dumps({"total_count": 2, "orders": [
                {"id": 2, "updated_at": "2021-03-01T00:00:00Z"}, {"id": 3, "updated_at": "2021-04-01T00:00:00Z"}]})),
        )
        output = run_read(config(ROUTER_CONFIG, end_date="2021-12-31T00:00:00Z"), "orders")
        sent = http._mocker.request_history
    assert sorted(set(ids(output))) == [1, 2, 3]
    assert len(sent) == 3
    for request in sent:
        target = request.path_url if hasattr(request, "path_url") else request.url.split("americommerce.com", 1)[1]
        assert request.headers["X-AC-PUB-Auth-Signature"] == router_signature(
            "router-SECRET-abcdef", "GET", target, "integrator"
        )

"""List envelope, record keys, paging, count cap, single records, fields and expand."""

from urllib.parse import parse_qs, urlsplit

import pytest

from sandbox_helpers import SEVEN


@pytest.mark.parametrize("resource,key", sorted(SEVEN.items()))
def test_envelope_and_record_key(api, resource, key):
    body = api.ok(resource, {"count": 5})
    assert isinstance(body["total_count"], int) and body["total_count"] > 0
    assert key in body and isinstance(body[key], list)
    assert "previous_page" not in body
    if body["total_count"] > 5:
        assert len(body[key]) == 5
        assert body["next_page"].startswith("https://demo-store.sandbox.test/api/v1/" + resource + "?")
    else:
        assert "next_page" not in body
    for rec in body[key]:
        assert isinstance(rec["id"], int)
        assert "updated_at" in rec and "created_at" in rec
    if key != resource:  # e.g. /order_items answers "items", never "order_items"
        assert resource not in body


def test_paging_walks_every_record_once_and_404s_past_the_end(api):
    total = api.ok("orders", {"count": 1})["total_count"]
    assert total == 150
    seen, page = [], 1
    while True:
        body = api.ok("orders", {"count": 40, "page": page})
        seen += [o["id"] for o in body["orders"]]
        if page > 1:
            assert parse_qs(urlsplit(body["previous_page"]).query)["page"] == [str(page - 1)]
        if "next_page" not in body:
            break
        assert parse_qs(urlsplit(body["next_page"]).query)["page"] == [str(page + 1)]
        page += 1
    assert page == 4 and len(seen) == total == len(set(seen))
    assert seen == sorted(seen)  # default order: id ascending
    r = api.get("orders", {"count": 40, "page": 5})
    assert r.status_code == 404
    assert r.json()["status_code"] == 404 and r.json()["message"] == "Not Found"
    assert "details" in r.json()


def test_next_page_is_absolute_and_followable(api):
    body = api.ok("orders", {"count": 50, "sort": "-updated_at", "order_status_id": "not:7"})
    url = body["next_page"]
    assert url.startswith("https://demo-store.sandbox.test/api/v1/orders?")
    q = parse_qs(urlsplit(url).query)
    assert q["count"] == ["50"] and q["sort"] == ["-updated_at"] and q["page"] == ["2"]
    nxt = api.s.get(url, headers={"X-AC-Auth-Token": api.sb.token}).json()
    assert nxt["previous_page"].endswith("page=1")
    assert {o["id"] for o in nxt["orders"]}.isdisjoint(o["id"] for o in body["orders"])


def test_next_page_minimal_style(api, sb):
    sb.control.settings(next_page_params="minimal")
    body = api.ok("orders", {"count": 50})
    assert body["next_page"] == "https://demo-store.sandbox.test/api/v1/orders?page=2"


def test_empty_result_page_one_is_200_and_page_two_404(api):
    body = api.ok("orders", {"id": "gt:99999999"})
    assert body == {"total_count": 0, "orders": []}
    assert api.get("orders", {"id": "gt:99999999", "page": 2}).status_code == 404


def test_count_is_silently_capped(api, sb):
    body = api.ok("order_items", {"count": 5000})
    total = body["total_count"]
    assert 100 < total < 1000 and len(body["items"]) == total  # under the default cap of 1000
    sb.control.settings(max_page_size=50)
    body = api.ok("order_items", {"count": 100})
    assert len(body["items"]) == 50 and body["total_count"] == total
    assert "count=100" in body["next_page"]  # the link repeats what was asked
    assert len(api.ok("order_items")["items"]) == 50  # default 100, capped too


def test_bad_paging_parameters(api):
    assert api.get("orders", {"page": 0}).status_code == 400
    assert api.get("orders", {"count": "x"}).status_code == 400


def test_single_record_and_missing_ones(api):
    rec = api.ok("orders/100007")
    assert rec["id"] == 100007 and "orders" not in rec
    r = api.get("orders/99")
    assert r.status_code == 404 and r.json()["status_code"] == 404
    r = api.get("no_such_resource")
    assert r.status_code == 404 and r.json()["message"] == "Not Found"


def test_fields_limits_the_returned_fields(api):
    body = api.ok("customers", {"fields": "id,email,updated_at", "count": 3})
    assert all(set(c) == {"id", "email", "updated_at"} for c in body["customers"])


def test_expand_and_nested_collections(api):
    order = api.ok("orders/100010", {"expand": "items,payments"})
    items = api.ok("order_items", {"order_id": 100010})["items"]
    assert [i["id"] for i in order["items"]] == [i["id"] for i in items]
    assert all(p["order_id"] == 100010 for p in order["payments"])
    nested = api.ok("orders/100010/items")
    assert [i["id"] for i in nested["items"]] == [i["id"] for i in items]


def test_more_resources_are_registered(api):
    assert api.ok("order_shipments", {"count": 1})["shipments"]
    assert api.ok("product_variants", {"count": 1})["total_count"] >= 0
    stores = api.ok("stores")["stores"]
    assert len(stores) == 1 and "updated_at" not in stores[0]

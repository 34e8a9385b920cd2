"""Control API: updates, inserts, bulk imports, mid-sync hooks, clock, stats, reset."""

from datetime import timedelta

from sandbox_helpers import instant, utc


def test_update_sets_updated_at_to_server_now(api, sb):
    sb.control.set_clock(now="2031-01-15T12:00:00.1234567Z")
    before = api.ok("orders/100003")
    [changed] = sb.control.update("orders", ids=[100003])
    after = api.ok("orders/100003")
    assert changed == {"id": 100003, "updated_at": after["updated_at"]}
    assert after["updated_at"] != before["updated_at"]
    assert after["updated_at"].endswith("-06:00")  # January in America/Chicago
    when, _ = instant(after["updated_at"])
    assert utc(2031, 1, 15, 12, 0, 0) == when
    assert {k: v for k, v in after.items() if k != "updated_at"} == {
        k: v for k, v in before.items() if k != "updated_at"}
    # the change is visible to filters and sorts at once
    body = api.ok("orders", {"updated_at": "gte:2031-01-01T00:00:00Z"})
    assert [o["id"] for o in body["orders"]] == [100003]
    assert api.ok("orders", {"sort": "-updated_at", "count": 1})["orders"][0]["id"] == 100003


def test_update_random_and_fields(api, sb):
    changed = sb.control.update("customers", random=4, fields={"company": "Sandbox Inc"})
    assert len({c["id"] for c in changed}) == 4
    got = api.ok("customers", {"company": "Sandbox Inc"})["customers"]
    assert sorted(c["id"] for c in got) == sorted(c["id"] for c in changed)


def test_real_clock_update_is_now(api, sb):
    from datetime import datetime, timezone

    [changed] = sb.control.update("products", ids=[5])
    when, _ = instant(changed["updated_at"])
    assert abs(when - datetime.now(timezone.utc)) < timedelta(seconds=5)


def test_insert(api, sb):
    total = api.ok("orders", {"count": 1})["total_count"]
    new = sb.control.insert("orders", count=3)
    assert [n["id"] for n in new] == [100151, 100152, 100153]
    body = api.ok("orders", {"id": "gt:100150"})
    assert body["total_count"] == 3 and api.ok("orders", {"count": 1})["total_count"] == total + 3
    o = body["orders"][0]
    assert o["order_number"] == "100151" and o["created_at"] == o["updated_at"]
    [custom] = sb.control.insert("customers", records=[{"email": "x@example.com", "updated_at": None}])
    rec = api.ok(f"customers/{custom['id']}")
    assert rec["email"] == "x@example.com" and rec["updated_at"] is None


def test_bulk_import_shares_one_updated_at(api, sb):
    res = sb.control.bulk_import("products", update=5, insert=3)
    assert len(res["updated"]) == 5 and len(res["inserted"]) == 3
    got = api.ok("products", {"updated_at": "eq:" + res["updated_at"], "count": 1000})["products"]
    assert sorted(p["id"] for p in got) == sorted(res["updated"] + res["inserted"])
    assert {p["updated_at"] for p in got} == {res["updated_at"]}  # identical text too
    res2 = sb.control.bulk_import("orders", ids=[100001, 100002], updated_at="2030-05-05T05:05:05Z")
    assert res2["updated_at"] == "2030-05-05T00:05:05-05:00"
    assert api.ok("orders/100002")["updated_at"] == res2["updated_at"]


def test_mid_sync_hook_moves_an_already_read_record(api, sb):
    """The earlier connector's defect 4: a record updated mid-sync shifts the later pages."""
    params = {"sort": "updated_at", "count": 50}
    before = [o["id"] for o in api.all("orders", {"sort": "updated_at"})]
    page1 = [o["id"] for o in api.ok("orders", dict(params, page=1))["orders"]]
    assert page1 == before[:50]
    # during the next request to /orders, update the first record of the page already read
    sb.control.add_hook("orders", {"type": "update", "positions": [0]}, after=0)
    page2 = [o["id"] for o in api.ok("orders", dict(params, page=2))["orders"]]
    assert page2 == before[51:101]  # before[50] slid onto page 1 and is never seen
    rest = [o["id"] for o in api.ok("orders", dict(params, page=3))["orders"]]
    assert rest[-1] == before[0]
    [hook] = sb.control.hooks()
    assert hook["fired"] and hook["result"][0]["id"] == before[0]


def test_hook_after_n_requests_and_when_after(api, sb):
    sb.control.add_hook("customers", {"type": "update", "ids": [1001], "fields": {"company": "Late"}},
                        after=2, when="after")
    assert api.ok("customers/1001")["company"] != "Late"  # request 1
    assert api.ok("customers/1001")["company"] != "Late"  # request 2
    assert api.ok("customers/1001")["company"] != "Late"  # request 3: fires after the answer
    assert api.ok("customers/1001")["company"] == "Late"
    api.ok("orders")  # other resources do not count
    [hook] = sb.control.hooks()
    assert hook["fired"] and hook["seen"] == 3


def test_hook_can_inject_faults_and_insert(api, sb):
    sb.control.add_hook("products", {"type": "faults", "schedule": ["503"]}, after=1)
    sb.control.add_hook("products", {"type": "insert", "count": 2}, after=1)
    total = api.ok("products", {"count": 1})["total_count"]
    assert api.get("products", {"count": 1}).status_code == 503
    assert api.ok("products", {"count": 1})["total_count"] == total + 2


def test_stats_and_request_log(api, sb, http):
    api.get("orders", {"count": 2, "updated_at": "gte:2024-01-01T00:00:00Z"},
            headers={"Cache-Control": "no-cache"})
    api.get("orders/100001")
    api.get("customers")
    http.get(api.url("customers"))  # 401, still logged
    stats = sb.control.stats()
    assert stats["requests_total"] == 4
    assert stats["by_resource"] == {"orders": 2, "customers": 2}
    assert stats["by_status"] == {"200": 3, "401": 1}
    first = stats["log"][0]
    assert first["target"] == "/api/v1/orders?count=2&updated_at=gte%3A2024-01-01T00%3A00%3A00Z"
    assert first["query"] == "count=2&updated_at=gte%3A2024-01-01T00%3A00%3A00Z"
    assert first["host"] == "demo-store.sandbox.test"
    assert first["cache_control"] == "no-cache" and first["auth"] == "token"
    assert [e["status"] for e in stats["log"]] == [200, 200, 200, 401]
    assert stats["proxy"]["connects"]["demo-store.sandbox.test:443"] >= 1
    sb.control.clear_stats()
    assert sb.control.stats()["requests_total"] == 0


def test_reset_regenerates(api, sb):
    original = api.ok("orders/100004")
    sb.control.update("orders", ids=[100004])
    sb.control.insert("orders", count=2)
    assert api.ok("orders/100004") != original
    sb.control.reset(seed=1, size="small")
    assert api.ok("orders/100004") == original
    assert api.ok("orders", {"count": 1})["total_count"] == 150
    sb.control.reset(seed=1, size="tiny")
    assert api.ok("orders", {"count": 1})["total_count"] == 15
    sb.control.reset(seed=1, size="small", orders=40)
    assert api.ok("orders", {"count": 1})["total_count"] == 40


def test_ground_truth_records(api, sb):
    truth = sb.control.records("order_statuses")
    assert truth == api.ok("order_statuses")["order_statuses"]
    assert sb.control.records("orders", ids=[100002]) == [api.ok("orders/100002")]
    assert sb.control.stats(log=False)["by_resource"] == {"order_statuses": 1, "orders": 1}

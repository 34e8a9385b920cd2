"""X-AC-Call-Limit on every response; 429 with Retry-After as seconds or as an HTTP date."""

import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime


def test_call_limit_header_and_429_seconds(api, sb):
    sb.control.set_rate_limit(limit=3, retry_after="seconds")
    seen = [api.get("order_statuses").headers["X-AC-Call-Limit"] for _ in range(3)]
    assert seen == ["1/3", "2/3", "3/3"]
    r = api.get("order_statuses")
    assert r.status_code == 429
    assert r.json()["status_code"] == 429
    assert r.headers["X-AC-Call-Limit"] == "3/3"
    assert 1 <= int(r.headers["Retry-After"]) <= 10
    stats = sb.control.stats(log=False)
    assert stats["rate_limited"] == 1 and stats["by_status"]["429"] == 1


def test_429_with_http_date(api, sb):
    sb.control.set_rate_limit(limit=1, retry_after="date")
    assert api.get("order_statuses").status_code == 200
    r = api.get("order_statuses")
    assert r.status_code == 429
    when = parsedate_to_datetime(r.headers["Retry-After"])
    assert when.tzinfo is not None and r.headers["Retry-After"].endswith("GMT")
    wait = (when - datetime.now(timezone.utc)).total_seconds()
    assert -1 <= wait <= 11


def test_window_resets(api, sb):
    sb.control.set_rate_limit(limit=2, window_seconds=1.0, retry_after="seconds")
    assert [api.get("order_statuses").status_code for _ in range(3)] == [200, 200, 429]
    time.sleep(1.05)
    assert api.get("order_statuses").status_code == 200


def test_sliding_window(api, sb):
    sb.control.set_rate_limit(limit=2, window="sliding", window_seconds=1.0, retry_after="seconds")
    assert api.get("order_statuses").status_code == 200
    time.sleep(0.5)
    assert api.get("order_statuses").status_code == 200
    assert api.get("order_statuses").status_code == 429
    time.sleep(0.55)  # the first call left the window, the second did not
    assert api.get("order_statuses").status_code == 200
    assert api.get("order_statuses").status_code == 429


def test_unlimited_still_reports_usage(api, sb):
    assert api.get("order_statuses").headers["X-AC-Call-Limit"].startswith("1/")


def test_calls_of_other_apps_share_the_window(api, sb):
    sb.control.set_rate_limit(limit=5, others=3, window_seconds=1.0, retry_after="seconds")
    seen = [api.get("order_statuses") for _ in range(3)]
    assert [r.status_code for r in seen] == [200, 200, 429]
    assert [r.headers["X-AC-Call-Limit"] for r in seen] == ["4/5", "5/5", "5/5"]
    time.sleep(1.05)  # a new window: the other apps spend their three calls again
    assert api.get("order_statuses").headers["X-AC-Call-Limit"] == "4/5"

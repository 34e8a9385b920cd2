"""Pacing under the store's call limit, on a virtual clock (no real waiting)."""

import math
import time
from typing import List

import pytest
import requests_mock
from airbyte_cdk.models import SyncMode

from unit_tests.conftest import ROUTER_CONFIG, config, ids, run_read
from unit_tests.fake_cart import FakeCart


@pytest.fixture
def virtual_clock(monkeypatch):
    """time.sleep advances a virtual clock that the pacer reads; each sleep also takes a
    millisecond, as a real one does."""
    now = [1000.0]
    monkeypatch.setattr(time, "sleep", lambda seconds: now.__setitem__(0, now[0] + seconds + 0.001))
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    return now


def orders_cart(count: int, host: str = "mystore.com") -> FakeCart:
    return FakeCart("orders", "orders", [
        {"id": i, "updated_at": f"2021-01-{i:02d}T00:00:00Z"} for i in range(1, count + 1)
    ], host=host)


def sync_sending_times(clock: List[float], cart: FakeCart, cfg) -> List[float]:
    sent_at: List[float] = []
    cart.before_request = lambda fake, n: sent_at.append(clock[0])
    with requests_mock.Mocker() as mocker:
        cart.install(mocker)
        output = run_read(cfg, "orders", SyncMode.full_refresh)
    assert set(ids(output)) == {r["id"] for r in cart.records}
    return sent_at


def assert_paced(sent_at: List[float], limit: int) -> None:
    assert len(sent_at) > limit, "the test must send more calls than the limit"
    for i in range(len(sent_at) - limit):
        assert sent_at[i + limit] - sent_at[i] >= 10.0, f"{limit + 1} calls inside ten seconds"
    # The last call can start once every earlier group of `limit` has had its 10.5 seconds.
    ideal = (math.ceil(len(sent_at) / limit) - 1) * 10.5
    assert sent_at[-1] - sent_at[0] <= ideal + 0.5, "pacing wastes no time"


def test_requests_stay_under_the_configured_calls_per_10_seconds(virtual_clock):
    sent_at = sync_sending_times(virtual_clock, orders_cart(11), config(calls_per_10_seconds=3, page_size=2))
    assert len(sent_at) >= 6
    assert_paced(sent_at, 3)


def test_the_limit_the_store_reports_in_x_ac_call_limit_paces_without_any_setting(virtual_clock):
    cart = orders_cart(13)
    cart.call_limit = 2
    sent_at = sync_sending_times(virtual_clock, cart, config(page_size=2))
    assert_paced(sent_at, 2)


def test_the_lower_of_the_reported_and_the_configured_limit_wins(virtual_clock):
    cart = orders_cart(13)
    cart.call_limit = 50
    sent_at = sync_sending_times(virtual_clock, cart, config(page_size=2, calls_per_10_seconds=3))
    assert_paced(sent_at, 3)


def test_the_router_is_paced_by_the_limit_it_reports(virtual_clock):
    cart = orders_cart(13, host="public.americommerce.com")
    cart.call_limit = 2
    sent_at = sync_sending_times(virtual_clock, cart, config(ROUTER_CONFIG, page_size=2))
    assert_paced(sent_at, 2)


def test_a_generous_reported_limit_costs_no_waiting(virtual_clock):
    cart = orders_cart(20)
    cart.call_limit = 1000
    sent_at = sync_sending_times(virtual_clock, cart, config(page_size=2))
    assert len(sent_at) >= 10
    assert sent_at[-1] - sent_at[0] < 0.1


def test_a_store_that_reports_no_limit_is_paced_at_the_top_plan(virtual_clock):
    # Answers without X-AC-Call-Limit (a proxy, a router that drops it) never mean "no limit":
    # Cart.com allows no plan more than 50 calls per 10 seconds.
    cart = FakeCart("orders", "orders", [
        {"id": i, "updated_at": f"2021-01-{1 + i // 24:02d}T{i % 24:02d}:00:00Z"} for i in range(1, 61)
    ])
    sent_at = sync_sending_times(virtual_clock, cart, config(page_size=1))
    assert_paced(sent_at, 50)


def test_calls_held_by_the_first_guess_go_as_soon_as_the_store_reports_a_higher_limit(no_sleep):
    import threading

    import requests

    from source_cart.components import CallPacer

    pacer = CallPacer()
    for _ in range(CallPacer.FIRST_GUESS):
        pacer.wait_for_turn(None)  # the first five go at once, before any answer
    sixth = threading.Thread(target=pacer.wait_for_turn, args=(None,))
    sixth.start()
    sixth.join(0.2)
    assert sixth.is_alive(), "a sixth call waits for the store's first answer"
    answer = requests.Response()
    answer.headers["X-AC-Call-Limit"] = "5/50"
    pacer.learn(answer)
    sixth.join(5)
    assert not sixth.is_alive()
    assert no_sleep == [], "nothing waits for the window once the store says it allows 50"
    assert pacer.limit(None) == 50 and pacer.limit(20) == 20

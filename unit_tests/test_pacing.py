"""Pacing under the store's call limit, on a virtual clock (no real waiting)."""

import math
import time

import pyrate_limiter.clocks
import pytest
import requests_mock
from airbyte_cdk.models import SyncMode

from unit_tests.conftest import config, ids, run_read
from unit_tests.fake_cart import FakeCart


@pytest.fixture
def virtual_clock(monkeypatch):
    """time.sleep advances a virtual clock that the CDK's rate limiter reads.

    Each sleep also takes a millisecond, as a real one does; the limiter counts a call made
    exactly one window ago as still inside the window.
    """
    now = [time.time()]
    monkeypatch.setattr(time, "sleep", lambda seconds: now.__setitem__(0, now[0] + seconds + 0.001))
    monkeypatch.setattr(pyrate_limiter.clocks, "time", lambda: now[0])
    return now


def test_requests_stay_under_the_configured_calls_per_10_seconds(virtual_clock):
    cart = FakeCart("orders", "orders", [
        {"id": i, "updated_at": f"2021-01-{i:02d}T00:00:00Z"} for i in range(1, 12)
    ])
    sent_at = []
    cart.before_request = lambda fake, n: sent_at.append(virtual_clock[0])
    with requests_mock.Mocker() as mocker:
        cart.install(mocker)
        output = run_read(config(calls_per_10_seconds=3, page_size=2), "orders", SyncMode.full_refresh)
    assert set(ids(output)) == set(range(1, 12))
    assert len(sent_at) >= 6
    for i in range(len(sent_at) - 3):
        assert sent_at[i + 3] - sent_at[i] >= 10.0, "four calls inside ten seconds"
    # The last call can start once every earlier group of three has had its ten seconds.
    ideal = (math.ceil(len(sent_at) / 3) - 1) * 10
    assert sent_at[-1] - sent_at[0] <= ideal * 1.1, "pacing wastes no time"

"""Pacing under the store's call limit per 10 seconds, on a virtual clock (no real waiting).

The clock stands still until someone sleeps: `time.monotonic` reads it and `time.sleep`
advances it (both replaced in the stdlib module, which is where components.py and the CDK
look them up). The mock server notes the clock's reading as each request reaches it, so a
test sees when each call went out as the store would: at most `limit` calls in any 10.5 s
window (the store counts 10 s; half a second covers network jitter), and none held longer
than that requires.
"""

import json
import threading
import time
from typing import Any, Dict, List, Optional

import pytest
import requests
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.mock_http import HttpMocker, HttpRequest, HttpResponse
from airbyte_cdk.test.mock_http.request import ANY_QUERY_PARAMS

from unit_tests.conftest import ROUTER_CONFIG, components, config

WINDOW = 10.5
STORE = "https://mystore.com/api/v1"
ROUTER = "https://public.americommerce.com/api/v1"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> List[float]:
    now = [1000.0]

    def sleep(seconds: float) -> None:
        now[0] += max(seconds, 0.0)

    monkeypatch.setattr(time, "sleep", sleep)
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    return now


class Store:
    """Serves one stream's pages (one record each, ids 1..pages) and notes the virtual time at
    which each request arrived. `limit` is what X-AC-Call-Limit reports; None sends no header."""

    def __init__(self, clock: List[float], key: str, pages: int, limit: Optional[int]) -> None:
        self.clock, self.key, self.pages, self.limit = clock, key, pages, limit
        self.sent_at: List[float] = []

    def responses(self) -> List[HttpResponse]:
        return [self._page(number) for number in range(1, self.pages + 1)]

    def _page(self, number: int) -> HttpResponse:
        def respond(request: Any, context: Any) -> bytes:
            self.sent_at.append(self.clock[0])
            if self.limit is not None:
                context.headers["X-AC-Call-Limit"] = f"{len(self.sent_at)}/{self.limit}"
            body: Dict[str, Any] = {"total_count": self.pages - number + 1, self.key: [{"id": number}]}
            if number < self.pages:
                body["next_page"] = "https://mystore.com/api/v1/unused?page=2"
            return json.dumps(body).encode()

        # requests-mock calls a body callback with the request as it reached the server
        return HttpResponse(respond, 200)  # type: ignore[arg-type]


def sync_coupon_codes(
    runtime: Any, clock: List[float], cfg: Dict[str, Any], pages: int, limit: Optional[int], base: str = STORE
) -> List[float]:
    store = Store(clock, "coupon_codes", pages, limit)
    request = HttpRequest(f"{base}/coupon_codes", query_params=ANY_QUERY_PARAMS)
    with HttpMocker() as http:
        http.get(request, store.responses())
        output = runtime.read(cfg, "coupon_codes", SyncMode.full_refresh)
        http.assert_number_of_calls(request, pages)
    assert not output.errors
    assert [m.record.data["id"] for m in output.records] == list(range(1, pages + 1))
    return store.sent_at


def assert_paced(sent_at: List[float], limit: int) -> None:
    """Calls go out in bursts of `limit`, one window apart: never more than `limit` in a window,
    and never held longer than that needs."""
    start = sent_at[0]
    expected = [start + (n // limit) * WINDOW for n in range(len(sent_at))]
    assert sent_at == pytest.approx(expected, abs=1e-6)


def test_paced_to_the_limit_the_store_reports(runtime, clock):
    """Ten calls in the first window, not the first guess's five: the first answer's limit
    counts from then on."""
    sent_at = sync_coupon_codes(runtime, clock, config(), pages=21, limit=10)
    assert_paced(sent_at, 10)


def test_calls_per_10_seconds_below_the_reported_limit_wins(runtime, clock):
    sent_at = sync_coupon_codes(runtime, clock, config(calls_per_10_seconds=3), pages=8, limit=10)
    assert_paced(sent_at, 3)


def test_a_store_that_never_reports_its_limit_is_paced_at_50(runtime, clock):
    sent_at = sync_coupon_codes(runtime, clock, config(), pages=51, limit=None)
    assert_paced(sent_at, 50)


def test_the_router_is_paced_by_the_limit_it_reports(runtime, clock):
    sent_at = sync_coupon_codes(runtime, clock, config(ROUTER_CONFIG), pages=15, limit=7, base=ROUTER)
    assert_paced(sent_at, 7)


def test_the_first_guess_holds_calls_once_5_are_out_and_releases_them_on_the_first_answer(clock):
    """Before the store has answered, its limit is unknown: parallel streams send 5 calls (the
    smallest plan's limit), and the sixth waits for the first answer, not for the window. This
    needs calls in flight together, which a mocked sync cannot show (requests-mock serialises
    requests), so the pacer is driven directly, as PacedAuthenticator drives it for every call."""
    pacer = components().CallPacer()
    for _ in range(5):
        pacer.wait_for_turn(None)
    assert clock == [1000.0], "the first five go at once"

    sixth = threading.Thread(target=pacer.wait_for_turn, args=(None,), daemon=True)
    sixth.start()
    sixth.join(0.3)
    assert sixth.is_alive(), "a sixth call before any answer is held"

    answer = requests.Response()
    answer.headers["X-AC-Call-Limit"] = "5/50"
    pacer.learn(answer)
    sixth.join(2.0)
    assert not sixth.is_alive(), "the first answer releases it"
    assert clock == [1000.0], "at once: the store allows 50, so nothing waits out the window"

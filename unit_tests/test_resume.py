"""Resuming where a sync stopped: state after every page, in order with the records, so that a
sync killed at any moment loses nothing and reads at most one page again.

A SIGKILL leaves exactly a prefix of what the connector printed: the tests below cut the output
of a whole sync at many points and resume each time from the last state in that prefix.
(`integration_tests/test_resume_after_kill.py` kills the real process.)
"""

import json
from typing import Any, Dict, List, Optional, Tuple

import pytest
from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.models import Type as MessageType
from airbyte_cdk.test.mock_http import HttpMocker, HttpRequest, HttpResponse
from airbyte_cdk.test.mock_http.request import ANY_QUERY_PARAMS
from airbyte_cdk.test.state_builder import StateBuilder

from unit_tests.conftest import all_output, config
from unit_tests.sandbox_fixtures import Cart, cart, sandbox  # noqa: F401  (cart, sandbox: fixtures)

INCREMENTAL = SyncMode.incremental
ORDERS = "https://mystore.com/api/v1/orders"


def page(*records: Tuple[int, str], more: bool) -> HttpResponse:
    body: Dict[str, Any] = {"total_count": 100 if more else len(records), "orders": [
        {"id": record_id, "updated_at": updated_at} for record_id, updated_at in records
    ]}
    if more:
        body["next_page"] = f"{ORDERS}?page=2"
    return HttpResponse(json.dumps(body))


def timeline(output: Any, stream: str = "orders") -> List[Any]:
    """The stream's records (ids) and states (dicts), in the order they were printed."""
    events: List[Any] = []
    for message in output.records_and_state_messages:
        if message.type == MessageType.RECORD and message.record.stream == stream:
            events.append(message.record.data["id"])
        elif message.type == MessageType.STATE and message.state.stream.stream_descriptor.name == stream:
            events.append(dict(message.state.stream.stream_state.__dict__))
    return events


def test_state_is_saved_after_every_page_before_the_next_request_and_costs_no_request(runtime):
    any_page = HttpRequest(ORDERS, query_params=ANY_QUERY_PARAMS)
    with HttpMocker() as http:
        http.get(
            any_page,
            [
                page((1, "2021-02-01T00:00:00Z"), (2, "2021-02-02T00:00:00Z"), more=True),
                page((3, "2021-02-03T00:00:00-05:00"), (4, "2021-02-04T00:00:00Z"), more=True),
                page((5, "2021-02-05T00:00:00Z"), more=False),
            ],
        )
        output = runtime.read(config(page_size=2), "orders", INCREMENTAL)
        http.assert_number_of_calls(any_page, 3)

    assert not output.errors, all_output(output)
    events = timeline(output)
    # Each page's state follows its records and comes before the next page's (a state is the
    # next request's lower bound: a resumed sync reads from there, that instant included).
    assert events[:8] == [
        1, 2, {"updated_at": "2021-02-02T00:00:00.000000Z"},
        3, 4, {"updated_at": "2021-02-04T00:00:00.000000Z"},
        5, {"updated_at": "2021-02-05T00:00:00.000000Z"},
    ], events
    assert all(event == {"updated_at": "2021-02-05T00:00:00.000000Z"} for event in events[8:]), events


def test_a_store_that_goes_down_mid_stream_keeps_every_page_read_before(runtime):
    """The second page never comes (5xx until retries run out): the stream fails with a
    transient error, and the last state it leaves is the first page's, not the sync's start."""
    with HttpMocker() as http:
        http.get(
            HttpRequest(ORDERS, query_params=ANY_QUERY_PARAMS),
            [page((1, "2021-02-01T00:00:00Z"), (2, "2021-02-02T00:00:00Z"), more=True)]
            + [HttpResponse(json.dumps({"message": "down"}), 503)] * 3,
        )
        output = runtime.read(config(page_size=2, max_retries=2), "orders", INCREMENTAL, expecting_exception=True)

    # The stream's own error is transient (the platform retries the sync); the CDK closes every
    # failed sync with a summary it marks as a config error, which the platform does not act on.
    assert output.errors[0].trace.error.failure_type == FailureType.transient_error
    events = timeline(output)
    assert events[:2] == [1, 2]
    assert events[-1] == {"updated_at": "2021-02-02T00:00:00.000000Z"}, events


def resume_from(output_events: List[Any], cut: int) -> Optional[Dict[str, Any]]:
    states = [event for event in output_events[:cut] if isinstance(event, dict)]
    return states[-1] if states else None


@pytest.mark.parametrize("page_size", [7])
def test_a_sync_killed_anywhere_resumes_losing_nothing_and_reading_at_most_one_page_again(cart: Cart, runtime, page_size):
    """Orders with a bulk import of 23 equal timestamps (longer than three pages), cut after
    every few records of a whole sync: from the last state before each cut, the resumed sync
    reads what was missing and at most one page of what had been printed."""
    cart.regenerate(orders=60)
    bulk = cart.add("orders", *["2024-03-01T12:00:00-06:00"] * 23)
    later = cart.add("orders", "2024-03-02T00:00:00Z", "2024-03-03T00:00:00Z")
    everything = set(cart.ids("orders"))
    cfg = cart.token_config(page_size=page_size, concurrency=1)

    whole = timeline(runtime.read(cfg, "orders", INCREMENTAL))
    assert set(e for e in whole if not isinstance(e, dict)) == everything
    assert any(isinstance(e, dict) and "after_id" in e for e in whole), "the bulk import is saved by id"

    record_positions = [i for i, e in enumerate(whole) if not isinstance(e, dict)]
    cuts = record_positions[5::16] + [record_positions[-1] + 1]
    tie_cuts = [i + 2 for i, e in enumerate(whole) if isinstance(e, dict) and "after_id" in e]
    # and just after the first state past the run, which goes back to updated_at alone
    tie_cuts += [i + 2 for i, e in enumerate(whole) if isinstance(e, dict) and "after_id" not in e and i > tie_cuts[-1]][:1]
    resumed_cuts = 0
    for cut in sorted(set(cuts + tie_cuts)):
        printed = [e for e in whole[:cut] if not isinstance(e, dict)]
        state = resume_from(whole, cut)
        if state is None:
            assert len(printed) <= page_size, "only a kill on the first page leaves no state"
            continue  # the next sync starts over, reading that page again
        resumed_cuts += 1
        resumed_output = runtime.read(cfg, "orders", INCREMENTAL, StateBuilder().with_stream_state("orders", state).build())
        assert not resumed_output.errors, all_output(resumed_output)
        resumed = [e for e in timeline(resumed_output) if not isinstance(e, dict)]
        assert set(printed) | set(resumed) == everything, (cut, state)
        again = set(resumed) & set(printed)
        assert len(again) <= page_size, (cut, state, sorted(again))
    assert resumed_cuts >= 6, resumed_cuts


def test_parallel_windows_never_save_past_an_unfinished_earlier_one(runtime):
    """Windows of a day read two at a time. Window 1's first page ends a fraction of a
    millisecond before its end and its second page fails; window 2 is read whole. The saved state
    must not move past window 1's unread end, though the CDK's cursor joins read intervals that
    lie less than a millisecond apart."""
    day_1, day_2 = "2021-01-01T00:00:00.000000Z", "2021-01-02T00:00:00.000000Z"

    def orders(**query: str) -> HttpRequest:
        return HttpRequest(ORDERS, query_params={"page": "1", "sort": "updated_at", "count": "2", **query})

    with HttpMocker() as http:
        http.get(orders(), page((1, "2021-01-01T12:00:00Z"), (2, "2021-01-01T23:59:59.9995Z"), more=True))
        http.get(orders(updated_at=f"gte:2021-01-01T23:59:59.999500Z AND lte:{day_2}"),
                 HttpResponse(json.dumps({"message": "down"}), 503))
        http.get(orders(updated_at=f"gte:{day_2} AND lte:2021-01-03T00:00:00.000000Z"),
                 page((3, "2021-01-02T12:00:00Z"), more=False))
        cfg = config(page_size=2, window_in_days=1, concurrency=2, max_retries=0,
                     start_date=day_1, end_date="2021-01-03T00:00:00Z")
        output = runtime.read(cfg, "orders", INCREMENTAL, expecting_exception=True)

    assert output.errors
    saved = [event for event in timeline(output) if isinstance(event, dict)]
    assert saved and all(state["updated_at"] < day_2 for state in saved), saved

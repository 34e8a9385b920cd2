"""Incremental reads: what is asked for, what is emitted, what state is saved and resumed.

These run against FakeCart, a requests-mock endpoint that filters and sorts like Cart.com, so
that records can change between two requests of the same sync.
"""

import pytest
import requests_mock

from airbyte_cdk.models import SyncMode

from unit_tests.conftest import config, ids, last_state, run_read, stream_state
from unit_tests.fake_cart import FakeCart


def orders(*pairs):
    return [{"id": i, "updated_at": ts, "total": 10.5} for i, ts in pairs]


def run(cart, mode=SyncMode.incremental, state=None, **cfg):
    with requests_mock.Mocker() as mocker:
        cart.install(mocker)
        return run_read(config(**cfg), cart.resource, mode, state)


def test_first_sync_reads_everything_and_saves_utc_state():
    cart = FakeCart("orders", "orders", orders(
        (1, "2021-02-01T10:00:00.1-06:00"),
        (2, "2021-07-01T08:59:28.457-05:00"),
        (3, "2021-07-01T14:00:00Z"),
    ))
    output = run(cart)
    assert ids(output) == [1, 2, 3]
    assert last_state(output) == {"updated_at": "2021-07-01T14:00:00.000000Z"}
    first = cart.requests[0]
    assert "updated_at" not in first, "a first sync's first page is not filtered"
    assert first["sort"] == "updated_at" and first["page"] == "1" and first["count"] == "1000"
    assert len(cart.requests) == 1, "a store that fits on one page costs one request"


def test_state_is_an_inclusive_lower_bound_and_resumes():
    cart = FakeCart("orders", "orders", orders(
        (1, "2021-05-01T00:00:00Z"), (2, "2021-06-01T00:00:00Z"), (3, "2021-06-01T00:00:00Z"),
    ))
    output = run(cart, state=stream_state("orders", {"updated_at": "2021-06-01T00:00:00.000000Z"}))
    assert ids(output) == [2, 3], "records sharing the saved timestamp are read again, never lost"
    assert cart.requests[0]["updated_at"].startswith("gte:2021-06-01T00:00:00.000000Z AND lte:")


@pytest.mark.parametrize(
    "legacy_value, expected_lower_bound",
    [
        ("2021-07-01T08:59:28.457-05:00", "2021-07-01T13:59:28.457000Z"),
        ("2021-12-01T08:00:00+02:00", "2021-12-01T06:00:00.000000Z"),
        ("2021-07-01T13:59:28.4571234Z", "2021-07-01T13:59:28.457123Z"),
    ],
)
def test_state_of_the_earlier_connector_is_continued_in_utc(legacy_value, expected_lower_bound):
    cart = FakeCart("orders", "orders", orders((1, "2021-07-01T13:59:28.457Z"), (2, "2022-01-01T00:00:00Z")))
    output = run(cart, state=stream_state("orders", {"updated_at": legacy_value}))
    assert cart.requests[0]["updated_at"].startswith(f"gte:{expected_lower_bound} AND")
    assert last_state(output) == {"updated_at": "2022-01-01T00:00:00.000000Z"}


def test_state_in_the_future_reads_nothing():
    cart = FakeCart("orders", "orders", orders((1, "2021-07-01T00:00:00Z")))
    output = run(cart, state=stream_state("orders", {"updated_at": "2999-01-01T00:00:00.000000Z"}))
    assert ids(output) == []
    assert cart.requests == []
    assert not output.errors


def test_record_without_cursor_value_is_emitted_and_does_not_break_the_sync():
    cart = FakeCart("orders", "orders", orders((1, "2021-02-01T00:00:00Z"), (2, "2021-03-01T00:00:00Z")))
    cart.records.append({"id": 3, "updated_at": None})
    cart.records.append({"id": 4, "updated_at": ""})
    with requests_mock.Mocker() as mocker:
        mocker.get(cart.url, json={"total_count": 4, "orders": cart.records})
        output = run_read(config(), "orders", SyncMode.incremental)
    assert sorted(ids(output)) == [1, 2, 3, 4]
    assert not output.errors
    assert last_state(output) == {"updated_at": "2021-03-01T00:00:00.000000Z"}


def test_pages_advance_the_lower_bound_instead_of_the_page_number():
    cart = FakeCart("orders", "orders", orders(*[(i, f"2021-01-{i + 1:02d}T00:00:00Z") for i in range(1, 8)]))
    output = run(cart, page_size=3)
    assert sorted(set(ids(output))) == list(range(1, 8))
    assert [r["page"] for r in cart.requests] == ["1"] * len(cart.requests)
    assert [r.get("updated_at", "none").split(" AND ")[0] for r in cart.requests] == [
        "none",
        "gte:2021-01-04T00:00:00.000000Z",
        "gte:2021-01-06T00:00:00.000000Z",
    ]


def test_record_updated_mid_sync_does_not_push_another_record_out_of_reach():
    """The earlier connector's defect 4: page-number paging loses record 4 here."""
    cart = FakeCart("orders", "orders", orders(*[(i, f"2021-01-{i + 1:02d}T00:00:00Z") for i in range(1, 10)]))

    def update_first_record_after_first_page(fake, request_number):
        if request_number == 2:
            fake.touch(1, "2021-06-01T00:00:00-05:00")

    cart.before_request = update_first_record_after_first_page
    output = run(cart, page_size=3)
    assert set(ids(output)) == set(range(1, 10))


def test_run_of_equal_timestamps_longer_than_a_page_is_read_by_id():
    bulk = "2021-03-01T10:00:00.1234567-06:00"
    cart = FakeCart("orders", "orders", orders(
        (1, "2021-02-01T00:00:00Z"), *[(i, bulk) for i in range(10, 20)], (30, "2021-04-01T00:00:00Z"),
    ))
    output = run(cart, page_size=3)
    assert set(ids(output)) == {1, 30, *range(10, 20)}
    tie = [r for r in cart.requests if r["sort"] == "id"]
    assert tie and all(r["updated_at"] == "gte:2021-03-01T16:00:00.123456Z AND lt:2021-03-01T16:00:00.123457Z" for r in tie)
    assert [r.get("id") for r in tie] == [None, "gt:12", "gt:15", "gt:18"]
    assert last_state(output) == {"updated_at": "2021-04-01T00:00:00.000000Z"}


def test_tie_survives_a_record_of_the_tie_updated_mid_read():
    bulk = "2021-03-01T16:00:00Z"
    cart = FakeCart("orders", "orders", orders(*[(i, bulk) for i in range(1, 13)]))

    def update_an_already_read_record(fake, request_number):
        if request_number == 3:  # while reading the run by id
            fake.touch(2, "2021-09-01T00:00:00Z")

    cart.before_request = update_an_already_read_record
    output = run(cart, page_size=4)
    assert set(ids(output)) == set(range(1, 13))


def test_server_capping_the_page_size_loses_nothing():
    cart = FakeCart("orders", "orders", orders(*[(i, f"2021-01-{i:02d}T00:00:00Z") for i in range(1, 21)]), max_count=7)
    output = run(cart, page_size=1000)
    assert set(ids(output)) == set(range(1, 21))


def test_end_date_bounds_the_window():
    cart = FakeCart("orders", "orders", orders((1, "2021-02-01T00:00:00Z"), (2, "2022-02-01T00:00:00Z")))
    state = stream_state("orders", {"updated_at": "2021-01-15T00:00:00.000000Z"})
    output = run(cart, end_date="2021-12-31T23:59:59Z", state=state)
    assert ids(output) == [1]
    assert cart.requests[0]["updated_at"] == "gte:2021-01-15T00:00:00.000000Z AND lte:2021-12-31T23:59:59.000000Z"
    first_sync = run(cart, end_date="2021-12-31T23:59:59Z")
    assert ids(first_sync) == [1], "records after end_date on an unfiltered page are dropped"


def test_interrupted_bulk_import_resumes_without_loss():
    """A sync that dies in the middle of a bulk import resumes from its last state: with an
    inclusive bound nothing sharing that timestamp is lost."""
    bulk = "2021-03-01T16:00:00Z"
    records = orders((1, "2021-02-01T00:00:00Z"), *[(i, bulk) for i in range(10, 30)])
    cart = FakeCart("orders", "orders", records)

    def die_mid_tie(fake, request_number):
        if request_number == 4:
            raise ConnectionError("killed")

    cart.before_request = die_mid_tie
    first = run(cart, page_size=5, max_retries=0)
    assert first.errors
    seen = set(ids(first))
    state = first.most_recent_state
    resume_state = stream_state("orders", dict(state.stream_state.__dict__)) if state else []
    cart.before_request = None
    second = run(cart, page_size=5, state=resume_state)
    assert seen | set(ids(second)) == {1, *range(10, 30)}


def test_small_store_costs_one_request_per_stream():
    cart = FakeCart("orders", "orders", orders((1, "2021-02-01T00:00:00Z"), (2, "2024-02-01T00:00:00Z")))
    run(cart, mode=SyncMode.full_refresh)
    assert len(cart.requests) == 1


def test_windows_checkpoint_each_window_and_share_their_boundary():
    cart = FakeCart("orders", "orders", orders(
        (1, "2021-01-05T00:00:00Z"), (2, "2021-01-11T00:00:00Z"), (3, "2021-01-15T00:00:00Z"),
    ))
    output = run(cart, window_in_days=10, end_date="2021-01-21T00:00:00Z")
    # The first window's unfiltered page also lists records of later windows: they are left
    # to their own window, so only the record on the shared boundary instant comes twice.
    assert sorted(ids(output)) == [1, 2, 2, 3]
    bounds = sorted(r.get("updated_at", "") for r in cart.requests)
    assert bounds == [
        "",  # the first window of a first sync starts unfiltered
        "gte:2021-01-11T00:00:00.000000Z AND lte:2021-01-21T00:00:00.000000Z",
    ]
    states = [dict(m.state.stream.stream_state.__dict__) for m in output.state_messages]
    assert len(states) >= 2 and states[-1] == {"updated_at": "2021-01-15T00:00:00.000000Z"}


def test_tie_emptied_by_updates_mid_read_still_reads_what_follows():
    bulk = "2021-03-01T16:00:00Z"
    cart = FakeCart("orders", "orders", orders(
        *[(i, bulk) for i in range(1, 9)], (20, "2021-04-01T00:00:00Z"), (21, "2021-05-01T00:00:00Z"),
    ))

    def move_the_rest_of_the_run(fake, request_number):
        if request_number == 3:  # the second page of the run, by id
            for record_id in range(5, 9):
                fake.touch(record_id, "2021-06-01T00:00:00Z")

    cart.before_request = move_the_rest_of_the_run
    output = run(cart, page_size=4)
    assert set(ids(output)) == {*range(1, 9), 20, 21}


def test_first_sync_reads_records_without_updated_at_and_skips_records_before_start_date():
    cart = FakeCart("orders", "orders", orders(
        (1, "2020-06-01T00:00:00Z"), (2, "2020-07-01T00:00:00Z"), (3, "2021-02-01T00:00:00Z"), (4, "2021-03-01T00:00:00Z"),
    ))
    cart.records += [{"id": 8, "updated_at": None}, {"id": 9, "updated_at": ""}]
    output = run(cart, page_size=3)
    assert sorted(set(ids(output))) == [3, 4, 8, 9]
    assert "updated_at" not in cart.requests[0]
    assert cart.requests[1]["updated_at"].startswith("gte:2021-01-01T00:00:00.000000Z AND lte:")
    assert last_state(output) == {"updated_at": "2021-03-01T00:00:00.000000Z"}


def test_first_page_entirely_before_start_date_does_not_end_the_stream():
    old = [(i, f"2019-01-{i:02d}T00:00:00Z") for i in range(1, 6)]
    cart = FakeCart("orders", "orders", orders(*old, (10, "2021-05-01T00:00:00Z"), (11, "2021-06-01T00:00:00Z")))
    output = run(cart, page_size=5)
    assert sorted(set(ids(output))) == [10, 11]


def test_later_syncs_filter_from_the_state_and_do_not_reread_records_without_updated_at():
    cart = FakeCart("orders", "orders", orders((1, "2021-02-01T00:00:00Z"), (2, "2021-03-01T00:00:00Z")))
    cart.records.append({"id": 9, "updated_at": None})
    output = run(cart, state=stream_state("orders", {"updated_at": "2021-02-01T00:00:00.000000Z"}))
    assert sorted(ids(output)) == [1, 2]
    assert cart.requests[0]["updated_at"].startswith("gte:2021-02-01T00:00:00.000000Z AND lte:")

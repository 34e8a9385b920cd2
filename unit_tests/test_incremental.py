"""Incremental reads against the local Cart.com sandbox: what is asked for, what is emitted, what
state is saved, and how a sync resumes, while the store filters, sorts and pages as Cart.com
does and its records change between two requests of the same sync.

Every sync builds the connector's 50 streams (about 1 s in the `cli` runtime and 2 s in
`manifest_only`), so scenarios that need the same config share one sync, each on its own
resource; the assertions say which behaviour each checks.
"""

from typing import Any, Dict, List, Optional, Set

from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.types import StreamSlice
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput
from airbyte_cdk.test.state_builder import StateBuilder

from unit_tests.conftest import components
from unit_tests.sandbox_fixtures import START_DATE, Cart, cart, sandbox, utc  # noqa: F401  (cart, sandbox: fixtures)

INCREMENTAL = SyncMode.incremental


def emitted(output: EntrypointOutput, stream: str) -> List[Dict[str, Any]]:
    return [m.record.data for m in output.records if m.record.stream == stream]


def emitted_ids(output: EntrypointOutput, stream: str) -> List[int]:
    return [record["id"] for record in emitted(output, stream)]


def states(output: EntrypointOutput, stream: str) -> List[Dict[str, Any]]:
    return [
        dict(m.state.stream.stream_state.__dict__)
        for m in output.state_messages
        if m.state.stream.stream_descriptor.name == stream
    ]


def updated_since(records: List[Dict[str, Any]], instant: str) -> Set[int]:
    """Ids of the records updated at or after a UTC instant (never those without updated_at)."""
    return {r["id"] for r in records if r["updated_at"] and utc(r["updated_at"]) >= instant}


def lower_bounds(requests: List[Dict[str, str]]) -> List[Optional[str]]:
    """The `updated_at` filter of each request ("gte:A AND lte:B"), None when unfiltered."""
    return [request.get("updated_at") for request in requests]


def test_first_sync_reads_every_record_and_saves_the_latest_updated_at_in_utc(runtime, cart: Cart):
    # Generated data: store-local offsets that follow daylight saving, 0 to 7 fraction digits,
    # and a third of the records with a blank or null updated_at.
    cart.regenerate(null_cursor_rate=0.3)
    truth = {r["id"]: r for r in cart.records("orders")}
    blank = [i for i, r in truth.items() if not r["updated_at"]]
    assert blank, "the scenario needs records without updated_at"

    output = runtime.read(cart.token_config(), ["orders", "customers_cart"], INCREMENTAL)

    assert not output.errors
    records = emitted(output, "orders")
    assert sorted(r["id"] for r in records) == sorted(truth), "every order once, those without updated_at too"
    for record in records:
        stored = truth[record["id"]]["updated_at"]
        assert record.get("updated_at") == (utc(stored) if stored else None), record["id"]
    assert states(output, "orders")[-1] == {"updated_at": cart.latest_updated_at("orders")}
    assert sorted(emitted_ids(output, "customers_cart")) == sorted(cart.ids("customers"))
    # A store that fits on one page costs one request per stream; a first sync's page is not
    # filtered on updated_at (no filter matches a blank one) and is sorted by it.
    assert cart.requests("orders") == [{"page": "1", "sort": "updated_at", "count": "1000"}]
    assert len(cart.requests("customers")) == 1


def test_every_state_shape_resumes_from_its_instant_inclusively(runtime, cart: Cart):
    """State we write, state the earlier connector wrote (store-local time) and the CDK's
    concurrent form. (A state in the future is a config error: test_careless_input.py.)"""
    cart.regenerate(null_cursor_rate=0.3)
    # ours, {"updated_at": "<UTC Z>"}: from the updated_at of an order in the middle.
    orders = sorted((r for r in cart.records("orders") if r["updated_at"]), key=lambda r: utc(r["updated_at"]))
    ours = utc(orders[len(orders) // 2]["updated_at"])
    # the earlier connector's, in the store's local time: 08:59:28.457-05:00 is 13:59:28.457Z.
    earlier = "2021-07-01T08:59:28.457-05:00"
    same_instant, before = cart.add("customers", "2021-07-01T13:59:28.457Z", "2021-07-01T10:00:00Z")
    # the CDK's concurrent form: one slice read from start_date up to an instant. The CDK reads
    # it as a stream's state, but 7.x never writes it for a declarative stream (it saves the
    # {"updated_at": ...} form), so it is written here the way the CDK's cursor serializes it.
    products = sorted((r for r in cart.records("products") if r["updated_at"]), key=lambda r: utc(r["updated_at"]))
    concurrent_end = utc(products[2]["updated_at"])
    concurrent = {
        "state_type": "date-range",
        "slices": [
            {"start": utc(START_DATE), "end": concurrent_end, "most_recent_cursor_value": concurrent_end}
        ],
    }
    state = (
        StateBuilder()
        .with_stream_state("orders", {"updated_at": ours})
        .with_stream_state("customers_cart", {"updated_at": earlier})
        .with_stream_state("products", concurrent)
        .build()
    )

    output = runtime.read(
        cart.token_config(), ["orders", "customers_cart", "products"], INCREMENTAL, state
    )

    assert not output.errors
    # ours: the order at the saved instant comes again; none without updated_at is re-read.
    assert set(emitted_ids(output, "orders")) == updated_since(cart.records("orders"), ours)
    assert lower_bounds(cart.requests("orders"))[0].startswith(f"gte:{ours} AND lte:")
    # earlier connector's: continued from the same instant in UTC.
    customers = set(emitted_ids(output, "customers_cart"))
    assert same_instant in customers and before not in customers
    assert customers == updated_since(cart.records("customers"), "2021-07-01T13:59:28.457000Z")
    assert lower_bounds(cart.requests("customers"))[0].startswith("gte:2021-07-01T13:59:28.457000Z AND lte:")
    assert states(output, "customers_cart")[-1] == {"updated_at": cart.latest_updated_at("customers")}
    # the CDK's concurrent form: continued from its slice's end.
    assert set(emitted_ids(output, "products")) == updated_since(products, concurrent_end)
    assert lower_bounds(cart.requests("products"))[0].startswith(f"gte:{concurrent_end} AND lte:")
    assert states(output, "products")[-1] == {"updated_at": cart.latest_updated_at("products")}


def test_pages_advance_the_lower_bound_so_a_record_updated_mid_sync_pushes_no_other_out_of_reach(
    runtime, cart: Cart
):
    """The earlier connector's defect 4: it stepped page numbers while sorting on updated_at, so
    when a record of page 1 was updated after page 1 was read, every later record moved up one
    place and the 4th slid onto page 1, already read: never delivered, and below the state."""
    cart.empty("orders")
    days = [cart.add("orders", f"2021-01-{day:02d}T18:00:00-06:00")[0] for day in range(1, 10)]
    # While page 2 is asked for, the first order is updated.
    update = {"type": "update", "positions": [0], "updated_at": "2021-06-01T00:00:00-05:00"}
    cart.control.add_hook("orders", update, after=1)

    output = runtime.read(cart.token_config(page_size=3), "orders", INCREMENTAL)

    assert not output.errors
    assert set(emitted_ids(output, "orders")) == set(days)
    last_version = {r["id"]: r["updated_at"] for r in emitted(output, "orders")}
    assert last_version[days[0]] == "2021-06-01T05:00:00.000000Z", "the update is read in the same sync"
    requests = cart.requests("orders")
    assert {(r["page"], r["count"]) for r in requests} == {("1", "3")}, "always page 1 of the next lower bound"
    assert [bound.split(" AND ")[0] if bound else None for bound in lower_bounds(requests)] == [
        None,
        "gte:2021-01-04T00:00:00.000000Z",  # the 3rd order's updated_at
        "gte:2021-01-06T00:00:00.000000Z",
        "gte:2021-01-08T00:00:00.000000Z",
        "gte:2021-01-10T00:00:00.000000Z",
    ]
    assert states(output, "orders")[-1] == {"updated_at": "2021-06-01T05:00:00.000000Z"}


def test_a_run_of_equal_timestamps_longer_than_a_page_is_read_by_id_even_while_it_changes(runtime, cart: Cart):
    """A bulk import gives many records one updated_at: a lower bound cannot move past them,
    so the run is read by id inside that microsecond. Here the server also serves 3 records
    per page whatever the connector asks (1000): a short page is not taken for the last one.
    Read through the Central API Router, which checks each request's signature over the
    filters exactly as sent."""
    cart.regenerate(orders=0, customers=1)
    cart.control.settings(max_page_size=3)
    # orders: a bulk import of 10, with 7 fraction digits, between two other orders.
    before = cart.add("orders", "2021-01-31T18:00:00-06:00")
    bulk = cart.add("orders", *["2021-03-01T10:00:00.1234567-06:00"] * 10)
    after = cart.add("orders", "2021-04-01T00:00:00-05:00")
    # customers: a bulk import of 9. While it is read by id (the 4th request), the 2nd customer
    # (already read) and the last five (not yet read) are updated again.
    run = cart.add("customers", *["2021-03-01T16:00:00Z"] * 9)
    moved = [run[1], *run[4:]]
    cart.control.add_hook("customers", {"type": "update", "ids": moved, "updated_at": "2021-09-01T00:00:00Z"}, after=3)

    output = runtime.read(cart.router_config(), ["orders", "customers_cart"], INCREMENTAL)

    assert not output.errors
    assert {entry["auth"] for entry in cart.control.request_log()} == {"router"}
    assert set(emitted_ids(output, "orders")) == {*before, *bulk, *after}
    by_id = [r for r in cart.requests("orders") if r["sort"] == "id"]
    that_microsecond = "gte:2021-03-01T16:00:00.123456Z AND lt:2021-03-01T16:00:00.123457Z"
    assert [r["updated_at"] for r in by_id] == [that_microsecond] * 4
    assert [r.get("id") for r in by_id] == [None, f"gt:{bulk[2]}", f"gt:{bulk[5]}", f"gt:{bulk[8]}"]
    assert states(output, "orders")[-1] == {"updated_at": "2021-04-01T05:00:00.000000Z"}

    assert set(emitted_ids(output, "customers_cart")) == set(cart.ids("customers"))
    last_version = {r["id"]: r["updated_at"] for r in emitted(output, "customers_cart")}
    assert {last_version[i] for i in moved} == {"2021-09-01T00:00:00.000000Z"}


def test_windows_checkpoint_and_a_sync_interrupted_in_a_bulk_import_resumes_without_loss(runtime, cart: Cart):
    """window_in_days=10 from start_date to end_date: three windows that share their boundary
    instants. The third holds a bulk import; the connection drops while it is read by id."""
    cart.empty("orders")
    first = cart.add("orders", "2021-01-05T00:00:00Z")
    boundary = cart.add("orders", "2021-01-10T18:00:00-06:00")  # 2021-01-11T00:00:00Z: windows 1 and 2
    bulk = cart.add("orders", *["2021-01-25T12:00:00-06:00"] * 7)
    too_late = cart.add("orders", "2021-02-05T00:00:00-06:00")  # after end_date
    # One worker reads the windows in order, so the drop hits the same request in every run:
    # the 7th, the second page of the bulk import by id.
    cart.control.add_hook("orders", {"type": "faults", "schedule": ["drop"]}, after=6)
    cfg = cart.token_config(
        window_in_days=10, end_date="2021-01-31T00:00:00Z", page_size=3, concurrency=1, max_retries=0
    )

    interrupted = runtime.read(cfg, "orders", INCREMENTAL, expecting_exception=True)

    assert interrupted.errors
    read_before = emitted_ids(interrupted, "orders")
    assert read_before.count(boundary[0]) == 2, "the boundary instant belongs to windows 1 and 2"
    assert read_before[:3] == [*first, *boundary, *boundary], "window 1's unfiltered page kept only its own"
    assert set(read_before) == {*first, *boundary, *bulk[:6]}
    saved = states(interrupted, "orders")
    bulk_at = "2021-01-25T18:00:00.000000Z"
    # Windows 1 and 2 were saved whole, window 3 page by page: up to the bulk import's instant,
    # then inside it by id (after_id) until the connection dropped. The CDK's last word on a
    # failed stream is its own state, which cannot say where in the run it was.
    assert {"updated_at": "2021-01-11T00:00:00.000000Z"} in saved, saved
    assert saved[-2:] == [{"updated_at": bulk_at, "after_id": bulk[5]}, {"updated_at": bulk_at}], saved
    assert lower_bounds(cart.requests("orders"))[1:3] == [
        "gte:2021-01-11T00:00:00.000000Z AND lte:2021-01-21T00:00:00.000000Z",
        "gte:2021-01-21T00:00:00.000000Z AND lte:2021-01-31T00:00:00.000000Z",
    ], "window 1's unfiltered page reached past its end, so window 1 needed no second request"

    for resume_from, expected in [(saved[-1], set(bulk)), (saved[-2], set(bulk[6:]))]:
        cart.clear_requests()
        resumed = runtime.read(cfg, "orders", INCREMENTAL, StateBuilder().with_stream_state("orders", resume_from).build())

        assert not resumed.errors
        assert set(emitted_ids(resumed, "orders")) == expected, resume_from
        assert too_late[0] not in read_before + emitted_ids(resumed, "orders")
        # Past the run once it is read whole: the next sync does not read it again.
        assert states(resumed, "orders")[-1] == {"updated_at": "2021-01-25T18:00:00.000001Z"}
        first_request = cart.requests("orders")[0]
        if "after_id" in resume_from:  # on by id inside the run, where the read stopped
            assert first_request["sort"] == "id" and first_request["id"] == f"gt:{bulk[5]}", first_request
        else:
            assert lower_bounds([first_request]) == [f"gte:{bulk_at} AND lte:2021-01-31T00:00:00.000000Z"]


def test_a_window_hashed_once_is_the_same_key_for_the_cursor_as_the_window():
    """PageCheckpoints hands the stock retriever a copy of its window that hashes once (records
    carry it, and the cursor looks each one up by hash). The cursor finds a value stored under
    the copy when it closes the original window, and the other way round."""
    window = StreamSlice(partition={"p": 1}, cursor_slice={"start_time": "a", "end_time": "b"}, extra_fields={"x": 2})
    copy = components()._HashedOnce(window)
    assert copy == window and window == copy and hash(copy) == hash(window)
    assert copy.partition == window.partition and copy.cursor_slice == window.cursor_slice
    assert copy.extra_fields == window.extra_fields and dict(copy) == dict(window)
    assert {copy: "read up to"}[window] == "read up to" and {window: 1}[copy] == 1
    other = StreamSlice(partition={"p": 1}, cursor_slice={"start_time": "a", "end_time": "c"})
    assert components()._HashedOnce(other) != window

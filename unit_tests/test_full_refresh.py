"""Resources without updated_at (coupon_codes, email_templates, microstores, store_locations,
stores) are read whole, walking ids so that a change during the sync cannot skip a record. Run
against the local Cart.com sandbox, which pages, sorts and filters as Cart.com does."""

from airbyte_cdk.models import SyncMode

from unit_tests.conftest import FULL_REFRESH_STREAMS, INCREMENTAL_STREAMS, TOKEN_CONFIG, ids
from unit_tests.sandbox_fixtures import Cart, cart, sandbox  # noqa: F401  (fixtures)


def test_full_refresh_walks_ids_so_a_record_deleted_mid_sync_hides_no_other(runtime, cart: Cart):
    """Stepping page numbers, deleting a record already read moves every later record up one
    place: the first record of page 2 slides onto page 1 and is never read. Reading above the
    last id seen cannot skip it."""
    stored = cart.ids("coupon_codes")
    assert len(stored) > 20, "the scenario needs three pages"
    # While page 2 is asked for, the first coupon code is deleted.
    cart.control.add_hook("coupon_codes", {"type": "delete", "ids": [stored[0]]}, after=1)

    output = runtime.read(cart.token_config(page_size=10), "coupon_codes")

    assert not output.errors
    assert ids(output) == stored, "every record once, in id order, the deleted one read before it went"
    assert cart.ids("coupon_codes") == stored[1:]
    requests = cart.requests("coupon_codes")
    assert [(r["sort"], r["count"], r.get("id"), r.get("page")) for r in requests] == [
        ("id", "10", None, None),
        *[("id", "10", f"gt:{stored[i]}", None) for i in range(9, len(stored), 10)],
    ]
    assert all("updated_at" not in r for r in requests)


def test_full_refresh_streams_offer_no_incremental_mode(runtime):
    catalog = runtime.discover(TOKEN_CONFIG).catalog.catalog
    modes = {stream.name: stream.supported_sync_modes for stream in catalog.streams}
    assert len(modes) == 50
    assert {name for name, m in modes.items() if m == [SyncMode.full_refresh]} == set(FULL_REFRESH_STREAMS)
    assert all(SyncMode.incremental in modes[name] for name in INCREMENTAL_STREAMS)
    assert "coupon_codes" in FULL_REFRESH_STREAMS and "order_statuses" in INCREMENTAL_STREAMS

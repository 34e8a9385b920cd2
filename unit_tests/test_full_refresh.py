"""Resources without updated_at (coupon_codes, email_templates, microstores, store_locations,
stores) are read whole, walking ids so that a change during the sync cannot skip a record."""

import requests_mock
from airbyte_cdk.models import SyncMode

from unit_tests.conftest import config, ids, run_read
from unit_tests.fake_cart import FakeCart


def coupons(n):
    return [{"id": i, "code": f"SAVE{i}", "expires_at": ""} for i in range(1, n + 1)]


def test_full_refresh_walks_ids_and_never_steps_pages():
    cart = FakeCart("coupon_codes", "coupon_codes", coupons(7))
    with requests_mock.Mocker() as mocker:
        cart.install(mocker)
        output = run_read(config(page_size=3), "coupon_codes", SyncMode.full_refresh)
    assert ids(output) == list(range(1, 8))
    assert [(r["sort"], r["page"], r.get("id")) for r in cart.requests] == [
        ("id", "1", None), ("id", "1", "gt:3"), ("id", "1", "gt:6"),
    ]
    assert "updated_at" not in cart.requests[0]
    # null fields are left out of the record message by the CDK; "" would have been kept
    assert output.records[0].record.data.get("expires_at", "missing") in (None, "missing")


def test_record_deleted_mid_sync_does_not_hide_another():
    cart = FakeCart("coupon_codes", "coupon_codes", coupons(9))

    def delete_a_read_record(fake, request_number):
        if request_number == 2:
            fake.records[:] = [r for r in fake.records if r["id"] != 1]

    cart.before_request = delete_a_read_record
    with requests_mock.Mocker() as mocker:
        cart.install(mocker)
        output = run_read(config(page_size=3), "coupon_codes", SyncMode.full_refresh)
    assert ids(output) == list(range(1, 10))


def test_full_refresh_stream_offers_no_incremental_mode():
    from source_cart.source import SourceCart

    catalog = SourceCart(config=config()).discover(None, config())
    modes = {s.name: s.supported_sync_modes for s in catalog.streams}
    assert modes["coupon_codes"] == [SyncMode.full_refresh]
    assert SyncMode.incremental in modes["orders"] and SyncMode.incremental in modes["order_statuses"]
    assert len(modes) == 50


def test_a_read_builds_only_the_streams_its_catalog_selects():
    from airbyte_cdk.test.catalog_builder import CatalogBuilder

    from source_cart.source import SourceCart
    from unit_tests.conftest import TOKEN_CONFIG

    catalog = CatalogBuilder().with_stream("orders", SyncMode.incremental).with_stream("products", SyncMode.full_refresh).build()
    reading = SourceCart(catalog=catalog, config=TOKEN_CONFIG, state=[])
    assert sorted(s.name for s in reading.streams(TOKEN_CONFIG)) == ["order_statuses", "orders", "products"]
    # the manifest it validated held only those streams (order_statuses is check's) and their schemas
    assert sorted(reading.resolved_manifest["schemas"]) == ["order_statuses", "orders", "products"]
    discovering = SourceCart(config=TOKEN_CONFIG)
    assert len(discovering.streams(TOKEN_CONFIG)) == 50
    # each kept stream resolves exactly as in the whole manifest: requester, paginator, cursor...
    whole = {s["name"]: s for s in discovering.resolved_manifest["streams"]}
    for stream in reading.resolved_manifest["streams"]:
        assert stream == whole[stream["name"]]
    # check builds only the stream it reads, as the CDK does for an unmodified source
    assert [s.name for s in discovering._streams_by_name(["order_statuses"])] == ["order_statuses"]
    # and a source built for a read can still check
    assert [s.name for s in reading._streams_by_name(["order_statuses"])] == ["order_statuses"]


def test_narrowing_keeps_schemas_that_other_schemas_refer_to():
    from source_cart.source import manifest_narrowed_to

    manifest = {
        "check": {"stream_names": ["a"]},
        "definitions": {"base": {"schema_loader": {"$ref": "#/schemas/shared"}}},
        "streams": [{"name": "a", "schema": {"$ref": "#/schemas/a"}}, {"name": "b", "schema": {"$ref": "#/schemas/b"}}],
        "schemas": {
            "a": {"properties": {"address": {"$ref": "#/schemas/address"}}},
            "address": {"properties": {"country": {"$ref": "#/schemas/country"}}},
            "country": {}, "shared": {}, "b": {}, "unused": {},
        },
    }
    narrowed = manifest_narrowed_to(manifest, set())
    assert [s["name"] for s in narrowed["streams"]] == ["a"]
    assert sorted(narrowed["schemas"]) == ["a", "address", "country", "shared"]
    assert manifest["schemas"].keys() >= {"b", "unused"}  # the parsed manifest is left as it was

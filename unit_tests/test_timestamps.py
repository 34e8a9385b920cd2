"""Timestamps as Cart.com sends them, and as the connector emits them."""

import pytest

from source_cart.components import NormalizeDates, to_utc


@pytest.mark.parametrize(
    "sent, emitted",
    [
        ("2014-04-07T11:43:09.127-05:00", "2014-04-07T16:43:09.127000Z"),  # summer, CDT
        ("2013-11-04T09:36:05.7-06:00", "2013-11-04T15:36:05.700000Z"),  # winter, CST
        ("2021-07-01T08:59:28.4571239-05:00", "2021-07-01T13:59:28.457123Z"),  # 7 digits, cut
        ("2021-07-01T08:59:28-0500", "2021-07-01T13:59:28.000000Z"),
        ("2021-12-31T23:30:00-05:00", "2022-01-01T04:30:00.000000Z"),  # crosses the year
        ("2021-01-01T00:30:00+02:00", "2020-12-31T22:30:00.000000Z"),
        ("2021-07-01T13:59:28Z", "2021-07-01T13:59:28.000000Z"),
        ("2021-07-01 13:59:28", "2021-07-01T13:59:28.000000Z"),  # no offset: UTC
        ("2021-07-01", "2021-07-01T00:00:00.000000Z"),
        ("not a date", "not a date"),
        ("", ""),
        (None, None),
    ],
)
def test_to_utc(sent, emitted):
    assert to_utc(sent) == emitted


def test_record_dates_are_emitted_in_utc_and_blank_dates_as_null():
    record = {
        "id": 1,
        "updated_at": "2021-07-01T08:59:28.457-05:00",
        "created_at": "2021-06-01T08:00:00-05:00",
        "due_date": "",
        "low_stock_warning_at": 5,  # a count despite its name
        "note": "2021-07-01T08:59:28-05:00",  # not a date field: left alone
        "variants": [{"id": 2, "updated_at": "2021-01-01T00:00:00-06:00", "expires_at": ""}],
    }
    NormalizeDates(config={}, parameters={}).transform(record)
    assert record == {
        "id": 1,
        "updated_at": "2021-07-01T13:59:28.457000Z",
        "created_at": "2021-06-01T13:00:00.000000Z",
        "due_date": None,
        "low_stock_warning_at": 5,
        "note": "2021-07-01T08:59:28-05:00",
        "variants": [{"id": 2, "updated_at": "2021-01-01T06:00:00.000000Z", "expires_at": None}],
    }

"""Timestamps as Cart.com sends them (store-local time, an offset that follows daylight saving,
0 to 7 fraction digits, blanks), and as the connector emits them: UTC, or null."""

import json

import pytest

from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.mock_http import HttpMocker, HttpRequest, HttpResponse

from unit_tests.conftest import all_output, components, config, last_state


@pytest.mark.parametrize(
    "sent, emitted",
    [
        # Daylight saving: the same store answers -05:00 in summer and -06:00 in winter.
        ("2014-04-07T11:43:09.127-05:00", "2014-04-07T16:43:09.127000Z"),  # summer, CDT
        ("2013-11-04T09:36:05.7-06:00", "2013-11-04T15:36:05.700000Z"),  # winter, CST
        ("2021-03-14T01:59:59-06:00", "2021-03-14T07:59:59.000000Z"),  # the last second of CST
        ("2021-03-14T03:00:00-05:00", "2021-03-14T08:00:00.000000Z"),  # the next second, in CDT
        # 0 to 7 fraction digits; beyond microseconds the digits are cut, never rounded up
        ("2021-07-01T08:59:28-05:00", "2021-07-01T13:59:28.000000Z"),
        ("2021-07-01T08:59:28.4-05:00", "2021-07-01T13:59:28.400000Z"),
        ("2021-07-01T08:59:28.45-05:00", "2021-07-01T13:59:28.450000Z"),
        ("2021-07-01T08:59:28.457-05:00", "2021-07-01T13:59:28.457000Z"),
        ("2021-07-01T08:59:28.4571-05:00", "2021-07-01T13:59:28.457100Z"),
        ("2021-07-01T08:59:28.45712-05:00", "2021-07-01T13:59:28.457120Z"),
        ("2021-07-01T08:59:28.457123-05:00", "2021-07-01T13:59:28.457123Z"),
        ("2021-07-01T08:59:28.4571239-05:00", "2021-07-01T13:59:28.457123Z"),
        # Offset spellings and day, year and leap-day boundaries
        ("2021-07-01T08:59:28-0500", "2021-07-01T13:59:28.000000Z"),
        ("2021-12-31T23:30:00-05:00", "2022-01-01T04:30:00.000000Z"),  # crosses the year
        ("2021-01-01T00:30:00+02:00", "2020-12-31T22:30:00.000000Z"),
        ("2024-02-28T20:00:00-06:00", "2024-02-29T02:00:00.000000Z"),  # onto a leap day
        ("2021-07-01T08:59:28.457+05:30", "2021-07-01T03:29:28.457000Z"),
        ("2021-07-01T13:59:28Z", "2021-07-01T13:59:28.000000Z"),
        ("2021-07-01T13:59:28.457123Z", "2021-07-01T13:59:28.457123Z"),  # already UTC: unchanged
        ("2021-07-01 13:59:28", "2021-07-01T13:59:28.000000Z"),  # no offset: UTC
        ("2021-07-01", "2021-07-01T00:00:00.000000Z"),
        # No such moment, or no date at all: left as sent, for the schema or cursor to reject
        ("2021-02-30T10:00:00-05:00", "2021-02-30T10:00:00-05:00"),
        ("2021-13-01T10:00:00-05:00", "2021-13-01T10:00:00-05:00"),
        ("2021-07-01T24:00:00-05:00", "2021-07-01T24:00:00-05:00"),
        ("2021-07-01T08:60:00-05:00", "2021-07-01T08:60:00-05:00"),
        ("not a date", "not a date"),
        ("07/01/2021", "07/01/2021"),
        ("", ""),
        (None, None),
        (5, 5),
    ],
)
def test_to_utc(sent, emitted):
    assert components().to_utc(sent) == emitted


def normalize(record):
    components().NormalizeDates(config={}, parameters={}).transform(record)
    return record


@pytest.mark.parametrize(
    "value, real",
    [
        ("2021-02-28T00:00:00.000000Z", True),
        ("2024-02-29T00:00:00.000000Z", True),  # a leap day
        ("2023-02-29T00:00:00.000000Z", False),
        ("2021-04-31T00:00:00.000000Z", False),
        ("2021-02-30", False),
        ("2021-13-01T00:00:00Z", False),
        ("0000-01-10T00:00:00.000000Z", False),  # no year 0: kept, warned of, never a bound
        ("0001-01-10T00:00:00.000000Z", True),
        ("/Date(1704067260000-0500)/", False),
        ("", False),
        (None, False),
    ],
)
def test_is_timestamp_only_for_dates_that_exist(value, real):
    """What decides whether a record's updated_at can place it (else it is emitted and counted)
    and whether a start_date or a saved state is accepted."""
    assert components().is_timestamp(value) is real


def test_record_dates_are_emitted_in_utc_and_blank_dates_as_null():
    record = {
        "id": 1,
        "updated_at": "2021-07-01T08:59:28.457-05:00",
        "created_at": "2021-01-01T08:00:00-06:00",
        "due_date": "",
        "expires_at": None,
        "low_stock_warning_at": 5,  # a count despite its name
        "note": "2021-07-01T08:59:28-05:00",  # not a date field: left alone
        "shipped_at": "2021-02-30T08:00:00-06:00",  # no such day: left for the schema to reject
        "variants": [{"id": 2, "updated_at": "2021-01-01T00:00:00-06:00", "expires_at": ""}],
    }
    assert normalize(record) == {
        "id": 1,
        "updated_at": "2021-07-01T13:59:28.457000Z",
        "created_at": "2021-01-01T14:00:00.000000Z",
        "due_date": None,
        "expires_at": None,
        "low_stock_warning_at": 5,
        "note": "2021-07-01T08:59:28-05:00",
        "shipped_at": "2021-02-30T08:00:00-06:00",
        "variants": [{"id": 2, "updated_at": "2021-01-01T06:00:00.000000Z", "expires_at": None}],
    }


def test_every_record_of_a_stream_is_normalized_whatever_its_neighbours_hold():
    # One transformation serves a whole stream: records with other keys, a list where the last
    # record had null, and nested objects and lists at any depth must all come out in UTC.
    transformation = components().NormalizeDates(config={}, parameters={})
    first = {"id": 1, "shipped_at": "2021-07-01T08:00:00-05:00", "variants": None, "customer": None}
    second = {"id": 2, "expires_at": "2021-07-01T09:00:00-05:00", "variants": None, "customer": None}
    third = {
        "id": 3,
        "expires_at": "2021-07-01T10:00:00-05:00",
        "variants": [{"updated_at": "2021-07-01T11:00:00-05:00", "options": [{"created_at": "2021-07-01T12:00:00-05:00"}]}],
        "customer": {"registered_at": "2021-07-01T13:00:00-05:00", "tags": ["2021-07-01T14:00:00-05:00"]},
    }
    for record in (first, second, third):
        transformation.transform(record)
    assert first["shipped_at"] == "2021-07-01T13:00:00.000000Z"
    assert second["expires_at"] == "2021-07-01T14:00:00.000000Z"
    assert third["variants"] == [
        {"updated_at": "2021-07-01T16:00:00.000000Z", "options": [{"created_at": "2021-07-01T17:00:00.000000Z"}]}
    ]
    # a list of plain strings holds no named dates: left as sent
    assert third["customer"] == {"registered_at": "2021-07-01T18:00:00.000000Z", "tags": ["2021-07-01T14:00:00-05:00"]}


def test_a_synced_record_has_its_dates_in_utc_and_its_state_too(runtime):
    page = {
        "total_count": 2,
        "orders": [
            {
                "id": 7,
                "order_date": "2021-01-15T18:30:00.5-06:00",
                "updated_at": "2021-07-01T08:59:28.4571239-05:00",
                "shipped_at": "",
                "items": [{"id": 70, "created_at": "2021-07-01T09:00:00-05:00"}],
            },
            {"id": 8, "updated_at": "2021-07-02T23:15:00-05:00", "order_date": "2021-07-02"},
        ],
    }
    with HttpMocker() as http:
        http.get(
            HttpRequest(
                "https://mystore.com/api/v1/orders", query_params={"page": "1", "sort": "updated_at", "count": "1000"}
            ),
            HttpResponse(json.dumps(page), headers={"X-AC-Call-Limit": "1/50"}),
        )
        output = runtime.read(config(end_date="2021-12-31T00:00:00Z"), "orders", SyncMode.incremental)

    assert not output.errors, all_output(output)
    records = [dict(message.record.data) for message in output.records]
    assert records[0]["order_date"] == "2021-01-16T00:30:00.500000Z"
    assert records[0]["updated_at"] == "2021-07-01T13:59:28.457123Z"
    assert records[0].get("shipped_at") is None  # a blank date is null, never ""
    assert records[0]["items"] == [{"id": 70, "created_at": "2021-07-01T14:00:00.000000Z"}]
    assert records[1]["updated_at"] == "2021-07-03T04:15:00.000000Z"  # the next day in UTC
    assert records[1]["order_date"] == "2021-07-02T00:00:00.000000Z"
    assert last_state(output) == {"updated_at": "2021-07-03T04:15:00.000000Z"}

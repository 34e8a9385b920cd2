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


def test_every_record_of_a_stream_is_normalized_whatever_its_neighbours_hold():
    # One transformation serves a whole stream and remembers which keys are dates: a record
    # with other keys (even as many), a list where the last one had null, or a nested object,
    # must not leave a date in local time.
    normalize = NormalizeDates(config={}, parameters={})
    first = {"id": 1, "shipped_at": "2021-07-01T08:00:00-05:00", "variants": None, "customer": None}
    second = {"id": 2, "expires_at": "2021-07-01T09:00:00-05:00", "variants": None, "customer": None}
    third = {
        "id": 3, "expires_at": "2021-07-01T10:00:00-05:00",
        "variants": [{"updated_at": "2021-07-01T11:00:00-05:00", "options": [{"created_at": "2021-07-01T12:00:00-05:00"}]}],
        "customer": {"registered_at": "2021-07-01T13:00:00-05:00", "tags": ["2021-07-01T14:00:00-05:00"]},
    }
    for record in (first, second, third):
        normalize.transform(record)
    assert first["shipped_at"] == "2021-07-01T13:00:00.000000Z"
    assert second["expires_at"] == "2021-07-01T14:00:00.000000Z"
    assert third["variants"] == [{"updated_at": "2021-07-01T16:00:00.000000Z", "options": [{"created_at": "2021-07-01T17:00:00.000000Z"}]}]
    assert third["customer"] == {"registered_at": "2021-07-01T18:00:00.000000Z", "tags": ["2021-07-01T14:00:00-05:00"]}


def test_the_fast_path_for_whole_hour_offsets_agrees_with_full_parsing():
    # to_utc moves whole-hour offsets on the text; it must say exactly what parsing says,
    # across day, month, year and leap-day boundaries, fraction lengths and odd values.
    import random

    from source_cart.components import _to_utc_parsed

    rng = random.Random(7)
    samples = [
        "2024-02-29T23:59:59.9999999-05:00", "2024-03-01T00:00:00+14:00", "2023-12-31T19:00:00-05:00",
        "2021-07-01T08:59:28.1-00:00", "2021-07-01T24:00:00-05:00", "2021-07-01T08:60:00-05:00",
        "2021-07-01T08:59:60-05:00", "2021-02-30T08:00:00-05:00", "2021-07-01T08:59:28.-05:00",
        "2021-07-01T08:59:28.12a-05:00", "2021-07-01T08:59:28,5-05:00", "0001-01-01T00:30:00+01:00",
        "9999-12-31T23:00:00-01:00", "2021-07-01T08:59:28.457+05:30", "2021-07-01X08:59:28-05:00",
        # not ASCII, not a plain date, offsets of a day or more, signs in odd places
        "2024-01-01T0\u00b2:00:00+05:00", "2024-01-01T00:0\u0663:00+05:00", "2024-01-01T00:00:00.\u0663-05:00",
        "2024-W01-1T10:00:00+05:00", "2024-001T10:00:00+05:00", "2024-01-01T10:00:00+30:00",
        "2024-01-01T10:00:00+24:00", "2024-01-01T10:00:00+-5:00", "2024-01-01T10:00:00+ 5:00",
        "2024-01-01T10:00:00.123456789-05:00", "0001-01-01T05:00:00-05:00", "9999-12-31T20:00:00-05:00",
        "+2024-01-01T10:00:00+05:00", "2024-1-01T10:00:00+05:00", "2024-01-01T10:00:00+05:00 ",
        # already in UTC, or nearly: only the exact form is passed through untouched
        "2021-01-01T10:00:00.123456Z", "2021-01-01 10:00:00.123456Z", "2021-01-01t10:00:00.123456Z",
        "\u0662021-01-01T10:00:00.123456Z", "2021-01-01T10:00:00.12345 Z", "2021-01-01T24:00:00.000000Z",
        "2021-02-30T10:00:00.000000Z", "2021-01-01T10:60:00.000000Z", "9999-12-31T23:59:59.999999Z",
    ]
    for _ in range(3000):
        fraction = "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 9)))
        samples.append(
            f"{rng.choice([rng.randint(1, 9999), rng.randint(1990, 2030)]):04d}"
            f"-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            f"T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
            + (f".{fraction}" if fraction else "")
            + f"{rng.choice('+-')}{rng.randint(0, 23):02d}:00"
        )
    for value in samples:
        assert to_utc(value) == _to_utc_parsed(value), value


def test_the_cursor_reads_state_format_values_as_the_cdk_would():
    # components.py gives the CDK's DatetimeParser a fast path for the state format; it must
    # give what strptime gives, and leave every other value to strptime.
    import datetime

    from airbyte_cdk.sources.declarative.datetime.datetime_parser import DatetimeParser

    import source_cart.components  # noqa: F401  (installs the fast path)

    parser = DatetimeParser()
    assert getattr(DatetimeParser.parse, "_cart_fast_path", False)
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ"
    for value in ["2021-07-01T13:59:28.457123Z", "2024-02-29T23:59:59.999999Z", "0001-01-01T00:00:00.000000Z"]:
        expected = datetime.datetime.strptime(value, fmt).replace(tzinfo=datetime.timezone.utc)
        got = parser.parse(value, fmt)
        assert got == expected and got.tzinfo == expected.tzinfo and got.utcoffset() == datetime.timedelta(0)
    from source_cart.components import _state_text_as_utc  # what Python 3.10 uses

    for value in ["2021-07-01T13:59:28.457123Z", "2024-02-29T23:59:59.999999Z"]:
        assert _state_text_as_utc(value) == parser.parse(value, fmt)
        assert _state_text_as_utc(value).tzinfo == datetime.timezone.utc
    for impossible in ["2021-02-30T13:59:28.457123Z", "2021-07-01T24:00:00.000000Z", "2021-07-01T23:60:00.000000Z"]:
        with pytest.raises(ValueError):
            _state_text_as_utc(impossible)
        with pytest.raises(ValueError):
            datetime.datetime.strptime(impossible, fmt)
    for bad in ["2021-07-01T13:59:28.45712xZ", "2021-02-30T13:59:28.457123Z", "2021-07-01 13:59:28.457123Z",
                "2021-07-01T13:59:28.457123+00:00", "2021-07-01T13:59:28.\u0664\u0665\u0667123Z"]:
        with pytest.raises(ValueError):
            parser.parse(bad, fmt)
    assert parser.parse("2021-07-01", "%Y-%m-%d") == datetime.datetime(2021, 7, 1, tzinfo=datetime.timezone.utc)


def test_a_slice_hashes_as_the_cdk_would_and_only_once():
    from airbyte_cdk.sources.types import StreamSlice
    from airbyte_cdk.utils.slice_hasher import SliceHasher

    import source_cart.components  # noqa: F401

    window = StreamSlice(partition={}, cursor_slice={"start_time": "2021-01-01", "end_time": "2021-02-01"})
    assert hash(window) == hash(SliceHasher.hash(stream_slice=dict(window)))
    assert hash(window) == hash(StreamSlice(partition={}, cursor_slice=dict(window.cursor_slice)))
    assert window.__dict__["_cart_hash"] == SliceHasher.hash(stream_slice=dict(window))  # kept, not recomputed


def test_records_pass_the_selector_uncopied_only_when_nothing_normalizes_them():
    # components.py lets records skip the CDK's copy when its schema normalization is `None`
    # (the manifest's); any real normalization must still take the CDK's own path.
    from airbyte_cdk.sources.declarative.extractors.record_selector import RecordSelector
    from airbyte_cdk.sources.utils.transform import TransformConfig, TypeTransformer

    import source_cart.components  # noqa: F401  (installs the fast path)

    assert getattr(RecordSelector._normalize_by_schema, "_cart_fast_path", False)
    schema = {"type": "object", "properties": {"id": {"type": "integer"}}}

    def selector(normalization: TransformConfig) -> RecordSelector:
        return RecordSelector(
            extractor=None, config={}, parameters={}, name="orders",
            schema_normalization=TypeTransformer(normalization),
        )

    records = [{"id": "1"}, {"id": "2"}]
    passed = list(selector(TransformConfig.NoTransform)._normalize_by_schema(records, schema))
    assert passed == records and all(a is b for a, b in zip(passed, records))
    normalized = list(selector(TransformConfig.DefaultSchemaNormalization)._normalize_by_schema(records, schema))
    assert normalized == [{"id": 1}, {"id": 2}] and records == [{"id": "1"}, {"id": "2"}]


def test_loading_components_py_again_does_not_wrap_the_fast_paths_twice():
    # The manifest runner loads the root components.py under its own module name, next to
    # source_cart.components: each CDK function must still be replaced once, by one fast path.
    import importlib.util
    from pathlib import Path

    from airbyte_cdk.sources.declarative.auth.selective_authenticator import SelectiveAuthenticator
    from airbyte_cdk.sources.declarative.datetime.datetime_parser import DatetimeParser
    from airbyte_cdk.sources.declarative.extractors.record_selector import RecordSelector
    from airbyte_cdk.sources.types import StreamSlice

    import source_cart.components  # noqa: F401

    replaced = [StreamSlice.__hash__, DatetimeParser.parse, RecordSelector._normalize_by_schema, SelectiveAuthenticator.__new__]
    spec = importlib.util.spec_from_file_location("components_loaded_again", Path(__file__).parent.parent / "components.py")
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    now = [StreamSlice.__hash__, DatetimeParser.parse, RecordSelector._normalize_by_schema, SelectiveAuthenticator.__new__]
    assert now == replaced
    assert all(f._cart_fast_path and not getattr(f._cart_original, "_cart_fast_path", False) for f in now)

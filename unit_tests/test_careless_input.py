"""What a careless config, state or store gets: a config error naming the field, or the records
kept; never a traceback, never a record dropped."""

import json

import pytest

from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.test.mock_http import HttpMocker, HttpRequest, HttpResponse

from unit_tests.conftest import config, ids, stream_state

FIRST_PAGE = {"count": "1000", "page": "1", "sort": "updated_at"}


def test_a_record_whose_updated_at_is_no_timestamp_is_kept_wherever_it_sits(runtime):
    page = {
        "total_count": 3,
        "orders": [
            {"id": 1, "updated_at": "/Date(1704067260000-0500)/"},
            {"id": 2, "updated_at": "2024-01-01T00:00:00-05:00"},
            {"id": 3, "updated_at": "2019-01-01T00:00:00-05:00"},  # before start_date: left out
        ],
    }
    with HttpMocker() as http:
        http.get(HttpRequest("https://mystore.com/api/v1/orders", query_params=FIRST_PAGE),
                 HttpResponse(json.dumps(page), 200))
        output = runtime.read(config(start_date="2021-01-01T00:00:00Z"), "orders", SyncMode.incremental)

    assert ids(output) == [1, 2]
    assert output.records[0].record.data["updated_at"] == "/Date(1704067260000-0500)/"


@pytest.mark.parametrize("value", ["yesterday", "2021-13-01T00:00:00Z", 1700000000])
def test_a_saved_state_that_is_no_timestamp_is_a_config_error_naming_it(runtime, value):
    with HttpMocker():  # nothing may be asked
        output = runtime.read(config(), "orders", SyncMode.incremental,
                              state=stream_state("orders", {"updated_at": value}), expecting_exception=True)

    errors = [e.trace.error for e in output.errors if "The saved state holds updated_at" in e.trace.error.message]
    assert errors and errors[0].failure_type == FailureType.config_error
    assert repr(value) in errors[0].message and output.records == []


def test_a_start_date_in_the_future_is_a_config_error(runtime):
    with HttpMocker():
        output = runtime.read(config(start_date="2205-01-01T00:00:00Z"), "orders", SyncMode.incremental,
                              expecting_exception=True)

    errors = [e.trace.error for e in output.errors if "start_date '2205-01-01T00:00:00Z' is in the future" in e.trace.error.message]
    assert errors and errors[0].failure_type == FailureType.config_error

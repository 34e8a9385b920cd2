"""What a careless config, state or store gets: a config error naming the field, or the records
kept; never a traceback, never a record dropped."""

import datetime
import json

import pytest

from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.test.mock_http import HttpMocker, HttpRequest, HttpResponse
from airbyte_cdk.test.mock_http.request import ANY_QUERY_PARAMS

from unit_tests.conftest import all_output, config, ids, last_state, stream_state

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


def state_error(runtime, state, says: str):
    """The config error a read from `state` ends with (nothing may be asked of the store)."""
    with HttpMocker():
        output = runtime.read(config(), "orders", SyncMode.incremental,
                              state=stream_state("orders", state), expecting_exception=True)
    errors = [e.trace.error for e in output.errors if says in e.trace.error.message]
    assert errors and errors[0].failure_type == FailureType.config_error, all_output(output)
    assert not output.records
    return errors[0]


def test_a_saved_state_of_another_shape_is_a_config_error_not_a_fresh_start(runtime):
    error = state_error(runtime, {"cursor": "2021-01-01"}, "is no state of this connector")
    assert "['cursor']" in error.message


@pytest.mark.parametrize("value", ["yesterday", "2021-13-01T00:00:00Z", 1700000000])
def test_a_saved_state_that_is_no_timestamp_is_a_config_error_naming_it(runtime, value):
    error = state_error(runtime, {"updated_at": value}, "The saved state holds updated_at")
    assert repr(value) in error.message


def test_a_start_date_in_the_future_is_a_config_error(runtime):
    with HttpMocker():
        output = runtime.read(config(start_date="2205-01-01T00:00:00Z"), "orders", SyncMode.incremental,
                              expecting_exception=True)

    errors = [e.trace.error for e in output.errors if "start_date '2205-01-01T00:00:00Z' is in the future" in e.trace.error.message]
    assert errors and errors[0].failure_type == FailureType.config_error


def test_an_end_date_before_start_date_is_a_config_error_in_check_and_read(runtime):
    bad = config(start_date="2022-01-01T00:00:00Z", end_date="2021-06-30T00:00:00Z")
    with HttpMocker():  # nothing may be asked
        checked = runtime.check(bad)
        output = runtime.read(bad, "orders", SyncMode.incremental, expecting_exception=True)
    said = "end_date '2021-06-30T00:00:00Z' is before start_date '2022-01-01T00:00:00Z'"
    status = checked.connection_status_messages[-1].connectionStatus
    assert status.status.name == "FAILED" and said in status.message
    assert [e.trace.error.failure_type for e in output.errors] == [FailureType.config_error]
    assert said in output.errors[0].trace.error.message and not output.records


def test_a_saved_state_in_the_future_is_a_config_error_and_a_small_clock_skew_reads_from_now(runtime):
    state_error(runtime, {"updated_at": "2300-01-01T00:00:00Z"}, "which is in the future")

    ahead = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with HttpMocker() as http:
        http.get(HttpRequest("https://mystore.com/api/v1/orders", query_params=ANY_QUERY_PARAMS),
                 HttpResponse(json.dumps({"total_count": 0, "orders": []}), 200))
        output = runtime.read(config(), "orders", SyncMode.incremental, state=stream_state("orders", {"updated_at": ahead}))
    assert not output.errors, all_output(output)
    saved = last_state(output)["updated_at"]
    assert saved and saved < ahead, "state is never saved beyond now, and never emptied"


def test_records_dated_in_the_future_are_not_dropped_silently(runtime):
    page = {"total_count": 2, "orders": [{"id": 1, "updated_at": "2021-02-01T00:00:00Z"}, {"id": 2, "updated_at": "2205-02-01T00:00:00-05:00"}]}
    with HttpMocker() as http:
        http.get(HttpRequest("https://mystore.com/api/v1/orders", query_params=FIRST_PAGE), HttpResponse(json.dumps(page), 200))
        output = runtime.read(config(start_date="2021-01-01T00:00:00Z"), "orders", SyncMode.incremental)
    assert ids(output) == [1]
    assert last_state(output)["updated_at"] == "2021-02-01T00:00:00.000000Z"
    said = [m.log for m in output.logs if "dated in the future" in m.log.message]
    assert said and said[0].level.name == "WARN" and "(id 2," in said[0].message
    # named as the record carries it: in UTC
    assert "updated_at '2205-02-01T05:00:00.000000Z'" in said[0].message, said[0].message

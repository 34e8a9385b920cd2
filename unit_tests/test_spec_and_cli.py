"""The spec a user fills in; what a user reads when a value in it is wrong, in both runtimes; and
the installed `source-cart` command's handling of its files."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.models import FailureType, Status, SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, make_file, read
from airbyte_cdk.test.mock_http.request import ANY_QUERY_PARAMS
from airbyte_cdk.test.mock_http import HttpMocker, HttpRequest, HttpResponse

from unit_tests.conftest import MANIFEST, TOKEN, all_output, config, mock_other_check_probes

SPEC = MANIFEST["spec"]["connection_specification"]
SOURCE_CART = Path(sys.executable).with_name("source-cart")
DATE_FORM = "YYYY-MM-DDTHH:MM:SSZ"


def fields(properties):
    for name, field in properties.items():
        if name == "auth_type":
            continue
        yield name, field


def test_every_spec_field_is_documented():
    credential_fields = [f for option in SPEC["properties"]["credentials"]["oneOf"] for f in fields(option["properties"])]
    for name, field in [*fields(SPEC["properties"]), *credential_fields]:
        for key in ("title", "description", "order"):
            assert key in field, f"{name} has no {key}"
        if name != "credentials":
            assert field.get("examples"), f"{name} has no examples"


def test_spec_is_compatible_with_the_earlier_connector():
    options = {o["properties"]["auth_type"]["const"]: o for o in SPEC["properties"]["credentials"]["oneOf"]}
    assert set(options) == {"SINGLE_STORE_ACCESS_TOKEN", "CENTRAL_API_ROUTER"}
    assert set(options["SINGLE_STORE_ACCESS_TOKEN"]["required"]) == {"auth_type", "access_token", "store_name"}
    assert set(options["CENTRAL_API_ROUTER"]["required"]) == {"auth_type", "user_name", "user_secret", "site_id"}
    assert SPEC["required"] == ["credentials", "start_date"]
    assert {"start_date", "end_date"} <= set(SPEC["properties"])
    for secret in ("access_token",):
        assert options["SINGLE_STORE_ACCESS_TOKEN"]["properties"][secret]["airbyte_secret"]
    for secret in ("user_name", "user_secret", "site_id"):
        assert options["CENTRAL_API_ROUTER"]["properties"][secret]["airbyte_secret"]


# ---------------------------------------------------------------------------------------------
# A wrong value in the config: `check` fails and `read` stops, both saying which field is wrong
# and what to write instead, in both runtimes.
# ---------------------------------------------------------------------------------------------


def with_value(field: str, value: str) -> Dict[str, Any]:
    cfg = config()
    if field == "store_name":
        cfg["credentials"]["store_name"] = value
    else:
        cfg[field] = value
    return cfg


def check_and_read(runtime, cfg: Dict[str, Any], stream: str = "orders") -> Tuple[EntrypointOutput, EntrypointOutput]:
    """`check`, then `read` of one stream, as the entry point runs them. Both commands use one
    source, built once (building one costs half a second) with the config both receive."""
    catalog = CatalogBuilder().with_stream(stream, SyncMode.full_refresh).build()
    source = runtime.source(cfg, catalog)
    given = runtime.config(cfg)
    with tempfile.TemporaryDirectory() as folder:
        args = AirbyteEntrypoint.parse_args(["check", "--config", make_file(Path(folder) / "config.json", given)])
        checked = EntrypointOutput(messages=list(AirbyteEntrypoint(source).run(args)))
    return checked, read(source, given, catalog, expecting_exception=True)


@pytest.mark.parametrize(
    "field, value, expected_form",
    [
        ("start_date", "2021-13-01", DATE_FORM),  # month 13
        ("start_date", "2021-02-30", DATE_FORM),  # no such day
        ("start_date", "01/01/2021", DATE_FORM),  # another layout
        ("end_date", "2021-99-01", DATE_FORM),
        ("store_name", "localhost", "mystore.com"),
        ("store_name", "mystore", "mystore.com"),  # no dot: not a domain
    ],
)
def test_a_wrong_value_is_a_config_error_naming_the_field_and_the_expected_form(runtime, field, value, expected_form):
    with HttpMocker():  # nothing may be asked of Cart.com with such a config: any request fails the test
        checked, synced = check_and_read(runtime, with_value(field, value))

    status = checked.connection_status_messages[-1].connectionStatus
    assert status.status == Status.FAILED
    for message in (status.message, *[e.trace.error.message for e in synced.errors]):
        assert f"{field} '{value}'" in message, message
        assert expected_form in message, message
        assert "Traceback" not in message, message

    assert len(synced.errors) == 1, all_output(synced)
    error = synced.errors[0].trace.error
    assert error.failure_type == FailureType.config_error
    assert error.message.startswith(f"{field} '{value}' is not"), error.message  # the reason comes first
    assert not synced.records and not synced.state_messages
    assert TOKEN not in all_output(checked) + all_output(synced)


@pytest.mark.parametrize(
    "store_name",
    [
        "mystore.example.com@other.example",  # user-info: the host would be other.example
        "x.com?a=",  # the path would be swallowed by the query
        "x.com#",
        "my store.com",
        "127.0.0.1",
        "169.254.169.254",  # the cloud metadata service
        "10.0.0.5:8443",
        "shop.internal",
    ],
)
def test_a_store_name_that_is_no_public_host_is_refused_before_any_request(runtime, store_name):
    """Nothing is sent (HttpMocker fails any request), check fails and read stops with a
    config_error; the spec's own pattern refuses what cannot be a host at all."""
    with HttpMocker():
        checked, synced = check_and_read(runtime, with_value("store_name", store_name))
    status = checked.connection_status_messages[-1].connectionStatus
    assert status.status == Status.FAILED
    assert [e.trace.error.failure_type for e in synced.errors] == [FailureType.config_error], all_output(synced)
    assert not synced.records
    assert TOKEN not in all_output(checked) + all_output(synced)


def test_allow_private_hosts_lets_a_local_test_server_be_called(runtime):
    page = {"total_count": 1, "order_statuses": [{"id": 1, "name": "New", "updated_at": "2021-07-01T08:00:00Z"}]}
    cfg = with_value("store_name", "127.0.0.1:8443")
    cfg["credentials"]["allow_private_hosts"] = True
    with HttpMocker() as http:
        http.get(HttpRequest("https://127.0.0.1:8443/api/v1/order_statuses", query_params=ANY_QUERY_PARAMS),
                 HttpResponse(json.dumps(page)))
        mock_other_check_probes(http, "https://127.0.0.1:8443")
        checked, synced = check_and_read(runtime, cfg, "order_statuses")
    assert checked.connection_status_messages[-1].connectionStatus.status == Status.SUCCEEDED, all_output(checked)
    assert [m.record.data["id"] for m in synced.records] == [1]


def test_a_pasted_store_url_is_reduced_to_its_domain(runtime):
    page = {"total_count": 1, "order_statuses": [{"id": 1, "name": "New", "updated_at": "2021-07-01T08:00:00-05:00"}]}
    with HttpMocker() as http:
        def first_page(count: str) -> HttpRequest:
            return HttpRequest(
                "https://mystore.com/api/v1/order_statuses",
                query_params={"page": "1", "sort": "updated_at", "count": count},
                headers={"X-AC-Auth-Token": TOKEN},
            )

        checked_page, read_page = first_page("1"), first_page("1000")  # check reads one-record pages
        http.get(checked_page, HttpResponse(json.dumps(page)))
        http.get(read_page, HttpResponse(json.dumps(page)))
        mock_other_check_probes(http)
        checked, synced = check_and_read(runtime, with_value("store_name", " https://MyStore.com/admin/ "), "order_statuses")
        http.assert_number_of_calls(checked_page, 1)  # check's request and read's: both at the domain
        http.assert_number_of_calls(read_page, 1)

    assert checked.connection_status_messages[-1].connectionStatus.status == Status.SUCCEEDED, all_output(checked)
    assert not synced.errors, all_output(synced)
    assert [m.record.data["id"] for m in synced.records] == [1]


# ---------------------------------------------------------------------------------------------
# The installed `source-cart` command: one run of each case, all started at once (each start
# imports the CDK, about two seconds).
# ---------------------------------------------------------------------------------------------

CATALOG = {
    "streams": [
        {
            "stream": {"name": "orders", "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
            "sync_mode": "full_refresh",
            "destination_sync_mode": "overwrite",
        }
    ]
}

COMMANDS = {
    "spec": ["spec"],
    "config not json": ["check", "--config", "not-json.json"],
    "catalog not json": ["read", "--config", "config.json", "--catalog", "not-json.json"],
    "state not state": ["read", "--config", "config.json", "--catalog", "catalog.json", "--state", "not-state.json"],
    "unknown streams only": ["read", "--config", "config.json", "--catalog", "unknown.json"],
}


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Tuple[int, List[Dict[str, Any]], str]]:
    folder = tmp_path_factory.mktemp("cli")
    (folder / "not-json.json").write_text("{not json")
    (folder / "config.json").write_text(json.dumps(config()))
    (folder / "catalog.json").write_text(json.dumps(CATALOG))
    (folder / "not-state.json").write_text(json.dumps({"orders": {"updated_at": "2021-01-01T00:00:00Z"}}))
    unknown = json.loads(json.dumps(CATALOG))
    unknown["streams"][0]["stream"]["name"] = "order"
    (folder / "unknown.json").write_text(json.dumps(unknown))
    env = {key: value for key, value in os.environ.items() if key != "AIRBYTE_ENABLE_UNSAFE_CODE"}
    started = {
        name: subprocess.Popen(
            [str(SOURCE_CART), *args], cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for name, args in COMMANDS.items()
    }
    runs = {}
    for name, process in started.items():
        out, err = process.communicate(timeout=120)
        messages = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        runs[name] = (process.returncode, messages, err)
    return runs


def test_cli_spec_prints_the_manifest_spec(cli_runs):
    code, messages, err = cli_runs["spec"]
    assert code == 0, err
    specs = [m["spec"] for m in messages if m["type"] == "SPEC"]
    assert len(specs) == 1
    assert specs[0]["connectionSpecification"] == SPEC
    assert specs[0]["documentationUrl"] == MANIFEST["spec"]["documentation_url"]


@pytest.mark.parametrize(
    "case, expected",
    [
        ("config not json", "Could not read the config file not-json.json"),
        ("catalog not json", "Could not read the catalog file not-json.json"),
        ("state not state", "Could not read the state file not-state.json"),
        ("unknown streams only", "The catalog names no stream of this connector (order)."),
    ],
)
def test_cli_unreadable_file_is_a_trace_message_not_a_crash(cli_runs, case, expected):
    code, messages, err = cli_runs[case]
    assert code == 1
    assert [m["type"] for m in messages if m["type"] != "LOG"] == ["TRACE"], messages
    error = messages[-1]["trace"]["error"]
    assert error["message"].startswith(expected), error["message"]
    assert error["failure_type"] == "config_error"
    assert "Traceback" not in err  # the details are in the message's stack_trace, not a crash on stderr

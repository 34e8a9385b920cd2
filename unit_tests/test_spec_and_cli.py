"""The spec a user fills in, and the `source-cart` command's handling of bad input."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from source_cart.run import config_problem, store_host
from source_cart.source import MANIFEST_PATH, state_messages_from
from unit_tests.conftest import TOKEN_CONFIG, config

SPEC = yaml.safe_load(MANIFEST_PATH.read_text())["spec"]["connection_specification"]


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
    assert set(options["SINGLE_STORE_ACCESS_TOKEN"]["required"]) == {"auth_type", "access_token", "store_name"}
    assert set(options["CENTRAL_API_ROUTER"]["required"]) == {"auth_type", "user_name", "user_secret", "site_id"}
    assert SPEC["required"] == ["credentials", "start_date"]
    for secret in ("access_token",):
        assert options["SINGLE_STORE_ACCESS_TOKEN"]["properties"][secret]["airbyte_secret"]
    for secret in ("user_name", "user_secret", "site_id"):
        assert options["CENTRAL_API_ROUTER"]["properties"][secret]["airbyte_secret"]


@pytest.mark.parametrize("pasted", ["https://mystore.com/", "MYSTORE.com", "mystore.com/api/v1", "http://mystore.com"])
def test_store_host_matches_the_manifest_normalisation(pasted):
    assert store_host({"auth_type": "SINGLE_STORE_ACCESS_TOKEN", "store_name": pasted}) == "mystore.com"


@pytest.mark.parametrize("value", ["2021/01/01", "01-01-2021", "2021-01-01T00:00:00+02:00", "yesterday"])
def test_malformed_dates_get_a_plain_message(value):
    problem = config_problem(config(start_date=value), check_host=False)
    assert "start_date" in problem and "2021-01-01T00:00:00Z" in problem


def test_good_config_has_no_problem():
    assert config_problem(config(end_date="2022-01-01"), check_host=False) is None


def test_legacy_state_object_becomes_per_stream_state():
    messages = state_messages_from({"orders": {"updated_at": "2021-07-01T08:59:28.457-05:00"}, "products": {}})
    assert [m.stream.stream_descriptor.name for m in messages] == ["orders", "products"]
    assert messages[0].stream.stream_state.updated_at == "2021-07-01T08:59:28.457-05:00"


def test_legacy_state_message_list_is_accepted():
    messages = state_messages_from([{"type": "LEGACY", "data": {"orders": {"updated_at": "2021-07-01T08:59:28Z"}}}])
    assert messages[0].stream.stream_descriptor.name == "orders"


def cli(*args, cwd):
    result = subprocess.run(
        [sys.executable, "-m", "source_cart.run", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    return result, [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def test_cli_check_with_bad_start_date_fails_cleanly(tmp_path: Path):
    (tmp_path / "config.json").write_text(json.dumps(config(start_date="2021/01/01")))
    result, messages = cli("check", "--config", "config.json", cwd=tmp_path)
    status = [m for m in messages if m["type"] == "CONNECTION_STATUS"][0]["connectionStatus"]
    assert status["status"] == "FAILED"
    assert "YYYY-MM-DDTHH:MM:SSZ" in status["message"]
    assert "Traceback" not in result.stdout + result.stderr


def test_cli_check_with_unknown_store_names_the_host(tmp_path: Path):
    cfg = config()
    cfg["credentials"]["store_name"] = "https://no-such-store.invalid/"
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    result, messages = cli("check", "--config", "config.json", cwd=tmp_path)
    status = [m for m in messages if m["type"] == "CONNECTION_STATUS"][0]["connectionStatus"]
    assert status["status"] == "FAILED"
    assert "no-such-store.invalid" in status["message"] and "store_name" in status["message"]
    assert TOKEN_CONFIG["credentials"]["access_token"] not in result.stdout + result.stderr


def test_cli_unreadable_config_is_a_message_not_a_crash(tmp_path: Path):
    (tmp_path / "config.json").write_text("{not json")
    result, messages = cli("check", "--config", "config.json", cwd=tmp_path)
    assert result.returncode != 0
    assert messages and messages[0]["type"] == "TRACE"
    assert "config file" in messages[0]["trace"]["error"]["message"]


def test_cli_read_with_unknown_store_fails_at_once_naming_the_host(tmp_path: Path):
    cfg = config()
    cfg["credentials"]["store_name"] = "no-such-store.invalid"
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    catalog = {"streams": [{"stream": {"name": "orders", "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
                            "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}]}
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    result, messages = cli("read", "--config", "config.json", "--catalog", "catalog.json", cwd=tmp_path)
    assert result.returncode != 0
    errors = [m["trace"]["error"]["message"] for m in messages if m["type"] == "TRACE"]
    assert errors and "no-such-store.invalid" in errors[0] and "store_name" in errors[0]


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"credentials": None}, "credentials are missing"),
        ({"credentials": {"auth_type": "NOPE"}}, "auth_type 'NOPE' is unknown"),
        ({"credentials": {"auth_type": "SINGLE_STORE_ACCESS_TOKEN", "access_token": "t"}}, "lack store_name"),
        ({"credentials": {"auth_type": "CENTRAL_API_ROUTER", "user_name": "u"}}, "lack user_secret, site_id"),
        ({"start_date": None}, "start_date is required"),
    ],
)
def test_incomplete_configs_get_a_plain_message(change, expected):
    cfg = config()
    cfg.update(change)
    assert expected in config_problem(cfg, check_host=False)


def test_cli_date_check_uses_the_spec_pattern():
    from source_cart.run import _DATE

    for key in ("start_date", "end_date"):
        assert SPEC["properties"][key]["pattern"] == _DATE.pattern

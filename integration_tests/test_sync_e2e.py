"""The installed `source-cart` command, end to end, against the local Cart.com sandbox."""

import yaml
import pytest

from source_cart.run import MANIFEST as MANIFEST_PATH, load_components

to_utc = load_components().to_utc

from integration_tests.conftest import router_config, sandbox_ids, token_config

MANIFEST = yaml.safe_load(MANIFEST_PATH.read_text())
RESOURCE = {s["name"]: s["$parameters"]["resource"] for s in MANIFEST["streams"]}
INCREMENTAL = [s["name"] for s in MANIFEST["streams"] if "incremental" in s["$ref"]]
ALL_STREAMS = list(RESOURCE)


def test_check_passes_with_both_auth_methods(connector, sandbox):
    for config in (token_config(sandbox), router_config(sandbox)):
        run = connector.run("check", config)
        status = run.of_type("CONNECTION_STATUS")[0]["connectionStatus"]
        assert status["status"] == "SUCCEEDED", status


@pytest.mark.parametrize("mode, streams", [("full_refresh", ALL_STREAMS), ("incremental", INCREMENTAL)])
def test_every_stream_reads_back_the_store_record_for_record(connector, sandbox, mode, streams):
    run = connector.run("read", token_config(sandbox), streams, mode=mode)
    assert run.returncode == 0 and not run.errors, run.errors
    if mode == "incremental":
        assert set(run.states()) == set(streams), "every incremental stream saves its state"
    for stream in streams:
        resource = RESOURCE[stream]
        expected = sandbox_ids(sandbox, resource)
        assert expected, f"the sandbox has no {resource}"
        got = run.ids(stream)
        assert sorted(set(got)) == sorted(expected), f"{stream}: {len(set(got))} of {len(expected)}"


def test_records_arrive_as_the_store_holds_them(connector, sandbox):
    run = connector.run("read", token_config(sandbox), ["orders"])
    truth = {r["id"]: r for r in sandbox.control.records("orders", limit=100000)}
    assert len(run.records) == len(truth)
    for record in run.records:
        data = record["data"]
        stored = truth[data["id"]]
        for key, value in stored.items():
            if value in ("", None):
                assert data.get(key) in (None, ""), (data["id"], key)  # nulls are left out
            elif key.endswith(("_at", "date")):
                assert data[key] == to_utc(value) and data[key].endswith("Z"), (data["id"], key)
            else:
                assert data[key] == value, (data["id"], key)


def test_router_reads_the_same_records(connector, sandbox):
    run = connector.run("read", router_config(sandbox), ["orders", "order_statuses"])
    assert not run.errors, run.errors
    assert sorted(set(run.ids("orders"))) == sorted(sandbox_ids(sandbox, "orders"))
    assert sorted(set(run.ids("order_statuses"))) == sorted(sandbox_ids(sandbox, "order_statuses"))


def test_incremental_picks_up_exactly_what_changed(connector, sandbox):
    first = connector.run("read", token_config(sandbox), ["orders", "products"], mode="incremental")
    assert not first.errors, first.errors
    state = first.state_file_content()
    updated = {r["id"] for r in sandbox.control.update("orders", random=5)}
    inserted = {r["id"] for r in sandbox.control.insert("orders", count=3)}
    second = connector.run("read", token_config(sandbox), ["orders", "products"], mode="incremental", state=state)
    assert not second.errors, second.errors
    got = set(second.ids("orders"))
    assert updated | inserted <= got
    boundary = first.states()["orders"]["updated_at"]
    extra = got - updated - inserted
    stored = {r["id"]: r for r in sandbox.control.records("orders", ids=sorted(extra))} if extra else {}
    for record in second.records:
        if record["stream"] == "orders" and record["data"]["id"] in extra:
            assert record["data"]["updated_at"] == boundary, "only records at the saved instant come again"
    assert len(stored) == len(extra)
    assert second.states()["orders"]["updated_at"] > boundary


def test_records_updated_during_the_sync_lose_nothing(connector, sandbox):
    # After every few pages, the first record of the page just served is updated, and a record
    # is inserted: page-number paging would skip a record each time.
    for after in (2, 4, 6, 8):
        sandbox.control.add_hook("orders", {"type": "update", "positions": [0]}, after=after, when="after")
        sandbox.control.add_hook("orders", {"type": "insert", "count": 1}, after=after + 1)
    before = set(sandbox_ids(sandbox, "orders"))
    run = connector.run("read", token_config(sandbox, page_size=10), ["orders"], mode="incremental")
    assert not run.errors, run.errors
    assert before <= set(run.ids("orders")), "every record there when the sync began is read"
    # What changed after the sync began belongs to the next sync, which starts from the state.
    sandbox.control.clear_hooks()
    follow_up = connector.run("read", token_config(sandbox, page_size=10), ["orders"], mode="incremental",
                              state=run.state_file_content())
    assert set(run.ids("orders")) | set(follow_up.ids("orders")) == set(sandbox_ids(sandbox, "orders"))
    changed = {r["id"] for r in sandbox.control.records("orders", limit=100000) if r["id"] not in before}
    assert changed and changed <= set(follow_up.ids("orders"))


def test_bulk_import_ties_longer_than_a_page_are_read_whole(connector, sandbox):
    result = sandbox.control.bulk_import("orders", update=40, insert=60)
    run = connector.run("read", token_config(sandbox, page_size=25), ["orders"], mode="incremental")
    assert not run.errors, run.errors
    assert set(run.ids("orders")) == set(sandbox_ids(sandbox, "orders"))
    log = sandbox.control.request_log()
    assert any("sort=id" in entry["target"] for entry in log), "the run of equal timestamps is read by id"
    assert result


def test_interrupted_bulk_import_sync_resumes_without_loss(connector, sandbox):
    sandbox.control.bulk_import("orders", insert=120)
    # The connection drops for good after a few pages: the sync fails with what it had.
    sandbox.control.add_hook("orders", {"type": "faults", "rate": 1.0, "kinds": ["drop"]}, after=5)
    config = token_config(sandbox, page_size=20, max_retries=1)
    first = connector.run("read", config, ["orders"], mode="incremental")
    assert first.returncode != 0 and first.errors
    assert any("orders" in message for message in first.errors)
    sandbox.control.clear_faults()
    sandbox.control.clear_hooks()
    second = connector.run("read", token_config(sandbox, page_size=20), ["orders"], mode="incremental",
                           state=first.state_file_content() or None)
    assert not second.errors, second.errors
    assert set(first.ids("orders")) | set(second.ids("orders")) == set(sandbox_ids(sandbox, "orders"))


def test_rate_limit_and_server_faults_are_ridden_out(connector, sandbox):
    # Other apps spend part of the store's budget, so the connector, pacing under the limit the
    # store reports, still meets 429s (HTTP-date Retry-After), on top of 15% of requests
    # failing in assorted ways.
    sandbox.control.set_rate_limit(limit=5, retry_after="date", window="fixed", others=2)
    sandbox.control.set_faults(rate=0.15, kinds=["500", "503", "html_200", "truncated", "cut_json", "drop"], seed=5)
    config = token_config(sandbox, page_size=50, max_retries=10)
    run = connector.run("read", config, ["orders", "order_items", "customers_cart"], timeout=600)
    assert not run.errors, run.errors
    for stream in ("orders", "order_items", "customers_cart"):
        assert set(run.ids(stream)) == set(sandbox_ids(sandbox, RESOURCE[stream])), stream
    stats = sandbox.control.stats(log=False)
    assert stats["rate_limited"] > 0, "the limit was reached, and waited out"


def test_pacing_under_the_reported_limit_keeps_429s_away(connector, sandbox):
    # No limit in the config: the store's X-AC-Call-Limit says 5 per 10 seconds.
    sandbox.control.set_rate_limit(limit=5, retry_after="seconds", window="sliding")
    config = token_config(sandbox, page_size=100)
    run = connector.run("read", config, ["orders", "order_items"], timeout=600)
    assert not run.errors, run.errors
    stats = sandbox.control.stats(log=False)
    assert stats["rate_limited"] == 0


def test_stream_without_scope_is_skipped_and_the_rest_syncs(connector, sandbox):
    config = token_config(sandbox)
    config["credentials"]["access_token"] = sandbox.limited_token  # read_orders only
    run = connector.run("read", config, ["orders", "products"])
    assert run.returncode == 0 and not run.errors, run.errors
    assert run.ids("orders") and not run.ids("products")
    assert any("read_catalog" in message for message in run.logs())


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"access_token": "wrong-token"}, "refused the credentials (401 Unauthorized)"),
        ({"start_date": "01/01/2021"}, "YYYY-MM-DDTHH:MM:SSZ"),
    ],
)
def test_bad_configs_fail_check_with_a_clear_message(connector, sandbox, change, expected):
    config = token_config(sandbox)
    if "access_token" in change:
        config["credentials"]["access_token"] = change["access_token"]
    else:
        config.update(change)
    run = connector.run("check", config)
    status = run.of_type("CONNECTION_STATUS")[0]["connectionStatus"]
    assert status["status"] == "FAILED"
    assert expected in status["message"]
    assert "Traceback" not in status["message"]
    assert "wrong-token" not in run.stdout + run.stderr


def test_wrong_router_secret_fails_check(connector, sandbox):
    config = router_config(sandbox)
    config["credentials"]["user_secret"] = "not-the-secret"
    run = connector.run("check", config)
    status = run.of_type("CONNECTION_STATUS")[0]["connectionStatus"]
    assert status["status"] == "FAILED" and "user secret" in status["message"]
    assert "not-the-secret" not in run.stdout + run.stderr


def test_store_name_pasted_as_a_url_works(connector, sandbox):
    config = token_config(sandbox)
    config["credentials"]["store_name"] = f"https://{sandbox.store_domain}/"
    run = connector.run("read", config, ["order_statuses"])
    assert not run.errors and run.ids("order_statuses")

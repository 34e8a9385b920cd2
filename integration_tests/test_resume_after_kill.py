"""A sync that dies mid-stream resumes where it was (issue 15): state is saved after every page.

What a user cares about: a first sync of a big store that is killed (the pod evicted, the
machine rebooted, the platform's timeout) or that meets an outage must not start over, and must
not lose anything. Each test runs the connector as a subprocess, reads its stdout line by line
as it comes, stops it the hard way (SIGKILL: no warning, no chance to write anything more) or
lets the store fail under it, then runs a second sync given the last STATE message the first
one printed, as the platform does, and compares both with the sandbox's own ids:

- nothing is lost: the ids of both runs together are every order the store holds;
- little is read twice: at most the records printed after that last STATE (at most one page,
  1000 records), plus the few records updated at exactly the saved instant (the lower bound is
  inclusive, so they come again; usually one record).

The store holds 30,000 orders, none of them with a blank updated_at, so every order has a place
in the updated_at walk and the counts above are exact. A connector that saved state only at the
end of the stream fails here: the first run prints no STATE for orders before it dies (the
CDK's own state comes when the stream ends), or the state it does leave (on a failed stream:
the sync's start) sends the second run back to the start, and everything comes again.

Two runtimes, as in test_hostile_store.py: `source-cart` (the installed command) and the CDK's
`source-declarative-manifest` runner given `--manifest-path manifest.yaml --components-path
components.py` (it injects both into the config, as the manifest-only image does).
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest

from cart_sandbox.harness import Sandbox
from integration_tests.conftest import catalog, sandbox_ids, token_config
from source_cart.run import load_components

to_utc = load_components().to_utc

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RUNTIMES = ["cli", "runner"]
SEED = 15
ORDERS = 30_000
PAGE = 1000  # the connector's default page size, and the sandbox's largest
KILL_AT = 20_000  # two thirds of the store


@pytest.fixture(scope="module")
def store():
    with Sandbox(size="small", seed=SEED, orders=ORDERS, null_cursor_rate=0, bulk=False, rate_limit=0) as running:
        yield running


@pytest.fixture
def shop(store: Sandbox) -> Sandbox:
    """30,000 orders, none with a blank updated_at and no built-in bulk import; no faults, hooks
    or rate limit (X-AC-Call-Limit then reports a limit far above what these syncs need, so the
    connector's pacing never waits)."""
    store.control.reset(seed=SEED, size="small", orders=ORDERS, null_cursor_rate=0, bulk=False)
    store.control.set_rate_limit(limit=0, window="fixed", others=0)
    store.control.settings(max_page_size=PAGE, scope_status=403)
    return store


# ---------------------------------------------------------------------------------------------
# running a sync, reading its output as it comes
# ---------------------------------------------------------------------------------------------


@dataclass
class Sync:
    """What one `read` printed, in order: each record as (id, updated_at) and every other
    message whole."""

    messages: List[Dict[str, Any]] = field(default_factory=list)
    records: int = 0
    returncode: Optional[int] = None
    killed: bool = False
    timed_out: bool = False
    seconds: float = 0.0
    stderr: str = ""

    def take(self, message: Dict[str, Any]) -> None:
        if message.get("type") == "RECORD":
            record = message["record"]
            if record.get("stream") == "orders":
                data = record.get("data") or {}
                self.records += 1
                message = {"type": "RECORD", "id": data.get("id"), "updated_at": data.get("updated_at")}
        self.messages.append(message)

    def ids(self) -> List[Any]:
        return [m["id"] for m in self.messages if m["type"] == "RECORD"]

    def states(self) -> List[Dict[str, Any]]:
        """The orders stream's states, in the order printed."""
        return [
            m["state"]["stream"]["stream_state"]
            for m in self.messages
            if m["type"] == "STATE" and m["state"]["stream"]["stream_descriptor"]["name"] == "orders"
        ]

    def after_last_state(self) -> List[Dict[str, Any]]:
        """The records printed after the last STATE of orders (all of them if there is none)."""
        tail: List[Dict[str, Any]] = []
        for message in self.messages:
            if message["type"] == "STATE" and message["state"]["stream"]["stream_descriptor"]["name"] == "orders":
                tail = []
            elif message["type"] == "RECORD":
                tail.append(message)
        return tail

    def errors(self) -> List[Dict[str, Any]]:
        return [m["trace"]["error"] for m in self.messages if m["type"] == "TRACE" and m["trace"].get("type") == "ERROR"]

    def tail(self) -> str:
        said = [json.dumps(m)[:300] for m in self.messages if m["type"] not in ("RECORD",)][-12:]
        return f"exit {self.returncode} after {self.seconds:.1f} s, {self.records} records\n" + "\n".join(said) + "\n" + self.stderr[-2000:]


def state_file(saved: Dict[str, Any]) -> List[Dict[str, Any]]:
    """A --state file in the per-stream form, holding the orders stream's state only."""
    return [{"type": "STREAM", "stream": {"stream_descriptor": {"name": "orders"}, "stream_state": saved}}]


def read(
    store: Sandbox,
    folder: Path,
    runtime: str,
    config: Dict[str, Any],
    state: Optional[Dict[str, Any]] = None,
    kill_when: Optional[Callable[[Sync], bool]] = None,
    timeout: float = 120,
) -> Sync:
    """An incremental read of orders by one runtime. With kill_when, the process is SIGKILLed as
    soon as that is true of what it has printed; what it had printed before it died is still
    read to the end (a platform reads it too)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "catalog.json").write_text(json.dumps(catalog(["orders"], "incremental")))
    if runtime == "cli":
        args = [str(BIN / "source-cart"), "read"]
    else:
        args = [str(BIN / "source-declarative-manifest"), "read"]
    args += ["--config", str(folder / "config.json"), "--catalog", str(folder / "catalog.json")]
    if state is not None:
        (folder / "state.json").write_text(json.dumps(state_file(state)))
        args += ["--state", str(folder / "state.json")]
    env = {key: value for key, value in os.environ.items() if key != "AIRBYTE_ENABLE_UNSAFE_CODE"}
    env.update(store.env())
    if runtime == "runner":
        args += ["--manifest-path", str(ROOT / "manifest.yaml"), "--components-path", str(ROOT / "components.py")]
        env["AIRBYTE_ENABLE_UNSAFE_CODE"] = "true"

    sync = Sync()
    started = time.monotonic()
    with open(folder / "stderr.txt", "w+") as stderr:
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, env=env, cwd=ROOT)

        def too_long() -> None:
            sync.timed_out = True
            process.kill()

        watchdog = threading.Timer(timeout, too_long)
        watchdog.start()
        try:
            assert process.stdout is not None
            for raw in process.stdout:
                line = raw.strip()
                if not line.startswith(b"{"):
                    continue
                try:
                    sync.take(json.loads(line))
                except ValueError:
                    continue
                if kill_when is not None and not sync.killed and kill_when(sync):
                    os.kill(process.pid, signal.SIGKILL)
                    sync.killed = True
            sync.returncode = process.wait()
        finally:
            watchdog.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
        stderr.seek(0)
        sync.stderr = stderr.read()
    sync.seconds = time.monotonic() - started
    return sync


def orders_requests(store: Sandbox) -> List[Dict[str, str]]:
    """The query of each request for /orders since the last stats reset, decoded."""
    return [
        {key: values[-1] for key, values in urllib.parse.parse_qs(entry["query"]).items()}
        for entry in store.control.request_log()
        if entry.get("resource") == "orders"
    ]


def assert_resumed_without_loss(store: Sandbox, first: Sync, second: Sync, saved: Dict[str, Any]) -> None:
    """Nothing lost; read again only what was printed after the saved state, plus the records
    updated at exactly the saved instant when the state has no after_id."""
    assert not second.timed_out and second.returncode == 0 and not second.errors(), second.tail()
    everything = set(sandbox_ids(store, "orders"))
    one, two = set(first.ids()), set(second.ids())
    lost = everything - one - two
    assert not lost, f"{len(lost)} orders lost, e.g. {sorted(lost)[:5]}"
    assert not (one | two) - everything, "ids the store does not hold"

    again = one & two
    printed_after = {r["id"] for r in first.after_last_state()}
    at_saved_instant = set()
    if "after_id" not in saved:  # the bound is updated_at >= saved instant: those records come again
        at_saved_instant = {
            m["id"] for m in first.messages if m["type"] == "RECORD" and to_utc(m["updated_at"]) == saved["updated_at"]
        }
    assert len(printed_after) <= PAGE, f"{len(printed_after)} records printed after the last state"
    unexpected = again - printed_after - at_saved_instant
    assert not unexpected, (
        f"{len(again)} orders read again, {len(unexpected)} of them printed before the saved state "
        f"{saved} (e.g. {sorted(unexpected)[:5]})"
    )
    assert len(again) <= PAGE + len(at_saved_instant), (len(again), len(at_saved_instant))


def last_saved(first: Sync) -> Dict[str, Any]:
    states = first.states()
    assert states, "the first run printed no STATE for orders before it ended: state is not saved per page\n" + first.tail()
    return states[-1]


# ---------------------------------------------------------------------------------------------
# killed at two thirds
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_first_sync_killed_at_two_thirds_resumes_without_loss(shop: Sandbox, tmp_path: Path, runtime: str):
    """A first sync of 30,000 orders is SIGKILLed once 20,000 orders are out. The last STATE it
    printed is a point inside the stream (not the sync's start), and a sync resumed from it
    asks from that instant on, exits 0, loses no order and reads again at most the one page
    printed after that STATE (plus the record at the saved instant)."""
    config = token_config(shop)
    first = read(shop, tmp_path / "killed", runtime, config, kill_when=lambda sync: sync.records >= KILL_AT)
    assert first.killed and not first.timed_out, first.tail()
    assert first.returncode == -signal.SIGKILL, first.tail()
    assert KILL_AT <= first.records < ORDERS, first.tail()
    saved = last_saved(first)
    assert saved["updated_at"] > to_utc(config["start_date"]), f"the last state is the sync's start: {saved}"

    shop.control.clear_stats()
    second = read(shop, tmp_path / "resumed", runtime, config, state=saved)
    asked = orders_requests(shop)
    assert asked and asked[0].get("updated_at", "").startswith(f"gte:{saved['updated_at']} AND lte:"), asked[:1]
    assert_resumed_without_loss(shop, first, second, saved)


# ---------------------------------------------------------------------------------------------
# killed inside a bulk import: a run of equal updated_at longer than a page
# ---------------------------------------------------------------------------------------------

BULK = 2_500
AROUND = 600  # generated orders, about half updated before the bulk import and half after
BULK_AT = "2024-01-10T09:17:00.123456-06:00"  # store-local time, in the middle of the data's span


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_sync_killed_inside_a_bulk_import_resumes_by_id(shop: Sandbox, tmp_path: Path, runtime: str):
    """2,500 orders share one updated_at (a bulk import), with a few hundred orders updated
    before and after it. A sync is SIGKILLed while it reads that run by id, once it has printed
    a STATE with after_id and some records after it. The sync resumed from its last STATE
    starts inside the run (`id=gt:<after_id>`, sorted by id) instead of at its beginning, loses
    nothing and reads again only what was printed after that STATE (never the whole run)."""
    shop.control.reset(seed=SEED, size="small", orders=AROUND, null_cursor_rate=0, bulk=False)
    shop.control.settings(max_page_size=PAGE)
    bulk = shop.control.bulk_import("orders", insert=BULK, updated_at=BULK_AT)
    instant = to_utc(bulk["updated_at"])
    updated = {r["id"]: to_utc(r["updated_at"]) for r in shop.control.records("orders", limit=100000, fields=["id", "updated_at"])}
    assert sum(1 for value in updated.values() if value == instant) == BULK
    assert 200 <= sum(1 for value in updated.values() if value < instant) <= 400
    assert 200 <= sum(1 for value in updated.values() if value > instant) <= 400
    # Each page of orders takes 0.3 s to come, so the kill lands inside the run, not past it.
    shop.control.set_faults(rate=0.0, latency_ms=300, resources=["orders"])

    watched = {"seen": 0, "after_id": False, "records_since": 0}

    def inside_the_run(sync: Sync) -> bool:
        for message in sync.messages[watched["seen"]:]:
            if message["type"] == "STATE" and "after_id" in message["state"]["stream"]["stream_state"]:
                watched["after_id"], watched["records_since"] = True, 0
            elif message["type"] == "RECORD":
                watched["records_since"] += 1
        watched["seen"] = len(sync.messages)
        return watched["after_id"] and watched["records_since"] >= 200

    config = token_config(shop)
    first = read(shop, tmp_path / "killed", runtime, config, kill_when=inside_the_run)
    assert first.killed and not first.timed_out, first.tail()
    saved = last_saved(first)
    assert saved.get("updated_at") == instant and isinstance(saved.get("after_id"), int), saved

    shop.control.clear_faults()
    shop.control.clear_stats()
    second = read(shop, tmp_path / "resumed", runtime, config, state=saved)
    asked = orders_requests(shop)
    assert asked and asked[0].get("id") == f"gt:{saved['after_id']}" and asked[0].get("sort") == "id", asked[:1]
    assert asked[0].get("updated_at", "").startswith(f"gte:{instant} AND lt:"), asked[:1]
    assert_resumed_without_loss(shop, first, second, saved)
    run_ids = {i for i, value in updated.items() if value == instant}
    assert len(set(second.ids()) & set(first.ids()) & run_ids) < BULK - PAGE, "the run was read again from its start"


# ---------------------------------------------------------------------------------------------
# an outage in the middle of a stream
# ---------------------------------------------------------------------------------------------

OUTAGE_AFTER = 12  # pages of orders served before the store answers 503 to everything


def test_an_outage_mid_stream_ends_the_sync_and_the_next_one_goes_on_from_there(shop: Sandbox, tmp_path: Path):
    """After 12 pages of orders the store answers 503 to every request for orders, for good.
    With max_retry_seconds 5 and max_retries 3 the sync ends by itself within a minute (not
    after hours of retries), with a non-zero exit. Its first error trace, the one the platform
    reads, is a transient_error for orders, so the platform retries the sync (the CDK then closes
    on its own summary trace, a config_error whatever the cause, by the CDK's design). Once the
    store is back, a sync resumed from the last STATE printed asks from where the first one
    stopped, loses nothing and reads again at most one page: the 12,000 orders already read do
    not come again."""
    shop.control.add_hook("orders", {"type": "faults", "rate": 1.0, "kinds": ["503"], "resources": ["orders"]}, after=OUTAGE_AFTER)
    config = token_config(shop, max_retry_seconds=5, max_retries=3)
    first = read(shop, tmp_path / "outage", "cli", config, timeout=90)
    assert not first.timed_out, "the sync did not end by itself\n" + first.tail()
    assert first.seconds <= 60, f"the sync took {first.seconds:.0f} s to end\n" + first.tail()
    assert first.returncode not in (0, None), first.tail()
    errors = first.errors()
    said = [(e.get("failure_type"), e.get("internal_message"), (e.get("message") or "")[:200]) for e in errors]
    # The platform reads the first error trace of a sync: the stream's own, transient.
    assert errors and errors[0].get("failure_type") == "transient_error", said
    assert (errors[0].get("stream_descriptor") or {}).get("name") == "orders", said
    assert all(e.get("failure_type") == "transient_error" for e in errors if e.get("stream_descriptor")), said
    # The CDK then closes a sync with a failed stream on its own summary, always a config_error
    # ("Concurrent read failure"): either that, or our transient error, is the last trace.
    assert errors[-1].get("failure_type") == "transient_error" or errors[-1].get("internal_message") == "Concurrent read failure", said
    assert first.records == OUTAGE_AFTER * PAGE, first.tail()
    saved = last_saved(first)
    assert saved["updated_at"] > to_utc(config["start_date"]), saved

    shop.control.clear_hooks()
    shop.control.clear_faults()
    shop.control.clear_stats()
    second = read(shop, tmp_path / "resumed", "cli", token_config(shop), state=saved)
    asked = orders_requests(shop)
    assert asked and asked[0].get("updated_at", "").startswith(f"gte:{saved['updated_at']} AND lte:"), asked[:1]
    assert_resumed_without_loss(shop, first, second, saved)

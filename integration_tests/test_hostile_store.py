"""A hostile or broken store (issue 14): what a user sees when Cart.com, or whatever answers for
the store's name, redirects, repeats a page forever, never answers, answers a byte a second,
refuses everything, or sends an updated_at that is no timestamp.

Each behaviour is a hostile mode of the sandbox (see cart_sandbox/README.md, "Hostile modes"),
and each test runs the connector in the two places a user runs the manifest, as separate
processes (the never-answering store: the runner only, see its test):

- `source-cart`, the installed command;
- `source-declarative-manifest --manifest-path manifest.yaml --components-path components.py`,
  the CDK's runner as the manifest-only image runs it (AIRBYTE_ENABLE_UNSAFE_CODE=true).

Every process talks to the store under a host name of its own (`<runtime>-<mode>.sandbox.test`,
all served by the one sandbox), so the sandbox's request log tells which process asked what.
A test's processes run two at a time. The last two tests check the sandbox's modes themselves.
"""

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import pytest

from cart_sandbox.harness import Sandbox
from integration_tests.conftest import Run, catalog, sandbox_ids, token_config

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RUNTIMES = ["cli", "runner"]
OTHER_HOST = "other.example"
REDIRECT_PHRASE = "never follows a redirect"
LOOP_PHRASE = "paging does not advance"
TIMEOUT_WORDS = re.compile(r"time\s*-?\s*out|timed\s+out", re.IGNORECASE)
SEED = 14


@pytest.fixture(scope="module")
def store():
    with Sandbox(size="tiny", seed=SEED, rate_limit=0) as running:
        yield running


@pytest.fixture
def hostile(store: Sandbox) -> Sandbox:
    """The module's sandbox on fresh data, with no faults, hooks, rate limit or stats."""
    store.control.reset(seed=SEED, size="tiny")
    store.control.set_rate_limit(limit=0, window="fixed", others=0)
    store.control.settings(max_page_size=1000, scope_status=403)
    store.control.clear_stats()  # the request log and the proxy's counts
    return store


@dataclass
class Job:
    """One command of one runtime, against the store under its own host name."""

    runtime: str
    command: str
    config: Dict[str, Any]
    streams: Sequence[str] = ()
    mode: str = "full_refresh"
    manifest_dir: Optional[Path] = None  # another manifest.yaml + components.py (runner only)
    timeout: float = 180


@dataclass
class Done:
    run: Run
    seconds: float
    timed_out: bool = False

    def traces(self) -> List[Dict[str, Any]]:
        return [m["trace"]["error"] for m in self.run.of_type("TRACE") if m["trace"].get("type") == "ERROR"]

    def status(self) -> Optional[Dict[str, Any]]:
        statuses = self.run.of_type("CONNECTION_STATUS")
        return statuses[-1]["connectionStatus"] if statuses else None

    def tail(self) -> str:
        return f"exit {self.run.returncode} after {self.seconds:.1f} s\n{self.run.stdout[-4000:]}\n{self.run.stderr[-3000:]}"


def host_for(runtime: str, label: str) -> str:
    return f"{runtime}-{label.replace('_', '-')}.sandbox.test"


def config_for(store: Sandbox, runtime: str, label: str, **extra: Any) -> Dict[str, Any]:
    config = token_config(store, **extra)
    config["credentials"]["store_name"] = host_for(runtime, label)
    return config


def launch(store: Sandbox, folder: Path, job: Job, number: int) -> Done:
    files = folder / f"{number:02d}-{job.runtime}-{job.command}"
    files.mkdir(parents=True, exist_ok=True)
    (files / "config.json").write_text(json.dumps(job.config))
    if job.runtime == "cli":
        assert job.manifest_dir is None, "source-cart runs its own manifest only"
        args = [str(BIN / "source-cart"), job.command, "--config", str(files / "config.json")]
    else:
        args = [str(BIN / "source-declarative-manifest"), job.command, "--config", str(files / "config.json")]
    if job.command == "read":
        (files / "catalog.json").write_text(json.dumps(catalog(list(job.streams), job.mode)))
        args += ["--catalog", str(files / "catalog.json")]
    env = {key: value for key, value in os.environ.items() if key != "AIRBYTE_ENABLE_UNSAFE_CODE"}
    env.update(store.env())
    if job.runtime == "runner":
        where = job.manifest_dir or ROOT
        args += ["--manifest-path", str(where / "manifest.yaml"), "--components-path", str(where / "components.py")]
        env["AIRBYTE_ENABLE_UNSAFE_CODE"] = "true"
    started = time.monotonic()
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=job.timeout, env=env, cwd=ROOT)
        returncode, stdout, stderr, timed_out = done.returncode, done.stdout, done.stderr, False
    except subprocess.TimeoutExpired as expired:  # the child was killed
        out, err = expired.stdout or "", expired.stderr or ""
        stdout = out.decode("utf-8", "replace") if isinstance(out, bytes) else out
        stderr = err.decode("utf-8", "replace") if isinstance(err, bytes) else err
        returncode, timed_out = -9, True
    seconds = time.monotonic() - started
    messages = []
    for line in stdout.splitlines():
        if line.strip().startswith("{"):
            try:
                messages.append(json.loads(line))
            except ValueError:
                pass
    return Done(Run(returncode, messages, stderr, stdout), seconds, timed_out)


def run_two_at_a_time(store: Sandbox, folder: Path, *jobs: Job) -> List[Done]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda item: launch(store, folder, item[1], item[0]), enumerate(jobs)))


def requests_to(store: Sandbox, host: str, resource: Optional[str] = None) -> List[Dict[str, Any]]:
    """The API requests that reached the sandbox under a host name (to one resource)."""
    return [
        entry
        for entry in store.control.request_log()
        if (entry.get("host") or "").lower().split(":")[0] == host
        and (resource is None or entry.get("resource") == resource)
    ]


def assert_nothing_went_to(store: Sandbox, host: str) -> None:
    reached = store.control.hosts_reached()
    went = {way: hosts[host] for way, hosts in reached.items() if host in hosts}
    assert not went, f"requests went to {host}: {went}"


def assert_no_token_shown(store: Sandbox, *runs: Done) -> None:
    for done in runs:
        assert store.token not in done.run.stdout + done.run.stderr, "the token shows in the output"


# ---------------------------------------------------------------------------------------------
# redirects
# ---------------------------------------------------------------------------------------------


def last_trace(done: Done) -> Dict[str, Any]:
    traces = done.traces()
    return traces[-1] if traces else {}


@pytest.mark.parametrize("kind", ["redirect_http", "redirect_https"])
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_redirect_is_refused_and_nothing_goes_to_the_other_host(hostile: Sandbox, tmp_path: Path, runtime: str, kind: str):
    """Every API answer is `302 Location: http(s)://other.example/api/v1/...`. The check fails,
    or reports an error trace, saying the connector never follows a redirect; a read ends with
    a config_error trace saying so (its last trace, what the sync ends on); and no request,
    with or without the token, went to other.example (no CONNECT tunnel, no plain-HTTP
    request, no API request under that name)."""
    hostile.control.set_faults(rate=1.0, kinds=[kind])
    config = config_for(hostile, runtime, kind)
    check, read = run_two_at_a_time(
        hostile, tmp_path, Job(runtime, "check", config), Job(runtime, "read", config, ["orders"])
    )

    asked = requests_to(hostile, host_for(runtime, kind))
    assert asked and all(entry["status"] == 302 for entry in asked), asked  # the store did redirect
    assert_nothing_went_to(hostile, OTHER_HOST)
    assert_no_token_shown(hostile, check, read)

    problems = []
    status = check.status()
    check_says = [status["message"] or ""] if status and status["status"] == "FAILED" else []
    check_says += [trace["message"] or "" for trace in check.traces()]
    if not any(REDIRECT_PHRASE in text for text in check_says):
        problems.append(f"check: no FAILED status or error trace says {REDIRECT_PHRASE!r}: {status}, {check_says}")
    if read.run.returncode == 0 or read.run.records:
        problems.append(f"read: exit {read.run.returncode} with {len(read.run.records)} records")
    if not any(t.get("failure_type") == "config_error" and REDIRECT_PHRASE in (t.get("message") or "") for t in read.traces()):
        problems.append(f"read: no config_error trace says {REDIRECT_PHRASE!r}")
    last = last_trace(read)
    if last.get("failure_type") != "config_error" or REDIRECT_PHRASE not in (last.get("message") or ""):
        problems.append(f"read: the last trace is {last.get('failure_type')}: {last.get('message')!r}")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------------
# a page that never advances
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_store_that_repeats_one_page_ends_the_stream_instead_of_looping(hostile: Sandbox, tmp_path: Path, runtime: str):
    """Every list answer is the first page, whatever the filter, sort or page asked for, always
    with a next_page link. Each stream (orders read incrementally: the updated_at walk;
    coupon_codes, which has no updated_at, in full refresh: the id walk; one process each) ends
    with an error trace saying paging does not advance (its last trace), after at most 3
    requests to its resource, and emits no record twice beyond one page."""
    hostile.control.set_faults(rate=1.0, kinds=["same_page"], resources=["orders", "coupon_codes"])
    jobs = {
        "orders": ("same_page", Job(runtime, "read", config_for(hostile, runtime, "same_page"), ["orders"], mode="incremental")),
        "coupon_codes": ("same_page_full", Job(runtime, "read", config_for(hostile, runtime, "same_page_full"), ["coupon_codes"])),
    }
    runs = dict(zip(jobs, run_two_at_a_time(hostile, tmp_path, *(job for _, job in jobs.values()))))

    problems = []
    for stream, (label, _) in jobs.items():
        done = runs[stream]
        assert not done.timed_out, done.tail()
        said = [trace.get("message") or "" for trace in done.traces()]
        if not any(LOOP_PHRASE in text for text in said):
            problems.append(f"{stream}: no error trace says {LOOP_PHRASE!r}: {said}")
        elif LOOP_PHRASE not in said[-1]:
            problems.append(f"{stream}: the last trace is {last_trace(done).get('failure_type')}: {said[-1]!r}")
        asked = requests_to(hostile, host_for(runtime, label), stream)
        if not 1 <= len(asked) <= 3:
            problems.append(f"{stream}: {len(asked)} requests: {[entry['target'] for entry in asked]}")
        ids = done.run.ids(stream)
        page = len(sandbox_ids(hostile, stream))  # one page holds the whole (tiny) store at most
        repeats = Counter(ids)
        if max(repeats.values(), default=0) > 2 or len(ids) - len(repeats) > page:
            problems.append(f"{stream}: {len(ids)} records emitted for {len(repeats)} ids (one page: "
                            f"{page}), most repeated {repeats.most_common(3)}")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------------
# a store that never answers, or answers a byte a second
# ---------------------------------------------------------------------------------------------


def assert_ends_on_a_timeout(done: Done) -> None:
    assert not done.timed_out, "the connector did not end by itself\n" + done.tail()
    assert done.seconds <= 60, f"took {done.seconds:.0f} s\n" + done.tail()
    assert done.run.returncode != 0, done.tail()
    traces = done.traces()
    assert traces, done.tail()
    timeouts = [t for t in traces if t.get("failure_type") in ("transient_error", "system_error") and TIMEOUT_WORDS.search(t.get("message") or "")]
    assert timeouts, [(t.get("failure_type"), t.get("message")) for t in traces]
    for trace in timeouts:
        message = (trace.get("message") or "").strip()
        assert not message.startswith("Traceback") and "Traceback (most recent call last)" not in message, message


def test_a_store_that_never_answers_ends_the_sync_on_the_read_timeout(hostile: Sandbox, tmp_path: Path):
    """Every request to /orders is accepted and never answered. The manifest's idle read timeout
    (read_timeout_in_seconds) must end each attempt, and the retries must end the sync, with a
    transient (or system) error that names the timeout. A copy of manifest.yaml with that timeout
    at 2 s (components.py beside it) keeps the test short.

    Runner only: `source-cart` always runs the manifest it is installed with (source_cart/run.py
    reads the package's own manifest.yaml), whose 60 s timeout would make every attempt last a
    minute. The copy goes through `source-declarative-manifest --manifest-path`.
    """
    text = (ROOT / "manifest.yaml").read_text(encoding="utf-8")
    short, replaced = re.subn(r"(?m)^(\s*read_timeout_in_seconds:)\s*\d+\s*$", r"\g<1> 2", text)
    assert replaced == 1, "manifest.yaml no longer has one read_timeout_in_seconds"
    copy = tmp_path / "short-read-timeout"
    copy.mkdir()
    (copy / "manifest.yaml").write_text(short, encoding="utf-8")
    (copy / "components.py").write_text((ROOT / "components.py").read_text(encoding="utf-8"), encoding="utf-8")

    hostile.control.set_faults(rate=1.0, kinds=["hang"], resources=["orders"])
    config = config_for(hostile, "runner", "hang", max_retries=2, max_retry_seconds=10)
    (read,) = run_two_at_a_time(
        hostile, tmp_path, Job("runner", "read", config, ["orders"], manifest_dir=copy, timeout=120)
    )

    assert_ends_on_a_timeout(read)
    assert not read.run.records
    assert requests_to(hostile, host_for("runner", "hang"), "orders"), "the store was never asked"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_store_that_answers_a_byte_a_second_ends_the_sync_on_the_request_timeout(hostile: Sandbox, tmp_path: Path, runtime: str):
    """Every answer from /orders sends its status and headers (with the Content-Length of a real
    page) at once, then its body one byte a second. No read is ever idle for long, so only
    request_timeout_seconds (the whole answer within 3 s here) can end an attempt; the retries
    (max_retries 2, max_retry_seconds 10) must end the sync with a transient (or system) error
    naming the timeout."""
    hostile.control.set_faults(rate=1.0, kinds=["trickle"], resources=["orders"], trickle_interval=1.0)
    config = config_for(hostile, runtime, "trickle", request_timeout_seconds=3, max_retry_seconds=10, max_retries=2)
    (read,) = run_two_at_a_time(hostile, tmp_path, Job(runtime, "read", config, ["orders"], timeout=120))

    assert_ends_on_a_timeout(read)
    assert not read.run.records
    asked = requests_to(hostile, host_for(runtime, "trickle"), "orders")
    assert asked and all(entry["fault"] == "trickle" for entry in asked), asked


# ---------------------------------------------------------------------------------------------
# a store that refuses everything
# ---------------------------------------------------------------------------------------------

FORBIDDEN_READ = {"orders": "read_orders", "coupon_codes": "read_marketing"}  # stream -> scope


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_store_that_refuses_everything_fails_the_check_and_warns_per_stream(hostile: Sandbox, tmp_path: Path, runtime: str):
    """Every API request answers 403 `{"message": "Forbidden"}`, whatever the token. The check
    fails (or ends with a config_error trace) naming the scopes it tried; a read of two streams
    does not end silently: at least one WARN log per skipped stream names its scope."""
    hostile.control.set_faults(rate=1.0, kinds=["forbidden"])
    config = config_for(hostile, runtime, "forbidden")
    check, read = run_two_at_a_time(
        hostile, tmp_path, Job(runtime, "check", config), Job(runtime, "read", config, list(FORBIDDEN_READ))
    )

    status = check.status()
    config_errors = [t["message"] or "" for t in check.traces() if t.get("failure_type") == "config_error"]
    if status is not None:
        assert status["status"] == "FAILED", check.tail()
        said = status.get("message") or ""
    else:
        assert config_errors, check.tail()
        said = config_errors[-1]
    assert "scope" in said.lower(), said

    assert not read.run.records, read.tail()
    warnings = read.run.logs("WARN")
    for stream, scope in FORBIDDEN_READ.items():
        assert any(scope in text and "scope" in text.lower() for text in warnings), (stream, scope, warnings, read.tail())
    assert read.run.returncode != 0 or warnings, "the read ended with exit 0 and said nothing"
    assert_no_token_shown(hostile, check, read)


# ---------------------------------------------------------------------------------------------
# an updated_at that is no timestamp
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_records_whose_updated_at_is_no_timestamp_are_kept_and_counted(hostile: Sandbox, tmp_path: Path, runtime: str):
    """The first record of each page of /orders has updated_at "/Date(1704067260000-0500)/".
    An incremental read emits every order the store holds, those included, and a WARN log says
    how many records had an updated_at that is no timestamp."""
    hostile.control.set_faults(rate=1.0, kinds=["bad_updated_at_first"], resources=["orders"])
    config = config_for(hostile, runtime, "bad_updated_at")
    (read,) = run_two_at_a_time(hostile, tmp_path, Job(runtime, "read", config, ["orders"], mode="incremental"))

    assert read.run.returncode == 0 and not read.traces(), read.tail()
    assert sorted(set(read.run.ids("orders"))) == sorted(sandbox_ids(hostile, "orders")), read.tail()
    pages = [e for e in requests_to(hostile, host_for(runtime, "bad_updated_at"), "orders") if e["status"] == 200]
    assert pages and all(entry["fault"] == "bad_updated_at_first" for entry in pages), pages
    bad = [entry["bad_updated_at_id"] for entry in pages if entry.get("bad_updated_at_id") is not None]
    assert bad and set(bad) <= set(read.run.ids("orders")), bad
    said = [text for text in read.run.logs("WARN") if "no timestamp" in text]
    assert said, f"no WARN log says 'no timestamp'; the WARN logs: {read.run.logs('WARN')}"
    counts = {len(bad), len(set(bad))}  # as served, or as distinct records
    assert any(re.search(rf"\b{n}\b", text) for text in said for n in counts), (counts, said)


# ---------------------------------------------------------------------------------------------
# the sandbox's hostile modes themselves (no connector): what the tests above rely on
# ---------------------------------------------------------------------------------------------


def test_the_sandbox_hostile_modes_on_the_wire(hostile: Sandbox):
    import requests

    http = hostile.session()
    token = {"X-AC-Auth-Token": hostile.token}
    orders = f"{hostile.store_url}/api/v1/orders"
    control = hostile.control

    for kind, scheme in (("redirect_http", "http"), ("redirect_https", "https")):
        control.set_faults(rate=1.0, kinds=[kind], resources=["orders"])
        answer = http.get(orders, params={"count": 2, "id": "gt:5"}, headers=token, allow_redirects=False)
        assert answer.status_code == 302
        assert answer.headers["Location"] == f"{scheme}://{OTHER_HOST}/api/v1/orders?count=2&id=gt%3A5"

    control.set_faults(rate=1.0, kinds=["same_page"], resources=["orders"])
    first = http.get(orders, params={"count": 3}, headers=token).json()
    other = http.get(orders, params={"count": 3, "page": 4, "sort": "-id", "id": "gt:100010"}, headers=token).json()
    assert [o["id"] for o in other["orders"]] == [o["id"] for o in first["orders"]] and len(first["orders"]) == 3
    assert "page=2" in first["next_page"] and "page=2" in other["next_page"]  # always page 1

    control.set_faults(rate=1.0, kinds=["forbidden"])
    answer = http.get(orders, headers=token)
    assert (answer.status_code, answer.json()) == (403, {"message": "Forbidden"})

    control.set_faults(rate=1.0, kinds=["bad_updated_at_first"], resources=["orders"])
    page = http.get(orders, params={"count": 3}, headers=token).json()["orders"]
    assert page[0]["updated_at"] == "/Date(1704067260000-0500)/"
    assert all(o["updated_at"] != page[0]["updated_at"] for o in page[1:])
    assert control.records("orders", ids=[page[0]["id"]])[0]["updated_at"] != page[0]["updated_at"]

    control.set_faults(rate=1.0, kinds=["trickle"], resources=["orders"], trickle_interval=0.01, trickle_bytes=400)
    started = time.monotonic()
    answer = http.get(orders, params={"count": 2}, headers=token)
    control.clear_faults()
    assert answer.json() == http.get(orders, params={"count": 2}, headers=token).json()
    assert int(answer.headers["Content-Length"]) == len(answer.content)
    assert time.monotonic() - started >= 0.01 * (len(answer.content) // 400)

    control.set_faults(rate=1.0, kinds=["hang"], resources=["orders"])
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(hostile.session().get, orders, headers=token, timeout=1.5)
        time.sleep(0.2)
        assert http.get(f"{hostile.store_url}/api/v1/customers", headers=token).status_code == 200
        assert time.monotonic() - started < 1.0, "a hanging request held up another"
        with pytest.raises(requests.exceptions.ReadTimeout):
            pending.result()

    # a plain-HTTP request (a followed redirect_http) stays on the machine, and is counted
    control.clear_stats()
    answer = requests.get(f"http://{OTHER_HOST}/api/v1/orders", headers=token, timeout=5,
                          proxies={"http": hostile.env()["HTTP_PROXY"]})
    assert answer.status_code == 405
    reached = control.hosts_reached()
    assert reached["plain"] == {OTHER_HOST: 1} and reached["plain_with_credentials"] == {OTHER_HOST: 1}


def test_stopping_the_sandbox_ends_the_connections_it_holds():
    import requests

    with Sandbox(size="tiny", seed=SEED, rate_limit=0) as sandbox:
        sandbox.control.set_faults(rate=1.0, kinds=["hang"])
        pool = ThreadPoolExecutor(max_workers=1)
        pending = pool.submit(sandbox.session().get, f"{sandbox.store_url}/api/v1/orders",
                              headers={"X-AC-Auth-Token": sandbox.token}, timeout=60)
        time.sleep(0.3)
        started = time.monotonic()
    assert time.monotonic() - started < 5
    with pytest.raises(requests.exceptions.ConnectionError):
        pending.result(timeout=10)
    pool.shutdown()

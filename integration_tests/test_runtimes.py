"""The same manifest in each place a user runs it, as separate processes against the sandbox:

- `source-cart`, the installed command (source_cart/run.py);
- `source-declarative-manifest --manifest-path manifest.yaml --components-path components.py`,
  the CDK's runner as the manifest-only image runs it (needs AIRBYTE_ENABLE_UNSAFE_CODE=true);
- `python -m airbyte_cdk.connector_builder.main read`, the Connector Builder's backend, with the
  manifest and components.py injected in the config and `__command: test_read`.

A user must get the same records, and the same words when a config value is wrong, in each.
"""

import hashlib
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
import yaml

from cart_sandbox.harness import Sandbox
from integration_tests.conftest import Run, catalog, sandbox_ids, token_config

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SOURCE_CART = str(BIN / "source-cart")
SOURCE_DECLARATIVE_MANIFEST = str(BIN / "source-declarative-manifest")
STREAMS = ["orders", "coupon_codes"]
DATE_FORM = "YYYY-MM-DDTHH:MM:SSZ"


@pytest.fixture(scope="module")
def store():
    with Sandbox(size="tiny", seed=5, rate_limit=0) as running:
        yield running


class Runtimes:
    """Writes the files of each command to a folder and runs the commands, two at a time (each
    starts a Python and imports the CDK: seconds of CPU on a two-core machine)."""

    def __init__(self, sandbox: Sandbox, folder: Path) -> None:
        self.sandbox = sandbox
        self.folder = folder
        self.count = 0

    def _file(self, content: Any) -> str:
        self.count += 1
        path = self.folder / f"{self.count:03d}.json"
        path.write_text(json.dumps(content))
        return str(path)

    def cli(self, command: str, config: Dict[str, Any], streams: List[str] = ()) -> Tuple[List[str], Dict[str, str]]:
        args = [SOURCE_CART, command, "--config", self._file(config)]
        if command == "read":
            args += ["--catalog", self._file(catalog(list(streams), "full_refresh"))]
        return args, {}

    def runner(self, command: str, config: Dict[str, Any], streams: List[str] = ()) -> Tuple[List[str], Dict[str, str]]:
        args = [SOURCE_DECLARATIVE_MANIFEST, command, "--config", self._file(config)]
        if command == "read":
            args += ["--catalog", self._file(catalog(list(streams), "full_refresh"))]
        args += ["--manifest-path", "manifest.yaml", "--components-path", "components.py"]
        return args, {"AIRBYTE_ENABLE_UNSAFE_CODE": "true"}

    def builder(self, config: Dict[str, Any], stream: str) -> Tuple[List[str], Dict[str, str]]:
        text = (ROOT / "components.py").read_text(encoding="utf-8")
        body = {
            **config,
            "__injected_declarative_manifest": yaml.safe_load((ROOT / "manifest.yaml").read_text(encoding="utf-8")),
            "__injected_components_py": text,
            "__injected_components_py_checksums": {"md5": hashlib.md5(text.encode("utf-8")).hexdigest()},
            "__command": "test_read",
            "__test_read_config": {"max_records": 5000, "max_pages_per_slice": 100, "max_slices": 100},
        }
        args = [sys.executable, "-m", "airbyte_cdk.connector_builder.main", "read",
                "--config", self._file(body), "--catalog", self._file(catalog([stream], "full_refresh"))]
        return args, {"AIRBYTE_ENABLE_UNSAFE_CODE": "true"}

    def run_all(self, commands: Dict[str, Tuple[List[str], Dict[str, str]]]) -> Dict[str, Run]:
        def run(item: Tuple[str, Tuple[List[str], Dict[str, str]]]) -> Tuple[str, Run]:
            name, (args, extra_env) = item
            env = {key: value for key, value in os.environ.items() if key != "AIRBYTE_ENABLE_UNSAFE_CODE"}
            env.update(self.sandbox.env(), **extra_env)
            done = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
            messages = []
            for line in done.stdout.splitlines():
                if line.strip().startswith("{"):
                    try:
                        messages.append(json.loads(line))
                    except ValueError:
                        pass
            return name, Run(done.returncode, messages, done.stderr, done.stdout)

        with ThreadPoolExecutor(max_workers=2) as pool:
            return dict(pool.map(run, commands.items()))


@pytest.fixture
def runtimes(store: Sandbox, tmp_path: Path) -> Runtimes:
    store.control.reset(seed=5, size="tiny")
    store.control.set_rate_limit(limit=0)
    return Runtimes(store, tmp_path)


def by_id(records: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return sorted(records, key=lambda record: record["id"])


def without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


def differences(shown: List[Dict[str, Any]], expected: List[Dict[str, Any]]) -> List[Any]:
    """(id, field, shown value, expected value) wherever two record lists (sorted by id) differ.
    A null field counts as absent: the protocol's serializer leaves nulls out of a record's data,
    while the Builder shows them."""
    if [r["id"] for r in shown] != [r["id"] for r in expected]:
        return [("ids", [r["id"] for r in shown], [r["id"] for r in expected])]
    shown, expected = without_nulls(shown), without_nulls(expected)
    return [
        (a["id"], key, a.get(key), b.get(key))
        for a, b in zip(shown, expected)
        for key in sorted(set(a) | set(b))
        if a.get(key) != b.get(key)
    ]


def builder_records(run: Run) -> List[Dict[str, Any]]:
    """The records a test read shows, page by page, or a failure with what it said."""
    answers = [m for m in run.messages if m["type"] in ("RECORD", "TRACE")]
    assert run.returncode == 0 and len(answers) == 1, run.stdout[-3000:] + run.stderr[-3000:]
    assert answers[0]["type"] == "RECORD", answers[0]
    data = answers[0]["record"]["data"]
    assert not [log for log in data["logs"] if log["level"] in ("ERROR", "FATAL")], data["logs"]
    assert not data["test_read_limit_reached"]
    return [record for slice_ in data["slices"] for page in slice_["pages"] for record in page["records"]]


def builder_error(run: Run) -> str:
    answers = [m for m in run.messages if m["type"] in ("RECORD", "TRACE")]
    assert run.returncode == 0 and [m["type"] for m in answers] == ["TRACE"], run.stdout[-3000:]
    return answers[0]["trace"]["error"]["message"]


def test_every_runtime_reads_the_same_records(runtimes: Runtimes, store: Sandbox):
    config = token_config(store)
    runs = runtimes.run_all(
        {
            "cli": runtimes.cli("read", config, STREAMS),
            "runner": runtimes.runner("read", config, STREAMS),
            **{f"builder {stream}": runtimes.builder(config, stream) for stream in STREAMS},
        }
    )

    for name in ("cli", "runner"):
        assert runs[name].returncode == 0 and not runs[name].errors, (name, runs[name].errors, runs[name].stderr[-3000:])
    for stream in STREAMS:
        expected = sorted(sandbox_ids(store, stream))
        assert expected, f"the sandbox has no {stream}"
        cli = by_id([r["data"] for r in runs["cli"].records if r["stream"] == stream])
        runner = by_id([r["data"] for r in runs["runner"].records if r["stream"] == stream])
        builder = by_id(builder_records(runs[f"builder {stream}"]))
        assert sorted({r["id"] for r in cli}) == expected, stream
        assert differences(runner, cli) == [], f"{stream}: source-declarative-manifest emits other records than source-cart"
        assert differences(builder, cli) == [], f"{stream}: the Builder shows other records than source-cart"
    dated = [r["updated_at"] for r in by_id([r["data"] for r in runs["cli"].records]) if r.get("updated_at")]
    assert dated and all(value.endswith("Z") for value in dated)  # the transformation ran everywhere


@pytest.mark.parametrize(
    "field, value, expected_form",
    [("start_date", "2021-13-01", DATE_FORM), ("store_name", "localhost:8443", "mystore.com")],
)
def test_every_runtime_names_a_wrong_value_in_the_same_words(runtimes: Runtimes, store: Sandbox, field, value, expected_form):
    config = token_config(store)
    if field == "store_name":
        config["credentials"]["store_name"] = value
    else:
        config[field] = value
    runs = runtimes.run_all(
        {
            "cli check": runtimes.cli("check", config),
            "runner check": runtimes.runner("check", config),
            "cli read": runtimes.cli("read", config, ["orders"]),
            "runner read": runtimes.runner("read", config, ["orders"]),
            "builder": runtimes.builder(config, "orders"),
        }
    )

    read_errors = {name: runs[name].errors for name in ("cli read", "runner read")}
    message = read_errors["cli read"][0] if read_errors["cli read"] else ""
    assert message.startswith(f"{field} '{value}' is not") and expected_form in message, read_errors
    assert read_errors == {"cli read": [message], "runner read": [message]}
    for name in ("cli read", "runner read"):
        assert runs[name].returncode != 0 and not runs[name].records, name
        trace = runs[name].of_type("TRACE")[-1]["trace"]["error"]
        assert trace["failure_type"] == "config_error", name

    statuses = {name: runs[name].of_type("CONNECTION_STATUS")[-1]["connectionStatus"] for name in ("cli check", "runner check")}
    assert statuses["cli check"]["status"] == "FAILED" and message in statuses["cli check"]["message"], statuses
    assert statuses["runner check"] == statuses["cli check"]

    assert builder_error(runs["builder"]).endswith(f": {message}")
    assert store.control.stats()["requests_total"] == 0, "nothing is asked of Cart.com with such a config"
    for name in ("cli check", "runner check", "cli read", "runner read"):
        assert store.token not in runs[name].stdout + runs[name].stderr, name


def test_the_builder_keeps_the_token_out_of_a_config_error(runtimes: Runtimes, store: Sandbox):
    runs = runtimes.run_all({"builder": runtimes.builder(token_config(store, start_date="2021-13-01"), "orders")})
    message = builder_error(runs["builder"])
    assert message.endswith("start_date '2021-13-01' is not a real date. Use UTC in the form "
                            "YYYY-MM-DDTHH:MM:SSZ (for example 2021-01-01T00:00:00Z) or YYYY-MM-DD."), message
    # The Builder writes the config into this message; ConfigField masks credentials first.
    assert store.token not in message


def test_a_builder_test_read_pages_and_saves_state_with_the_page_checkpoints(runtimes: Runtimes, store: Sandbox):
    """The Connector Builder's test read of orders (15 orders, pages of 4) through PageCheckpoints:
    the records come page by page as before, and the slice shows the state after its last page.
    (The Builder keeps only the latest state of a slice, so the states saved after the earlier
    pages, which the CLI and the runner print, are not listed there.)"""
    runs = runtimes.run_all({"builder": runtimes.builder(token_config(store, page_size=4), "orders")})
    answers = [m for m in runs["builder"].messages if m["type"] == "RECORD"]
    assert answers, runs["builder"].stdout[-3000:]
    data = answers[0]["record"]["data"]
    pages = [page["records"] for slice_ in data["slices"] for page in slice_["pages"]]
    assert [len(records) for records in pages][:4] == [4, 4, 4, 4], [len(records) for records in pages]
    records = [record for records in pages for record in records]
    assert sorted({record["id"] for record in records}) == sorted(sandbox_ids(store, "orders"))
    states = [state["stream"]["stream_state"] for slice_ in data["slices"] for state in slice_["state"]]
    assert states[-1] == {"updated_at": max(record["updated_at"] for record in records)}, states

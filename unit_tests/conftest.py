"""What every unit test shares: configs, and the connector built the way each runtime builds it.

A test that takes the `runtime` fixture runs twice, once per way the connector is run:
- `cli`: as `source-cart` builds it (source_cart/run.py: the manifest file, and components.py
  registered by the CDK's own function for a manifest's components);
- `manifest_only`: as the manifest-only image, `source-declarative-manifest` and the Connector
  Builder build it: the CDK's ConcurrentDeclarativeSource with the manifest and components.py
  injected into the config (`__injected_declarative_manifest`, `__injected_components_py`).
"""

import copy
import hashlib
import json
import sys
import time
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import pytest
import yaml

from airbyte_cdk.models import AirbyteMessageSerializer, SyncMode
from airbyte_cdk.sources.declarative.concurrent_declarative_source import ConcurrentDeclarativeSource
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, discover, make_file, read
from airbyte_cdk.test.state_builder import StateBuilder

from source_cart import run as source_cart_run

ROOT = Path(__file__).resolve().parent.parent
MANIFEST_TEXT = (ROOT / "manifest.yaml").read_text()
MANIFEST = yaml.safe_load(MANIFEST_TEXT)
COMPONENTS_TEXT = (ROOT / "components.py").read_text()
STREAMS = {stream["name"]: stream for stream in MANIFEST["streams"]}
INCREMENTAL_STREAMS = [name for name, s in STREAMS.items() if s["$ref"].endswith("/incremental_stream")]
FULL_REFRESH_STREAMS = [name for name, s in STREAMS.items() if s["$ref"].endswith("/full_refresh_stream")]

START = "2021-01-01T00:00:00Z"
TOKEN = "tok-SECRET-1234567890"

TOKEN_CONFIG: Dict[str, Any] = {
    "credentials": {
        "auth_type": "SINGLE_STORE_ACCESS_TOKEN",
        "access_token": TOKEN,
        "store_name": "mystore.com",
    },
    "start_date": START,
    "max_retries": 2,
}

ROUTER_CONFIG: Dict[str, Any] = {
    "credentials": {
        "auth_type": "CENTRAL_API_ROUTER",
        "user_name": "integrator",
        "user_secret": "router-SECRET-abcdef",
        "site_id": "4242",
    },
    "start_date": START,
    "max_retries": 2,
}


def config(base: Optional[Mapping[str, Any]] = None, **overrides: Any) -> Dict[str, Any]:
    result = copy.deepcopy(dict(base or TOKEN_CONFIG))
    result.update(overrides)
    return result


def components():
    """components.py as `source-cart` loads it (the module the CLI runtime's classes come from)."""
    return source_cart_run.load_components()


class Runtime:
    """Builds and runs the connector the way one runtime does."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name

    def config(self, cfg: Mapping[str, Any]) -> Dict[str, Any]:
        """The config as this runtime receives it."""
        if self.name == "cli":
            return dict(cfg)
        return {
            **cfg,
            "__injected_declarative_manifest": copy.deepcopy(MANIFEST),
            "__injected_components_py": COMPONENTS_TEXT,
            "__injected_components_py_checksums": {"md5": hashlib.md5(COMPONENTS_TEXT.encode()).hexdigest()},
        }

    def source(self, cfg: Mapping[str, Any], catalog: Any = None, state: Optional[List[Any]] = None):
        cfg = self.config(cfg)
        if self.name == "cli":
            return source_cart_run.source(cfg, catalog, state or [])
        return ConcurrentDeclarativeSource(
            config=cfg, catalog=catalog, state=state or [], source_config=cfg["__injected_declarative_manifest"]
        )

    def read(
        self,
        cfg: Mapping[str, Any],
        streams: Any,
        mode: SyncMode = SyncMode.full_refresh,
        state: Optional[List[Any]] = None,
        expecting_exception: bool = False,
        debug: bool = False,
    ) -> EntrypointOutput:
        builder = CatalogBuilder()
        for name in [streams] if isinstance(streams, str) else streams:
            builder = builder.with_stream(name, mode)
        catalog = builder.build()
        source = self.source(cfg, catalog, state)
        return read(source, self.config(cfg), catalog, state or [], expecting_exception=expecting_exception, debug=debug)

    def check(self, cfg: Mapping[str, Any]) -> EntrypointOutput:
        """`check` as the entry point runs it (the CDK's test kit has no helper for it)."""
        source = self.source(cfg)
        with tempfile.TemporaryDirectory() as folder:
            config_path = make_file(Path(folder) / "config.json", self.config(cfg))
            args = AirbyteEntrypoint.parse_args(["check", "--config", config_path])
            messages = list(AirbyteEntrypoint(source).run(args))
        return EntrypointOutput(messages=messages)

    def discover(self, cfg: Mapping[str, Any], expecting_exception: bool = False) -> EntrypointOutput:
        return discover(self.source(cfg), self.config(cfg), expecting_exception=expecting_exception)


RUNTIMES = [Runtime("cli"), Runtime("manifest_only")]


# The CLI twin of each test carries the mark `cli_runtime`: `make unit` leaves the twins out (the
# manifest-only runtime is the one the platform and the Builder run); `make test` and CI run both.
@pytest.fixture(
    params=[pytest.param(RUNTIMES[0], marks=pytest.mark.cli_runtime), RUNTIMES[1]],
    ids=lambda r: r.name,
)
def runtime(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    if request.param.name == "manifest_only":
        monkeypatch.setenv("AIRBYTE_ENABLE_UNSAFE_CODE", "true")  # what the image sets for injected code
    return request.param


@pytest.fixture(autouse=True)
def fresh_components_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test loads components.py anew: no call history or learned limit from another test,
    and a manifest-only test's injected module never serves a `cli` test."""
    for name in ("components", "source_declarative_manifest.components"):
        monkeypatch.delitem(sys.modules, name, raising=False)


REAL_SLEEP = time.sleep


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> List[float]:
    """Backoff waits are recorded instead of slept, so retry tests run in milliseconds."""
    waits: List[float] = []
    monkeypatch.setattr(time, "sleep", lambda seconds: waits.append(seconds))
    return waits


@pytest.fixture
def real_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """For the tests about time limits: waits really pass (the retry limit reads the clock)."""
    monkeypatch.setattr(time, "sleep", REAL_SLEEP)


def stream_state(stream: str, value: Dict[str, Any]) -> List[Any]:
    return StateBuilder().with_stream_state(stream, value).build()


def last_state(output: EntrypointOutput) -> Dict[str, Any]:
    return dict(output.state_messages[-1].state.stream.stream_state.__dict__)


def ids(output: EntrypointOutput) -> List[int]:
    return [message.record.data["id"] for message in output.records]


def all_output(output: EntrypointOutput) -> str:
    """Everything the connector printed, as text: for asserting what a user can (not) read."""
    lines = [json.dumps(AirbyteMessageSerializer.dump(m)) for m in output.get_message_iterator()]
    return "\n".join(lines) + (output.stderr or "")


# What `check` reads besides order_statuses: one resource per token scope (manifest.yaml's check).
CHECK_PROBES = ["customer_types", "product_statuses", "adcodes", "pages", "regions", "stores", "custom_fields"]


def mock_other_check_probes(http: Any, base_url: str = "https://mystore.com") -> None:
    """Empty answers for the check's other probes, so a test can be about order_statuses alone."""
    from airbyte_cdk.test.mock_http import HttpRequest, HttpResponse
    from airbyte_cdk.test.mock_http.request import ANY_QUERY_PARAMS

    for resource in CHECK_PROBES:
        http.get(
            HttpRequest(f"{base_url}/api/v1/{resource}", query_params=ANY_QUERY_PARAMS),
            HttpResponse(json.dumps({"total_count": 0, resource: []})),
        )

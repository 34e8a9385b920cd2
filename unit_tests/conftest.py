import copy
import json
from typing import Any, Dict, List, Mapping, Optional

import pytest

from airbyte_cdk.models import AirbyteMessageSerializer, SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, read
from airbyte_cdk.test.state_builder import StateBuilder

from source_cart.components import CallPacer
from source_cart.source import SourceCart

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


def run_read(
    cfg: Mapping[str, Any],
    stream: str,
    mode: SyncMode = SyncMode.full_refresh,
    state: Optional[List[Any]] = None,
    expecting_exception: bool = False,
) -> EntrypointOutput:
    catalog = CatalogBuilder().with_stream(stream, mode).build()
    source = SourceCart(catalog=catalog, config=cfg, state=state or [])
    return read(source, cfg, catalog, state or [], expecting_exception=expecting_exception)


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


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> List[float]:
    """Backoff waits are recorded instead of slept, so retry tests run in milliseconds."""
    waits: List[float] = []
    import time

    monkeypatch.setattr(time, "sleep", lambda seconds: waits.append(seconds))
    return waits


@pytest.fixture(autouse=True)
def fresh_call_pacer() -> None:
    """Each test starts with no call history and no limit learned from an earlier test's store."""
    CallPacer.forget_all()

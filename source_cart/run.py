"""Console entry point: `source-cart spec|check|discover|read`."""

import json
import sys
import time
import traceback
from typing import List, Optional

from airbyte_cdk.entrypoint import AirbyteEntrypoint, launch
from airbyte_cdk.models import (
    AirbyteErrorTraceMessage,
    AirbyteMessage,
    AirbyteMessageSerializer,
    AirbyteTraceMessage,
    FailureType,
    TraceType,
    Type,
)

from source_cart.source import SourceCart


def _fail(message: str, internal: str) -> None:
    """Print a protocol TRACE error: what the user reads, then the details for support."""
    trace = AirbyteMessage(
        type=Type.TRACE,
        trace=AirbyteTraceMessage(
            type=TraceType.ERROR,
            emitted_at=int(time.time() * 1000),
            error=AirbyteErrorTraceMessage(
                message=message,
                internal_message=internal,
                failure_type=FailureType.config_error,
                stack_trace=traceback.format_exc(),
            ),
        ),
    )
    print(json.dumps(AirbyteMessageSerializer.dump(trace)))


def _build_source(args: List[str]) -> Optional[SourceCart]:
    """Build the source from the files named on the command line.

    In CDK 7 a declarative source builds its streams from the config, catalog and state given to
    its constructor, so they are read here, before `launch` parses the command.
    """
    config_path = AirbyteEntrypoint.extract_config(args)
    catalog_path = AirbyteEntrypoint.extract_catalog(args)
    state_path = AirbyteEntrypoint.extract_state(args)
    current = "config"
    try:
        config = SourceCart.read_config(config_path) if config_path else None
        current = "catalog"
        catalog = SourceCart.read_catalog(catalog_path) if catalog_path else None
        current = "state"
        state = SourceCart.read_state(state_path) if state_path else []
    except Exception as error:  # noqa: BLE001 - reported as a protocol message, not a crash
        path = {"config": config_path, "catalog": catalog_path, "state": state_path}[current]
        _fail(f"Could not read the {current} file {path}: {error}", repr(error))
        return None
    return SourceCart(catalog=catalog, config=config, state=state, config_path=config_path)


def run() -> None:
    args = sys.argv[1:]
    source = _build_source(args)
    if source is None:
        sys.exit(1)
    launch(source, args)


if __name__ == "__main__":
    run()

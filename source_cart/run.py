"""The `source-cart` command: `spec | check | discover | read`, the manifest run as it is.

Nothing here changes what the connector does: the manifest-only image and the Connector Builder
run `manifest.yaml` and `components.py` without this file, and a user must see the same there.
"""

import hashlib
import json
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any, List, Mapping, Optional

from airbyte_cdk.entrypoint import AirbyteEntrypoint, launch
from airbyte_cdk.models import (
    AirbyteErrorTraceMessage,
    AirbyteLogMessage,
    AirbyteMessage,
    AirbyteMessageSerializer,
    AirbyteStateMessage,
    AirbyteTraceMessage,
    ConfiguredAirbyteCatalog,
    FailureType,
    Level,
    TraceType,
    Type,
)
from airbyte_cdk.sources.declarative.parsers.custom_code_compiler import (
    COMPONENTS_MODULE_NAME,
    register_components_module_from_string,
)
from airbyte_cdk.sources.declarative.yaml_declarative_source import YamlDeclarativeSource

PACKAGE = Path(__file__).parent
MANIFEST = PACKAGE / "manifest.yaml"
COMPONENTS = PACKAGE / "components.py"


_LOADED: Optional[ModuleType] = None


def load_components() -> ModuleType:
    """components.py, registered by the CDK's own public function for a manifest's components
    (as `components` and `source_declarative_manifest.components`, where the manifest's class
    names point), exactly as the manifest-only image and the Builder register them from the
    config. Loaded once per process; the function wants a checksum, here of the file just read."""
    global _LOADED
    if _LOADED is None or sys.modules.get(COMPONENTS_MODULE_NAME) is not _LOADED:
        text = COMPONENTS.read_text(encoding="utf-8")
        _LOADED = register_components_module_from_string(text, {"md5": hashlib.md5(text.encode()).hexdigest()})
    return _LOADED


def source(
    config: Optional[Mapping[str, Any]] = None,
    catalog: Optional[ConfiguredAirbyteCatalog] = None,
    state: Optional[List[AirbyteStateMessage]] = None,
    config_path: Optional[str] = None,
) -> YamlDeclarativeSource:
    """The connector: the CDK's declarative source over our manifest and components."""
    load_components()
    return YamlDeclarativeSource(
        path_to_yaml=str(MANIFEST), config=config, catalog=catalog, state=state, config_path=config_path
    )


def _fail(message: str) -> None:
    """Print a protocol TRACE error (what the user reads, with the details for support)."""
    trace = AirbyteMessage(
        type=Type.TRACE,
        trace=AirbyteTraceMessage(
            type=TraceType.ERROR,
            emitted_at=int(time.time() * 1000),
            error=AirbyteErrorTraceMessage(
                message=message,
                internal_message=message,
                failure_type=FailureType.config_error,
                stack_trace=traceback.format_exc() if sys.exc_info()[0] else None,
            ),
        ),
    )
    print(json.dumps(AirbyteMessageSerializer.dump(trace)))


def _catalog_streams_known(catalog: ConfiguredAirbyteCatalog, built: YamlDeclarativeSource) -> bool:
    """A catalog naming no stream of this connector would read nothing and exit 0: say so and
    fail. Unknown names beside known ones are named in a warning. (The manifest-only runner
    cannot tell: a manifest sees no catalog. The platform only sends discovered streams.)"""
    known = {stream.get("name") for stream in built.resolved_manifest.get("streams", [])}
    unknown = sorted({configured.stream.name for configured in catalog.streams} - known)
    if not unknown:
        return True
    if len(unknown) == len({configured.stream.name for configured in catalog.streams}):
        _fail(
            f"The catalog names no stream of this connector ({', '.join(unknown)}). Run discover "
            f"and choose streams from its catalog, for example orders or customers_cart."
        )
        return False
    log = AirbyteMessage(type=Type.LOG, log=AirbyteLogMessage(level=Level.WARN, message=(
        f"The catalog names streams this connector does not have, which are not read: {', '.join(unknown)}."
    )))
    print(json.dumps(AirbyteMessageSerializer.dump(log)))
    return True


def run() -> None:
    # In airbyte-cdk 7 a declarative source builds its streams from the config, catalog and state
    # given to its constructor, so the files are read before `launch` parses the command.
    args = sys.argv[1:]
    files = {
        "config": AirbyteEntrypoint.extract_config(args),
        "catalog": AirbyteEntrypoint.extract_catalog(args),
        "state": AirbyteEntrypoint.extract_state(args),
    }
    read = {
        "config": YamlDeclarativeSource.read_config,
        "catalog": YamlDeclarativeSource.read_catalog,
        "state": YamlDeclarativeSource.read_state,
    }
    loaded = {}
    for kind, path in files.items():
        try:
            loaded[kind] = read[kind](path) if path else None
        except Exception as error:  # noqa: BLE001 - a protocol message, not a crash
            _fail(f"Could not read the {kind} file {path}: {error}")
            sys.exit(1)
    try:
        built = source(loaded["config"], loaded["catalog"], loaded["state"] or [], config_path=files["config"])
    except Exception as error:  # noqa: BLE001 - a protocol message, not a crash
        _fail(f"The connector could not start with this config, catalog or state: {error}")
        sys.exit(1)
    if loaded["catalog"] is not None and not _catalog_streams_known(loaded["catalog"], built):
        sys.exit(1)
    launch(built, args)


if __name__ == "__main__":
    run()

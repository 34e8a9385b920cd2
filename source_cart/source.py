"""The Cart.com source: the declarative manifest plus what an entry point needs around it."""

import json
import sys
import types
from pathlib import Path
from typing import Any, List, Mapping, Optional, Set

from airbyte_cdk.models import (
    AirbyteStateBlob,
    AirbyteStateMessage,
    AirbyteStateMessageSerializer,
    AirbyteStateType,
    AirbyteStreamState,
    ConfiguredAirbyteCatalog,
    StreamDescriptor,
)
from airbyte_cdk.sources.declarative.yaml_declarative_source import YamlDeclarativeSource

from source_cart import components

MANIFEST_PATH = Path(__file__).with_name("manifest.yaml")
SCHEMA_REF = "#/schemas/"


def register_components() -> None:
    """Make `source_declarative_manifest.components.X` (the manifest's class names) importable.

    The manifest-only image and the Connector Builder load components.py under that module name;
    an installed package has it as `source_cart.components` instead.
    """
    package = sys.modules.setdefault(
        "source_declarative_manifest", types.ModuleType("source_declarative_manifest")
    )
    sys.modules.setdefault("source_declarative_manifest.components", components)
    if not hasattr(package, "components"):
        package.components = sys.modules["source_declarative_manifest.components"]  # type: ignore[attr-defined]


def state_messages_from(state: Any) -> List[AirbyteStateMessage]:
    """Per-stream state messages from any state the earlier connector or the platform wrote.

    Accepts a list of protocol state messages, a list holding LEGACY messages (`data` keyed by
    stream name), or the bare legacy object `{"orders": {"updated_at": "..."}}`.
    """
    if not state:
        return []
    if isinstance(state, Mapping):
        state = [{"type": "LEGACY", "data": state}]
    if not isinstance(state, list):
        raise ValueError("The state file must hold a JSON list of state messages or a JSON object.")
    messages: List[AirbyteStateMessage] = []
    for entry in state:
        if not isinstance(entry, Mapping):
            raise ValueError(f"Unreadable state entry: {entry!r}")
        if entry.get("type") == "LEGACY" or ("data" in entry and "stream" not in entry):
            for name, stream_state in (entry.get("data") or {}).items():
                messages.append(
                    AirbyteStateMessage(
                        type=AirbyteStateType.STREAM,
                        stream=AirbyteStreamState(
                            stream_descriptor=StreamDescriptor(name=name),
                            stream_state=AirbyteStateBlob(**(stream_state or {})),
                        ),
                    )
                )
        else:
            messages.append(AirbyteStateMessageSerializer.load(dict(entry)))
    return messages


def _schema_refs(node: Any) -> Set[str]:
    """Names of the `#/schemas/<name>` entries that a part of the manifest refers to."""
    found: Set[str] = set()
    todo = [node]
    while todo:
        item = todo.pop()
        if isinstance(item, Mapping):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref.startswith(SCHEMA_REF):
                found.add(ref[len(SCHEMA_REF) :])
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
    return found


def manifest_narrowed_to(manifest: Mapping[str, Any], stream_names: Set[str]) -> dict:
    """The manifest with only the named streams (and check's) and the schemas they use.

    Streams refer to nothing in `streams` but the shared `definitions` and schemas, so the
    narrowed manifest builds each kept stream exactly as the whole one would.
    """
    keep = set(stream_names) | set((manifest.get("check") or {}).get("stream_names") or ())
    streams = [s for s in manifest.get("streams", []) if s.get("name") in keep]
    schemas = manifest.get("schemas") or {}
    used: Set[str] = set()
    todo = _schema_refs([streams, manifest.get("definitions")])
    while todo:  # a schema may refer to another
        used |= todo
        todo = _schema_refs([schemas.get(name) for name in todo]) - used
    narrowed = dict(manifest, streams=streams)
    if "schemas" in manifest:
        narrowed["schemas"] = {k: v for k, v in schemas.items() if k in used}
    return narrowed


class SourceCart(YamlDeclarativeSource):
    def __init__(
        self,
        catalog: Optional[ConfiguredAirbyteCatalog] = None,
        config: Optional[Mapping[str, Any]] = None,
        state: Optional[List[AirbyteStateMessage]] = None,
        config_path: Optional[str] = None,
    ) -> None:
        register_components()
        # A read loads only the streams its catalog selects (and check's): validating and
        # building the manifest costs time in proportion to its streams, and there are fifty.
        # Discover and check load them all (check then builds only the one it reads).
        self._selected_stream_names = {s.stream.name for s in catalog.streams} if catalog else None
        super().__init__(
            path_to_yaml=str(MANIFEST_PATH),
            catalog=catalog,
            config=config,
            state=state,
            config_path=config_path,
        )

    def _read_and_parse_yaml_file(self, path_to_yaml_file: str) -> Any:
        manifest = super()._read_and_parse_yaml_file(path_to_yaml_file)
        if self._selected_stream_names:
            manifest = manifest_narrowed_to(manifest, self._selected_stream_names)
        return manifest

    @classmethod
    def read_state(cls, state_path: str) -> List[AirbyteStateMessage]:
        if not state_path:
            return []
        with open(state_path, encoding="utf-8") as handle:
            return state_messages_from(json.load(handle))

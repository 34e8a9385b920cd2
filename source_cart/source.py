"""The Cart.com source: the declarative manifest plus what an entry point needs around it."""

import json
import sys
import types
from pathlib import Path
from typing import Any, List, Mapping, Optional

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


class SourceCart(YamlDeclarativeSource):
    def __init__(
        self,
        catalog: Optional[ConfiguredAirbyteCatalog] = None,
        config: Optional[Mapping[str, Any]] = None,
        state: Optional[List[AirbyteStateMessage]] = None,
        config_path: Optional[str] = None,
    ) -> None:
        register_components()
        # A read builds only the streams its catalog selects (a stream costs milliseconds to
        # build from the manifest, and there are fifty); discover builds them all, and check
        # only the one it reads (see _uses_default_streams).
        self._selected_stream_names = {s.stream.name for s in catalog.streams} if catalog else None
        super().__init__(
            path_to_yaml=str(MANIFEST_PATH),
            catalog=catalog,
            config=config,
            state=state,
            config_path=config_path,
        )

    def _uses_default_streams(self) -> bool:
        # The override below only narrows a read; check may still build just its own stream.
        return True

    def streams(self, config: Mapping[str, Any]) -> List[Any]:
        if not self._selected_stream_names:
            return super().streams(config)
        self._prepare_for_stream_build()
        all_configs = self._stream_configs(self._source_config) + self.dynamic_streams
        selected = [c for c in all_configs if c.get("name") in self._selected_stream_names]
        return self._create_streams(selected, all_configs)

    @classmethod
    def read_state(cls, state_path: str) -> List[AirbyteStateMessage]:
        if not state_path:
            return []
        with open(state_path, encoding="utf-8") as handle:
            return state_messages_from(json.load(handle))

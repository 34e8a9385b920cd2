"""The lean CDK import (source_cart/lean_start.py) changes what start-up costs, never what is written.

Each case runs in a fresh interpreter, since the CDK is imported once per process: one imports
`source_cart` first (as the `source-cart` command does), one imports the CDK directly.
"""

import json
import subprocess
import sys
import textwrap

import pytest

# Protocol messages of every kind the connector writes or reads, serialized and parsed back.
SERIALIZE = textwrap.dedent(
    """
    import gc, json, sys
    if sys.argv[1] == "lean":
        import source_cart
    from airbyte_cdk.models import (
        AirbyteMessageSerializer, ConfiguredAirbyteCatalogSerializer,
        ConnectorSpecificationSerializer, AirbyteStateMessageSerializer,
    )
    import serpyco_rs, serpyco_rs._main, serpyco_rs._describe
    messages = [
        {"type": "RECORD", "record": {"stream": "orders", "data": {"id": 1, "updated_at":
            "2021-01-01T10:00:00.000000Z", "items": [{"id": 2, "price": 1.5}], "none": None},
            "emitted_at": 1}},
        {"type": "STATE", "state": {"type": "STREAM", "stream": {"stream_descriptor":
            {"name": "orders"}, "stream_state": {"updated_at": "2021-01-01T00:00:00.000000Z"}},
            "sourceStats": {"recordCount": 3.0}}},
        {"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": 2.0, "error": {"message": "m",
            "internal_message": "i", "failure_type": "config_error", "stack_trace": "s"}}},
        {"type": "TRACE", "trace": {"type": "STREAM_STATUS", "emitted_at": 3.0, "stream_status":
            {"stream_descriptor": {"name": "orders"}, "status": "COMPLETE"}}},
        {"type": "LOG", "log": {"level": "INFO", "message": "hello"}},
        {"type": "CONNECTION_STATUS", "connectionStatus": {"status": "FAILED", "message": "no"}},
        {"type": "CATALOG", "catalog": {"streams": [{"name": "orders", "json_schema": {"type":
            "object"}, "supported_sync_modes": ["full_refresh", "incremental"],
            "source_defined_cursor": True, "default_cursor_field": ["updated_at"],
            "source_defined_primary_key": [["id"]], "is_resumable": True}]}},
    ]
    out = {"messages": [AirbyteMessageSerializer.dump(AirbyteMessageSerializer.load(m))
                        for m in messages]}
    catalog = {"streams": [{"stream": messages[-1]["catalog"]["streams"][0],
                            "sync_mode": "incremental", "destination_sync_mode": "append_dedup",
                            "cursor_field": ["updated_at"], "primary_key": [["id"]]}]}
    out["catalog"] = ConfiguredAirbyteCatalogSerializer.dump(ConfiguredAirbyteCatalogSerializer.load(catalog))
    out["spec"] = ConnectorSpecificationSerializer.dump(ConnectorSpecificationSerializer.load(
        {"connectionSpecification": {"type": "object"}, "documentationUrl": "https://x.test"}))
    out["schema_deferred"] = type(AirbyteMessageSerializer._schema).__name__
    import airbyte_cdk.models.airbyte_protocol_serializers as built
    every = sorted(name for name, value in vars(built).items() if isinstance(value, serpyco_rs.Serializer))
    out["schema"] = {name: getattr(built, name).get_json_schema() for name in every}
    out["restored"] = [serpyco_rs._main.get_json_schema.__module__,
                       type(serpyco_rs._describe.get_attributes_doc).__name__]
    out["gc_enabled"] = gc.isenabled()
    print(json.dumps(out))
    """
)


def _serialized(mode: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", SERIALIZE, mode], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def lean() -> dict:
    return _serialized("lean")


@pytest.fixture(scope="module")
def plain() -> dict:
    return _serialized("plain")


def test_lean_import_writes_and_reads_every_message_the_same(lean, plain):
    assert lean["messages"] == plain["messages"]
    assert lean["catalog"] == plain["catalog"]
    assert lean["spec"] == plain["spec"]


def test_lean_import_defers_the_schemas_and_puts_serpyco_back(lean, plain):
    # Deferred for real (if a CDK upgrade makes this fail, the start-up saving is gone)...
    assert lean["schema_deferred"] == "_SchemaNotBuilt"
    assert plain["schema_deferred"] == "dict"
    # ...still given, and the same, when asked (the protocol's dataclasses document no
    # attributes, so reading their source finds no descriptions)...
    assert len(lean["schema"]) == 8 and lean["schema"] == plain["schema"]
    # ...and serializers built after the import get serpyco-rs as it ships.
    assert lean["restored"] == plain["restored"]


def test_the_garbage_collector_is_back_as_it_was_after_the_import_and_a_pause(lean):
    assert lean["gc_enabled"] is True
    import gc

    from source_cart.lean_start import garbage_collection_paused

    assert gc.isenabled()
    with garbage_collection_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with pytest.raises(RuntimeError):
            with garbage_collection_paused():
                raise RuntimeError("a failed build")
        assert not gc.isenabled()  # a caller that had it off keeps it off
    finally:
        gc.enable()

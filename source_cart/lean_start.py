"""Import the CDK without the start-up work a connector process never uses.

Importing `airbyte_cdk.models` builds serpyco-rs serializers for eight protocol messages. Each one
also builds a JSON schema of its message, and to put field descriptions in it, serpyco-rs reads
the source file of every dataclass involved and parses it with `ast`. Nothing in the CDK or in
this connector ever asks those serializers for their schema, yet it costs about 0.4 s of CPU on
every `spec`, `check`, `discover` and `read`: more than this connector's own start-up.

`import_cdk_models()` imports the protocol models with both steps deferred, then puts serpyco-rs
back as it was, so serializers built later are untouched. Those eight serializers still give
their schema when asked, built then; it is the same schema, since the protocol's dataclasses
document none of their fields. The encoders are built as before. `unit_tests/test_lean_start.py`
compares the messages and schemas with and without this.

`garbage_collection_paused()` is the other start-up saving: the package is imported, and
`run.py` builds the source, with Python's cyclic garbage collector paused.

Python cannot express this in the manifest; and it must run before anything imports the CDK,
which is why `source_cart/__init__.py` calls it first.
"""

import contextlib
import gc
import sys
from typing import Any, Iterator

PROTOCOL_MODELS = "airbyte_cdk.models"


class _SchemaNotBuilt:
    """Stands in for a serializer's JSON schema until someone asks for it."""

    __slots__ = ("type_info",)

    def __init__(self, type_info: Any) -> None:
        self.type_info = type_info


@contextlib.contextmanager
def _serializers_without_schemas() -> Iterator[None]:
    try:
        from serpyco_rs import _describe, _main
    except ImportError:  # another serializer library: nothing to defer
        yield
        return
    build_schema = getattr(_main, "get_json_schema", None)
    read_docs = getattr(_describe, "get_attributes_doc", None)
    if build_schema is None or read_docs is None or not hasattr(_main.Serializer, "get_json_schema"):
        yield  # a serpyco-rs this code does not know: leave it alone
        return
    _defer_schema_of(_main.Serializer, build_schema)
    _main.get_json_schema = _SchemaNotBuilt
    _describe.get_attributes_doc = lambda cls: {}
    try:
        yield
    finally:
        _main.get_json_schema = build_schema
        _describe.get_attributes_doc = read_docs


def _defer_schema_of(serializer_class: Any, build_schema: Any) -> None:
    """Make `Serializer.get_json_schema` build a deferred schema on first use."""
    if getattr(serializer_class, "_source_cart_deferred", False):
        return
    give_schema = serializer_class.get_json_schema

    def get_json_schema(self: Any) -> Any:
        schema = give_schema(self)
        if isinstance(schema, _SchemaNotBuilt):
            schema = self._schema = build_schema(schema.type_info)
        return schema

    get_json_schema.__doc__ = give_schema.__doc__
    serializer_class.get_json_schema = get_json_schema
    serializer_class._source_cart_deferred = True


@contextlib.contextmanager
def garbage_collection_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for a while, then back as it was.

    Importing the CDK and building a source create some 300,000 objects that live until the
    process ends: the collector runs hundreds of times meanwhile and finds nothing to free.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def import_cdk_models() -> None:
    """Import `airbyte_cdk.models` (and so the CDK) without the unused schemas, if not yet imported."""
    if PROTOCOL_MODELS in sys.modules:
        return
    with _serializers_without_schemas():
        __import__(PROTOCOL_MODELS)

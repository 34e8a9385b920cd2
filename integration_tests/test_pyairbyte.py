"""PyAirbyte reads the sandbox both ways a Python user runs the connector: the installed
`source-cart` command, and the manifest alone (in-process, with its components.py)."""

from pathlib import Path

import pytest

from integration_tests.conftest import SOURCE_CART, sandbox_ids, token_config

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def pyairbyte(sandbox, connector, tmp_path, monkeypatch):
    for key, value in {**sandbox.env(), "AIRBYTE_OFFLINE_MODE": "1", "DO_NOT_TRACK": "1",
                       "AIRBYTE_CACHE_ROOT": str(tmp_path / "cache")}.items():
        monkeypatch.setenv(key, value)
    return pytest.importorskip("airbyte")


def read_orders(ab, source, tmp_path):
    source.select_streams(["orders", "order_statuses"])
    cache = ab.DuckDBCache(db_path=tmp_path / "cart.duckdb", cache_dir=tmp_path / "files")
    result = source.read(cache=cache)
    return {row["id"] for row in result["orders"]}


def test_pyairbyte_with_the_installed_command(pyairbyte, sandbox, tmp_path):
    source = pyairbyte.get_source("source-cart", config=token_config(sandbox), local_executable=SOURCE_CART)
    source.check()
    assert read_orders(pyairbyte, source, tmp_path) == set(sandbox_ids(sandbox, "orders"))


def test_pyairbyte_with_the_manifest_alone(pyairbyte, sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRBYTE_ENABLE_UNSAFE_CODE", "true")  # runs the sibling components.py
    source = pyairbyte.get_source("source-cart", config=token_config(sandbox), source_manifest=ROOT / "manifest.yaml")
    assert read_orders(pyairbyte, source, tmp_path) == set(sandbox_ids(sandbox, "orders"))

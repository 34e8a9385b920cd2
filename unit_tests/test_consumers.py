"""The manifest as Airbyte's other consumers run it, in-process, against an in-memory Cart.com.

- The CDK's `source-declarative-manifest` runner (the entry point of the manifest-only image):
  with the manifest and components.py injected in the config, and with `--manifest-path` /
  `--components-path`.
- The Connector Builder's backend (`airbyte_cdk.connector_builder.main`): `test_read` of several
  streams, and its manifest migration and normalisation (`resolve_manifest`).

All of them read the repo-root `manifest.yaml` / `components.py` (the manifest-only layout; they
are checked copies of the ones in source_cart/, see `make sync-manifest`). The custom classes are
named `source_declarative_manifest.components.X`; each test first removes that module (and the
`components` fallback) from sys.modules, so a pass proves the runner loaded the components.py it
was given, not `source_cart.components` registered by another test.
"""

import copy
import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping
from urllib.parse import urlsplit

import pytest
import requests_mock
import yaml

from airbyte_cdk.cli.source_declarative_manifest import _run as sdm_run
from airbyte_cdk.connector_builder import main as builder_main
from airbyte_cdk.manifest_migrations.migration_handler import ManifestMigrationHandler
from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer, SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput

import source_cart.components
from unit_tests.conftest import ROUTER_CONFIG, TOKEN, all_output, config
from unit_tests.fake_cart import FakeCart

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "manifest.yaml"
COMPONENTS = ROOT / "components.py"
COMPONENT_MODULES = ("source_declarative_manifest.components", "components")
END = "2021-12-31T00:00:00Z"

# stream -> (resource path, record key), as in the manifest.
RESOURCES = {
    "orders": ("orders", "orders"),
    "order_items": ("order_items", "items"),
    "products": ("products", "products"),
}

# What the store holds (local times with offsets, 2 to 7 fraction digits) and what a sync emits.
STORE = {
    "orders": [
        {"id": 11, "order_number": "A-11", "grand_total": 10.5, "updated_at": "2021-03-01T10:00:00.12-06:00"},
        {"id": 12, "order_number": "A-12", "grand_total": 99.0, "updated_at": "2021-07-01T10:00:00.1234567-05:00"},
        {"id": 13, "order_number": "A-13", "grand_total": 0.0, "updated_at": "2021-08-15T08:30:00+02:00"},
    ],
    "order_items": [
        {"id": 21, "order_id": 11, "quantity": 2, "updated_at": "2021-02-01T00:00:00-06:00"},
        {"id": 22, "order_id": 12, "quantity": 1, "updated_at": "2021-02-01T12:00:00.5Z"},
    ],
    "products": [
        {"id": 31, "item_name": "Mug", "price": 8.0, "updated_at": "2021-01-05T09:00:00-06:00"},
        {"id": 32, "item_name": "Cap", "price": 15.0, "updated_at": "2021-04-05T09:00:00-05:00"},
    ],
}
EMITTED = {
    "orders": [
        {"id": 11, "order_number": "A-11", "grand_total": 10.5, "updated_at": "2021-03-01T16:00:00.120000Z"},
        {"id": 12, "order_number": "A-12", "grand_total": 99.0, "updated_at": "2021-07-01T15:00:00.123456Z"},
        {"id": 13, "order_number": "A-13", "grand_total": 0.0, "updated_at": "2021-08-15T06:30:00.000000Z"},
    ],
    "order_items": [
        {"id": 21, "order_id": 11, "quantity": 2, "updated_at": "2021-02-01T06:00:00.000000Z"},
        {"id": 22, "order_id": 12, "quantity": 1, "updated_at": "2021-02-01T12:00:00.500000Z"},
    ],
}


def store_records(stream: str, count: int = 0) -> List[Dict[str, Any]]:
    """The stream's sample records, or `count` generated ones (for multi-page reads)."""
    if not count:
        return copy.deepcopy(STORE[stream])
    return [{"id": i, "updated_at": f"2021-{i:02d}-01T10:00:00.25-06:00"} for i in range(1, count + 1)]


@pytest.fixture
def unsafe_code_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRBYTE_ENABLE_UNSAFE_CODE", "true")


@pytest.fixture
def no_components_module(monkeypatch: pytest.MonkeyPatch, unsafe_code_allowed: None) -> Iterator[None]:
    """Nothing importable as the manifest's components before the run; sys.modules as it was after."""
    saved = {name: sys.modules.get(name) for name in COMPONENT_MODULES}
    for name in COMPONENT_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    yield
    for name, module in saved.items():
        if module is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = module


@pytest.fixture
def local_image_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    """Take the runner's remote-manifest path even where the image's bundled manifest exists."""
    monkeypatch.setattr(sdm_run, "_is_local_manifest_command", lambda args: False)


def injected(cfg: Mapping[str, Any], components_text: str = "") -> Dict[str, Any]:
    """The config as the platform passes it to the manifest-only image and the Builder."""
    result = dict(cfg)
    result["__injected_declarative_manifest"] = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    text = components_text or COMPONENTS.read_text(encoding="utf-8")
    result["__injected_components_py"] = text
    result["__injected_components_py_checksums"] = {"md5": hashlib.md5(text.encode("utf-8")).hexdigest()}
    return result


def write_json(path: Path, value: Any) -> str:
    path.write_text(json.dumps(value), encoding="utf-8")
    return str(path)


def catalog_file(path: Path, *streams: str, mode: SyncMode = SyncMode.incremental) -> str:
    builder = CatalogBuilder()
    for stream in streams:
        builder = builder.with_stream(stream, mode)
    return write_json(path, ConfiguredAirbyteCatalogSerializer.dump(builder.build()))


def serve(mocker: requests_mock.Mocker, stream: str, records: List[Dict[str, Any]], **kwargs: Any) -> FakeCart:
    resource, key = RESOURCES[stream]
    store = FakeCart(resource, key, records, **kwargs)
    store.install(mocker)
    return store


# ---------------------------------------------------------------------------------------------
# source-declarative-manifest
# ---------------------------------------------------------------------------------------------


def run_sdm(args: List[str], capsys: pytest.CaptureFixture) -> EntrypointOutput:
    """Run the `source-declarative-manifest` command in-process and parse what it printed."""
    sdm_run.handle_command(args)
    captured = capsys.readouterr()
    lines = [line for line in captured.out.splitlines() if line.startswith("{")]
    return EntrypointOutput(messages=lines, stderr=captured.err)


def records_by_stream(output: EntrypointOutput) -> Dict[str, List[Dict[str, Any]]]:
    result: Dict[str, List[Dict[str, Any]]] = {}
    for message in output.records:
        result.setdefault(message.record.stream, []).append(dict(message.record.data))
    return result


def final_states(output: EntrypointOutput) -> Dict[str, Dict[str, Any]]:
    states: Dict[str, Dict[str, Any]] = {}
    for message in output.state_messages:
        stream = message.state.stream
        states[stream.stream_descriptor.name] = dict(stream.stream_state.__dict__)
    return states


def assert_two_stream_sync(output: EntrypointOutput, stores: Mapping[str, FakeCart]) -> None:
    assert not output.errors, all_output(output)
    assert records_by_stream(output) == EMITTED
    assert final_states(output) == {
        "orders": {"updated_at": "2021-08-15T06:30:00.000000Z"},
        "order_items": {"updated_at": "2021-02-01T12:00:00.500000Z"},
    }
    for store in stores.values():  # a first sync: the first page unfiltered, sorted by updated_at
        assert store.requests and "updated_at" not in store.requests[0]
        assert store.requests[0]["sort"] == "updated_at"
    assert TOKEN not in all_output(output)


@pytest.fixture
def two_streams() -> Iterator[Dict[str, FakeCart]]:
    with requests_mock.Mocker() as mocker:
        yield {s: serve(mocker, s, store_records(s), token=TOKEN) for s in ("orders", "order_items")}


def test_runner_reads_with_manifest_and_components_injected_in_config(
    tmp_path: Path, capsys, no_components_module, local_image_absent, two_streams
):
    cfg = write_json(tmp_path / "config.json", injected(config(end_date=END)))
    catalog = catalog_file(tmp_path / "catalog.json", "orders", "order_items")

    output = run_sdm(["read", "--config", cfg, "--catalog", catalog], capsys)

    assert_two_stream_sync(output, two_streams)
    module = sys.modules["source_declarative_manifest.components"]
    assert module is sys.modules["components"]
    assert not hasattr(module, "__file__"), "components must come from the config's text, not a file"
    assert module is not source_cart.components
    assert module.RecordsUnderKey is not source_cart.components.RecordsUnderKey


def test_runner_reads_with_manifest_path_and_components_path(
    tmp_path: Path, capsys, monkeypatch, no_components_module, local_image_absent, two_streams
):
    # The two files alone, away from the package, as the manifest-only image holds them.
    connector = tmp_path / "integration_code"
    connector.mkdir()
    (connector / "manifest.yaml").write_bytes(MANIFEST.read_bytes())
    (connector / "components.py").write_bytes(COMPONENTS.read_bytes())
    monkeypatch.chdir(tmp_path)
    cfg = write_json(tmp_path / "config.json", config(end_date=END))
    catalog = catalog_file(tmp_path / "catalog.json", "orders", "order_items")

    output = run_sdm(
        [
            "read", "--config", cfg, "--catalog", catalog,
            "--manifest-path", str(connector / "manifest.yaml"),
            "--components-path", str(connector / "components.py"),
        ],
        capsys,
    )

    assert_two_stream_sync(output, two_streams)
    module = sys.modules["source_declarative_manifest.components"]
    assert module is sys.modules["components"]
    assert Path(module.__file__) == connector / "components.py"
    assert module is not source_cart.components


def test_the_authenticator_is_chosen_as_the_cdk_chooses_it_without_searching_the_config(monkeypatch):
    # components.py reads `credentials.auth_type` key by key where the CDK searches the whole
    # config with dpath (the manifest-only image's config holds the manifest: 0.85 s per start).
    import dpath

    from airbyte_cdk.sources.declarative.auth.selective_authenticator import SelectiveAuthenticator

    assert getattr(SelectiveAuthenticator.__new__, "_cart_fast_path", False)
    cdk_select = SelectiveAuthenticator.__new__._cart_original
    token, router = object(), object()
    choices = {"SINGLE_STORE_ACCESS_TOKEN": token, "CENTRAL_API_ROUTER": router}
    path = ["credentials", "auth_type"]

    def chosen(cfg: Mapping[str, Any], selection_path: List[str]) -> Any:
        try:
            return SelectiveAuthenticator(config=cfg, authenticators=choices, authenticator_selection_path=selection_path)
        except ValueError as error:
            return f"ValueError: {error}"

    def cdk_chosen(cfg: Mapping[str, Any], selection_path: List[str]) -> Any:
        try:
            return cdk_select(SelectiveAuthenticator, cfg, choices, selection_path)
        except ValueError as error:
            return f"ValueError: {error}"

    injected_manifest = {**config(), "__injected_declarative_manifest": yaml.safe_load(MANIFEST.read_text("utf-8"))}
    plain = [(config(), path), (ROUTER_CONFIG, path), (injected_manifest, path)]
    expected = [cdk_chosen(cfg, p) for cfg, p in plain]
    assert expected == [token, router, token]
    with monkeypatch.context() as patched:  # the plain path never searches
        patched.setattr(dpath, "get", lambda *a, **k: pytest.fail("dpath.get was called"))
        assert [chosen(cfg, p) for cfg, p in plain] == expected
    others = [
        ({}, path),  # no credentials
        ({"credentials": {}}, path),  # no auth_type
        ({"credentials": {"auth_type": "OAUTH"}}, path),  # an unknown choice
        ({"credentials": [{"auth_type": "CENTRAL_API_ROUTER"}]}, path),  # a list on the way
        ({"credentials": {"auth_type": "CENTRAL_API_ROUTER"}}, ["credentials", "auth_*"]),  # a glob
        ({"credentials": {"auth/type": "CENTRAL_API_ROUTER"}}, ["credentials", "auth/type"]),
    ]
    for cfg, selection_path in others:
        assert chosen(cfg, selection_path) == cdk_chosen(cfg, selection_path), (cfg, selection_path)


def test_runner_rejects_components_that_do_not_match_their_checksum(
    tmp_path: Path, capsys, no_components_module, local_image_absent
):
    cfg = injected(config(end_date=END))
    cfg["__injected_components_py_checksums"] = {"md5": hashlib.md5(b"something else").hexdigest()}
    catalog = catalog_file(tmp_path / "catalog.json", "orders")

    with pytest.raises(Exception, match="checksum"):
        sdm_run.handle_command(["read", "--config", write_json(tmp_path / "c.json", cfg), "--catalog", catalog])
    assert "source_declarative_manifest.components" not in sys.modules


def test_runner_refuses_injected_code_unless_allowed(tmp_path: Path, capsys, monkeypatch, local_image_absent):
    monkeypatch.delenv("AIRBYTE_ENABLE_UNSAFE_CODE", raising=False)
    cfg = write_json(tmp_path / "c.json", injected(config(end_date=END)))
    catalog = catalog_file(tmp_path / "catalog.json", "orders")

    with pytest.raises(Exception, match="AIRBYTE_ENABLE_UNSAFE_CODE"):
        sdm_run.handle_command(["read", "--config", cfg, "--catalog", catalog])


# ---------------------------------------------------------------------------------------------
# Connector Builder
# ---------------------------------------------------------------------------------------------


def builder_request(
    tmp_path: Path, cfg: Mapping[str, Any], command: str, stream: str = "orders"
) -> Dict[str, Any]:
    """One request to the Builder's backend, as `python -m airbyte_cdk.connector_builder.main read`."""
    body = dict(cfg)
    body["__command"] = command
    body.setdefault("__test_read_config", {"max_records": 100, "max_pages_per_slice": 10, "max_slices": 5})
    args = [
        "read",
        "--config", write_json(tmp_path / f"{command}-{stream}-config.json", body),
        "--catalog", catalog_file(tmp_path / f"{command}-{stream}-catalog.json", stream),
    ]
    return json.loads(builder_main.handle_request(args))


def pages_of(answer: Mapping[str, Any]) -> List[Dict[str, Any]]:
    assert answer["type"] == "RECORD", answer
    data = answer["record"]["data"]
    assert not [log for log in data["logs"] if log["level"] in ("ERROR", "FATAL")], data["logs"]
    return [page for slice_ in data["slices"] for page in slice_["pages"]]


def secrets_of(cfg: Mapping[str, Any]) -> List[str]:
    names = ("access_token", "user_name", "user_secret", "site_id")
    return [str(cfg["credentials"][name]) for name in names if name in cfg["credentials"]]


def assert_shown_requests_go_to(pages: List[Dict[str, Any]], host: str, path: str) -> None:
    for page in pages:
        url = urlsplit(page["request"]["url"])
        assert (url.scheme, url.netloc, url.path) == ("https", host, f"/api/v1/{path}"), page["request"]["url"]
        assert "//" not in url.path


@pytest.mark.parametrize("stream", ["orders", "order_items", "products"])
def test_builder_test_read_shows_pages_of_records(
    stream: str, tmp_path: Path, capsys, no_components_module
):
    cfg = injected(config(end_date=END, page_size=2))
    with requests_mock.Mocker() as mocker:
        serve(mocker, stream, store_records(stream, count=5), token=TOKEN)
        answer = builder_request(tmp_path, cfg, "test_read", stream)

    pages = pages_of(answer)
    assert len(pages) >= 3  # 5 records, 2 a page, each page starting at the last updated_at read
    assert all(page["records"] for page in pages)
    assert sorted({r["id"] for page in pages for r in page["records"]}) == [1, 2, 3, 4, 5]
    assert pages[0]["records"][0]["updated_at"] == "2021-01-01T16:00:00.250000Z"
    assert_shown_requests_go_to(pages, "mystore.com", RESOURCES[stream][0])
    assert pages[0]["request"]["headers"]["X-AC-Auth-Token"] != TOKEN
    shown = json.dumps(answer) + capsys.readouterr().out
    assert TOKEN not in shown


def test_builder_test_read_with_router_credentials_hides_them(tmp_path: Path, capsys, no_components_module):
    router = config(ROUTER_CONFIG, end_date=END, page_size=2)
    router["credentials"].update(
        user_name="router-USER-31337", user_secret="router-SECRET-abcdef", site_id="site-ID-271828"
    )
    with requests_mock.Mocker() as mocker:
        serve(mocker, "orders", store_records("orders", count=3), host="public.americommerce.com")
        answer = builder_request(tmp_path, injected(router), "test_read", "orders")

    pages = pages_of(answer)
    assert len(pages) >= 2 and all(page["records"] for page in pages)
    assert_shown_requests_go_to(pages, "public.americommerce.com", "orders")
    assert pages[0]["request"]["headers"]["X-AC-PUB-Auth-Signature"]
    shown = json.dumps(answer) + capsys.readouterr().out
    for secret in secrets_of(router):
        assert secret not in shown, f"secret {secret[:6]}... shown by the Builder"


def http_requesters(node: Any) -> List[Mapping[str, Any]]:
    """Every HttpRequester definition in a manifest (or part of one)."""
    found: List[Mapping[str, Any]] = []
    if isinstance(node, Mapping):
        if node.get("type") == "HttpRequester":
            found.append(node)
        for value in node.values():
            found.extend(http_requesters(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(http_requesters(item))
    return found


def test_manifest_migration_keeps_url_and_adds_no_slash():
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    migrated = ManifestMigrationHandler(copy.deepcopy(manifest)).apply_migrations()

    assert migrated["definitions"]["requester"]["url"] == manifest["definitions"]["requester"]["url"]
    requesters = http_requesters(migrated)
    assert requesters and all("url" in r and "url_base" not in r and "path" not in r for r in requesters)


def test_builder_migrated_and_normalised_manifest_still_reads_clean_urls(
    tmp_path: Path, capsys, no_components_module
):
    # What the Builder UI does on import: resolve_manifest with migration and normalisation, then
    # test reads on the manifest it got back.
    cfg = injected(config(end_date=END, page_size=2))
    resolved = builder_request(
        tmp_path, {**cfg, "__should_migrate": True, "__should_normalize": True}, "resolve_manifest"
    )
    assert resolved["type"] == "RECORD", resolved
    manifest = resolved["record"]["data"]["manifest"]
    requesters = http_requesters(manifest)
    assert requesters and all("url_base" not in r and "path" not in r for r in requesters)

    with requests_mock.Mocker() as mocker:
        serve(mocker, "products", store_records("products", count=4), token=TOKEN)
        answer = builder_request(tmp_path, {**cfg, "__injected_declarative_manifest": manifest}, "test_read", "products")
    pages = pages_of(answer)
    assert len(pages) >= 2 and all(page["records"] for page in pages)
    assert_shown_requests_go_to(pages, "mystore.com", "products")

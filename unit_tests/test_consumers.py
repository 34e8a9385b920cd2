"""The manifest as Airbyte's other consumers run it, in-process, against canned Cart.com answers.

- The CDK's `source-declarative-manifest` runner (the entry point of the manifest-only image):
  with the manifest and components.py injected in the config, and with `--manifest-path` /
  `--components-path`; a components.py that does not match its checksum, or injected code
  without AIRBYTE_ENABLE_UNSAFE_CODE, is refused.
- The Connector Builder's backend (`airbyte_cdk.connector_builder.main`): `test_read` shows the
  pages and hides every credential; the manifest the Builder migrates and normalises on import
  keeps its `url` and still reads.

They read the repo-root `manifest.yaml` and `components.py`, the only copies (source_cart/ links
to them). The custom classes are named `source_declarative_manifest.components.X`; conftest's
autouse `fresh_components_module` removes that module (and the `components` fallback) before
each test, so a pass proves the runner loaded the components.py it was given.
"""

import copy
import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any, Dict, List, Mapping
from urllib.parse import urlsplit

import pytest
import yaml

from airbyte_cdk.cli.source_declarative_manifest import run as sdm_run
from airbyte_cdk.connector_builder.main import handle_request as builder_handle_request
from airbyte_cdk.manifest_migrations.migration_handler import ManifestMigrationHandler
from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer, SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput
from airbyte_cdk.test.mock_http import HttpMocker, HttpRequest, HttpResponse

from unit_tests.conftest import ROUTER_CONFIG, TOKEN, all_output, config

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "manifest.yaml"
COMPONENTS = ROOT / "components.py"
END = "2021-12-31T00:00:00Z"
END_UTC = "2021-12-31T00:00:00.000000Z"

# What the store holds (local times with offsets, 0 to 7 fraction digits) and what a sync emits.
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
}
RECORD_KEY = {"orders": "orders", "order_items": "items"}
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


@pytest.fixture
def unsafe_code_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRBYTE_ENABLE_UNSAFE_CODE", "true")


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


def first_page(stream: str, host: str = "mystore.com", count: int = 1000, **headers: str) -> HttpRequest:
    """A first sync's first request: no updated_at filter (it would hide blank dates), sorted."""
    return HttpRequest(
        f"https://{host}/api/v1/{stream}",
        query_params={"page": "1", "sort": "updated_at", "count": str(count)},
        headers=headers,
    )


def window_page(stream: str, since: str, host: str = "mystore.com", count: int = 1000) -> HttpRequest:
    """A later page of the updated_at walk: from the last updated_at read, up to the window's end."""
    return HttpRequest(
        f"https://{host}/api/v1/{stream}",
        query_params={"page": "1", "sort": "updated_at", "count": str(count), "updated_at": f"gte:{since} AND lte:{END_UTC}"},
    )


def answer(stream: str, records: List[Dict[str, Any]], total: int = 0) -> HttpResponse:
    body = {"total_count": total or len(records), RECORD_KEY.get(stream, stream): copy.deepcopy(records)}
    return HttpResponse(json.dumps(body), headers={"X-AC-Call-Limit": "1/50"})


# ---------------------------------------------------------------------------------------------
# source-declarative-manifest
# ---------------------------------------------------------------------------------------------


def run_sdm(args: List[str], capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> EntrypointOutput:
    """Run the `source-declarative-manifest` command in-process and parse what it printed."""
    monkeypatch.setattr(sys, "argv", ["source-declarative-manifest", *args])
    sdm_run()
    captured = capsys.readouterr()
    return EntrypointOutput(messages=[line for line in captured.out.splitlines() if line.startswith("{")])


def records_by_stream(output: EntrypointOutput) -> Dict[str, List[Dict[str, Any]]]:
    result: Dict[str, List[Dict[str, Any]]] = {}
    for message in output.records:
        result.setdefault(message.record.stream, []).append(dict(message.record.data))
    return result


def final_states(output: EntrypointOutput) -> Dict[str, Dict[str, Any]]:
    return {
        m.state.stream.stream_descriptor.name: dict(m.state.stream.stream_state.__dict__) for m in output.state_messages
    }


def two_stream_sync(http: HttpMocker) -> List[HttpRequest]:
    """Cart.com answering one page of orders and one of order items to a token's first sync."""
    requests = [first_page(stream, **{"X-AC-Auth-Token": TOKEN}) for stream in STORE]
    for request, stream in zip(requests, STORE):
        http.get(request, answer(stream, STORE[stream]))
    return requests


def assert_two_stream_sync(http: HttpMocker, requests: List[HttpRequest], output: EntrypointOutput) -> None:
    assert not output.errors, all_output(output)
    assert records_by_stream(output) == EMITTED
    assert final_states(output) == {
        "orders": {"updated_at": "2021-08-15T06:30:00.000000Z"},
        "order_items": {"updated_at": "2021-02-01T12:00:00.500000Z"},
    }
    for request in requests:
        http.assert_number_of_calls(request, 1)
    assert TOKEN not in all_output(output)


def test_runner_reads_with_manifest_and_components_injected_in_config(tmp_path, capsys, monkeypatch, unsafe_code_allowed):
    cfg = write_json(tmp_path / "config.json", injected(config(end_date=END)))
    catalog = catalog_file(tmp_path / "catalog.json", "orders", "order_items")

    with HttpMocker() as http:
        requests = two_stream_sync(http)
        output = run_sdm(["read", "--config", cfg, "--catalog", catalog], capsys, monkeypatch)
        assert_two_stream_sync(http, requests, output)

    module = sys.modules["source_declarative_manifest.components"]
    assert not hasattr(module, "__file__"), "components must come from the config's text, not a file"


def test_runner_reads_with_manifest_path_and_components_path(tmp_path, capsys, monkeypatch, unsafe_code_allowed):
    # The two files alone, away from the checkout, as the manifest-only image holds them.
    connector = tmp_path / "integration_code"
    connector.mkdir()
    shutil.copyfile(MANIFEST, connector / "manifest.yaml")
    shutil.copyfile(COMPONENTS, connector / "components.py")
    monkeypatch.chdir(tmp_path)
    cfg = write_json(tmp_path / "config.json", config(end_date=END))
    catalog = catalog_file(tmp_path / "catalog.json", "orders", "order_items")

    with HttpMocker() as http:
        requests = two_stream_sync(http)
        output = run_sdm(
            [
                "read", "--config", cfg, "--catalog", catalog,
                "--manifest-path", str(connector / "manifest.yaml"),
                "--components-path", str(connector / "components.py"),
            ],
            capsys,
            monkeypatch,
        )
        assert_two_stream_sync(http, requests, output)

    assert Path(sys.modules["source_declarative_manifest.components"].__file__) == connector / "components.py"


def test_runner_rejects_components_that_do_not_match_their_checksum(tmp_path, capsys, monkeypatch, unsafe_code_allowed):
    cfg = injected(config(end_date=END))
    cfg["__injected_components_py_checksums"] = {"md5": hashlib.md5(b"something else").hexdigest()}
    args = ["read", "--config", write_json(tmp_path / "c.json", cfg), "--catalog", catalog_file(tmp_path / "k.json", "orders")]

    with HttpMocker(), pytest.raises(Exception, match="checksum"):
        run_sdm(args, capsys, monkeypatch)
    printed = capsys.readouterr().out
    assert '"type":"TRACE"' in printed and "checksum" in printed
    assert "source_declarative_manifest.components" not in sys.modules


def test_runner_refuses_injected_code_unless_allowed(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("AIRBYTE_ENABLE_UNSAFE_CODE", raising=False)
    args = [
        "read", "--config", write_json(tmp_path / "c.json", injected(config(end_date=END))),
        "--catalog", catalog_file(tmp_path / "k.json", "orders"),
    ]

    with HttpMocker(), pytest.raises(Exception, match="AIRBYTE_ENABLE_UNSAFE_CODE"):
        run_sdm(args, capsys, monkeypatch)
    assert "source_declarative_manifest.components" not in sys.modules


# ---------------------------------------------------------------------------------------------
# Connector Builder
# ---------------------------------------------------------------------------------------------

# Three orders read two a page: the first page unfiltered, the second from the last updated_at
# read (so the boundary order comes twice; the destination's dedup keeps one).
ORDERS = [
    {"id": 1, "updated_at": "2021-01-01T10:00:00.25-06:00"},
    {"id": 2, "updated_at": "2021-02-01T10:00:00.25-06:00"},
    {"id": 3, "updated_at": "2021-06-01T10:00:00.25-05:00"},
]
SECOND_PAGE_FROM = "2021-02-01T16:00:00.250000Z"


def serve_two_pages(http: HttpMocker, host: str = "mystore.com") -> List[HttpRequest]:
    requests = [first_page("orders", host, count=2), window_page("orders", SECOND_PAGE_FROM, host, count=2)]
    http.get(requests[0], answer("orders", ORDERS[:2], total=3))
    http.get(requests[1], answer("orders", ORDERS[1:], total=2))
    return requests


def builder_request(tmp_path: Path, cfg: Mapping[str, Any], command: str, stream: str = "orders") -> Dict[str, Any]:
    """One request to the Builder's backend, as `python -m airbyte_cdk.connector_builder.main read`."""
    body = dict(cfg)
    body["__command"] = command
    body.setdefault("__test_read_config", {"max_records": 100, "max_pages_per_slice": 10, "max_slices": 5})
    args = [
        "read",
        "--config", write_json(tmp_path / f"{command}-config.json", body),
        "--catalog", catalog_file(tmp_path / f"{command}-catalog.json", stream),
    ]
    return json.loads(builder_handle_request(args))


def pages_of(answer_: Mapping[str, Any]) -> List[Dict[str, Any]]:
    assert answer_["type"] == "RECORD", answer_
    data = answer_["record"]["data"]
    assert not [log for log in data["logs"] if log["level"] in ("ERROR", "FATAL")], data["logs"]
    return [page for slice_ in data["slices"] for page in slice_["pages"]]


def assert_two_pages_shown(pages: List[Dict[str, Any]], host: str) -> None:
    assert [[r["id"] for r in page["records"]] for page in pages] == [[1, 2], [2, 3]]
    assert pages[0]["records"][0]["updated_at"] == "2021-01-01T16:00:00.250000Z"  # in UTC
    for page in pages:
        url = urlsplit(page["request"]["url"])
        assert (url.scheme, url.netloc, url.path) == ("https", host, "/api/v1/orders"), page["request"]["url"]


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


def test_builder_imports_the_manifest_and_test_read_shows_its_pages(tmp_path, capsys, unsafe_code_allowed):
    # What the Builder UI does on import: resolve_manifest with migration and normalisation,
    # then test reads of the manifest it got back.
    cfg = injected(config(end_date=END, page_size=2))
    resolved = builder_request(tmp_path, {**cfg, "__should_migrate": True, "__should_normalize": True}, "resolve_manifest")
    assert resolved["type"] == "RECORD", resolved
    manifest = resolved["record"]["data"]["manifest"]
    requesters = http_requesters(manifest)
    assert requesters and all("url" in r and "url_base" not in r and "path" not in r for r in requesters)

    with HttpMocker() as http:
        requests = serve_two_pages(http)
        answer_ = builder_request(tmp_path, {**cfg, "__injected_declarative_manifest": manifest}, "test_read")
        for request in requests:
            http.assert_number_of_calls(request, 1)

    pages = pages_of(answer_)
    assert_two_pages_shown(pages, "mystore.com")
    assert pages[0]["request"]["headers"]["X-AC-Auth-Token"] != TOKEN  # shown masked
    assert TOKEN not in json.dumps(answer_) + capsys.readouterr().out


def test_builder_test_read_with_router_credentials_hides_them(tmp_path, capsys, unsafe_code_allowed):
    router = config(ROUTER_CONFIG, end_date=END, page_size=2)
    router["credentials"].update(user_name="router-USER-31337", user_secret="router-SECRET-abcdef", site_id="site-ID-271828")
    cfg = injected(router)

    with HttpMocker() as http:
        serve_two_pages(http, host="public.americommerce.com")
        answer_ = builder_request(tmp_path, cfg, "test_read")

    pages = pages_of(answer_)
    assert_two_pages_shown(pages, "public.americommerce.com")
    assert pages[0]["request"]["headers"]["X-AC-PUB-Auth-Signature"]
    shown = json.dumps(answer_) + capsys.readouterr().out
    for name in ("user_name", "user_secret", "site_id"):
        secret = router["credentials"][name]
        assert secret not in shown, f"the Builder shows the router's {name}"


def test_manifest_migration_keeps_the_url_and_adds_no_slash():
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    migrated = ManifestMigrationHandler(copy.deepcopy(manifest)).apply_migrations()

    assert migrated["definitions"]["requester"]["url"] == manifest["definitions"]["requester"]["url"]
    requesters = http_requesters(migrated)
    assert requesters and all("url" in r and "url_base" not in r and "path" not in r for r in requesters)

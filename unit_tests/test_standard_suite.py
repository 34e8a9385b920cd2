"""The CDK's standard source tests, run on the manifest as the manifest-only image loads it
(components injected into the config), against an in-memory Cart.com."""

from pathlib import Path

import pytest
import requests_mock
import yaml
from boltons.typeutils import classproperty

from airbyte_cdk.test.standard_tests import DeclarativeSourceTestSuite

from unit_tests.fake_cart import FakeCart

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = yaml.safe_load((ROOT / "source_cart" / "manifest.yaml").read_text())
# resource path -> record key, for every stream of the manifest
RESOURCES = {
    stream["$parameters"]["resource"]: stream["$parameters"]["record_key"] for stream in MANIFEST["streams"]
}


def sample(resource):
    return [
        {"id": 1, "updated_at": "2021-03-01T10:00:00.12-06:00", "created_at": ""},
        {"id": 2, "updated_at": "2021-07-01T10:00:00.1234567-05:00", "created_at": None},
    ]


@pytest.fixture(autouse=True)
def fake_store():
    with requests_mock.Mocker() as mocker:
        for resource, key in RESOURCES.items():
            FakeCart(resource, key, sample(resource), host="demo-store.sandbox.test", token="suite-token").install(mocker)
            FakeCart(resource, key, sample(resource), host="public.americommerce.com").install(mocker)
        yield


class TestCartStandardSuite(DeclarativeSourceTestSuite):
    @classmethod
    def get_connector_root_dir(cls) -> Path:
        return ROOT

    @classproperty
    def manifest_yaml_path(cls) -> Path:  # type: ignore[override]
        return ROOT / "source_cart" / "manifest.yaml"

    @classproperty
    def components_py_path(cls) -> Path:  # type: ignore[override]
        return ROOT / "source_cart" / "components.py"

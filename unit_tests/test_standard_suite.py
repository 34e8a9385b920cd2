"""The CDK's standard source tests (DeclarativeSourceTestSuite) on the repo root's manifest.yaml
and components.py, as the manifest-only image loads them, against the local Cart.com sandbox.

The scenarios come from acceptance-test-config.yml; their configs (unit_tests/resources/) hold
the credentials the sandbox is given here: token `suite-token` for the store
demo-store.sandbox.test, router user `suite-user` / secret `suite-secret` / site 77.
"""

from pathlib import Path
from typing import Iterator

import pytest

from airbyte_cdk.test.standard_tests import DeclarativeSourceTestSuite
from cart_sandbox.harness import Sandbox

from unit_tests.sandbox_fixtures import reset, sandbox  # noqa: F401  (pytest fixture)

ROOT = Path(__file__).resolve().parent.parent
SUITE_CREDENTIALS = dict(tokens=["suite-token"], router_user="suite-user", router_secret="suite-secret", site_id="77")


@pytest.fixture(autouse=True)
def suite_store(sandbox: Sandbox) -> Iterator[None]:  # noqa: F811
    reset(sandbox, credentials=SUITE_CREDENTIALS)
    with sandbox.patched_env():
        yield


class TestCartStandardSuite(DeclarativeSourceTestSuite):
    @classmethod
    def get_connector_root_dir(cls) -> Path:
        return ROOT

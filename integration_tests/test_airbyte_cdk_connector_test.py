"""`airbyte-cdk connector test`, Airbyte's own runner of the standard tests, on the repo root's
manifest.yaml and components.py, against the sandbox (through its proxy and test CA)."""

import os
import subprocess
import sys
from pathlib import Path

from cart_sandbox.harness import Sandbox

ROOT = Path(__file__).resolve().parent.parent
AIRBYTE_CDK = str(Path(sys.executable).with_name("airbyte-cdk"))


def test_airbyte_cdk_connector_test_passes_on_the_manifest_only_layout():
    # The credentials of acceptance-test-config.yml's configs (unit_tests/resources/).
    with Sandbox(size="tiny", seed=2, rate_limit=0, tokens=["suite-token"], router_user="suite-user",
                 router_secret="suite-secret", site_id="77") as sandbox:
        done = subprocess.run(
            [AIRBYTE_CDK, "connector", "test", str(ROOT)],
            env={**os.environ, **sandbox.env()}, capture_output=True, text=True, timeout=600,
        )
    summary = [line for line in done.stdout.splitlines() if " passed" in line or " failed" in line]
    assert done.returncode == 0, (summary, done.stdout[-3000:])
    assert summary and "failed" not in summary[-1]

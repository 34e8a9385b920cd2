"""End-to-end helpers: the installed `source-cart` command against the local Cart.com sandbox.

The connector runs as a subprocess, exactly as a user runs it; it reaches the sandbox's hosts
(`https://demo-store.sandbox.test`, `https://public.americommerce.com`) through the sandbox's
CONNECT proxy and trusts its test CA, both given in the environment (HTTPS_PROXY,
REQUESTS_CA_BUNDLE). Nothing in the connector knows it is talking to a sandbox.
"""

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from cart_sandbox.harness import Sandbox

SOURCE_CART = str(Path(sys.executable).with_name("source-cart"))


@dataclass
class Run:
    returncode: int
    messages: List[Dict[str, Any]]
    stderr: str
    stdout: str = ""

    def of_type(self, kind: str) -> List[Dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == kind]

    @property
    def records(self) -> List[Dict[str, Any]]:
        return [m["record"] for m in self.of_type("RECORD")]

    def ids(self, stream: str) -> List[Any]:
        return [r["data"].get("id") for r in self.records if r["stream"] == stream]

    @property
    def errors(self) -> List[str]:
        return [
            m["trace"]["error"]["message"]
            for m in self.of_type("TRACE")
            if m["trace"].get("type") == "ERROR"
        ]

    def logs(self, level: Optional[str] = None) -> List[str]:
        return [
            m["log"]["message"]
            for m in self.of_type("LOG")
            if level is None or m["log"]["level"] == level
        ]

    def states(self) -> Dict[str, Dict[str, Any]]:
        """The last state message of each stream."""
        result: Dict[str, Dict[str, Any]] = {}
        for message in self.of_type("STATE"):
            stream = message["state"]["stream"]
            result[stream["stream_descriptor"]["name"]] = stream["stream_state"]
        return result

    def state_file_content(self) -> List[Dict[str, Any]]:
        return [m["state"] for m in self.of_type("STATE")]


@dataclass
class Connector:
    """Runs `source-cart <command>` with files written to a temporary folder."""

    sandbox: Sandbox
    folder: Path
    counter: List[int] = field(default_factory=lambda: [0])

    def _write(self, name: str, content: Any) -> str:
        self.counter[0] += 1
        path = self.folder / f"{self.counter[0]:03d}-{name}.json"
        path.write_text(json.dumps(content))
        return str(path)

    def run(
        self,
        command: str,
        config: Dict[str, Any],
        streams: Optional[List[str]] = None,
        mode: str = "full_refresh",
        state: Optional[Any] = None,
        timeout: float = 300,
    ) -> Run:
        args = [SOURCE_CART, command, "--config", self._write("config", config)]
        if command == "read":
            args += ["--catalog", self._write("catalog", catalog(streams or [], mode))]
            if state is not None:
                args += ["--state", self._write("state", state)]
        env = {**os.environ, **self.sandbox.env()}
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env)
        messages = []
        for line in done.stdout.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    messages.append(json.loads(line))
                except ValueError:
                    pass
        return Run(done.returncode, messages, done.stderr, done.stdout)


def catalog(streams: List[str], mode: str) -> Dict[str, Any]:
    entries = []
    for name in streams:
        entries.append(
            {
                "stream": {
                    "name": name,
                    "json_schema": {},
                    "supported_sync_modes": ["full_refresh", "incremental"],
                    "source_defined_cursor": True,
                    "default_cursor_field": ["updated_at"],
                },
                "sync_mode": mode,
                "destination_sync_mode": "append_dedup" if mode == "incremental" else "overwrite",
                "cursor_field": ["updated_at"],
                "primary_key": [["id"]],
            }
        )
    return {"streams": entries}


def token_config(sandbox: Sandbox, **extra: Any) -> Dict[str, Any]:
    return {
        "credentials": {
            "auth_type": "SINGLE_STORE_ACCESS_TOKEN",
            "access_token": sandbox.token,
            "store_name": sandbox.store_domain,
        },
        "start_date": "2020-01-01T00:00:00Z",
        "max_retries": 8,
        **extra,
    }


def router_config(sandbox: Sandbox, **extra: Any) -> Dict[str, Any]:
    return {
        "credentials": {
            "auth_type": "CENTRAL_API_ROUTER",
            "user_name": sandbox.router_user,
            "user_secret": sandbox.router_secret,
            "site_id": str(sandbox.site_id),
        },
        "start_date": "2020-01-01T00:00:00Z",
        "max_retries": 8,
        **extra,
    }


def sandbox_ids(sandbox: Sandbox, resource: str) -> List[Any]:
    """Every record id the sandbox holds for a resource, read from its control API."""
    ids: List[Any] = []
    while True:
        records = sandbox.control.records(resource, offset=len(ids), limit=5000, fields=["id"])
        if not records:
            return ids
        ids += [r["id"] for r in records]


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(size="small", seed=11, rate_limit=0) as running:
        yield running


@pytest.fixture
def connector(sandbox: Sandbox, tmp_path: Path) -> Connector:
    """A connector runner on freshly generated data, with no faults, hooks or rate limit."""
    sandbox.control.reset(seed=11, size="small")  # also clears stats, faults and hooks
    sandbox.control.set_rate_limit(limit=0, window="fixed", others=0)
    sandbox.control.settings(max_page_size=1000, scope_status=403)
    return Connector(sandbox, tmp_path)

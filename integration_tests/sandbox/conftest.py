"""Fixtures for the sandbox's own tests: one sandbox per session, reset before each test."""

from __future__ import annotations

import pytest

from cart_sandbox.harness import Sandbox
from sandbox_helpers import Api


@pytest.fixture(scope="session")
def sandbox():
    with Sandbox(size="small", seed=1, rate_limit=0) as sb:
        yield sb


@pytest.fixture
def sb(sandbox):
    c = sandbox.control
    c.reset(seed=1, size="small")  # also clears stats, faults and hooks
    c.set_rate_limit(limit=0, window="fixed", retry_after="date", window_seconds=10, others=0)
    c.settings(max_page_size=1000, next_page_params="all", scope_status=403)
    c.set_clock(real=True)
    return sandbox


@pytest.fixture
def http(sb):
    s = sb.session()
    yield s
    s.close()


@pytest.fixture
def api(sb, http) -> Api:
    return Api(sb, http)

"""The local Cart.com sandbox (cart_sandbox/) for unit tests whose behaviour depends on how the
API filters, sorts and pages: pages read while records change, runs of equal timestamps, a
server that caps the page size.

One sandbox serves the whole test session, in this process (`mode="thread"`, about half a
second to start). Each test starts from freshly generated data (`cart` fixture) and runs the
connector inside `sb.patched_env()`, so the connector's unmodified `requests` reaches
`https://demo-store.sandbox.test` and `https://public.americommerce.com` through the sandbox's
proxy and trusts its test CA.

Test modules import the fixtures they use:

    from unit_tests.sandbox_fixtures import cart, sandbox  # noqa: F401  (fixtures)
"""

import datetime
import re
from typing import Any, Dict, Iterator, List, Optional
from urllib.parse import parse_qsl

import pytest

from cart_sandbox.harness import Sandbox

SEED = 5
# Generated timestamps fall between these instants; start_date is before them.
DATA_START = "2022-07-01T00:00:00Z"
DATA_END = "2025-06-30T00:00:00Z"
START_DATE = "2021-01-01T00:00:00Z"

_running: Dict[str, Any] = {"sandbox": None, "users": 0}


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """The session's sandbox. Test modules that import this fixture each get a session-scoped
    copy of it from pytest: they share one server, stopped when the last of them is done."""
    if _running["sandbox"] is None:
        _running["sandbox"] = Sandbox(mode="thread", size="tiny", seed=SEED, rate_limit=0).start()
    _running["users"] += 1
    try:
        yield _running["sandbox"]
    finally:
        _running["users"] -= 1
        if _running["users"] == 0:
            _running["sandbox"].stop()
            _running["sandbox"] = None


@pytest.fixture
def cart(sandbox: Sandbox) -> Iterator["Cart"]:
    """The sandbox with fresh data (seed 5, size tiny, no built-in bulk import, no blank
    updated_at), default settings, no hooks or faults, and the environment pointing at it."""
    reset(sandbox)
    with sandbox.patched_env():
        yield Cart(sandbox)


# The sandbox's own credentials (sb.token, sb.router_user, ...), restored by every reset.
CREDENTIALS = dict(
    tokens=["sandbox-token"], router_user="sandbox-router-user", router_secret="sandbox-router-secret", site_id="1"
)


def reset(sb: Sandbox, credentials: Optional[Dict[str, Any]] = None, **data: Any) -> None:
    """Fresh data (`data` overrides the generator's options), default settings, no hooks,
    faults, rate limit or request log."""
    options = dict(seed=SEED, size="tiny", bulk=False, null_cursor_rate=0.0, start=DATA_START, end=DATA_END)
    options.update(data)
    sb.control.reset(**options)
    sb.control.set_rate_limit(limit=0, window="fixed", others=0)
    sb.control.settings(max_page_size=1000, next_page_params="all", scope_status=403, **(credentials or CREDENTIALS))
    sb.control.set_clock(real=True)


class Cart:
    """A test's view of the sandbox: configs that reach it, its data, the requests it served."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        self.control = sb.control

    def token_config(self, **extra: Any) -> Dict[str, Any]:
        return {
            "credentials": {
                "auth_type": "SINGLE_STORE_ACCESS_TOKEN",
                "access_token": self.sb.token,
                "store_name": self.sb.store_domain,
            },
            "start_date": START_DATE,
            "max_retries": 2,
            **extra,
        }

    def router_config(self, **extra: Any) -> Dict[str, Any]:
        return {
            "credentials": {
                "auth_type": "CENTRAL_API_ROUTER",
                "user_name": self.sb.router_user,
                "user_secret": self.sb.router_secret,
                "site_id": str(self.sb.site_id),
            },
            "start_date": START_DATE,
            "max_retries": 2,
            **extra,
        }

    # -- data -----------------------------------------------------------------------------
    def regenerate(self, **data: Any) -> None:
        """Generate the data again with other options (size, orders, customers, products,
        null_cursor_rate, bulk, ...); settings go back to their defaults."""
        reset(self.sb, **data)

    def empty(self, resource: str = "orders") -> None:
        """Leave `resource` without records (only orders can be generated empty)."""
        assert resource == "orders", "the sandbox generates at least one record of other resources"
        reset(self.sb, orders=0)

    def add(self, resource: str, *updated_at: Optional[str]) -> List[int]:
        """Insert one record per updated_at value (None and "" allowed), in that order; their
        ids ascend. Returns the ids."""
        inserted = self.control.insert(resource, records=[{"updated_at": value} for value in updated_at])
        return [record["id"] for record in inserted]

    def records(self, resource: str) -> List[Dict[str, Any]]:
        """Every record the store holds now (ground truth, straight from the sandbox)."""
        return self.control.records(resource)

    def ids(self, resource: str) -> List[int]:
        return [record["id"] for record in self.records(resource)]

    def latest_updated_at(self, resource: str) -> str:
        """The greatest updated_at of the store's records, in UTC as state holds it."""
        return max(utc(r["updated_at"]) for r in self.records(resource) if r.get("updated_at"))

    # -- requests -------------------------------------------------------------------------
    def requests(self, resource: Optional[str] = None) -> List[Dict[str, str]]:
        """The query parameters of each API request served (decoded), oldest first."""
        return [
            dict(parse_qsl(entry["query"], keep_blank_values=True))
            for entry in self.control.request_log()
            if entry["path"].startswith("/api/") and (resource is None or entry["resource"] == resource)
        ]

    def clear_requests(self) -> None:
        self.control.clear_stats()


_TIMESTAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?")


def utc(value: str) -> str:
    """A Cart.com timestamp (any offset, 0 to 7 fraction digits) as `YYYY-MM-DDTHH:MM:SS.ffffffZ`,
    the form records and state carry. Written here independently of components.py."""
    match = _TIMESTAMP.fullmatch(value)
    assert match, value
    base, fraction, offset = match.groups()
    moment = datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(
        microsecond=int((fraction or "0")[:6].ljust(6, "0"))
    )
    if offset and offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        moment -= sign * datetime.timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

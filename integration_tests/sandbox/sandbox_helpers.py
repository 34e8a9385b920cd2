"""Helpers shared by the sandbox tests (independent of the sandbox's own parsing code)."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import requests

SEVEN = {
    "customers": "customers",
    "orders": "orders",
    "order_items": "items",
    "order_payments": "payments",
    "order_statuses": "order_statuses",
    "products": "products",
    "addresses": "addresses",
}

_ISO = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,7}))?(Z|[+-]\d{2}:\d{2})$")


def instant(text: str) -> tuple[datetime, int]:
    """Independent parser: (UTC datetime to the second, 100 ns ticks of the fraction)."""
    m = _ISO.match(text)
    assert m, f"not a Cart.com timestamp: {text!r}"
    base = datetime.fromisoformat(m.group(1) + ("+00:00" if m.group(3) == "Z" else m.group(3)))
    frac = int((m.group(2) or "").ljust(7, "0"))
    return base.astimezone(timezone.utc), frac


def fraction_digits(text: str) -> int:
    m = _ISO.match(text)
    return len(m.group(2) or "") if m else -1



class Api:
    """GET helper: store host through the proxy by default."""

    def __init__(self, sb, session: requests.Session):
        self.sb = sb
        self.s = session

    def url(self, path: str, host: str = "store") -> str:
        base = {"store": self.sb.store_url, "direct": self.sb.base_url,
                "router": self.sb.router_url}[host]
        return f"{base}/api/v1/{path.lstrip('/')}"

    def get(self, path: str, params=None, host: str = "store", token: str | None = None,
            headers: dict | None = None, **kw) -> requests.Response:
        h = {"X-AC-Auth-Token": token or self.sb.token}
        h.update(headers or {})
        return self.s.get(self.url(path, host), params=params, headers=h, timeout=30, **kw)

    def ok(self, path: str, params=None, **kw) -> dict:
        r = self.get(path, params, **kw)
        assert r.status_code == 200, (r.status_code, r.text[:300])
        return r.json()

    def all(self, resource: str, params=None) -> list[dict]:
        """Every record of a list query, page by page with count=1000."""
        key = SEVEN.get(resource, resource)
        out, page = [], 1
        while True:
            p = dict(params or {})
            p.update(page=page, count=1000)
            body = self.ok(resource, p)
            out.extend(body[key])
            if "next_page" not in body:
                return out
            page += 1



def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)

"""A small in-memory Cart.com list endpoint for mocked-HTTP tests.

It answers `GET https://<host>/api/v1/<resource>` through requests-mock the way API-NOTES
describes: `updated_at` and `id` filters (gte/gt/lt/lte joined by AND, compared as instants),
`sort`, `page` and `count` with a silent cap, 404 past the last page, `total_count` and
`next_page`. Tests mutate `records` between requests through `before_request` hooks to play a
store that changes while a sync runs.
"""

import datetime
import json
import re
from typing import Any, Callable, Dict, List, Optional
from urllib.parse import parse_qs, urlsplit

import requests_mock

_OPS = {
    "gte": lambda a, b: a >= b,
    "gt": lambda a, b: a > b,
    "lte": lambda a, b: a <= b,
    "lt": lambda a, b: a < b,
    "eq": lambda a, b: a == b,
}


def instant(value: str) -> datetime.datetime:
    """Parse any ISO-8601 timestamp with 0-7 fraction digits into an aware datetime."""
    match = re.match(r"^(.{19})(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$", value)
    base, fraction, offset = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    moment = datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(microsecond=micros)
    if offset in (None, "Z"):
        return moment.replace(tzinfo=datetime.timezone.utc)
    sign = -1 if offset[0] == "-" else 1
    delta = datetime.timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
    return moment.replace(tzinfo=datetime.timezone(sign * delta))


def _matches(value: Any, expression: str, field: str) -> bool:
    if value in (None, ""):
        return False
    for condition in expression.split(" AND "):
        op, _, operand = condition.partition(":")
        if field == "id":
            left, right = int(value), int(operand)
        else:
            left, right = instant(value), instant(operand)
        if not _OPS[op](left, right):
            return False
    return True


class FakeCart:
    def __init__(
        self,
        resource: str,
        key: str,
        records: List[Dict[str, Any]],
        host: str = "mystore.com",
        max_count: int = 1000,
        token: Optional[str] = None,
    ):
        self.token = token
        self.resource = resource
        self.key = key
        self.records = records
        self.host = host
        self.max_count = max_count
        self.requests: List[Dict[str, str]] = []
        self.before_request: Optional[Callable[["FakeCart", int], None]] = None
        # When set, every answer carries `X-AC-Call-Limit: <calls so far>/<call_limit>`.
        self.call_limit: Optional[int] = None

    @property
    def url(self) -> str:
        return f"https://{self.host}/api/v1/{self.resource}"

    def install(self, mocker: requests_mock.Mocker) -> None:
        mocker.get(re.compile(re.escape(self.url) + r"(\?.*)?$"), json=self._answer)

    def _answer(self, request: Any, context: Any) -> Any:
        query = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        self.requests.append(query)
        if self.call_limit is not None:
            context.headers["X-AC-Call-Limit"] = f"{len(self.requests)}/{self.call_limit}"
        if self.token is not None and request.headers.get("X-AC-Auth-Token") != self.token:
            context.status_code = 401
            return {"status_code": 401, "message": "Unauthorized", "details": "Invalid or missing access token."}
        if self.before_request:
            self.before_request(self, len(self.requests))
        selected = [
            r
            for r in self.records
            if all(_matches(r.get(f), query[f], f) for f in ("updated_at", "id") if f in query)
        ]
        for key in reversed(query.get("sort", "").split(",")):
            if key:
                field = key.lstrip("-")
                # Records without updated_at sort first, as in SQL Server.
                sort_key = (
                    (lambda r: (bool(r[field]), instant(r[field]) if r[field] else 0))
                    if field == "updated_at"
                    else (lambda r: r[field])
                )
                selected.sort(key=sort_key, reverse=key.startswith("-"))
        count = min(int(query.get("count", 100)), self.max_count)
        page = int(query.get("page", 1))
        start = (page - 1) * count
        if page > 1 and start >= len(selected):
            context.status_code = 404
            return {"status_code": 404, "message": "Not Found", "details": "Page not found."}
        body: Dict[str, Any] = {"total_count": len(selected), self.key: selected[start : start + count]}
        if start + count < len(selected):
            body["next_page"] = f"{self.url}?page={page + 1}&count={count}"
        if page > 1:
            body["previous_page"] = f"{self.url}?page={page - 1}&count={count}"
        return json.loads(json.dumps(body))

    def touch(self, record_id: int, when: str) -> None:
        """Update a record, as the store would: it gets a new updated_at."""
        for record in self.records:
            if record["id"] == record_id:
                record["updated_at"] = when

"""The Starlette application: Cart.com REST API v1, auth, rate limit, faults, control API."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import math
import random
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import timeutil as tu
from .data import PRESETS, GenConfig
from .resources import ALL_SCOPES
from .store import QueryError, Store, Table

try:  # faster when present; output is the same JSON
    import orjson

    def dumps(obj) -> bytes:
        return orjson.dumps(obj)
except ImportError:  # pragma: no cover
    def dumps(obj) -> bytes:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


REASONS = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 409: "Conflict", 429: "Too Many Requests",
    500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
}
# What a store, or whatever stands in front of it, does now and then: a client retries these.
TRANSIENT_KINDS = ("500", "502", "503", "html_200", "html_502", "truncated", "cut_json", "drop")
# What a hostile or broken store does: a client must end, not retry forever, loop or leak.
#   redirect_http / redirect_https: 302 to the same path and query on another host
#   same_page: a list answer ignores filters, sort and page: always page 1, always a next_page
#   hang: accepts the request and never answers (until the client goes, or hang_seconds)
#   trickle: status and headers at once (Content-Length of the real answer), then the body
#     trickle_bytes at a time, one chunk every trickle_interval seconds
#   forbidden: 403 {"message": "Forbidden"} whatever the token and its scopes
#   bad_updated_at_first: the first record of each list page has updated_at = bad_updated_at
HOSTILE_KINDS = ("redirect_http", "redirect_https", "same_page", "hang", "trickle", "forbidden",
                 "bad_updated_at_first")
FAULT_KINDS = TRANSIENT_KINDS + HOSTILE_KINDS
# answered without computing the answer (and without touching last_page)
_UNANSWERED_KINDS = ("redirect_http", "redirect_https", "forbidden", "hang")
# a real page, changed: it counts as the last page served
_PAGE_KINDS = ("same_page", "bad_updated_at_first")
_FAULT_ALIASES = {"html200": "html_200", "html502": "html_502", "html": "html_502",
                  "cut": "cut_json", "cutjson": "cut_json", "truncate": "truncated",
                  "close": "drop", "dropped": "drop", "reset": "drop", "ok": None, "none": None,
                  "pass": None, "": None, "redirect": "redirect_https",
                  "bad_updated_at": "bad_updated_at_first"}
UNAUTHORIZED_DETAILS = "Invalid or missing access token."
BAD_UPDATED_AT = "/Date(1704067260000-0500)/"  # a .NET JSON date: no ISO timestamp


def normalize_kind(kind: Any) -> str | None:
    if kind is None:
        return None
    k = str(kind).strip().lower()
    if k in _FAULT_ALIASES:
        return _FAULT_ALIASES[k]
    if k not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
    return k


# ----------------------------------------------------------------------------------------------
# configuration


@dataclass
class SandboxConfig:
    gen: GenConfig = field(default_factory=GenConfig)
    tokens: list[str] = field(default_factory=lambda: ["sandbox-token"])
    # token -> scopes; requests for a resource outside its scopes answer scope_status
    limited_tokens: dict[str, list[str]] = field(
        default_factory=lambda: {"sandbox-limited-token": ["read_orders"]})
    scope_status: int = 403
    router_host: str = "public.americommerce.com"
    router_user: str = "sandbox-router-user"
    router_secret: str = "sandbox-router-secret"
    site_id: str = "1"
    store_domain: str = "demo-store.sandbox.test"
    max_page_size: int = 1000
    rate_limit: int = 50  # calls per window; 0 = unlimited
    rate_window: str = "fixed"  # fixed | sliding
    retry_after: str = "date"  # date | seconds
    window_seconds: float = 10.0
    next_page_params: str = "all"  # all: repeat every parameter; minimal: only page
    faults: dict = field(default_factory=dict)
    log_limit: int = 50_000  # request log entries kept


# ----------------------------------------------------------------------------------------------
# parts of the state


class RateLimiter:
    UNLIMITED_ALLOWED = 1_000_000

    def __init__(self, limit: int, window: str = "fixed", retry_after: str = "date",
                 window_seconds: float = 10.0, others: int = 0):
        self.configure(limit, window, retry_after, window_seconds, others)

    def configure(self, limit: int, window: str = "fixed", retry_after: str = "date",
                  window_seconds: float = 10.0, others: int = 0):
        """`others`: calls that other apps sharing the store's budget make at the start of
        each (fixed) window; they count against the limit like the client's own."""
        if window not in ("fixed", "sliding"):
            raise ValueError("window must be fixed or sliding")
        if retry_after not in ("date", "seconds"):
            raise ValueError("retry_after must be date or seconds")
        if others and window != "fixed":
            raise ValueError("others (calls of other apps) needs a fixed window")
        self.others = max(0, int(others))
        self.limit = int(limit)
        self.window = window
        self.retry_after = retry_after
        self.window_seconds = float(window_seconds)
        self.reset()

    def reset(self):
        self.window_start: float | None = None
        self.used = 0
        self.stamps: deque[float] = deque()

    @property
    def allowed(self) -> int:
        return self.limit if self.limit > 0 else self.UNLIMITED_ALLOWED

    def _current(self, now: float) -> int:
        if self.window == "fixed":
            if self.window_start is None or now >= self.window_start + self.window_seconds:
                self.window_start = now
                self.used = self.others
            return self.used
        while self.stamps and self.stamps[0] <= now - self.window_seconds:
            self.stamps.popleft()
        return len(self.stamps)

    def peek(self) -> str:
        return f"{self._current(time.time())}/{self.allowed}"

    def hit(self) -> tuple[bool, str, float]:
        """Count one call. Returns (accepted, header value, seconds until the counter resets)."""
        now = time.time()
        used = self._current(now)
        if self.limit > 0 and used >= self.limit:
            if self.window == "fixed":
                reset_at = self.window_start + self.window_seconds
            else:
                reset_at = self.stamps[0] + self.window_seconds
            return False, f"{used}/{self.allowed}", max(0.0, reset_at - now)
        if self.window == "fixed":
            self.used += 1
            used = self.used
        else:
            self.stamps.append(now)
            used = len(self.stamps)
        return True, f"{used}/{self.allowed}", 0.0

    def retry_after_value(self, wait: float) -> str:
        if self.retry_after == "seconds":
            return str(max(1, math.ceil(wait)))
        return tu.http_date(math.ceil(time.time() + wait))

    def describe(self) -> dict:
        return {"limit": self.limit, "window": self.window, "retry_after": self.retry_after,
                "window_seconds": self.window_seconds, "others": self.others, "call_limit": self.peek()}


class Faults:
    """Deterministic fault injection: an explicit schedule first, then a seeded probability."""

    def __init__(self, spec: dict | None = None):
        self.configure(spec or {})

    def configure(self, spec: dict):
        """Replace the whole fault configuration (and zero the injected counters).

        spec: rate (0..1), kinds (list; by default the transient kinds only, never the
        hostile ones), seed, schedule (list of kinds, "ok", or {"kind": k, "times": n}),
        resources (list), latency_ms (ms or [min, max]), truncate_at (share of the body sent by
        truncated / cut_json), redirect_host (where redirect_* point, default other.example),
        trickle_interval (seconds between two chunks of trickle, default 1), trickle_bytes
        (bytes per chunk, default 1), hang_seconds (how long hang and trickle hold a connection
        at most before closing it, default 600), bad_updated_at (the value
        bad_updated_at_first writes). Invalid specs change nothing.
        """
        spec = dict(spec or {})
        unknown = set(spec) - {"rate", "probability", "kinds", "seed", "schedule", "resources",
                               "latency_ms", "latency", "truncate_at", "redirect_host",
                               "trickle_interval", "trickle_bytes", "hang_seconds",
                               "bad_updated_at"}
        if unknown:
            raise ValueError(f"unknown fault options: {sorted(unknown)}")
        rate = float(spec.get("rate", spec.get("probability", 0.0)) or 0.0)
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        kinds = spec.get("kinds") or list(TRANSIENT_KINDS)
        if isinstance(kinds, str):
            kinds = [k for k in kinds.replace("+", ",").split(",") if k.strip()]
        kinds = [k for k in (normalize_kind(k) for k in kinds) if k]
        seed = int(spec.get("seed", 0) or 0)
        schedule = spec.get("schedule") or []
        if isinstance(schedule, str):
            schedule = schedule.split(",")
        queue: deque[str | None] = deque()
        for item in schedule:
            if isinstance(item, dict):
                queue.extend([normalize_kind(item.get("kind"))] * int(item.get("times", 1)))
            else:
                queue.append(normalize_kind(item))
        res = spec.get("resources")
        resources = set(res.split(",") if isinstance(res, str) else res) if res else None
        latency = parse_latency(spec.get("latency_ms", spec.get("latency")))
        truncate_at = float(spec.get("truncate_at", 0.5))
        if not 0.0 < truncate_at < 1.0:
            raise ValueError("truncate_at must be between 0 and 1 (exclusive)")
        redirect_host = str(spec.get("redirect_host") or "other.example").strip()
        if not redirect_host or any(c in redirect_host for c in "/?#@ "):
            raise ValueError("redirect_host must be a host name (with an optional :port)")
        trickle_interval = float(spec.get("trickle_interval", 1.0))
        trickle_bytes = int(spec.get("trickle_bytes", 1))
        hang_seconds = float(spec.get("hang_seconds", 600.0))
        if trickle_interval < 0 or trickle_bytes < 1 or hang_seconds <= 0:
            raise ValueError("trickle_interval must be >= 0, trickle_bytes >= 1, hang_seconds > 0")
        bad_updated_at = spec.get("bad_updated_at", BAD_UPDATED_AT)
        # all valid: apply
        self.rate, self.kinds, self.seed = rate, kinds, seed
        self.rng = random.Random(seed)
        self.latency_rng = random.Random(seed + 7919)
        self.schedule = queue
        self.resources = resources
        self.latency = latency
        self.truncate_at = truncate_at
        self.redirect_host = redirect_host
        self.trickle_interval = trickle_interval
        self.trickle_bytes = trickle_bytes
        self.hang_seconds = hang_seconds
        self.bad_updated_at = bad_updated_at
        self.spec = spec
        self.injected: Counter = Counter()

    def applies(self, resource: str) -> bool:
        return self.resources is None or resource in self.resources

    def next_fault(self, resource: str) -> str | None:
        if not self.applies(resource):
            return None
        if self.schedule:
            return self.schedule.popleft()
        if self.rate > 0 and self.kinds:
            if self.rng.random() < self.rate:
                return self.kinds[int(self.rng.random() * len(self.kinds))]
        return None

    def next_latency(self, resource: str) -> float:
        if self.latency is None or not self.applies(resource):
            return 0.0
        lo, hi = self.latency
        if hi <= lo:
            return lo / 1000.0
        return (lo + self.latency_rng.random() * (hi - lo)) / 1000.0

    def describe(self) -> dict:
        return {"rate": self.rate, "kinds": self.kinds, "seed": self.seed,
                "schedule": list(self.schedule), "resources": sorted(self.resources) if self.resources else None,
                "latency_ms": list(self.latency) if self.latency else None,
                "truncate_at": self.truncate_at, "redirect_host": self.redirect_host,
                "trickle_interval": self.trickle_interval, "trickle_bytes": self.trickle_bytes,
                "hang_seconds": self.hang_seconds, "bad_updated_at": self.bad_updated_at,
                "injected": dict(self.injected)}


def parse_latency(value) -> tuple[float, float] | None:
    if value in (None, "", 0, "0"):
        return None
    if isinstance(value, (int, float)):
        return (float(value), float(value))
    if isinstance(value, (list, tuple)):
        if len(value) == 1:
            return (float(value[0]), float(value[0]))
        return (float(value[0]), float(value[1]))
    text = str(value).strip().lower().removesuffix("ms")
    if "-" in text:
        a, b = text.split("-", 1)
        return (float(a), float(b))
    return (float(text), float(text))


class Stats:
    def __init__(self, log_limit: int):
        self.log_limit = log_limit
        self.reset()

    def reset(self):
        self.total = 0
        self.seq = 0
        self.by_resource: Counter = Counter()
        self.by_status: Counter = Counter()
        self.rate_limited = 0
        self.faults: Counter = Counter()
        self.log: deque[dict] = deque(maxlen=self.log_limit)

    def describe(self, with_log: bool = True, since: int = 0) -> dict:
        out = {"requests_total": self.total, "by_resource": dict(self.by_resource),
               "by_status": {str(k): v for k, v in self.by_status.items()},
               "rate_limited": self.rate_limited, "faults": dict(self.faults)}
        if with_log:
            out["log"] = [e for e in self.log if e["seq"] > since]
        return out


@dataclass
class Hook:
    id: int
    resource: str
    after: int
    action: dict
    when: str = "before"
    seen: int = 0
    fired: bool = False
    result: Any = None


class Clock:
    def __init__(self):
        self.offset = 0.0
        self.frozen: int | None = None

    def now_ticks(self) -> int:
        if self.frozen is not None:
            return self.frozen
        return int((time.time() + self.offset) * tu.TICKS_PER_SECOND)

    def describe(self, tz: str) -> dict:
        now = self.now_ticks()
        return {"now": tu.render(now, tz), "now_utc": tu.to_datetime_utc(now).isoformat(),
                "offset_seconds": self.offset, "frozen": self.frozen is not None}


# ----------------------------------------------------------------------------------------------
# state


class SandboxState:
    def __init__(self, config: SandboxConfig):
        self.config = config
        self.store = Store(config.gen)
        self.limiter = RateLimiter(config.rate_limit, config.rate_window, config.retry_after,
                                   config.window_seconds)
        self.faults = Faults(config.faults)
        self.stats = Stats(config.log_limit)
        self.hooks: list[Hook] = []
        self.hook_seq = 0
        self.clock = Clock()
        self.control_rng = random.Random(config.gen.seed * 7 + 3)
        self.last_page: dict[str, list[int]] = {}
        self.connections: dict[tuple, Any] = {}  # client address -> uvicorn protocol
        self.held: set = set()  # protocols of the connections hang / trickle hold open
        self.proxy = None  # set by the server runner

    # -- data changes -----------------------------------------------------------------------
    def stamp(self, value: str | None = None) -> str:
        """'now' in the store's format, or a given instant re-rendered in local time."""
        tz = self.config.gen.tz
        if value is not None:
            return tu.render(tu.parse(value, tz), tz) if value not in ("", None) else value
        ticks = tu.truncate(self.clock.now_ticks(), int(self.control_rng.random() * 8))
        return tu.render(ticks, tz)

    def _pick(self, table: Table, ids=None, random_count=None, positions=None) -> list[int]:
        idxs: list[int] = []
        if ids:
            for rid in ids:
                idx = table.idx_of(int(rid))
                if idx is None:
                    raise QueryError(f"{table.path} id {rid} not found.", 404)
                idxs.append(idx)
        if positions is not None:
            page = self.last_page.get(table.path, [])
            for p in positions:
                p = int(p)
                if -len(page) <= p < len(page):
                    idx = table.idx_of(page[p])
                    if idx is not None:
                        idxs.append(idx)
        if random_count:
            n = table.n
            k = min(int(random_count), n)
            chosen = set(idxs) | table.deleted
            while k > 0 and len(chosen) < n:
                i = int(self.control_rng.random() * n)
                if i not in chosen:
                    chosen.add(i)
                    idxs.append(i)
                    k -= 1
        return idxs

    def update(self, resource: str, ids=None, random_count=None, positions=None, fields=None,
               updated_at: str | None = None, stamp: str | None = None) -> list[dict]:
        table = self.store.table(resource)
        idxs = self._pick(table, ids, random_count, positions)
        out = []
        for idx in idxs:
            rec = table.record_copy(idx)
            if fields:
                rec.update({k: v for k, v in fields.items() if k != "id"})
            if "updated_at" in table.kinds and not (fields and "updated_at" in fields):
                rec["updated_at"] = stamp if stamp is not None else self.stamp(updated_at)
            table.put(idx, rec)
            out.append({"id": rec["id"], "updated_at": rec.get("updated_at")})
        return out

    def insert(self, resource: str, count: int = 1, records: list[dict] | None = None,
               updated_at: str | None = None, stamp: str | None = None) -> list[dict]:
        table = self.store.table(resource)
        bodies = list(records or []) or [{} for _ in range(int(count))]
        out = []
        for body in bodies:
            st = stamp if stamp is not None else self.stamp(updated_at)
            if table.n:
                rec = table.record_copy(int(self.control_rng.random() * table.n))
            else:
                rec = json.loads(json.dumps(table.gen.template))
            rid = int(body["id"]) if "id" in body else table.next_id()
            rec["id"] = rid
            for f in ("created_at", "updated_at", "ordered_at", "registered_at"):
                if f in rec:
                    rec[f] = st
            if "order_number" in rec:
                rec["order_number"] = str(rid)
            if "customer_number" in rec:
                rec["customer_number"] = f"C{rid:07d}"
            if resource == "customers":
                first = self.control_rng.choice(("Ava", "Noah", "Mia", "Liam", "Zoe", "Eli"))
                last = self.control_rng.choice(("Stone", "Rivers", "Brook", "Vale", "Frost"))
                rec.update(first_name=first, last_name=last,
                           email=f"{first}.{last}{rid}@example.com".lower(),
                           username=f"{first}.{last}{rid}@example.com".lower())
            if resource == "products":
                rec["item_number"] = f"NEW-{rid}"
            rec.update(body)
            table.insert(rec)
            out.append({"id": rid, "updated_at": rec.get("updated_at")})
        return out

    def delete(self, resource: str, ids) -> list[int]:
        table = self.store.table(resource)
        idxs = self._pick(table, ids)
        for idx in idxs:
            table.delete(idx)
        return [table.id_of(idx) for idx in idxs]

    def bulk_import(self, resource: str, update: int = 0, insert: int = 0, ids=None,
                    updated_at: str | None = None, fields=None) -> dict:
        st = self.stamp(updated_at)
        updated = self.update(resource, ids=ids, random_count=update, fields=fields, stamp=st)
        inserted = self.insert(resource, count=insert, stamp=st) if insert else []
        return {"resource": resource, "updated_at": st, "updated": [u["id"] for u in updated],
                "inserted": [i["id"] for i in inserted]}

    def run_action(self, action: dict, default_resource: str) -> Any:
        a = dict(action)
        typ = a.pop("type", "update")
        resource = a.pop("resource", default_resource)
        if typ == "update":
            positions = a.get("positions")
            if positions is None and a.get("position") is not None:
                positions = [a["position"]]
            return self.update(resource, ids=a.get("ids"), random_count=a.get("random"),
                               positions=positions, fields=a.get("fields"),
                               updated_at=a.get("updated_at"))
        if typ == "insert":
            return self.insert(resource, count=a.get("count", 1), records=a.get("records"),
                               updated_at=a.get("updated_at"))
        if typ == "delete":
            return self.delete(resource, a.get("ids") or [])
        if typ == "bulk_import":
            return self.bulk_import(resource, update=a.get("update", 0), insert=a.get("insert", 0),
                                    ids=a.get("ids"), updated_at=a.get("updated_at"),
                                    fields=a.get("fields"))
        if typ == "faults":
            self.faults.configure(a.get("faults", a))
            return self.faults.describe()
        if typ == "rate_limit":
            cur = self.limiter
            self.limiter.configure(a.get("limit", cur.limit), a.get("window", cur.window),
                                   a.get("retry_after", cur.retry_after),
                                   a.get("window_seconds", cur.window_seconds),
                                   a.get("others", cur.others))
            return self.limiter.describe()
        raise QueryError(f"unknown action type {typ!r}")

    def add_hook(self, body: dict) -> Hook:
        resource = body["resource"]
        self.store.table(resource)  # validate
        when = body.get("when", "before")
        if when not in ("before", "after"):
            raise QueryError("when must be before or after")
        action = body.get("action") or {k: v for k, v in body.items()
                                        if k not in ("resource", "after", "when")}
        if not isinstance(action, dict) or not action:
            raise QueryError("a hook needs an action")
        self.hook_seq += 1
        hook = Hook(id=self.hook_seq, resource=resource, after=int(body.get("after", 0)),
                    action=action, when=when)
        self.hooks.append(hook)
        return hook

    def hooks_for(self, resource: str) -> list[Hook]:
        """Hooks firing on this request (and count the request for the others)."""
        firing = []
        for h in self.hooks:
            if h.fired or h.resource != resource:
                continue
            if h.seen == h.after:
                h.fired = True
                firing.append(h)
            h.seen += 1
        return firing

    def fire(self, hook: Hook):
        try:
            hook.result = self.run_action(hook.action, hook.resource)
        except Exception as exc:  # reported through GET /__sandbox/hooks
            hook.result = {"error": str(exc)}

    def reset(self, gen: GenConfig):
        self.config.gen = gen
        self.store.reset(gen)
        self.control_rng = random.Random(gen.seed * 7 + 3)
        self.last_page.clear()


# ----------------------------------------------------------------------------------------------
# responses


def json_response(obj, status: int = 200, headers: dict | None = None) -> Response:
    return Response(dumps(obj), status_code=status, headers=headers,
                    media_type="application/json; charset=utf-8")


def error_response(status: int, details: str, headers: dict | None = None) -> Response:
    return json_response({"status_code": status, "message": REASONS.get(status, "Error"),
                          "details": details}, status, headers)


HTML_PAGE = (
    "<!DOCTYPE html>\n<html>\n<head><title>{code} {reason}</title></head>\n<body>\n"
    "<center><h1>{code} {reason}</h1></center>\n<hr><center>cloudflare</center>\n"
    "<p>The web server reported a bad gateway error. Ray ID: 7d{ray}</p>\n</body>\n</html>\n"
)


class FaultResponse(Response):
    """A response that misbehaves on the wire (uses the raw ASGI send and the transport)."""

    def __init__(self, state: SandboxState, kind: str, body: bytes, headers: dict[str, str]):
        self.state = state
        self.kind = kind
        self.full = body
        self.extra_headers = headers
        self.status_code = 200
        self.logged_status = None  # what the request log shows: the answer is broken
        self.background = None
        self.body = b""
        self.raw_headers = []

    def _protocol(self, scope):
        client = scope.get("client")
        return self.state.connections.get(tuple(client)) if client else None

    async def _close(self, scope, abort: bool):
        proto = self._protocol(scope)
        if proto is None:
            return False
        transport = proto.transport
        if abort:
            transport.abort()
        else:
            transport.close()
        for _ in range(200):  # let connection_lost run, so uvicorn does not answer 500
            cycle = getattr(proto, "cycle", None)
            if transport.is_closing() and (cycle is None or cycle.disconnected):
                break
            await asyncio.sleep(0.005)
        return True

    async def __call__(self, scope, receive, send):
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.extra_headers.items()]
        if self.kind == "drop":
            if not await self._close(scope, abort=True):
                raise ConnectionAbortedError("sandbox fault: drop")
            return
        cut = max(1, int(len(self.full) * self.state.faults.truncate_at))
        if self.kind == "truncated":
            headers += [(b"content-type", b"application/json; charset=utf-8"),
                        (b"content-length", str(len(self.full)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": self.full[:cut], "more_body": True})
            await asyncio.sleep(0.01)
            await self._close(scope, abort=False)
            return
        if self.kind == "cut_json":
            body = self.full[:cut]
            headers += [(b"content-type", b"application/json; charset=utf-8"),
                        (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        raise AssertionError(self.kind)


class HeldResponse(FaultResponse):
    """hang and trickle: a connection held open for long, without blocking anything else (the
    waits are awaits on the event loop). Each ends as soon as the client disconnects, after
    ``hang_seconds`` at most (then the connection is closed), or when the sandbox stops (it
    aborts every held connection first)."""

    def __init__(self, state: SandboxState, kind: str, body: bytes, headers: dict[str, str],
                 status: int = 200, media_type: str = "application/json; charset=utf-8"):
        super().__init__(state, kind, body, headers)
        self.status_code = status
        self.media_type = media_type
        self.logged_status = status if kind == "trickle" else None

    async def __call__(self, scope, receive, send):
        faults = self.state.faults
        loop = asyncio.get_running_loop()
        deadline = loop.time() + faults.hang_seconds
        proto = self._protocol(scope)
        gone = asyncio.Event()

        async def watch():
            while True:
                message = await receive()
                if message.get("type") == "http.disconnect":
                    gone.set()
                    return

        async def gone_within(seconds: float) -> bool:
            try:
                await asyncio.wait_for(gone.wait(), max(0.0, seconds))
            except asyncio.TimeoutError:
                pass
            return gone.is_set()

        watcher = asyncio.ensure_future(watch())
        if proto is not None:
            self.state.held.add(proto)
        try:
            if self.kind == "hang":
                if not await gone_within(deadline - loop.time()):
                    await self._close(scope, abort=True)
                return
            headers = [(k.lower().encode("latin-1"), v.encode("latin-1"))
                       for k, v in self.extra_headers.items()]
            headers += [(b"content-type", self.media_type.encode("latin-1")),
                        (b"content-length", str(len(self.full)).encode())]
            await send({"type": "http.response.start", "status": self.status_code,
                        "headers": headers})
            step = faults.trickle_bytes
            for start in range(0, len(self.full), step):
                if start and await gone_within(min(faults.trickle_interval,
                                                   deadline - loop.time())):
                    return
                if loop.time() >= deadline:
                    await self._close(scope, abort=True)
                    return
                end = start + step
                await send({"type": "http.response.body", "body": self.full[start:end],
                            "more_body": end < len(self.full)})
            if not self.full:
                await send({"type": "http.response.body", "body": b""})
        finally:
            watcher.cancel()
            self.state.held.discard(proto)


def redirect_response(state: SandboxState, kind: str, request: Request, headers: dict) -> Response:
    """302 to the same path and query on ``redirect_host`` (http:// or https://)."""
    scheme = "http" if kind == "redirect_http" else "https"
    location = f"{scheme}://{state.faults.redirect_host}{raw_target(request.scope)}"
    return Response(b"", status_code=302, headers={**headers, "Location": location})


def fault_response(state: SandboxState, kind: str, full: bytes | None, headers: dict) -> Response:
    if kind in ("500", "502", "503"):
        code = int(kind)
        details = {500: "An unexpected error occurred.", 502: "Bad gateway.",
                   503: "The service is temporarily unavailable."}[code]
        return error_response(code, details, headers)
    if kind in ("html_200", "html_502"):
        code = 200 if kind == "html_200" else 502
        page = HTML_PAGE.format(code=502, reason="Bad Gateway", ray=state.stats.seq)
        return Response(page.encode(), status_code=code, headers=headers,
                        media_type="text/html; charset=utf-8")
    if kind == "forbidden":  # names no scope, no reason: a refusal the client cannot act on
        return json_response({"message": "Forbidden"}, 403, headers)
    if kind == "hang":
        return HeldResponse(state, kind, b"", headers)
    return FaultResponse(state, kind, full or b"{}", headers)


# ----------------------------------------------------------------------------------------------
# API


def _host(request: Request) -> tuple[str, str]:
    """(host header as sent, host name without port, lower case)."""
    raw = request.headers.get("host", "")
    name = raw.strip().lower()
    if name.startswith("["):
        name = name.split("]")[0] + "]"
    elif ":" in name:
        name = name.rsplit(":", 1)[0]
    return raw, name


def raw_target(scope) -> str:
    path = scope.get("raw_path") or scope["path"].encode()
    qs = scope.get("query_string") or b""
    target = path + (b"?" + qs if qs else b"")
    return target.decode("latin-1")


def router_signature(secret: str, path_and_query: str, user: str) -> str:
    msg = f"GET&{path_and_query}&{user}".encode("utf-8")
    return base64.b64encode(hmac.new(secret.encode("utf-8"), msg, hashlib.sha256).digest()).decode()


def page_url(request: Request, raw_qs: str, page: int, style: str) -> str:
    host_raw, _ = _host(request)
    path = (request.scope.get("raw_path") or request.scope["path"].encode()).decode("latin-1")
    if style == "minimal":
        qs = f"page={page}"
    else:
        parts = [p for p in raw_qs.split("&") if p] if raw_qs else []
        out, replaced = [], False
        for p in parts:
            name = unquote(p.split("=", 1)[0].replace("+", " ")).strip().lower()
            if name == "page":
                if not replaced:
                    out.append(f"page={page}")
                    replaced = True
                continue
            out.append(p)
        if not replaced:
            out.append(f"page={page}")
        qs = "&".join(out)
    return f"https://{host_raw}{path}?{qs}"


class Api:
    def __init__(self, state: SandboxState):
        self.state = state

    def authenticate(self, request: Request) -> tuple[bool, str | None, tuple[str, ...]]:
        cfg = self.state.config
        _, host = _host(request)
        h = request.headers
        if host == cfg.router_host.lower():
            user = h.get("x-ac-pub-user")
            sig = h.get("x-ac-pub-auth-signature")
            site = h.get("x-ac-pub-site-id")
            if not user or not sig or site is None:
                return False, "router", ()
            if user != cfg.router_user or site.strip() != str(cfg.site_id):
                return False, "router", ()
            expected = router_signature(cfg.router_secret, raw_target(request.scope), user)
            if not hmac.compare_digest(expected.encode(), sig.strip().encode()):
                return False, "router", ()
            return True, "router", ALL_SCOPES
        token = h.get("x-ac-auth-token")
        if token is None:
            return False, None, ()
        if token in cfg.tokens:
            return True, "token", ALL_SCOPES
        if token in cfg.limited_tokens:
            return True, "limited_token", tuple(cfg.limited_tokens[token])
        return False, "token", ()

    async def __call__(self, request: Request) -> Response:
        st = self.state
        stats = st.stats
        scope = request.scope
        resource = request.path_params.get("resource", "")
        rid = request.path_params.get("rid")
        nested = request.path_params.get("nested")
        host_raw, _ = _host(request)
        stats.total += 1
        stats.seq += 1
        stats.by_resource[resource] += 1
        qs = (scope.get("query_string") or b"").decode("latin-1")
        entry = {"seq": stats.seq, "time": time.time(), "method": request.method, "host": host_raw,
                 "target": raw_target(scope), "path": scope["path"], "query": qs,
                 "resource": resource, "id": rid, "status": None, "auth": None, "fault": None,
                 "cache_control": request.headers.get("cache-control"),
                 "user_agent": request.headers.get("user-agent")}
        stats.log.append(entry)
        response = await self._handle(request, entry, resource, rid, nested)
        entry["status"] = (response.status_code if not isinstance(response, FaultResponse)
                           else response.logged_status)
        if entry["status"] is not None:
            stats.by_status[entry["status"]] += 1
        return response

    async def _handle(self, request, entry, resource, rid, nested) -> Response:
        st = self.state
        ok, auth_kind, scopes = self.authenticate(request)
        entry["auth"] = auth_kind
        if not ok:
            return error_response(401, UNAUTHORIZED_DETAILS, {"X-AC-Call-Limit": st.limiter.peek()})
        accepted, call_limit, wait = st.limiter.hit()
        headers = {"X-AC-Call-Limit": call_limit}
        if not accepted:
            st.stats.rate_limited += 1
            headers["Retry-After"] = st.limiter.retry_after_value(wait)
            return error_response(429, "Rate limit exceeded. Retry after the window resets.", headers)
        if request.method != "GET":
            return error_response(405, "The sandbox serves GET requests only.", headers)
        res = st.store.registry.get(resource)
        if res is None:
            return error_response(404, f"Resource '{resource}' not found.", headers)
        if res.scope not in scopes:
            status = st.config.scope_status
            details = (UNAUTHORIZED_DETAILS if status == 401
                       else f"The access token is missing the '{res.scope}' scope.")
            return error_response(status, details, headers)

        firing = st.hooks_for(resource)
        for h in firing:
            if h.when == "before":
                st.fire(h)
        delay = st.faults.next_latency(resource)
        if delay:
            await asyncio.sleep(delay)
        fault = st.faults.next_fault(resource)
        status, body, page_ids, error = 0, None, None, None
        if fault not in _UNANSWERED_KINDS:
            try:
                status, body, page_ids = self.compute(request, resource, rid, nested,
                                                      same_page=fault == "same_page")
            except QueryError as exc:
                status, body, page_ids = exc.status, None, None
                error = exc
            if fault == "bad_updated_at_first" and page_ids:
                records = next(v for v in body.values() if isinstance(v, list))
                if "updated_at" in records[0]:
                    records[0]["updated_at"] = st.faults.bad_updated_at
                    entry["bad_updated_at_id"] = records[0].get("id")
        if page_ids is not None and (not fault or fault in _PAGE_KINDS):
            st.last_page[resource] = page_ids
        for h in firing:
            if h.when == "after":
                st.fire(h)
        if fault:
            entry["fault"] = fault
            st.stats.faults[fault] += 1
            st.faults.injected[fault] += 1
        if fault and fault not in _PAGE_KINDS:
            if fault in ("redirect_http", "redirect_https"):
                return redirect_response(st, fault, request, headers)
            full = dumps(body) if body is not None else dumps(
                {"status_code": status, "message": REASONS.get(status, "Error"),
                 "details": error.details if error else ""})
            if fault == "trickle":
                return HeldResponse(st, fault, full, headers, status=status)
            return fault_response(st, fault, full, headers)
        if error is not None:
            return error_response(error.status, error.details, headers)
        return json_response(body, status, headers)

    def compute(self, request: Request, resource: str, rid, nested, same_page: bool = False):
        """(status, body, ids of the page for a list else None). same_page: a list answer
        ignores every parameter but count, fields and expand, and always links a next_page."""
        st = self.state
        store = st.store
        table = store.table(resource)
        pairs = parse_qsl((request.scope.get("query_string") or b"").decode("latin-1"),
                          keep_blank_values=True)
        if same_page and (rid is None or nested is not None):
            pairs = [(k, v) for k, v in pairs if k.strip().lower() in ("count", "fields", "expand")]
        if rid is not None:
            try:
                idx = table.idx_of(int(rid))
            except ValueError:
                idx = None
            if idx is None:
                raise QueryError(f"No {resource} record with id {rid}.", 404)
            if nested is None:
                fields = expand = None
                for k, v in pairs:
                    if k == "fields":
                        fields = [f.strip() for f in v.split(",") if f.strip()]
                    elif k == "expand":
                        expand = [f.strip() for f in v.split(",") if f.strip()]
                return 200, store.render(table, idx, fields, expand or []), None
            child = store.child_table(table, nested)
            if child is None:
                raise QueryError(f"Resource '{resource}/{rid}/{nested}' not found.", 404)
            base = child.children_idx(table, idx)
            return self._list(request, child, pairs, base, child.resource.key, same_page)
        return self._list(request, table, pairs, None, table.resource.key, same_page)

    def _list(self, request, table: Table, pairs, base, key, same_page: bool = False):
        st = self.state
        store = st.store
        page, count, sort, fields, expand, filters, extra = store.parse_list_params(
            table, pairs, st.config.max_page_size)
        result = store.query(table, filters, extra, sort, page, count, base=base)
        total = result.total
        if page > 1 and (page - 1) * count >= total:
            raise QueryError(
                f"Page {page} does not exist; there are {math.ceil(total / count)} pages.", 404)
        records = [store.render(table, i, fields, expand) for i in result.idx]
        body: dict[str, Any] = {"total_count": total}
        raw_qs = (request.scope.get("query_string") or b"").decode("latin-1")
        style = st.config.next_page_params
        if page * count < total or same_page:
            body["next_page"] = page_url(request, raw_qs, page + 1, style)
        if page > 1:
            body["previous_page"] = page_url(request, raw_qs, page - 1, style)
        body[key] = records
        return 200, body, [table.id_of(i) for i in result.idx]


# ----------------------------------------------------------------------------------------------
# control API


def _gen_from_body(state: SandboxState, body: dict) -> GenConfig:
    cur = state.config.gen
    changes = {}
    for k in ("seed", "size", "customers", "products", "orders", "tz", "start", "end",
              "null_cursor_rate", "bulk"):
        if k in body:
            changes[k] = body[k]
    if "size" in changes and changes["size"] not in PRESETS:
        raise QueryError(f"unknown size {changes['size']!r}")
    if "size" in changes:  # a new size preset replaces explicit counts unless given too
        for k in ("customers", "products", "orders"):
            changes.setdefault(k, None)
    return cur.with_changes(**changes)


class Control:
    def __init__(self, state: SandboxState):
        self.state = state

    async def body(self, request: Request) -> dict:
        raw = await request.body()
        if not raw.strip():
            return {}
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise QueryError("the body must be a JSON object")
        return data

    def routes(self) -> list[Route]:
        p = "/__sandbox"
        return [
            Route(p + "/health", self.wrap(self.health), methods=["GET"]),
            Route(p + "/config", self.wrap(self.get_config), methods=["GET"]),
            Route(p + "/reset", self.wrap(self.reset), methods=["POST"]),
            Route(p + "/stats", self.wrap(self.stats), methods=["GET", "DELETE"]),
            Route(p + "/stats/reset", self.wrap(self.stats_reset), methods=["POST"]),
            Route(p + "/faults", self.wrap(self.faults), methods=["GET", "POST", "DELETE"]),
            Route(p + "/rate_limit", self.wrap(self.rate_limit), methods=["GET", "POST"]),
            Route(p + "/settings", self.wrap(self.settings), methods=["GET", "POST"]),
            Route(p + "/update", self.wrap(self.update), methods=["POST"]),
            Route(p + "/insert", self.wrap(self.insert), methods=["POST"]),
            Route(p + "/bulk_import", self.wrap(self.bulk_import), methods=["POST"]),
            Route(p + "/delete", self.wrap(self.delete), methods=["POST"]),
            Route(p + "/hooks", self.wrap(self.hooks), methods=["GET", "POST", "DELETE"]),
            Route(p + "/clock", self.wrap(self.clock), methods=["GET", "POST"]),
            Route(p + "/records/{resource}", self.wrap(self.records), methods=["GET"]),
            Route(p + "/last_page/{resource}", self.wrap(self.last_page), methods=["GET"]),
            Route(p + "/proxy", self.wrap(self.proxy), methods=["GET"]),
        ]

    def wrap(self, fn):
        async def endpoint(request: Request) -> Response:
            try:
                body = await self.body(request) if request.method in ("POST", "PUT") else {}
                result = fn(request, body)
                return json_response(result)
            except QueryError as exc:
                return error_response(exc.status, exc.details)
            except (ValueError, KeyError, TypeError) as exc:
                return error_response(400, f"{type(exc).__name__}: {exc}")
        endpoint.__name__ = fn.__name__
        return endpoint

    def health(self, request, body):
        return {"ok": True}

    def get_config(self, request, body):
        cfg = self.state.config
        out = asdict(cfg)
        out["gen"]["sizes"] = asdict(cfg.gen.sizes)
        out["resources"] = {p: {"key": r.key, "scope": r.scope}
                            for p, r in self.state.store.registry.items()}
        out["rate_limit_state"] = self.state.limiter.describe()
        out["faults_state"] = self.state.faults.describe()
        return out

    def reset(self, request, body):
        st = self.state
        st.reset(_gen_from_body(st, body))
        if not body.get("keep_stats"):
            st.stats.reset()
        if not body.get("keep_faults"):
            st.faults.configure({})
        if not body.get("keep_hooks"):
            st.hooks.clear()
        st.limiter.reset()
        if not body.get("keep_clock", True):
            st.clock = Clock()
        return {"ok": True, "gen": asdict(st.config.gen), "sizes": asdict(st.config.gen.sizes)}

    def stats(self, request, body):
        if request.method == "DELETE":
            return self.stats_reset(request, body)
        q = request.query_params
        with_log = q.get("log", "1") not in ("0", "false", "no")
        out = self.state.stats.describe(with_log, int(q.get("since", 0)))
        out["rate_limit"] = self.state.limiter.describe()
        if self.state.proxy is not None:
            out["proxy"] = self.state.proxy.describe()
        return out

    def stats_reset(self, request, body):
        self.state.stats.reset()
        if self.state.proxy is not None:
            self.state.proxy.reset_stats()
        return {"ok": True}

    def faults(self, request, body):
        if request.method == "DELETE":
            self.state.faults.configure({})
        elif request.method == "POST":
            self.state.faults.configure(body)
        return self.state.faults.describe()

    def rate_limit(self, request, body):
        lim = self.state.limiter
        if request.method == "POST":
            lim.configure(body.get("limit", lim.limit), body.get("window", lim.window),
                          body.get("retry_after", lim.retry_after),
                          body.get("window_seconds", lim.window_seconds),
                          body.get("others", lim.others))
        return lim.describe()

    SETTINGS = ("max_page_size", "next_page_params", "scope_status", "tokens", "limited_tokens",
                "router_user", "router_secret", "site_id")

    def settings(self, request, body):
        cfg = self.state.config
        for key, value in body.items():
            if key not in self.SETTINGS:
                raise QueryError(f"unknown setting {key!r}; settable: {', '.join(self.SETTINGS)}")
            if key == "max_page_size" and int(value) < 1:
                raise QueryError("max_page_size must be >= 1")
            if key == "next_page_params" and value not in ("all", "minimal"):
                raise QueryError("next_page_params must be all or minimal")
            if key == "scope_status" and int(value) not in (401, 403):
                raise QueryError("scope_status must be 401 or 403")
            setattr(cfg, key, int(value) if key in ("max_page_size", "scope_status") else value)
        return {k: getattr(cfg, k) for k in self.SETTINGS}

    def update(self, request, body):
        res = body["resource"]
        positions = body.get("positions")
        if positions is None and body.get("position") is not None:
            positions = [body["position"]]
        updated = self.state.update(res, ids=body.get("ids"), random_count=body.get("random"),
                                    positions=positions, fields=body.get("fields"),
                                    updated_at=body.get("updated_at"))
        return {"resource": res, "updated": updated}

    def insert(self, request, body):
        res = body["resource"]
        inserted = self.state.insert(res, count=body.get("count", 1), records=body.get("records"),
                                     updated_at=body.get("updated_at"))
        return {"resource": res, "inserted": inserted}

    def delete(self, request, body):
        return {"resource": body["resource"], "deleted": self.state.delete(body["resource"], body["ids"])}

    def bulk_import(self, request, body):
        return self.state.bulk_import(body["resource"], update=body.get("update", 0),
                                      insert=body.get("insert", 0), ids=body.get("ids"),
                                      updated_at=body.get("updated_at"), fields=body.get("fields"))

    def hooks(self, request, body):
        st = self.state
        if request.method == "DELETE":
            st.hooks.clear()
        elif request.method == "POST":
            hook = st.add_hook(body)
            return asdict(hook)
        return {"hooks": [asdict(h) for h in st.hooks]}

    def clock(self, request, body):
        st = self.state
        if request.method == "POST":
            if body.get("real"):
                st.clock = Clock()
            if "offset_seconds" in body:
                st.clock.offset = float(body["offset_seconds"])
                st.clock.frozen = None
            if "now" in body:
                st.clock.frozen = tu.parse(body["now"], st.config.gen.tz)
        return st.clock.describe(st.config.gen.tz)

    def records(self, request, body):
        st = self.state
        table = st.store.table(request.path_params["resource"])
        q = request.query_params
        if q.get("ids"):
            idxs = []
            for rid in q["ids"].split(","):
                idx = table.idx_of(int(rid))
                if idx is not None:
                    idxs.append(idx)
        else:
            offset = int(q.get("offset", 0))
            limit = int(q.get("limit", 100_000))
            if table.deleted:  # offset and limit count the records that are left
                idxs = [i for i in range(table.n) if i not in table.deleted][offset:offset + limit]
            else:
                idxs = list(range(offset, min(table.n, offset + limit)))
        fields = [f for f in q.get("fields", "").split(",") if f] or None
        return {"resource": table.path, "key": table.resource.key, "total_count": table.n - len(table.deleted),
                "records": [st.store.render(table, i, fields, []) for i in idxs]}

    def last_page(self, request, body):
        res = request.path_params["resource"]
        return {"resource": res, "ids": self.state.last_page.get(res, [])}

    def proxy(self, request, body):
        return self.state.proxy.describe() if self.state.proxy is not None else {}


# ----------------------------------------------------------------------------------------------


def create_app(state: SandboxState) -> Starlette:
    api = Api(state)
    control = Control(state)

    async def api_endpoint(request: Request) -> Response:
        return await api(request)

    async def not_found(request: Request) -> Response:
        return error_response(404, f"Path '{request.url.path}' not found.")

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
    routes = control.routes() + [
        Route("/api/v1/{resource}", api_endpoint, methods=methods),
        Route("/api/v1/{resource}/", api_endpoint, methods=methods),
        Route("/api/v1/{resource}/{rid}", api_endpoint, methods=methods),
        Route("/api/v1/{resource}/{rid}/{nested}", api_endpoint, methods=methods),
        Route("/{path:path}", not_found, methods=methods),
    ]
    app = Starlette(routes=routes)
    app.router.redirect_slashes = False
    app.state.sandbox = state
    return app

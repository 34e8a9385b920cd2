"""Start and stop a sandbox from tests or a demo, and drive it through its control API.

    from cart_sandbox.harness import Sandbox

    with Sandbox(size="small", seed=1, rate_limit=0) as sb:      # thread mode (default)
        s = sb.session()                                         # requests via the proxy + CA
        r = s.get(f"{sb.store_url}/api/v1/orders", headers={"X-AC-Auth-Token": sb.token})
        sb.control.update("orders", ids=[100001])
        with sb.patched_env():                                   # HTTPS_PROXY, REQUESTS_CA_BUNDLE
            run_the_connector(sb.store_domain, sb.token)

        # a hostile store: every /orders request hangs (see ControlClient.set_faults)
        sb.control.set_faults(rate=1.0, kinds=["hang"], resources=["orders"])
        assert "other.example" not in sb.control.hosts_reached()["connect"]

``mode="subprocess"`` runs ``python -m cart_sandbox`` instead (same API).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

ENV_KEYS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "REQUESTS_CA_BUNDLE",
            "SSL_CERT_FILE", "NO_PROXY", "no_proxy")

_GEN_KEYS = ("seed", "size", "orders", "customers", "products", "null_cursor_rate", "bulk",
             "start", "end", "tz")


class ControlError(RuntimeError):
    def __init__(self, status: int, body: Any):
        super().__init__(f"control API answered {status}: {body}")
        self.status = status
        self.body = body


class ControlClient:
    """JSON client of ``/__sandbox/`` (no auth; direct connection, never through a proxy)."""

    def __init__(self, base_url: str, ca_file: str, timeout: float = 60.0):
        self.base = base_url.rstrip("/") + "/__sandbox"
        self.ctx = ssl.create_default_context(cafile=ca_file)
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                                  urllib.request.HTTPSHandler(context=self.ctx))
        self.timeout = timeout

    def call(self, method: str, path: str, body: dict | None = None, **query) -> Any:
        url = self.base + path
        q = {k: v for k, v in query.items() if v is not None}
        if q:
            url += "?" + urllib.parse.urlencode(q)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with self.opener.open(req, timeout=self.timeout) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = raw.decode("utf-8", "replace")
            raise ControlError(exc.code, payload) from None

    # -- whole sandbox ----------------------------------------------------------------------
    def health(self) -> dict:
        return self.call("GET", "/health")

    def config(self) -> dict:
        return self.call("GET", "/config")

    def reset(self, **options) -> dict:
        """Regenerate the data. Options: seed, size, orders, customers, products,
        null_cursor_rate, bulk, start, end, tz; keep_stats, keep_faults, keep_hooks."""
        return self.call("POST", "/reset", options)

    def stats(self, log: bool = True, since: int = 0) -> dict:
        return self.call("GET", "/stats", log=0 if not log else None, since=since or None)

    def request_log(self, since: int = 0) -> list[dict]:
        return self.stats(True, since)["log"]

    def clear_stats(self) -> dict:
        return self.call("POST", "/stats/reset", {})

    # -- behaviour --------------------------------------------------------------------------
    def set_faults(self, rate: float = 0.0, kinds: list[str] | None = None, seed: int = 0,
                   schedule: list | None = None, resources: list[str] | None = None,
                   latency_ms: float | list[float] | None = None, **more) -> dict:
        """Replace the fault set-up: the ``schedule`` (kinds, "ok", {"kind", "times"}) runs
        first, then each request to one of ``resources`` (default: all) meets a fault with
        probability ``rate``, drawn from ``kinds`` (default: the transient kinds only).

        Transient kinds (a client retries them): 500, 502, 503, html_200, html_502, truncated,
        cut_json, drop. Hostile kinds (a client must end, not loop, hang or leak):

        - ``redirect_http`` / ``redirect_https``: 302 to ``http(s)://<redirect_host>`` + the
          same path and query (redirect_host defaults to other.example). ``hosts_reached()``
          then shows whether anything went there.
        - ``same_page``: a list answer ignores filters, sort and page: always page 1 (``count``
          is kept), always with a ``next_page`` link.
        - ``hang``: never answers, until the client disconnects or ``hang_seconds`` (600).
        - ``trickle``: status and headers at once, with the Content-Length of the real answer,
          then the body ``trickle_bytes`` (1) at a time every ``trickle_interval`` s (1.0).
        - ``forbidden``: 403 ``{"message": "Forbidden"}`` whatever the token.
        - ``bad_updated_at_first``: the first record of each list page has ``updated_at`` =
          ``bad_updated_at`` (default ``/Date(1704067260000-0500)/``).

        ``more``: truncate_at, redirect_host, trickle_interval, trickle_bytes, hang_seconds,
        bad_updated_at. Example: ``set_faults(rate=1.0, kinds=["hang"], resources=["orders"])``.
        """
        body = {"rate": rate, "seed": seed, **more}
        if kinds is not None:
            body["kinds"] = kinds
        if schedule is not None:
            body["schedule"] = schedule
        if resources is not None:
            body["resources"] = resources
        if latency_ms is not None:
            body["latency_ms"] = latency_ms
        return self.call("POST", "/faults", body)

    def faults(self) -> dict:
        return self.call("GET", "/faults")

    def clear_faults(self) -> dict:
        return self.call("DELETE", "/faults")

    def set_rate_limit(self, limit: int | None = None, window: str | None = None,
                       retry_after: str | None = None, window_seconds: float | None = None,
                       others: int | None = None) -> dict:
        """`others`: calls other apps sharing the budget make in each (fixed) window."""
        body = {k: v for k, v in dict(limit=limit, window=window, retry_after=retry_after,
                                      window_seconds=window_seconds, others=others).items() if v is not None}
        return self.call("POST", "/rate_limit", body)

    def settings(self, **values) -> dict:
        """Change max_page_size, next_page_params, scope_status, tokens, limited_tokens,
        router_user, router_secret or site_id at runtime; returns the current values."""
        return self.call("POST", "/settings", values)

    def set_clock(self, now: str | None = None, offset_seconds: float | None = None,
                  real: bool = False) -> dict:
        body: dict[str, Any] = {}
        if real:
            body["real"] = True
        if offset_seconds is not None:
            body["offset_seconds"] = offset_seconds
        if now is not None:
            body["now"] = now
        return self.call("POST", "/clock", body)

    def clock(self) -> dict:
        return self.call("GET", "/clock")

    # -- data -------------------------------------------------------------------------------
    def update(self, resource: str, ids: list[int] | None = None, random: int | None = None,
               positions: list[int] | None = None, fields: dict | None = None,
               updated_at: str | None = None) -> list[dict]:
        """Set updated_at to now (or updated_at) on the given records; returns [{id, updated_at}]."""
        body = {"resource": resource, "ids": ids, "random": random, "positions": positions,
                "fields": fields, "updated_at": updated_at}
        return self.call("POST", "/update", {k: v for k, v in body.items() if v is not None})["updated"]

    def insert(self, resource: str, count: int = 1, records: list[dict] | None = None,
               updated_at: str | None = None) -> list[dict]:
        body = {"resource": resource, "count": count, "records": records, "updated_at": updated_at}
        return self.call("POST", "/insert", {k: v for k, v in body.items() if v is not None})["inserted"]

    def delete(self, resource: str, ids: list[int]) -> list[int]:
        """Delete records: they leave every list, and their ids answer 404."""
        return self.call("POST", "/delete", {"resource": resource, "ids": ids})["deleted"]

    def bulk_import(self, resource: str, update: int = 0, insert: int = 0,
                    ids: list[int] | None = None, updated_at: str | None = None,
                    fields: dict | None = None) -> dict:
        """Update and insert records that all share ONE identical updated_at."""
        body = {"resource": resource, "update": update, "insert": insert, "ids": ids,
                "updated_at": updated_at, "fields": fields}
        return self.call("POST", "/bulk_import", {k: v for k, v in body.items() if v is not None})

    def add_hook(self, resource: str, action: dict, after: int = 0, when: str = "before") -> dict:
        """During the request to ``resource`` that comes after ``after`` more requests to it, run
        ``action`` ("before" the response is computed, or "after"). Actions:
        {"type": "update", "ids"|"random"|"positions": ..., "fields": {...}},
        {"type": "insert", "count": n}, {"type": "bulk_import", "update": k, "insert": m},
        {"type": "delete", "ids": [...]},
        {"type": "faults", ...}, {"type": "rate_limit", ...}; "resource" defaults to the hook's.
        "positions" index the last page served for that resource (0 = its first record)."""
        return self.call("POST", "/hooks", {"resource": resource, "after": after, "when": when,
                                            "action": action})

    def hooks(self) -> list[dict]:
        return self.call("GET", "/hooks")["hooks"]

    def clear_hooks(self) -> dict:
        return self.call("DELETE", "/hooks")

    def records(self, resource: str, ids: list[int] | None = None, offset: int = 0,
                limit: int | None = None, fields: list[str] | None = None) -> list[dict]:
        """Ground truth, straight from the store (no auth, not counted)."""
        return self.call("GET", f"/records/{resource}",
                         ids=",".join(map(str, ids)) if ids else None, offset=offset or None,
                         limit=limit, fields=",".join(fields) if fields else None)["records"]

    def last_page(self, resource: str) -> list[int]:
        return self.call("GET", f"/last_page/{resource}")["ids"]

    def proxy_stats(self) -> dict:
        """CONNECT targets (``connects``, "host:port"), plain requests refused (``refused`` by
        method, ``plain`` by host, ``plain_with_credentials``), open tunnels (``active``)."""
        return self.call("GET", "/proxy")

    def hosts_reached(self) -> dict[str, dict[str, int]]:
        """Every host clients asked for since the last stats reset, by way, names lower case
        without port: ``connect`` (CONNECT tunnels through the proxy), ``plain`` and
        ``plain_with_credentials`` (plain-HTTP requests the proxy refused, and those of them
        that carried a credential header), ``api`` and ``api_with_credentials`` (Host of the API
        requests that reached the sandbox, and those that carried a token or router headers).

        A client that followed a redirect to other.example shows there:
        ``assert not any("other.example" in way for way in sb.control.hosts_reached().values())``.
        """
        def name(host: str) -> str:
            host = host.strip().lower()
            if host.startswith("["):
                return host.split("]")[0] + "]"
            return host.rsplit(":", 1)[0] if ":" in host else host

        def count(pairs) -> dict[str, int]:
            out: dict[str, int] = {}
            for host, n in pairs:
                out[name(host)] = out.get(name(host), 0) + n
            return out

        proxy = self.proxy_stats() or {}
        log = self.request_log()
        return {
            "connect": count(proxy.get("connects", {}).items()),
            "plain": count(proxy.get("plain", {}).items()),
            "plain_with_credentials": count(proxy.get("plain_with_credentials", {}).items()),
            "api": count((e.get("host") or "", 1) for e in log),
            "api_with_credentials": count((e.get("host") or "", 1) for e in log if e.get("auth")),
        }


def router_signature(secret: str, path_and_query: str, user: str) -> str:
    msg = f"GET&{path_and_query}&{user}".encode("utf-8")
    return base64.b64encode(hmac.new(secret.encode(), msg, hashlib.sha256).digest()).decode()


class Sandbox:
    """A running sandbox (``mode="thread"`` in this process, or ``"subprocess"``).

    Keyword options: any GenConfig field (seed, size, orders, customers, products,
    null_cursor_rate, bulk, start, end, tz) and any SandboxConfig field (tokens,
    limited_tokens, scope_status, router_user, router_secret, site_id, store_domain,
    max_page_size, rate_limit, rate_window, retry_after, window_seconds, next_page_params,
    faults, log_limit).
    """

    def __init__(self, mode: str = "thread", log_level: str = "warning", **options):
        if mode not in ("thread", "subprocess"):
            raise ValueError("mode must be thread or subprocess")
        self.mode = mode
        self.log_level = log_level
        self.options = options
        self.info: dict[str, Any] = {}
        self._server = None
        self._proc: subprocess.Popen | None = None
        self.control: ControlClient | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def _config_dict(self) -> dict:
        gen = {k: v for k, v in self.options.items() if k in _GEN_KEYS}
        rest = {k: v for k, v in self.options.items() if k not in _GEN_KEYS}
        return {"gen": gen, **rest}

    def start(self) -> "Sandbox":
        if self.mode == "thread":
            from .app import SandboxConfig
            from .cli import apply_config_json
            from .server import SandboxServer

            cfg = apply_config_json(SandboxConfig(), self._config_dict())
            self._server = SandboxServer(cfg, log_level=self.log_level).start_background()
            self.info = self._server.info()
        else:
            env = dict(os.environ)
            pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
            env["PYTHONPATH"] = pkg_parent + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
            for k in ENV_KEYS:
                env.pop(k, None)
            cmd = [sys.executable, "-m", "cart_sandbox", "--log-level", self.log_level,
                   "--config-json", json.dumps(self._config_dict())]
            self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, text=True)
            line = self._proc.stdout.readline() if self._proc.stdout else ""
            if not line:
                self._proc.wait(10)
                raise RuntimeError(f"sandbox subprocess exited with {self._proc.returncode}")
            self.info = json.loads(line)
            # keep draining stdout so the child never blocks on a full pipe
            threading.Thread(target=self._drain, daemon=True).start()
        self.control = ControlClient(self.info["base_url"], self.info["ca_file"])
        self.control.health()
        return self

    def _drain(self):
        try:
            for _ in self._proc.stdout:  # type: ignore[union-attr]
                pass
        except (ValueError, OSError):
            pass

    def stop(self):
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.send_signal(signal.SIGINT)
                try:
                    self._proc.wait(10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait(5)
            self._proc = None

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- facts ------------------------------------------------------------------------------
    def __getattr__(self, name: str):
        info = self.__dict__.get("info") or {}
        if name in info:
            return info[name]
        raise AttributeError(name)

    def env(self) -> dict[str, str]:
        """Environment for an unmodified ``requests`` client to reach the sandbox hosts.

        HTTP_PROXY points at the proxy too: a plain-HTTP request (a client following a
        ``redirect_http``) is refused there and counted, instead of leaving the machine."""
        proxy = self.info["proxy_url"]
        return {"HTTPS_PROXY": proxy, "https_proxy": proxy, "HTTP_PROXY": proxy,
                "http_proxy": proxy, "REQUESTS_CA_BUNDLE": self.info["ca_file"],
                "SSL_CERT_FILE": self.info["ca_file"], "NO_PROXY": "", "no_proxy": ""}

    @contextlib.contextmanager
    def patched_env(self):
        saved = {k: os.environ.get(k) for k in ENV_KEYS}
        os.environ.update(self.env())
        try:
            yield self.env()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def session(self):
        """A ``requests.Session`` that goes through the proxy and trusts the sandbox CA."""
        import requests

        s = requests.Session()
        s.trust_env = False
        s.proxies = {"https": self.info["proxy_url"]}
        s.verify = self.info["ca_file"]
        return s

    def router_headers(self, path_and_query: str) -> dict[str, str]:
        """Central API Router headers for a request target (path and query exactly as sent)."""
        user = self.info["router_user"]
        return {"X-AC-PUB-Site-ID": str(self.info["site_id"]), "X-AC-PUB-User": user,
                "X-AC-PUB-Auth-Signature": router_signature(self.info["router_secret"],
                                                            path_and_query, user)}

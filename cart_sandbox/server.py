"""Runs the app under uvicorn (HTTPS only) together with the CONNECT proxy, in one event loop."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import tempfile
import threading
from typing import Any

from .app import SandboxConfig, SandboxState, create_app
from .proxy import ConnectProxy
from .tls import make_tls


class _QuietFaults(logging.Filter):
    """Drops uvicorn/asyncio noise caused on purpose by the connection faults."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not any(s in msg for s in (
            "ASGI callable returned without", "sandbox fault", "Exception in ASGI application",
            "Fatal error on SSL", "SSL error in data received", "socket.send() raised",
        ))


def _protocol_class(state: SandboxState):
    """uvicorn's h11 protocol, remembering each connection so faults can cut it."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class SandboxH11Protocol(H11Protocol):
        def connection_made(self, transport):  # type: ignore[override]
            super().connection_made(transport)
            if self.client:
                state.connections[tuple(self.client)] = self

        def connection_lost(self, exc):
            if self.client:
                state.connections.pop(tuple(self.client), None)
            super().connection_lost(exc)

    return SandboxH11Protocol


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP so asyncio sets TCP_NODELAY on accepted connections (no 40 ms stalls)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


class SandboxServer:
    """One sandbox: HTTPS API + control API on ``port``, CONNECT proxy on ``proxy_port``."""

    def __init__(self, config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0,
                 proxy_port: int = 0, state_dir: str | None = None, log_level: str = "warning",
                 extra_hostnames: tuple[str, ...] = ()):
        self.config = config or SandboxConfig()
        self.host = host
        self._own_dir = state_dir is None
        self.state_dir = state_dir or tempfile.mkdtemp(prefix="cart-sandbox-")
        names = tuple(extra_hostnames)
        if self.config.store_domain and not self.config.store_domain.endswith(".sandbox.test"):
            names += (self.config.store_domain,)
        if self.config.router_host.lower() != "public.americommerce.com":
            names += (self.config.router_host,)
        self.tls = make_tls(self.state_dir, extra_hostnames=names)
        self.state = SandboxState(self.config)
        self.app = create_app(self.state)
        self._sock = _bind(host, port)
        self.port = self._sock.getsockname()[1]
        self._proxy_sock = _bind("127.0.0.1", proxy_port)
        self.proxy_port = self._proxy_sock.getsockname()[1]
        self.proxy = ConnectProxy(target_port=self.port, target_host=host if host not in ("0.0.0.0", "::") else "127.0.0.1")
        self.state.proxy = self.proxy
        self.log_level = log_level
        self._uvicorn = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    # -- facts for clients ------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        c = self.config
        host = self.host if self.host not in ("0.0.0.0", "::") else "127.0.0.1"
        base = f"https://{host}:{self.port}" if ":" not in host else f"https://[{host}]:{self.port}"
        limited = next(iter(c.limited_tokens.items()), (None, []))
        return {
            "base_url": base,
            "port": self.port,
            "proxy_url": f"http://127.0.0.1:{self.proxy_port}",
            "proxy_port": self.proxy_port,
            "ca_file": self.tls.ca_file,
            "store_domain": c.store_domain,
            "store_url": f"https://{c.store_domain}",
            "router_host": c.router_host,
            "router_url": f"https://{c.router_host}",
            "token": c.tokens[0] if c.tokens else None,
            "tokens": list(c.tokens),
            "limited_token": limited[0],
            "limited_token_scopes": list(limited[1]),
            "router_user": c.router_user,
            "router_secret": c.router_secret,
            "site_id": c.site_id,
            "control_url": f"{base}/__sandbox",
            "seed": c.gen.seed,
            "size": c.gen.size,
            "sizes": {"customers": c.gen.sizes.customers, "products": c.gen.sizes.products,
                      "orders": c.gen.sizes.orders},
            "rate_limit": c.rate_limit,
            "max_page_size": c.max_page_size,
            "pid": os.getpid(),
        }

    # -- running ----------------------------------------------------------------------------
    def _make_uvicorn(self):
        import uvicorn

        state, proxy = self.state, self.proxy

        class Server(uvicorn.Server):
            async def shutdown(self, sockets=None):
                # End the tunnels and idle keep-alive connections at once: a TLS close would
                # otherwise wait for each idle client's close_notify (up to 30 s).
                await proxy.close()
                for proto in list(state.held):  # hang / trickle: their handlers end at once
                    proto.transport.abort()
                for proto in list(state.connections.values()):
                    cycle = getattr(proto, "cycle", None)
                    if cycle is None or cycle.response_complete:
                        proto.transport.abort()
                await super().shutdown(sockets=sockets)

        cfg = uvicorn.Config(
            self.app, http=_protocol_class(self.state), ws="none", lifespan="off",
            log_level=self.log_level, access_log=False, ssl_certfile=self.tls.cert_file,
            ssl_keyfile=self.tls.key_file, timeout_keep_alive=15, server_header=False,
            date_header=True, timeout_graceful_shutdown=5,
        )
        return Server(cfg)

    async def serve(self):
        """Serve until ``stop()`` (or SIGINT/SIGTERM when running in the main thread)."""
        quiet = _QuietFaults()
        for name in ("uvicorn.error", "asyncio"):
            logging.getLogger(name).addFilter(quiet)
        self._uvicorn = self._make_uvicorn()
        await self.proxy.start(sock=self._proxy_sock)
        watcher = asyncio.ensure_future(self._watch_started())
        try:
            await self._uvicorn.serve(sockets=[self._sock])
        finally:
            watcher.cancel()
            await self.proxy.close()
            self._started.set()

    async def _watch_started(self):
        while not (self._uvicorn and self._uvicorn.started):
            await asyncio.sleep(0.01)
        self._started.set()

    def start_background(self, timeout: float = 30.0) -> "SandboxServer":
        def run():
            try:
                asyncio.run(self.serve())
            except BaseException as exc:  # reported to the starter
                self._error = exc
                self._started.set()

        self._thread = threading.Thread(target=run, name=f"cart-sandbox-{self.port}", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise RuntimeError("sandbox did not start in time")
        if self._error is not None:
            raise RuntimeError(f"sandbox failed to start: {self._error!r}")
        return self

    def stop(self, timeout: float = 10.0):
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        for s in (self._sock, self._proxy_sock):
            try:
                s.close()
            except OSError:
                pass
        self.cleanup()

    def cleanup(self):
        if self._own_dir and os.path.isdir(self.state_dir):
            shutil.rmtree(self.state_dir, ignore_errors=True)

"""A tiny HTTP CONNECT proxy that can only ever reach the local sandbox.

``HTTPS_PROXY=http://127.0.0.1:<port>`` sends every HTTPS request of an unmodified client
(``requests``, ``urllib3``) here as ``CONNECT host:443``. Whatever host is asked for, the
tunnel goes to the sandbox's local TLS port, so ``https://public.americommerce.com`` and
``https://demo-store.sandbox.test`` both reach the sandbox. TLS stays end to end: the proxy
only pipes bytes and never decrypts. Plain (non-CONNECT) requests, such as a client following
a redirect to ``http://other.example/...`` with ``HTTP_PROXY`` pointing here, are refused with
405 and never forwarded; the proxy counts them by the host they asked for, and separately those
that carried a credential header (``X-AC-Auth-Token``, ``X-AC-PUB-*``, ``Authorization``; the
values are never kept).
"""

from __future__ import annotations

import asyncio
from collections import Counter

CHUNK = 65536
CREDENTIAL_HEADERS = ("x-ac-auth-token", "x-ac-pub-auth-signature", "x-ac-pub-user",
                      "authorization", "proxy-authorization")


def _host_of(target: str, headers: list[str]) -> str:
    """The host a plain proxy request asks for: from its absolute-form target, else Host."""
    rest = target.split("://", 1)[1] if "://" in target else ""
    host = rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
    if not host:
        for line in headers:
            name, _, value = line.partition(":")
            if name.strip().lower() == "host":
                host = value.strip()
    return host.lower() or "?"


class ConnectProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1", host: str = "127.0.0.1",
                 port: int = 0):
        self.target_host = target_host  # always the local sandbox
        self.target_port = target_port
        self.host = host
        self.port = port
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self.reset_stats()

    def reset_stats(self):
        self.connects: Counter = Counter()
        self.refused: Counter = Counter()  # plain requests by method
        self.plain: Counter = Counter()  # plain requests by the host asked for
        self.plain_with_credentials: Counter = Counter()  # those of them carrying a credential
        self.active = 0

    def describe(self) -> dict:
        return {"connects": dict(self.connects), "refused": dict(self.refused),
                "plain": dict(self.plain),
                "plain_with_credentials": dict(self.plain_with_credentials),
                "active": self.active, "port": self.port}

    async def start(self, sock=None) -> int:
        if sock is not None:
            self._server = await asyncio.start_server(self._handle, sock=sock)
        else:
            self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self):
        if self._server is not None:
            self._server.close()
            for t in list(self._tasks):
                t.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            try:
                await asyncio.wait_for(self._server.wait_closed(), 2)
            except (asyncio.TimeoutError, Exception):
                pass
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        upstream_writer = None
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError,
                    ConnectionError):
                return
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split()
            if len(parts) != 3 or parts[0].upper() != "CONNECT":
                self.refused[parts[0] if parts else "?"] += 1
                host = _host_of(parts[1] if len(parts) > 1 else "", lines[1:])
                self.plain[host] += 1
                if any(line.partition(":")[0].strip().lower() in CREDENTIAL_HEADERS
                       for line in lines[1:]):
                    self.plain_with_credentials[host] += 1
                writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain\r\n"
                             b"Content-Length: 41\r\nConnection: close\r\n\r\n"
                             b"only CONNECT tunnels to the sandbox here\n")
                await writer.drain()
                return
            self.connects[parts[1].lower()] += 1
            try:
                up_reader, upstream_writer = await asyncio.open_connection(self.target_host,
                                                                           self.target_port)
            except OSError:
                writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                return
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            self.active += 1
            try:
                await asyncio.gather(self._pipe(reader, upstream_writer),
                                     self._pipe(up_reader, writer))
            finally:
                self.active -= 1
        except asyncio.CancelledError:
            pass
        finally:
            for w in (writer, upstream_writer):
                if w is not None:
                    try:
                        w.close()
                    except Exception:
                        pass
            if task is not None:
                self._tasks.discard(task)

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter):
        try:
            while True:
                data = await src.read(CHUNK)
                if not data:
                    break
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            # one side ended: end the tunnel (both directions)
            try:
                dst.close()
            except Exception:
                pass

"""Network faults: a loopback TCP proxy per link, with Toxiproxy's faults ("toxics").

``LinkProxy(name, upstream)`` listens on a free loopback port and forwards every connection to
``upstream`` byte for byte (HTTP/1.1, HTTP/2 and gRPC pass unchanged while no toxic is active). The
stack is pointed at it by configuration only (``LINK_ENV`` names the variables). Each toxic is an
injector, bounded in time and recorded in the ledger::

    with LinkProxy("server-temporal", stack.temporal_address, ledger=ledger) as proxy:
        ...  # start the stack with STIGMER_SERVER_TEMPORAL_ADDR=proxy.address
        with proxy.down(max_seconds=30):
            ...
        with proxy.latency(200, jitter_ms=50):
            ...

Directions are Toxiproxy's: ``upstream`` is client -> upstream server, ``downstream`` the answers.
The proxy runs an asyncio loop on a daemon thread of its own; its public methods are thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from support.faults.base import DEFAULT_MAX_SECONDS, FaultError, Injector
from support.faults.ledger import Ledger
from support.ports import LOOPBACK

T = TypeVar("T")

UPSTREAM = "upstream"
DOWNSTREAM = "downstream"
BOTH = "both"
DIRECTIONS = (UPSTREAM, DOWNSTREAM, BOTH)

LATENCY = "latency"
DOWN = "down"
RESET_PEER = "reset_peer"
TIMEOUT = "timeout"
SLICER = "slicer"
BANDWIDTH = "bandwidth"

LINK_ENV = {
    "server-temporal": "STIGMER_SERVER_TEMPORAL_ADDR",
    "runner-temporal": "STIGMER_RUNNER_TEMPORAL_ADDR",
    "runner-server": "STIGMER_RUNNER_SERVER_ADDR",
    "agent-llm": "OLLAMA_HOST",
}
"""Link name -> the variable that points the stack's side of that link at a proxy (``proxy.address``;
``OLLAMA_HOST`` takes ``proxy.url``). The HTTP fixture's link uses ``HttpApi.env()``'s variables."""


def http_fixture_env(proxy: LinkProxy) -> dict[str, str]:
    """Every example base-URL variable (``support.fixtures.http_api``) pointed at ``proxy``: the
    workflow-runner -> HTTP fixture link, for a proxy whose upstream is the fixture."""
    from support.fixtures.http_api import BASE_URL_VARIABLES

    return dict.fromkeys(BASE_URL_VARIABLES, proxy.url)


_READ_SIZE = 64 * 1024
_CALL_TIMEOUT = 15.0
_CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Toxic:
    """One fault on a proxy: its kind, the direction it acts on and its parameters."""

    kind: str
    direction: str = BOTH
    params: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, got {self.direction!r}")

    def acts_on(self, direction: str) -> bool:
        return self.direction in (BOTH, direction)

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other


@dataclass(frozen=True)
class ProxyStats:
    """Counts since the proxy started: connections, and bytes forwarded per direction."""

    connections: int
    open_connections: int
    refused: int
    reset: int
    upstream_failures: int
    bytes_upstream: int
    bytes_downstream: int


class ProxyFault(Injector):
    """A toxic on a proxy, as an injector: added on enter, removed on exit or after ``max_seconds``."""

    kind = "proxy"

    def __init__(self, proxy: LinkProxy, toxic: Toxic, *, max_seconds: float | None, ledger: Ledger | None) -> None:
        super().__init__(proxy.name, max_seconds=max_seconds, ledger=ledger if ledger is not None else proxy.ledger)
        self.proxy = proxy
        self.toxic = toxic
        self.kind = f"proxy.{toxic.kind}"

    def _inject(self) -> dict[str, Any]:
        self.proxy._add(self)
        return {"direction": self.toxic.direction, **self.toxic.params, "address": self.proxy.address}

    def _undo(self) -> dict[str, Any]:
        self.proxy._remove(self)
        return {}


class _Connection:
    def __init__(self, writers: tuple[asyncio.StreamWriter, ...]) -> None:
        self.writers = writers
        self.closed = False

    def reset(self) -> None:
        """Close both sides with a TCP RST (SO_LINGER 0), not a FIN."""
        if self.closed:
            return
        self.closed = True
        for writer in self.writers:
            sock = writer.get_extra_info("socket")
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for writer in self.writers:
            writer.close()


class LinkProxy:
    """A TCP proxy from ``address`` (127.0.0.1, a free port unless ``port`` is given) to ``upstream``."""

    _open: ClassVar[set[LinkProxy]] = set()
    _open_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, name: str, upstream: str, *, ledger: Ledger | None = None, port: int = 0) -> None:
        host, _, upstream_port = upstream.rpartition(":")
        if not host or not upstream_port.isdigit():
            raise ValueError(f"upstream must be host:port, got {upstream!r}")
        self.name = name
        self.upstream = upstream
        self.ledger = ledger
        self._upstream = (host.strip("[]"), int(upstream_port))
        self._port = port
        self._faults: list[ProxyFault] = []
        self._faults_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[_Connection] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._changed: asyncio.Event | None = None
        self._counts = dict.fromkeys(
            ("connections", "refused", "reset", "upstream_failures", "bytes_upstream", "bytes_downstream"), 0
        )

    # -- lifecycle

    @property
    def port(self) -> int:
        if not self._port:
            raise FaultError(f"proxy {self.name} is not started")
        return self._port

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``: where to point the client side of the link."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (for ``OLLAMA_HOST`` and HTTP base URLs)."""
        return f"http://{self.address}"

    def start(self) -> LinkProxy:
        """Listen and serve on a daemon thread; returns once listening."""
        if self._loop is not None:
            return self
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name=f"proxy {self.name}", daemon=True)
        self._thread.start()
        try:
            self._call(self._listen())
        except BaseException:
            self.close()
            raise
        with LinkProxy._open_lock:
            LinkProxy._open.add(self)
        return self

    def close(self) -> None:
        """Remove every toxic, cut every connection, stop listening, end the thread. Idempotent."""
        for fault in self.faults():
            with contextlib.suppress(Exception):
                fault.stop()
        loop, self._loop = self._loop, None
        if loop is None:
            return
        with LinkProxy._open_lock:
            LinkProxy._open.discard(self)
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(_CALL_TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(_CALL_TIMEOUT)
        if not loop.is_running():
            loop.close()

    def __enter__(self) -> LinkProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @classmethod
    def close_all(cls) -> list[str]:
        """Close every proxy still open in this process (a teardown's sweep); their names."""
        with cls._open_lock:
            proxies = list(cls._open)
        for proxy in proxies:
            proxy.close()
        return [proxy.name for proxy in proxies]

    # -- faults

    def latency(
        self, ms: float, jitter_ms: float = 0.0, *, direction: str = DOWNSTREAM, max_seconds: float | None = None
    ) -> ProxyFault:
        """Delay every chunk by ``ms`` ± ``jitter_ms`` milliseconds (order kept)."""
        return self._fault(Toxic(LATENCY, direction, {"ms": ms, "jitter_ms": jitter_ms}), max_seconds)

    def down(self, *, refuse: bool = False, max_seconds: float | None = None) -> ProxyFault:
        """Cut the open connections and every new one: each is reset as soon as it is accepted, or, with
        ``refuse``, refused (the listener is closed; the port is free meanwhile, and another socket could
        take it: reopening then fails with a ``FaultError``)."""
        return self._fault(Toxic(DOWN, BOTH, {"refuse": 1.0 if refuse else 0.0}), max_seconds)

    def reset_peer(self, after_ms: float = 0.0, *, max_seconds: float | None = None) -> ProxyFault:
        """Reset (TCP RST) every open connection, and every new one ``after_ms`` after it is accepted."""
        return self._fault(Toxic(RESET_PEER, BOTH, {"after_ms": after_ms}), max_seconds)

    def timeout(self, *, direction: str = BOTH, max_seconds: float | None = None) -> ProxyFault:
        """Blackhole: connections are accepted, data is held (never delivered) until the toxic is removed."""
        return self._fault(Toxic(TIMEOUT, direction), max_seconds)

    def slicer(
        self,
        chunk_bytes: int = 16,
        delay_ms: float = 1.0,
        *,
        direction: str = DOWNSTREAM,
        max_seconds: float | None = None,
    ) -> ProxyFault:
        """Deliver data in pieces of ``chunk_bytes`` with ``delay_ms`` between them."""
        if chunk_bytes < 1:
            raise ValueError(f"chunk_bytes must be at least 1, got {chunk_bytes}")
        return self._fault(Toxic(SLICER, direction, {"chunk_bytes": chunk_bytes, "delay_ms": delay_ms}), max_seconds)

    def bandwidth(
        self, kb_per_second: float, *, direction: str = DOWNSTREAM, max_seconds: float | None = None
    ) -> ProxyFault:
        """Limit throughput to ``kb_per_second`` KiB/s."""
        if kb_per_second <= 0:
            raise ValueError(f"kb_per_second must be positive, got {kb_per_second}")
        return self._fault(Toxic(BANDWIDTH, direction, {"kb_per_second": kb_per_second}), max_seconds)

    def reset(self) -> None:
        """Remove every toxic (the link is clean and up again)."""
        for fault in self.faults():
            fault.stop()

    def faults(self) -> list[ProxyFault]:
        """The toxics in place, in the order they were added."""
        with self._faults_lock:
            return list(self._faults)

    def stats(self) -> ProxyStats:
        """Connections and bytes so far."""
        counts = dict(self._counts)
        return ProxyStats(open_connections=len(self._connections), **counts)

    def _fault(self, toxic: Toxic, max_seconds: float | None) -> ProxyFault:
        bound = DEFAULT_MAX_SECONDS if max_seconds is None else max_seconds
        return ProxyFault(self, toxic, max_seconds=bound, ledger=self.ledger)

    def _add(self, fault: ProxyFault) -> None:
        if self._loop is None:
            raise FaultError(f"proxy {self.name} is not started")
        with self._faults_lock:
            self._faults.append(fault)
        self._call(self._applied(fault.toxic, added=True))

    def _remove(self, fault: ProxyFault) -> None:
        with self._faults_lock:
            if fault not in self._faults:
                return
            self._faults.remove(fault)
        if self._loop is not None:
            self._call(self._applied(fault.toxic, added=False))

    def _toxics(self, kind: str, direction: str | None = None) -> list[Toxic]:
        with self._faults_lock:
            return [
                f.toxic
                for f in self._faults
                if f.toxic.kind == kind and (direction is None or f.toxic.acts_on(direction))
            ]

    # -- the loop's side

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(_CALL_TIMEOUT)

    async def _listen(self) -> None:
        if self._changed is None:
            self._changed = asyncio.Event()
        self._server = await asyncio.start_server(self._accept, LOOPBACK, self._port, reuse_address=True)
        self._port = self._server.sockets[0].getsockname()[1]

    async def _relisten(self) -> None:
        deadline = time.monotonic() + 5
        while True:
            try:
                await self._listen()
                return
            except OSError as exc:
                if time.monotonic() >= deadline:
                    raise FaultError(f"proxy {self.name} cannot listen on {self.address} again: {exc}") from None
            await asyncio.sleep(0.1)  # the port is still held by a socket closing down

    async def _applied(self, toxic: Toxic, added: bool) -> None:
        if toxic.kind == DOWN:
            if added:
                if toxic.params["refuse"] and self._server is not None:
                    self._server.close()
                    self._server = None
                self._reset_all()
            elif not self._toxics(DOWN) and self._server is None:
                await self._relisten()
        elif toxic.kind == RESET_PEER and added:
            self._later(toxic.params["after_ms"] / 1000, self._reset_all)
        assert self._changed is not None
        self._changed.set()
        self._changed = asyncio.Event()

    def _later(self, seconds: float, action: Any) -> None:
        assert self._loop is not None
        if seconds <= 0:
            action()
        else:
            self._loop.call_later(seconds, action)

    def _reset_all(self) -> None:
        for conn in list(self._connections):
            if not conn.closed:
                self._counts["reset"] += 1
            conn.reset()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in list(self._connections):
            conn.reset()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(client_reader, client_writer)
        except asyncio.CancelledError:
            pass  # the proxy is closing; its connections were reset
        finally:
            self._tasks.discard(task)

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self._toxics(DOWN):
            self._counts["refused"] += 1
            _Connection((client_writer,)).reset()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.wait_for(
                asyncio.open_connection(*self._upstream), _CONNECT_TIMEOUT
            )
        except (OSError, TimeoutError):
            self._counts["upstream_failures"] += 1
            _Connection((client_writer,)).reset()
            return
        for writer in (client_writer, upstream_writer):
            with contextlib.suppress(OSError, AttributeError):
                writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._counts["connections"] += 1
        conn = _Connection((client_writer, upstream_writer))
        self._connections.add(conn)
        for toxic in self._toxics(RESET_PEER):
            self._later(toxic.params["after_ms"] / 1000, lambda c=conn: self._reset_one(c))
        try:
            await asyncio.gather(
                self._pump(client_reader, upstream_writer, UPSTREAM, conn),
                self._pump(upstream_reader, client_writer, DOWNSTREAM, conn),
            )
        finally:
            self._connections.discard(conn)
            conn.close()

    def _reset_one(self, conn: _Connection) -> None:
        if not conn.closed:
            self._counts["reset"] += 1
        conn.reset()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, direction: str, conn: _Connection
    ) -> None:
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

        async def read() -> None:
            try:
                while True:
                    data = await reader.read(_READ_SIZE)
                    if not data:
                        break
                    queue.put_nowait((time.monotonic(), data))
            except (OSError, asyncio.IncompleteReadError):
                conn.reset()  # a reset on one side is passed on to the other
            finally:
                queue.put_nowait(None)

        reading = asyncio.create_task(read())
        try:
            while not conn.closed:
                item = await queue.get()
                if item is None:
                    if not conn.closed and writer.can_write_eof():
                        writer.write_eof()
                    break
                arrived, data = item
                await self._hold(direction, conn)
                await self._delay(direction, arrived)
                await self._write(writer, data, direction, conn)
        except OSError:
            conn.reset()
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading

    async def _hold(self, direction: str, conn: _Connection) -> None:
        while self._toxics(TIMEOUT, direction) and not conn.closed:
            assert self._changed is not None
            await self._changed.wait()

    async def _delay(self, direction: str, arrived: float) -> None:
        delay = 0.0
        for toxic in self._toxics(LATENCY, direction):
            jitter = toxic.params["jitter_ms"]
            delay += max(0.0, toxic.params["ms"] + random.uniform(-jitter, jitter)) / 1000
        wait = arrived + delay - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    async def _write(self, writer: asyncio.StreamWriter, data: bytes, direction: str, conn: _Connection) -> None:
        counter = "bytes_upstream" if direction == UPSTREAM else "bytes_downstream"
        slicers = self._toxics(SLICER, direction)
        pieces = [data]
        pause = 0.0
        if slicers:
            size = int(min(t.params["chunk_bytes"] for t in slicers))
            pause = max(t.params["delay_ms"] for t in slicers) / 1000
            pieces = [data[i : i + size] for i in range(0, len(data), size)]
        rates = [t.params["kb_per_second"] for t in self._toxics(BANDWIDTH, direction)]
        for index, piece in enumerate(pieces):
            if conn.closed:
                return
            if index and pause:
                await asyncio.sleep(pause)
            if rates:  # the time this piece takes on a link of that bandwidth
                await asyncio.sleep(len(piece) / (min(rates) * 1024))
            writer.write(piece)
            await writer.drain()
            self._counts[counter] += len(piece)

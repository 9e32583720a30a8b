"""LinkProxy: byte-transparent when clean (raw TCP, HTTP/1.1, gRPC over HTTP/2), and each toxic does what
Toxiproxy's does, for a bounded time, in the ledger."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from support.faults.ledger import Ledger
from support.faults.network import UPSTREAM, LinkProxy
from support.waits import eventually

TIMEOUT = 10.0


class EchoServer:
    """A loopback TCP server echoing every byte back, one thread per connection."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            while data := conn.recv(65536):
                conn.sendall(data)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


@pytest.fixture
def ledger() -> Ledger:
    return Ledger()


@pytest.fixture
def proxy(echo: EchoServer, ledger: Ledger) -> Iterator[LinkProxy]:
    with LinkProxy("echo", echo.address, ledger=ledger) as opened:
        yield opened
    assert ledger.active() == [], "every toxic is removed when the proxy closes"


def connect(proxy: LinkProxy) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=TIMEOUT)
    return sock


def receive(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        piece = sock.recv(size - len(data))
        if not piece:
            break
        data += piece
    return data


def round_trip(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(payload)
    return receive(sock, len(payload))


def test_clean_traffic_passes_byte_for_byte_and_is_counted(proxy: LinkProxy) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB, every byte value
    with connect(proxy) as sock:
        assert round_trip(sock, payload) == payload

    def counted() -> None:  # the proxy counts a piece once its write drained: just after the client read it
        stats = proxy.stats()
        assert (stats.connections, stats.bytes_upstream, stats.bytes_downstream) == (1, len(payload), len(payload))

    eventually(counted, timeout=10)


def test_http_1_1_passes(ledger: Ledger) -> None:
    class Hello(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with LinkProxy("http", f"127.0.0.1:{server.server_address[1]}", ledger=ledger) as proxy:
            for body in (b"first", b"second" * 1000):
                request = urllib.request.Request(f"{proxy.url}/echo", data=body, method="POST")
                with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                    assert response.status == 200 and response.read() == body
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def grpc_health_server() -> Iterator[tuple[str, health.HealthServicer]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    server.start()
    yield f"127.0.0.1:{port}", servicer
    server.stop(0)


def check_health(address: str, timeout: float = TIMEOUT) -> str:
    with grpc.insecure_channel(address) as channel:
        stub: Any = health_pb2_grpc.HealthStub(channel)
        response = stub.Check(health_pb2.HealthCheckRequest(), timeout=timeout)
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))


def test_grpc_over_http2_passes_and_a_down_link_is_unavailable_until_up(
    grpc_health_server: tuple[str, health.HealthServicer], ledger: Ledger
) -> None:
    address, _servicer = grpc_health_server
    with LinkProxy("grpc", address, ledger=ledger) as proxy:
        assert check_health(proxy.address) == "SERVING"
        with proxy.down(refuse=True, max_seconds=30):
            with pytest.raises(grpc.RpcError) as caught:
                check_health(proxy.address, timeout=2)
            assert caught.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
        assert check_health(proxy.address) == "SERVING"
    assert [e.kind for e in ledger.entries] == ["proxy.down"]


def test_latency_delays_every_answer_by_at_least_the_set_value(proxy: LinkProxy, ledger: Ledger) -> None:
    with connect(proxy) as sock:
        with proxy.latency(500, jitter_ms=20):
            started = time.monotonic()
            assert round_trip(sock, b"ping") == b"ping"
            took = time.monotonic() - started
        assert took >= 0.48, f"a 500±20 ms latency answered in {took * 1000:.0f} ms"
        started = time.monotonic()
        assert round_trip(sock, b"pong") == b"pong"
        assert time.monotonic() - started < 0.45, "removing the toxic removes the delay"
    (entry,) = ledger.entries
    assert entry.kind == "proxy.latency" and entry.detail["ms"] == 500 and entry.detail["direction"] == "downstream"


def test_latency_in_both_directions_adds_up(proxy: LinkProxy) -> None:
    with connect(proxy) as sock, proxy.latency(150, direction=UPSTREAM), proxy.latency(150):
        started = time.monotonic()
        assert round_trip(sock, b"ping") == b"ping"
        assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize("refuse", [False, True], ids=["reset-on-accept", "refuse"])
def test_down_cuts_open_connections_and_new_ones(proxy: LinkProxy, refuse: bool) -> None:
    sock = connect(proxy)
    assert round_trip(sock, b"before") == b"before"
    with proxy.down(refuse=refuse):
        assert _cut(sock), "the open connection is cut"
        if refuse:
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", proxy.port), timeout=TIMEOUT)
        else:
            assert _new_connection_cut(proxy), "a new connection is reset at once"
    sock.close()
    with connect(proxy) as again:
        assert round_trip(again, b"after") == b"after"
    assert proxy.stats().refused == (0 if refuse else 1)


def _new_connection_cut(proxy: LinkProxy) -> bool:
    try:
        fresh = connect(proxy)
    except ConnectionResetError:  # the reset can overtake the end of the handshake on loopback
        return True
    with fresh:
        return _cut(fresh)


def _cut(sock: socket.socket) -> bool:
    """Whether the connection is closed or reset (what a client sees when it sends and reads)."""
    try:
        sock.sendall(b"x")
        return sock.recv(10) == b""
    except OSError:
        return True


def test_reset_peer_resets_open_connections_and_new_ones_while_active(proxy: LinkProxy) -> None:
    sock = connect(proxy)
    assert round_trip(sock, b"before") == b"before"
    with proxy.reset_peer():
        with pytest.raises(ConnectionResetError):
            sock.sendall(b"x")
            sock.recv(10)
        sock.close()
        assert _new_connection_cut(proxy)
    with connect(proxy) as after:
        assert round_trip(after, b"after") == b"after"
    assert proxy.stats().reset >= 2


def test_timeout_holds_data_until_removed_then_delivers_it(proxy: LinkProxy) -> None:
    with connect(proxy) as sock:
        fault = proxy.timeout().start()
        try:
            sock.sendall(b"held")
            sock.settimeout(0.5)
            with pytest.raises(TimeoutError):
                sock.recv(10)
        finally:
            fault.stop()
        sock.settimeout(TIMEOUT)
        assert receive(sock, 4) == b"held"


def test_slicer_still_delivers_everything(proxy: LinkProxy) -> None:
    payload = bytes(range(256)) * 40
    with connect(proxy) as sock, proxy.slicer(chunk_bytes=500, delay_ms=1):
        assert round_trip(sock, payload) == payload


def test_bandwidth_slows_a_transfer_down(proxy: LinkProxy) -> None:
    payload = b"b" * 20_000
    with connect(proxy) as sock, proxy.bandwidth(100):
        started = time.monotonic()
        assert round_trip(sock, payload) == payload
        assert time.monotonic() - started >= 0.15, "20 kB at 100 KiB/s takes about 0.2 s"


def test_a_toxic_ends_by_itself_after_its_bound(proxy: LinkProxy, ledger: Ledger) -> None:
    fault = proxy.down(refuse=True, max_seconds=0.3).start()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=TIMEOUT)
    eventually(lambda: _connects(proxy), timeout=TIMEOUT)
    assert not fault.active and ledger.entries[0].detail["expired"] is True


def _connects(proxy: LinkProxy) -> None:
    try:
        with connect(proxy) as sock:
            assert round_trip(sock, b"up") == b"up"
    except OSError as exc:
        raise AssertionError(f"the proxy does not forward yet: {exc}") from None


def test_reset_clears_every_toxic_and_a_failing_body_undoes_its_toxic(proxy: LinkProxy, ledger: Ledger) -> None:
    proxy.latency(100).start()
    proxy.timeout().start()
    assert len(proxy.faults()) == 2
    proxy.reset()
    assert proxy.faults() == [] and ledger.active() == []
    with pytest.raises(RuntimeError), proxy.down():
        raise RuntimeError("the test failed")
    with connect(proxy) as sock:
        assert round_trip(sock, b"ok") == b"ok"


def test_close_stops_listening_and_ends_its_thread(echo: EchoServer) -> None:
    proxy = LinkProxy("closing", echo.address).start()
    port = proxy.port
    thread = proxy._thread
    proxy.latency(50).start()
    assert "closing" in [p.name for p in LinkProxy._open]
    proxy.close()
    proxy.close()
    assert thread is not None and not thread.is_alive()
    assert proxy.faults() == []
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    assert LinkProxy.close_all() == []


def test_an_unreachable_upstream_resets_the_client(ledger: Ledger) -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    with LinkProxy("nowhere", f"127.0.0.1:{port}", ledger=ledger) as proxy:
        assert _new_connection_cut(proxy)
        eventually(lambda: _assert(proxy.stats().upstream_failures == 1), timeout=TIMEOUT)


def _assert(condition: bool) -> None:
    assert condition

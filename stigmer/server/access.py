"""Who may call what: the rule the server's interceptor (``stigmer.server.auth``) applies to every call.

- Reads are open: ``Get``, ``List``, ``Subscribe`` of every Stigmer service, and every service that is
  not Stigmer's (grpc.health.v1, server reflection).
- Runner-only calls (``UpdateStatus``, ``RunnerService.GetRuntimeEnv``) need the runner token.
- Every other Stigmer call changes state (Apply, Delete, Create, Cancel, ... and any RPC added later,
  unless it is added to the reads) and needs the client token; a runner's token is accepted too (the
  workflow-runner creates and cancels child executions).

A call without the right token is refused before it reaches its servicer, so it changes nothing.
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Mapping

from stigmer.client_token import AUTHORIZATION_METADATA, CLIENT_TOKEN_FILE, presented_client_token
from stigmer.runner_api import RUNNER_TOKEN_FILE, RUNNER_TOKEN_METADATA

STIGMER_SERVICES = "/stigmer.api.v1."
READ_METHODS = frozenset({"Get", "List", "Subscribe"})
RUNNER_METHODS = frozenset({"UpdateStatus", "GetRuntimeEnv"})


class Access(enum.Enum):
    OPEN = "open"
    CLIENT = "client"
    RUNNER = "runner"


def required(full_method: str) -> Access:
    """The token a call of ``full_method`` (``/package.Service/Method``) needs."""
    if not full_method.startswith(STIGMER_SERVICES):
        return Access.OPEN
    method = full_method.rsplit("/", 1)[-1]
    if method in READ_METHODS:
        return Access.OPEN
    if method in RUNNER_METHODS:
        return Access.RUNNER
    return Access.CLIENT


def _same(presented: str, expected: str) -> bool:
    return bool(presented) and bool(expected) and hmac.compare_digest(presented.encode(), expected.encode())


def refusal(full_method: str, metadata: Mapping[str, str], *, client_token: str, runner_token: str) -> str | None:
    """Why a call of ``full_method`` with ``metadata`` is refused, or None when it may proceed."""
    access = required(full_method)
    if access is Access.OPEN:
        return None
    runner_ok = _same(metadata.get(RUNNER_TOKEN_METADATA, ""), runner_token)
    if access is Access.RUNNER:
        if runner_ok:
            return None
        return (
            f"{full_method} is for runners only: present the runner token ({RUNNER_TOKEN_FILE} of the "
            f"stack's STIGMER_HOME) in the metadata {RUNNER_TOKEN_METADATA!r}"
        )
    if runner_ok or _same(presented_client_token(dict(metadata)), client_token):
        return None
    return (
        f"{full_method} changes state and needs the stack's client token: it is in {CLIENT_TOKEN_FILE} of the "
        f"STIGMER_HOME the server runs with (readable by its owner only); the CLI sends it when it runs with "
        f"that STIGMER_HOME (other clients: metadata '{AUTHORIZATION_METADATA}: Bearer <token>')"
    )

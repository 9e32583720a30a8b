"""Secret runtime values: how they are stored, redacted in every read, and handed to runners only.

A runtime value is secret when its creator says so or when the agent / workflow declares its env var
``secret``. Reads of executions show secret values as ``REDACTED``; only ``RunnerService.GetRuntimeEnv``,
which requires the stack's runner token, returns them in clear. Every secret value the server stores or
serves is handed to the process's log filter (``stigmer.secret_logs``).
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
from collections.abc import Iterable, Mapping, MutableMapping
from pathlib import Path
from typing import TypeVar

from stigmer import secret_logs
from stigmer.api.v1 import execution_pb2 as pb
from stigmer.api.v1.common_pb2 import EnvVar
from stigmer.client_token import client_token_path
from stigmer.runner_api import RUNNER_TOKEN_FILE, RUNNER_TOKEN_METADATA, read_runner_token, runner_token_path
from stigmer.server.errors import PermissionDenied
from stigmer.server.store import Execution

REDACTED = "<redacted>"

RUNNER_TOKEN_MODE = 0o600

_EMPTY = pb.RuntimeEnvValue()

E = TypeVar("E", bound=Execution)


# --- runtime values --------------------------------------------------------------------------


def copy_runtime_env(
    target: MutableMapping[str, pb.RuntimeEnvValue],
    given: Mapping[str, pb.RuntimeEnvValue],
    declared: Iterable[EnvVar],
) -> list[str]:
    """Copy ``given`` into ``target``, secret where declared secret; return the required names missing.

    A required variable is missing when it has no default and no (non-empty) value was given.
    """
    declared = list(declared)
    secret_names = {var.name for var in declared if var.secret}
    for name, value in given.items():
        target[name].CopyFrom(value)
        if name in secret_names:
            target[name].secret = True
        if target[name].secret:
            secret_logs.remember([value.value])
    return [
        var.name for var in declared if var.required and not var.default_value and not given.get(var.name, _EMPTY).value
    ]


def declared_env(execution: Execution) -> list[EnvVar]:
    """The env vars the pinned agent or workflow of the execution declares."""
    if isinstance(execution, pb.AgentExecution):
        return list(execution.spec.agent.env)
    return list(execution.spec.workflow.env)


def redacted(execution: E) -> E:
    """The execution as every reader sees it: secret values replaced by ``REDACTED``.

    Returns ``execution`` itself when it holds no secret value, a redacted copy otherwise (the
    argument is never modified, so it may be shared).
    """
    secret_values = [name for name, value in execution.spec.runtime_env.items() if value.secret and value.value]
    secret_defaults = [i for i, var in enumerate(declared_env(execution)) if var.secret and var.default_value]
    if not secret_values and not secret_defaults:
        return execution
    copy = type(execution)()
    copy.CopyFrom(execution)  # type: ignore[arg-type]  # the same message type: type(execution)()
    for name in secret_values:
        copy.spec.runtime_env[name].value = REDACTED
    env = copy.spec.agent.env if isinstance(copy, pb.AgentExecution) else copy.spec.workflow.env
    for index in secret_defaults:
        env[index].default_value = REDACTED
    return copy


def runtime_env(execution: Execution, declared: Iterable[EnvVar]) -> pb.RuntimeEnv:
    """The execution's environment in clear: declared defaults, overridden by its runtime values."""
    values: dict[str, str] = {}
    secret_names: set[str] = set()
    for var in declared:
        if var.default_value:
            values[var.name] = var.default_value
        if var.secret:
            secret_names.add(var.name)
    for name, value in execution.spec.runtime_env.items():
        values[name] = value.value
        if value.secret:
            secret_names.add(name)
    secret_names &= values.keys()
    secret_logs.remember(values[name] for name in secret_names)
    return pb.RuntimeEnv(values=values, secret_names=sorted(secret_names))


# --- the runner token ------------------------------------------------------------------------


def ensure_runner_token(home: Path) -> str:
    """The stack's runner token, created (random, mode 0600, atomically) when ``home`` has none.

    An existing token is kept, so runners started earlier keep working across server restarts.
    """
    _ensure_token(runner_token_path(home))
    return read_runner_token(home)


def ensure_client_token(home: Path) -> str:
    """The stack's client token (``stigmer.client_token``), created like the runner token when absent.

    An existing token is kept, so clients keep working across server restarts.
    """
    path = client_token_path(home)
    _ensure_token(path)
    return path.read_text(encoding="utf-8").strip()


def _ensure_token(path: Path) -> None:
    """Write a random token to ``path`` (mode 0600, atomically) unless it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        staging = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(staging, os.O_CREAT | os.O_EXCL | os.O_WRONLY, RUNNER_TOKEN_MODE)
        try:
            with os.fdopen(fd, "w") as file:
                file.write(secrets.token_urlsafe(32) + "\n")
                file.flush()
                os.fsync(file.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(staging, path)  # atomic, and never replaces a token another server just wrote
        finally:
            staging.unlink(missing_ok=True)


def check_runner_token(presented: str | None, expected: str) -> None:
    """``PermissionDenied`` unless ``presented`` is the runner token."""
    if not presented or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise PermissionDenied(
            f"this call is for runners only: present the runner token ({RUNNER_TOKEN_FILE} of the stack's "
            f"STIGMER_HOME) in the metadata {RUNNER_TOKEN_METADATA!r}"
        )

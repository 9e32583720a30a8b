"""The runner's Temporal activities: every side effect of a workflow execution.

- ``load_execution`` (local): the execution's pinned workflow, input and *non-secret* env, and
  the execution reported IN_PROGRESS; a big input is parsed here, ahead of the workflow thread
  (``parsed_inputs``).
- ``report_status`` (local): one ``UpdateStatus`` (idempotent; a conflict with a terminal
  execution is logged and dropped: the execution already ended, e.g. it was cancelled).
- ``http_call``, ``grpc_call``, ``run_workflow``, ``agent_call``: the calls of those tasks. Each
  heartbeats every second while it runs (its heartbeat timeout is a few seconds: a dead runner's call is
  retried soon), and waits out a server that is down (``ServerClient.retrying``).

Secret values exist only inside these functions: ``GetRuntimeEnv`` is called here (cached per
execution in memory), deferred expressions are evaluated here, and every result and error message
is scrubbed of secret values before it leaves (see ``secrets``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import grpc
import httpx
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio import activity
from temporalio.exceptions import ApplicationError

from stigmer import secret_logs
from stigmer.api import json_values
from stigmer.api.v1 import common_pb2
from stigmer.api.v1 import execution_pb2 as pb
from stigmer.api.validation import task_to_dict
from stigmer.heartbeats import heartbeating
from stigmer.runner_api import RUNNER_TOKEN_FILE
from stigmer.workflow_runner import children, grpc_calls, http_calls
from stigmer.workflow_runner.call_errors import CallFailed, failed
from stigmer.workflow_runner.effects import CallRequest
from stigmer.workflow_runner.expressions import ExpressionError, fill_in, references_env
from stigmer.workflow_runner.parsed_inputs import PARSED_INPUTS
from stigmer.workflow_runner.reporting import StatusReport
from stigmer.workflow_runner.secrets import Scrubber, env_real
from stigmer.workflow_runner.server_client import ServerClient

log = logging.getLogger("stigmer.workflow_runner")

PHASES = {
    "PENDING": pb.EXECUTION_PHASE_PENDING,
    "IN_PROGRESS": pb.EXECUTION_PHASE_IN_PROGRESS,
    "COMPLETED": pb.EXECUTION_PHASE_COMPLETED,
    "FAILED": pb.EXECUTION_PHASE_FAILED,
    "CANCELLED": pb.EXECUTION_PHASE_CANCELLED,
    "SKIPPED": pb.EXECUTION_PHASE_SKIPPED,
}
TERMINAL = (pb.EXECUTION_PHASE_COMPLETED, pb.EXECUTION_PHASE_FAILED, pb.EXECUTION_PHASE_CANCELLED)
ENV_CACHE_SECONDS = 300.0
ENV_CACHE_SIZE = 256
# server answers that retrying cannot change
FINAL_CODES = (
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
)


@dataclass
class LoadedExecution:
    """What workflow code learns about an execution: no secret values, only secret names."""

    execution_id: str
    terminal: bool = False
    name: str = ""
    namespace: str = ""
    version: str = ""
    tasks: list[dict[str, Any]] = field(default_factory=list)
    input: Any = None  # histories recorded before input_json
    env: dict[str, str] = field(default_factory=dict)
    secret_names: list[str] = field(default_factory=list)
    # The input as JSON text: a payload converter turns a dataclass into JSON through a deep copy
    # of every value (dataclasses.asdict), seconds for a 4 MiB input; text is copied as it is.
    input_json: str = ""

    def input_value(self) -> Any:
        """The execution's input (an empty object when it has none), parsed ahead when it is big
        (``parsed_inputs``)."""
        return PARSED_INPUTS.take(self.execution_id, self.input_json) if self.input_json else self.input


@dataclass
class RuntimeEnv:
    values: dict[str, str]
    secret_names: list[str]


def application_error(failure: CallFailed, scrubber: Scrubber) -> ApplicationError:
    info = failure.info
    details = {**info.as_dict(), "title": scrubber.text(info.title), "detail": scrubber.text(info.detail)}
    return ApplicationError(
        scrubber.text(failure.info.text()),
        details,
        type="TaskFailed",
        non_retryable=not failure.retryable,
    )


def _timestamp(text: str) -> Timestamp | None:
    if not text:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(datetime.fromisoformat(text))
    return stamp


def update_request(report: StatusReport) -> pb.UpdateStatusRequest:
    """The ``UpdateStatusRequest`` of a report (outputs as JSON text, times as timestamps)."""
    phase = PHASES.get(report.phase, pb.EXECUTION_PHASE_UNSPECIFIED)
    request = pb.UpdateStatusRequest(execution_id=report.execution_id, phase=phase)
    for task in report.tasks:
        status = request.tasks.add(
            name=task.name, path=task.path, kind=task.kind, phase=PHASES[task.phase], error=task.error, run=task.run
        )
        if task.phase == "COMPLETED":
            status.output_json = json_values.dumps(task.output)
        for name in ("started_at", "completed_at"):
            stamp = _timestamp(getattr(task, name))
            if stamp is not None:
                getattr(status, name).CopyFrom(stamp)
    if report.phase == "COMPLETED":
        request.output_json = json_values.dumps(report.output)
    if report.error:
        request.error = report.error
    if report.error_info:
        info = report.error_info
        request.error_info.CopyFrom(
            pb.ErrorInfo(
                type=str(info.get("type", "")),
                status=int(info.get("status") or 0),
                title=str(info.get("title", "")),
                detail=str(info.get("detail", "")),
                instance=str(info.get("instance", "")),
            )
        )
    return request


class RunnerActivities:
    """The activities, sharing one server channel, one HTTP client and an env cache."""

    def __init__(self, server: ServerClient, http: httpx.AsyncClient | None = None) -> None:
        self.server = server
        self.http = http or httpx.AsyncClient(follow_redirects=True)
        self._env: dict[str, tuple[float, RuntimeEnv]] = {}

    def all(self) -> list[Any]:
        return [
            self.load_execution,
            self.report_status,
            self.http_call,
            self.grpc_call,
            self.run_workflow,
            self.agent_call,
        ]

    async def close(self) -> None:
        await self.http.aclose()

    # --- the runtime environment ---------------------------------------------------------------

    async def runtime_env(self, execution_id: str) -> RuntimeEnv:
        cached = self._env.get(execution_id)
        if cached and time.monotonic() - cached[0] < ENV_CACHE_SECONDS:
            return cached[1]
        try:
            answer = await self.server.retrying(self.server.runner.GetRuntimeEnv, common_pb2.Ref(value=execution_id))
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
                raise
            raise ApplicationError(
                f"the server refused the runner token ({RUNNER_TOKEN_FILE} of this STIGMER_HOME): {exc.details()}",
                type="RunnerTokenRejected",
                non_retryable=True,
            ) from None
        env = RuntimeEnv(dict(answer.values), sorted(answer.secret_names))
        secret_logs.remember(env.values[name] for name in env.secret_names if name in env.values)
        if len(self._env) >= ENV_CACHE_SIZE:
            self._env.pop(next(iter(self._env)))
        self._env[execution_id] = (time.monotonic(), env)
        return env

    async def _scrubber(self, request: CallRequest) -> tuple[Scrubber, RuntimeEnv | None]:
        if not request.secret_names and not request.deferred:
            return Scrubber({}), None
        env = await self.runtime_env(request.execution_id)
        _, secrets = env_real(env.values, env.secret_names)
        return Scrubber(secrets), env

    # --- loading and reporting ---------------------------------------------------------------

    @activity.defn(name="load_execution")
    async def load_execution(self, execution_id: str) -> LoadedExecution:
        ref = common_pb2.Ref(value=execution_id)
        try:
            execution = await self.server.workflow_executions.Get(ref, metadata=self.server.metadata, timeout=10)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                log.warning("execution %s not found: nothing to run", execution_id)
                return LoadedExecution(execution_id, terminal=True)
            raise
        if execution.status.phase in TERMINAL:
            return LoadedExecution(execution_id, terminal=True)
        spec = execution.spec.workflow
        if not spec.tasks:  # an execution created before specs were pinned
            workflow = await self.server.workflows.Get(
                common_pb2.Ref(value=execution.spec.workflow_id), metadata=self.server.metadata, timeout=10
            )
            spec = workflow.spec
            execution.spec.workflow.CopyFrom(spec)
        env = await self.runtime_env(execution_id)
        secret = set(env.secret_names)
        loaded = LoadedExecution(
            execution_id=execution_id,
            name=execution.spec.workflow_name,
            namespace=execution.spec.workflow_namespace or spec.namespace,
            version=spec.version,
            tasks=[task_to_dict(task) for task in spec.tasks],
            input_json=execution.spec.input_json or "{}",
            env={name: value for name, value in env.values.items() if name not in secret},
            secret_names=sorted(secret),
        )
        if execution.status.phase != pb.EXECUTION_PHASE_IN_PROGRESS:
            start = pb.UpdateStatusRequest(execution_id=execution_id, phase=pb.EXECUTION_PHASE_IN_PROGRESS)
            try:
                await self.server.workflow_executions.UpdateStatus(start, metadata=self.server.metadata, timeout=10)
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.FAILED_PRECONDITION:
                    raise
                return LoadedExecution(execution_id, terminal=True)  # ended (cancelled) meanwhile
        PARSED_INPUTS.keep(execution_id, loaded.input_json)
        return loaded

    @activity.defn(name="report_status")
    async def report_status(self, report: StatusReport) -> None:
        request = update_request(report)
        try:
            await self.server.workflow_executions.UpdateStatus(request, metadata=self.server.metadata, timeout=10)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
                log.warning("status of %s not recorded: %s", report.execution_id, exc.details())
                return
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise ApplicationError(f"invalid status update: {exc.details()}", non_retryable=True) from None
            raise

    # --- calls ---------------------------------------------------------------------------------

    async def _resolved(self, request: CallRequest) -> tuple[dict[str, Any], Scrubber, RuntimeEnv | None]:
        scrubber, env = await self._scrubber(request)
        config = request.config
        if request.deferred:
            assert env is not None and request.scope is not None
            real_env, real_secrets = env_real(env.values, env.secret_names)
            variables = {**request.scope.variables, "env": real_env, "secrets": real_secrets}
            pointers = [(deferred.pointer, deferred.text) for deferred in request.deferred]
            try:
                config = fill_in(config, pointers, request.scope.context, variables)
            except ExpressionError as exc:
                raise application_error(failed("expression", 400, "Expression failed", str(exc)), scrubber) from None
        return config, scrubber, env

    async def _perform(self, request: CallRequest, call: Any) -> Any:
        config, scrubber, env = await self._resolved(request)
        try:
            output = await call(config, scrubber, env)
        except CallFailed as failure:
            raise application_error(failure, scrubber) from None
        except grpc.aio.AioRpcError as exc:
            if exc.code() in FINAL_CODES:
                title = f"Server refused the {request.kind}"
                raise application_error(failed("runtime", 400, title, str(exc.details())), scrubber) from None
            raise ApplicationError(scrubber.text(f"{exc.code().name}: {exc.details()}")) from None
        except (ApplicationError, asyncio.CancelledError):
            raise
        except Exception as exc:  # anything else: its text may hold a secret (a URL with a token ...)
            raise ApplicationError(scrubber.text(f"{type(exc).__name__}: {exc}"), type=type(exc).__name__) from None
        return scrubber.value(output)

    @activity.defn(name="http_call")
    async def http_call(self, request: CallRequest) -> Any:
        async def call(config: dict[str, Any], scrubber: Scrubber, env: RuntimeEnv | None) -> Any:
            return await http_calls.http_call(self.http, config, request.key)

        async with heartbeating():
            return await self._perform(request, call)

    @activity.defn(name="grpc_call")
    async def grpc_call(self, request: CallRequest) -> Any:
        async def call(config: dict[str, Any], scrubber: Scrubber, env: RuntimeEnv | None) -> Any:
            return await asyncio.to_thread(grpc_calls.grpc_call, config)

        async with heartbeating():
            return await self._perform(request, call)

    @activity.defn(name="run_workflow")
    async def run_workflow(self, request: CallRequest) -> Any:
        async def call(config: dict[str, Any], scrubber: Scrubber, env: RuntimeEnv | None) -> Any:
            return await children.run_workflow(
                self.server, config, request.execution_id, request.key, activity.heartbeat
            )

        async with heartbeating():
            return await self._perform(request, call)

    @activity.defn(name="agent_call")
    async def agent_call(self, request: CallRequest) -> Any:
        async def call(config: dict[str, Any], scrubber: Scrubber, env: RuntimeEnv | None) -> Any:
            secret_keys = secret_env_keys(request, config, scrubber, env)
            return await children.agent_call(
                self.server, config, request.execution_id, request.key, secret_keys, activity.heartbeat
            )

        async with heartbeating():
            return await self._perform(request, call)


def secret_env_keys(
    request: CallRequest, config: dict[str, Any], scrubber: Scrubber, env: RuntimeEnv | None
) -> set[str]:
    """The ``agent_call.env`` entries that carry secrets: they read a secret variable or hold a secret value."""
    secret_names = set(env.secret_names) if env else set()
    keys: set[str] = set()
    for deferred in request.deferred:
        in_env = len(deferred.pointer) >= 2 and deferred.pointer[0] == "env"
        reads_secret = any(name in deferred.text for name in secret_names) or "$secrets" in deferred.text
        if in_env and reads_secret and references_env(deferred.text):
            keys.add(str(deferred.pointer[1]))
    for name, value in (config.get("env") or {}).items():
        if isinstance(value, str) and scrubber.contains_secret(value):
            keys.add(name)
    return keys

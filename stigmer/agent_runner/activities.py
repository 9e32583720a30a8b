"""The activities: ``run_agent`` (the whole agent run, heartbeating) and ``report_outcome``.

Both take only the execution ID (and, for ``report_outcome``, a phase and an already redacted error)
and return only a phase name: secrets are fetched, used and dropped inside ``run_agent``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import AsyncExitStack
from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from stigmer.agent_runner.agent_run import AgentRun
from stigmer.agent_runner.env_values import MissingEnvError
from stigmer.agent_runner.llm import LlmError
from stigmer.agent_runner.loop import MaxTurnsError
from stigmer.agent_runner.mcp_tools import McpSetupError
from stigmer.agent_runner.model_choice import NoModelError
from stigmer.agent_runner.progress import Progress
from stigmer.agent_runner.reporting import Reporter
from stigmer.agent_runner.server_api import ExecutionFinishedError, ExecutionGoneError, RunnerTokenError, ServerApi
from stigmer.agent_runner.settings import RunnerSettings
from stigmer.api.v1 import execution_pb2 as pb
from stigmer.heartbeats import heartbeating

log = logging.getLogger("stigmer.agent_runner")

# Error types of failed run_agent attempts (retried; the last one's message becomes the execution's error).
RUNNER_ERROR = "RunnerError"
LLM_UNAVAILABLE = "LlmUnavailable"
# Failures of the agent itself (and non-retryable LLM errors): reported as FAILED at once, never retried.
AGENT_FAILURES = (McpSetupError, MissingEnvError, MaxTurnsError, NoModelError)
TERMINAL = {pb.EXECUTION_PHASE_COMPLETED, pb.EXECUTION_PHASE_FAILED, pb.EXECUTION_PHASE_CANCELLED}


def single(error: BaseException) -> BaseException:
    """The one exception inside nested exception groups (the group itself when it holds several)."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def phase_name(phase: int) -> str:
    return pb.ExecutionPhase.Name(phase).removeprefix("EXECUTION_PHASE_")


class AgentActivities:
    def __init__(self, settings: RunnerSettings) -> None:
        self.settings = settings

    def _api(self) -> ServerApi:
        return ServerApi(self.settings.server_addr, self.settings.read_token())

    @activity.defn(name="run_agent")
    async def run_agent(self, execution_id: str) -> str:
        api = self._api()
        try:
            async with heartbeating():
                return await self._run(api, execution_id)
        finally:
            await api.close()

    async def _run(self, api: ServerApi, execution_id: str) -> str:
        try:
            return await self._run_execution(api, execution_id)
        except ExecutionGoneError as exc:
            log.warning("execution %s: nothing to run: %s", execution_id, exc)
            return "GONE"

    async def _run_execution(self, api: ServerApi, execution_id: str) -> str:
        execution = await api.execution(execution_id)
        if execution.status.phase in TERMINAL:
            log.info("execution %s is %s already: nothing to do", execution_id, phase_name(execution.status.phase))
            return phase_name(execution.status.phase)
        spec = execution.spec
        agent = spec.agent if spec.HasField("agent") else (await api.agent(spec.agent_id)).spec
        try:
            env = await api.runtime_env(execution_id)
        except RunnerTokenError as exc:
            # Reporting needs the token too: the engine's failure of this workflow is the only report.
            log.error("execution %s: %s", execution_id, exc)
            raise ApplicationError(str(exc), type="RunnerTokenRejected", non_retryable=True) from None
        redact = env.redactor()
        # Numbered past every attempt that reported before (of this workflow run or an earlier one),
        # so the server can refuse a superseded attempt that still runs.
        attempt = max(activity.info().attempt, execution.status.attempt + 1)
        reporter = Reporter(api, execution_id, redact, attempt)
        progress = Progress.of(execution.status)
        stale_messages, stale_calls = progress.stale()
        resumed = len(progress.calls) - len(stale_calls)
        log.info(
            "execution %s of agent %s: starting (attempt %d%s)",
            execution_id,
            spec.agent_name,
            attempt,
            f", resuming after {resumed} recorded tool call(s)" if resumed else "",
        )
        try:
            await reporter.started(stale_messages, stale_calls)
            timeout = spec.config.timeout_seconds or None
            try:
                async with AsyncExitStack() as stack, asyncio.timeout(timeout):
                    run = AgentRun(self.settings, execution, agent, env, reporter, api, stack, progress)
                    answer = await run.run()
            except BaseExceptionGroup as group:  # MCP clients' task groups wrap what ends them
                raise single(group) from None
            except TimeoutError:
                raise LlmError(
                    f"the agent did not finish within the execution's timeout of {timeout} s "
                    "(config timeout_seconds); raise it or give the agent a smaller task",
                    timeout=True,
                ) from None
            recorded = phase_name(await reporter.completed(answer.message_id, answer.text))
            log.info("execution %s %s after %d turn(s) with %s", execution_id, recorded, answer.turns, run.model)
            return recorded
        except LlmError as exc:
            if not exc.retryable:
                return await self._failed(reporter, execution_id, redact(str(exc)), "timeout" if exc.timeout else "")
            message = redact(str(exc))
            log.warning(
                "execution %s: LLM call failed (attempt %d, will be retried): %s", execution_id, attempt, message
            )
            with contextlib.suppress(Exception):  # the note is a courtesy; the retry must happen anyway
                await reporter.retrying(message, attempt)
            wait = None if exc.retry_after is None else timedelta(seconds=exc.retry_after)
            raise ApplicationError(message, type=LLM_UNAVAILABLE, next_retry_delay=wait) from None
        except AGENT_FAILURES as exc:
            return await self._failed(reporter, execution_id, redact(str(exc)))
        except ExecutionFinishedError as exc:
            log.info("execution %s ended meanwhile: %s", execution_id, redact(str(exc)))
            return await self._recorded_end(api, execution_id)
        except asyncio.CancelledError:
            log.info("execution %s: run cancelled", execution_id)
            raise
        except Exception as exc:
            message = redact(f"agent-runner error: {type(exc).__name__}: {exc}")
            log.error("execution %s: runner error (attempt %d): %s", execution_id, attempt, message)
            # No chained cause: the original exception's text could hold a secret.
            raise ApplicationError(message, type=RUNNER_ERROR) from None

    async def _recorded_end(self, api: ServerApi, execution_id: str) -> str:
        """The phase the server recorded for an execution that ended without this run (cancelled while
        the run started, say): the workflow returns it, so Temporal's record agrees with the store's.
        ``FINISHED`` when it is not terminal (this attempt was superseded), ``GONE`` when deleted."""
        try:
            phase = (await api.execution(execution_id)).status.phase
        except ExecutionGoneError:
            return "GONE"
        return phase_name(phase) if phase in TERMINAL else "FINISHED"

    async def _failed(self, reporter: Reporter, execution_id: str, message: str, kind: str = "") -> str:
        log.warning("execution %s FAILED: %s", execution_id, message)
        await reporter.failed(message, kind)
        return "FAILED"

    @activity.defn(name="report_outcome")
    async def report_outcome(self, execution_id: str, phase: str, error: str) -> str:
        """Report the end the workflow decided (FAILED after the run's retries ran out, or CANCELLED)."""
        api = self._api()
        reporter = Reporter(api, execution_id, lambda text: text)
        try:
            if phase == "CANCELLED":
                await reporter.cancelled()
            else:
                await reporter.failed(error or "the agent-runner failed")
            log.info("execution %s %s", execution_id, phase)
        except (ExecutionFinishedError, ExecutionGoneError) as exc:
            log.info("execution %s: %s not reported (%s)", execution_id, phase, exc)
        except RunnerTokenError as exc:  # retrying cannot change it
            raise ApplicationError(str(exc), type="RunnerTokenRejected", non_retryable=True) from None
        finally:
            await api.close()
        return phase

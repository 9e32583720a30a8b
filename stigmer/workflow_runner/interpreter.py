"""The workflow interpreter: runs a workflow's tasks in workflow code, deterministically.

Data model
    An execution has one *data document*, a JSON object. It starts as the execution's input (an
    input that is not an object is only available as ``$input``; the document then starts
    empty). Every expression of a task sees it as ``.`` (and ``$context``). When a task completes,
    its output is stored in the document under the task's name (``.fetch``), so later tasks read
    earlier results by name (``.orders.items``, ``.summarize``). A ``set`` task also merges its
    values into the root of the document (``.amount``). A skipped task stores nothing.

Outputs by kind
    ========== ===============================================================================
    set        the object of the values set
    http_call  the response body parsed as JSON (the text when it is not JSON; null when empty)
    grpc_call  the response message as JSON (proto field names)
    switch     none (a control task: the case it took shows in which task runs next)
    for        an array, one element per iteration: the object of that iteration's outputs by
               task name (``[{"charge": {...}}, ...]``). ``in`` gives an array (an object: its
               values, with ``at`` the key; null: no iteration); ``while`` is checked before
               each iteration (with ``$<each>`` / ``$<at>`` set) and ends the loop when false
    fork       the object of the branches' outputs by branch name (with ``compete``: the
               winner's only); each branch's output is also stored under its name, in branch order
    try        the object of the ``do`` tasks' outputs by name (of the attempt that succeeded);
               when an error was caught, that of the ``catch.do`` tasks; none when an error was
               caught and there is no ``catch.do``
    wait       none (a control task)
    raise      none: it fails
    run        the child workflow execution's output
    agent_call the agent's final answer: its last agent message (else its output)
    ========== ===============================================================================

    A task with *no output* (and a skipped one) stores nothing in the document, reports no
    output and is left out of the objects of outputs above (``for``, ``fork``, ``try``); an
    ``export`` on a switch, wait or raise is refused at apply.

``export``
    A jq expression applied to the task's output before it is reported and stored: ``.`` (and
    ``$output``) is the raw output, ``$context`` the document. For a ``set``, the exported value
    is what is merged.

Flow
    Tasks of a list run in order. ``then`` is ``continue`` (the default: the next task),
    ``exit`` (leave the current list: the rest of this ``for`` iteration, ``try`` block, fork
    branch or, at the top, the workflow), ``end`` (end the whole workflow successfully, from any
    depth; a fork ends it once all its branches finished) or the name of a task of the same list
    (jumps may go back; a path run again gets a new run number). A ``switch`` goes to the target
    of its first case whose ``when`` holds, else to its default case, else on. A task whose
    ``condition`` is false is SKIPPED and flow goes on with the next task (its ``then``
    applies only when it runs: ``condition`` + ``then: end`` is a conditional end). Targets
    of switch cases that were not taken and that did not run by the end of their list are
    reported SKIPPED.
    A fork runs its branches concurrently; a branch's ``then`` is ignored (except ``end``). If a
    branch fails, the others are cancelled and the fork fails. With ``compete``, the first branch
    to complete successfully wins; the others are cancelled and reported SKIPPED (tasks inside
    them that were running: CANCELLED); if all fail, the fork fails with the first error.

Errors (``errors``: the error shape, standard types and matching)
    A ``try`` catches an error of its ``do`` tasks when it matches ``catch.errors.with``,
    ``catch.when`` holds and ``catch.exceptWhen`` does not (both see the document as ``.`` and
    the error as ``$<catch.as>``, default ``$error``). An error not caught goes on up.
    With ``catch.retry`` (``retries``: delay, backoff, limits, its own when/exceptWhen), a caught
    error first runs the whole ``do`` block again, after the policy's wait, as long as the policy
    allows. A retried attempt is the same logical run: its tasks keep their paths and run numbers,
    so its HTTP / gRPC calls carry the same idempotency keys as the first attempt's (a child
    execution gets a new request ID: ``paths.attempt_suffix``); it sees the document as the failed
    attempt left it (outputs of the tasks that completed before the error included).
    When the policy gives up, ``catch.do`` handles the last error, or, without ``catch.do``, the
    error fails the ``try`` (a retry that gives up never swallows the error). Without ``retry``,
    a caught error runs ``catch.do``, or is swallowed when there is none.

The execution's output is the output of the last top-level task that produced one (null when
none did): a workflow that ends with a switch, a wait or a try that swallowed an error outputs
what the task before produced.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from temporalio import workflow

from stigmer.api.validation import parse_duration
from stigmer.workflow_runner import paths
from stigmer.workflow_runner.effects import CallRequest, Deferred, Effects, ExpressionScope
from stigmer.workflow_runner.errors import ErrorInfo, TaskError, error, matches
from stigmer.workflow_runner.expressions import (
    ExpressionError,
    evaluate,
    needed_by,
    references_env,
    render,
    render_except,
    truthy,
    whole_program,
)
from stigmer.workflow_runner.reporting import (
    CANCELLED,
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    SKIPPED,
    Reporter,
    TaskReport,
)
from stigmer.workflow_runner.retries import RetryPolicy
from stigmer.workflow_runner.scope import Scope
from stigmer.workflow_runner.secrets import env_view

FLOW_DIRECTIVES = ("continue", "exit", "end")
MAX_TASK_RUNS = 100_000  # a runaway loop of jumps ends; a for of 10,000 items does not
# config keys evaluated inside the activity when they read $env (they may need secret values)
DEFERRABLE = {
    "http_call": ("endpoint", "headers", "query", "body"),
    "grpc_call": ("address", "arguments"),
    "agent_call": ("env",),
    "run": (),
}
# config keys taken as they are (never evaluated)
LITERAL = {"method", "service", "timeout_seconds", "retries"}


@dataclass(frozen=True)
class WorkflowRun:
    """What the interpreter needs to know about the execution (no secret values)."""

    execution_id: str
    name: str
    namespace: str
    version: str
    input: Any
    env: Mapping[str, str]
    secret_names: tuple[str, ...] = ()


@dataclass
class Outcome:
    """How a task (or a list of tasks) ended."""

    output: Any = None
    ran: bool = True
    produced: bool = True  # False: a control task, or a try whose caught error had no catch.do
    target: str = ""  # a switch's chosen target
    ended: bool = False  # `end` was reached
    not_taken: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Step:
    """One run of a task, as its kind's handler sees it."""

    config: dict[str, Any]
    scope: Scope
    variables: dict[str, Any]
    path: str
    run: int


@dataclass
class BlockOutcome:
    """How a list of tasks ended: the outputs of the tasks that produced one, by name, and the last one."""

    outputs: dict[str, Any]
    last: Any = None
    ended: bool = False


@dataclass
class Result:
    """The execution's end: phase COMPLETED with output, or FAILED with the error."""

    phase: str
    output: Any = None
    error: ErrorInfo | None = None


def _program(text: Any) -> str:
    text = str(text)
    return whole_program(text) or text.strip()


class Interpreter:
    def __init__(self, run: WorkflowRun, effects: Effects) -> None:
        self.run_info = run
        self.effects = effects
        self._runs: dict[str, int] = {}  # path -> its run: part of its calls' keys (a retry keeps it)
        self._reported_runs: dict[str, int] = {}  # path -> how often it started (never restored)
        self.reporter = Reporter(run.execution_id, effects.report, self._run_of)
        self._attempts: dict[str, int] = {}  # try path -> its current attempt (catch.retry)
        self._task_runs = 0
        self._handlers: dict[str, Callable[[Step], Awaitable[Outcome]]] = {
            "set": self._set,
            "http_call": self._http_call,
            "grpc_call": self._grpc_call,
            "switch": self._switch,
            "for": self._for,
            "fork": self._fork,
            "try": self._try,
            "wait": self._wait,
            "raise": self._raise,
            "agent_call": self._agent_call,
            "run": self._run,
        }
        env, secrets = env_view(run.env, run.secret_names)
        self._variables: dict[str, Any] = {
            "input": run.input,
            "env": env,
            "secrets": secrets,
            "workflow": {
                "id": run.execution_id,
                "name": run.name,
                "namespace": run.namespace,
                "version": run.version,
            },
            "task": None,
            "runtime": {"name": "stigmer-workflow-runner"},
            "output": None,
            "authorization": None,
        }

    # --- the execution ---------------------------------------------------------------------

    async def execute(self, tasks: list[dict[str, Any]]) -> Result:
        """Run the workflow and report its end (COMPLETED / FAILED; CANCELLED, re-raised)."""
        data = dict(self.run_info.input) if isinstance(self.run_info.input, dict) else {}
        scope = Scope(data, dict(self._variables))
        try:
            outcome = await self.block(tasks, scope, "")
        except TaskError as exc:
            await self.reporter.finish(FAILED, error=self._execution_error(exc.info), error_info=exc.info.as_dict())
            return Result(FAILED, error=exc.info)
        except asyncio.CancelledError:
            await self.reporter.finish(CANCELLED, error="execution cancelled")
            raise
        await self.reporter.finish(COMPLETED, output=outcome.last)
        return Result(COMPLETED, output=outcome.last)

    @staticmethod
    def _execution_error(info: ErrorInfo) -> str:
        return f"task {info.instance}: {info.text()}" if info.instance else info.text()

    # --- lists of tasks --------------------------------------------------------------------

    async def block(self, tasks: list[dict[str, Any]], scope: Scope, prefix: str) -> BlockOutcome:
        """Run a list of tasks."""
        if not isinstance(tasks, list):
            raise error("configuration", 400, "Invalid task list", f"expected a list of tasks at {prefix or 'top'}")
        index = {task.get("name", ""): position for position, task in enumerate(tasks)}
        outputs: dict[str, Any] = {}
        last: Any = None
        ran: set[str] = set()
        not_taken: dict[str, None] = {}
        ended = False
        position = 0
        while position < len(tasks):
            task = tasks[position]
            name = task.get("name", "")
            outcome = await self.task(task, scope, paths.child(prefix, name))
            await self.reporter.flush_if_full()
            ran.add(name)
            if outcome.ran and outcome.produced:
                outputs[name] = outcome.output
                last = outcome.output
            not_taken.update(dict.fromkeys(outcome.not_taken))
            if outcome.ended:
                ended = True
                break
            directive = (outcome.target or task.get("then") or "continue") if outcome.ran else "continue"
            if directive == "end":
                ended = True
                break
            if directive == "exit":
                break
            if directive == "continue":
                position += 1
            elif directive in index:
                position = index[directive]
            else:
                raise error("configuration", 400, "Unknown flow target", f"no task {directive!r} in this list")
        now = self._now()
        for name in not_taken:
            if name not in ran and name in index:
                kind = tasks[index[name]].get("kind", "")
                self.reporter.task(TaskReport(paths.child(prefix, name), name, kind, SKIPPED, None, "", now, now))
        return BlockOutcome(outputs, last, ended)

    # --- one task --------------------------------------------------------------------------

    async def task(self, task: dict[str, Any], scope: Scope, path: str) -> Outcome:
        self._task_runs += 1
        if self._task_runs > MAX_TASK_RUNS:
            raise error("runtime", 500, "Too many task runs", f"more than {MAX_TASK_RUNS} in one execution").at(path)
        run = self._runs[path] = self._runs.get(path, 0) + 1
        self._reported_runs[path] = self._reported_runs.get(path, 0) + 1
        name = task.get("name", "")
        kind = task.get("kind", "")
        config = task.get("config") or {}
        variables = {**scope.variables, "task": {"name": name, "path": path, "kind": kind}}
        started = self._now()
        try:
            if task.get("condition") and not truthy(evaluate(_program(task["condition"]), scope.data, variables)):
                self.reporter.task(TaskReport(path, name, kind, SKIPPED, None, "", started, started))
                return Outcome(ran=False)
            self.reporter.task(TaskReport(path, name, kind, IN_PROGRESS, None, "", started))
            handler = self._handlers.get(kind)
            if handler is None:
                raise error("configuration", 400, "Unknown task kind", f"{kind!r}")
            outcome = await handler(Step(config, scope, variables, path, run))
            output = outcome.output
            if outcome.produced and task.get("export"):
                output = evaluate(
                    _program(task["export"]), scope.data, {**variables, "output": output}, dot_is_output=True
                )
        except ExpressionError as exc:
            failure = error("expression", 400, "Expression failed", str(exc)).at(path)
            self._failed(path, name, kind, started, failure)
            raise failure from None
        except TaskError as exc:
            failure = exc.at(path)
            self._failed(path, name, kind, started, failure)
            raise failure from None
        except asyncio.CancelledError:
            self.reporter.task(TaskReport(path, name, kind, CANCELLED, None, "cancelled", started, self._now()))
            raise
        if outcome.produced:
            scope.store(name, output, merge=kind == "set")
        self.reporter.task(TaskReport(path, name, kind, COMPLETED, output, "", started, self._now()))
        return Outcome(
            output, produced=outcome.produced, target=outcome.target, ended=outcome.ended, not_taken=outcome.not_taken
        )

    def _failed(self, path: str, name: str, kind: str, started: str, failure: TaskError) -> None:
        self.reporter.task(TaskReport(path, name, kind, FAILED, None, failure.info.text(), started, self._now()))

    def _iteration(self, path: str, position: int, phase: str, output: Any, failure: str, started: str) -> None:
        self.reporter.task(TaskReport(path, str(position), "iteration", phase, output, failure, started, self._now()))

    def _run_of(self, path: str) -> int:
        """Which run of ``path`` is under way: its own count for a task, its task's for an iteration or branch.

        Every start counts, a ``catch.retry`` attempt's too (its calls keep their keys, but its status
        starts afresh on the server: a FAILED first attempt must not hold the retry's COMPLETED back).
        """
        while path not in self._reported_runs and "/" in path:
            path = path.rpartition("/")[0]
        return self._reported_runs.get(path, 1)

    def _now(self) -> str:
        return self.effects.now().isoformat()

    # --- kinds -----------------------------------------------------------------------------

    async def _set(self, step: Step) -> Outcome:
        config, scope, variables = step.config, step.scope, step.variables
        values = config.get("set")
        if not isinstance(values, dict):
            raise error("configuration", 400, "Invalid set task", "'set' must be an object")
        return Outcome(render(values, scope.data, variables))

    async def _switch(self, step: Step) -> Outcome:
        config, scope, variables = step.config, step.scope, step.variables
        cases = config.get("cases") or []
        chosen = ""
        for case in cases:
            when = case.get("when")
            if when and truthy(evaluate(_program(when), scope.data, variables)):
                chosen = case.get("then", "")
                break
        else:
            chosen = next((case.get("then", "") for case in cases if not case.get("when")), "")
        targets = [case.get("then", "") for case in cases]
        not_taken = [t for t in targets if t and t != chosen and t not in FLOW_DIRECTIVES]
        return Outcome(None, produced=False, target=chosen, not_taken=not_taken)

    async def _for(self, step: Step) -> Outcome:
        config, scope, variables, path = step.config, step.scope, step.variables, step.path
        collection = evaluate(_program(config.get("in", "")), scope.data, variables)
        if collection is None:
            items: list[tuple[Any, Any]] = []
        elif isinstance(collection, list):
            items = list(enumerate(collection))
        elif isinstance(collection, dict):
            items = [(key, value) for key, value in collection.items()]
        else:
            raise error("validation", 400, "Not a collection", f"'in' gave {type(collection).__name__}, not an array")
        each = str(config.get("each") or "item")
        at = str(config.get("at") or "index")
        results: list[Any] = []
        ended = False
        for position, (key, item) in enumerate(items):
            names = {each: item, at: key}
            if config.get("while") and not truthy(
                evaluate(_program(config["while"]), scope.data, {**variables, **names})
            ):
                break
            iteration = paths.iteration(path, position)
            started = self._now()
            self.reporter.task(TaskReport(iteration, str(position), "iteration", IN_PROGRESS, None, "", started))
            try:
                outcome = await self.block(config.get("do") or [], scope.with_variables(**names), iteration)
            except TaskError as exc:
                self._iteration(iteration, position, FAILED, None, exc.info.text(), started)
                raise
            except asyncio.CancelledError:
                self._iteration(iteration, position, CANCELLED, None, "cancelled", started)
                raise
            outputs = outcome.outputs
            self._iteration(iteration, position, COMPLETED, outputs, "", started)
            results.append(outputs)
            if outcome.ended:
                ended = True
                break
        return Outcome(results, ended=ended)

    async def _fork(self, step: Step) -> Outcome:
        config, scope, path = step.config, step.scope, step.path
        branches = config.get("branches") or []
        scopes = [scope.branch() for _ in branches]
        running = [
            asyncio.ensure_future(self.task(branch, branch_scope, paths.child(path, branch.get("name", ""))))
            for branch, branch_scope in zip(branches, scopes, strict=True)
        ]
        try:
            if config.get("compete"):
                winner = await self._first_success(running)
            else:
                await self._all_succeed(running)
        finally:
            await self._cancel(running)
        if config.get("compete"):
            name = branches[winner].get("name", "")
            for branch, future in zip(branches, running, strict=True):
                if future.cancelled():  # lost the race: SKIPPED (tasks inside it that ran: CANCELLED)
                    loser = branch.get("name", "")
                    report = TaskReport(paths.child(path, loser), loser, branch.get("kind", ""), SKIPPED)
                    report.error, report.completed_at = f"branch {name!r} won the race", self._now()
                    self.reporter.task(report)
            scope.absorb(scopes[winner])
            result = running[winner].result()
            return Outcome({name: result.output}, ended=result.ended)
        outputs: dict[str, Any] = {}
        ended = False
        for branch, branch_scope, future in zip(branches, scopes, running, strict=True):
            scope.absorb(branch_scope)
            result = future.result()
            if result.ran and result.produced:
                outputs[branch.get("name", "")] = result.output
            ended = ended or result.ended
        return Outcome(outputs, ended=ended)

    @staticmethod
    async def _all_succeed(running: Sequence[asyncio.Future[Outcome]]) -> None:
        pending: Sequence[asyncio.Future[Outcome]] = list(running)  # workflow.wait: asyncio.wait, deterministic
        while pending:
            _, pending = await workflow.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
            for future in running:  # declared order, not set order: deterministic
                if future.done() and not future.cancelled() and future.exception() is not None:
                    raise future.exception()  # type: ignore[misc]

    @staticmethod
    async def _first_success(running: Sequence[asyncio.Future[Outcome]]) -> int:
        pending = list(running)
        first_error: BaseException | None = None
        while pending:
            done, pending = await workflow.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for position, future in enumerate(running):
                if future not in done:
                    continue
                failure = future.exception()
                if failure is None and future.result().ran:
                    return position
                first_error = first_error or failure
        if first_error is not None:
            raise first_error
        raise error("runtime", 500, "No branch completed", "every branch of the fork was skipped")

    @staticmethod
    async def _cancel(running: Sequence[asyncio.Future[Outcome]]) -> None:
        for future in running:
            if not future.done():
                future.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    async def _try(self, step: Step) -> Outcome:
        config, scope, variables, path = step.config, step.scope, step.variables, step.path
        catch = config.get("catch") or {}
        name = str(catch.get("as") or "error")
        policy = RetryPolicy.parse(catch["retry"]) if catch.get("retry") else None
        runs_before = self._runs_under(path)
        first_started = self.effects.now()
        attempts = 0
        while True:
            attempts += 1
            self._attempts[path] = attempts
            try:
                outcome = await self.block(config.get("do") or [], scope, path)
                return Outcome(outcome.outputs, ended=outcome.ended)
            except TaskError as exc:
                caught = {**variables, name: exc.info.as_dict()}
                if not (
                    matches(exc.info, (catch.get("errors") or {}).get("with")) and self._holds(catch, scope, caught)
                ):
                    raise
                if policy is not None:
                    elapsed = (self.effects.now() - first_started).total_seconds()
                    wait = policy.next_wait(attempts, elapsed)
                    if wait is not None and self._holds(catch["retry"], scope, caught):
                        await self.reporter.flush()
                        if wait > 0:
                            await self.effects.sleep(wait)
                        self._restore_runs(path, runs_before)  # the same logical calls: the same keys
                        continue
                    if "do" not in catch:  # the retries gave up and nothing handles the error
                        raise
                if "do" not in catch:
                    return Outcome(None, produced=False)
                outcome = await self.block(
                    catch["do"], scope.with_variables(**{name: exc.info.as_dict()}), paths.catch_block(path)
                )
                return Outcome(outcome.outputs, ended=outcome.ended)

    @staticmethod
    def _holds(clause: Mapping[str, Any], scope: Scope, variables: dict[str, Any]) -> bool:
        """Whether a catch or retry clause applies: its ``when`` holds and its ``exceptWhen`` does not."""
        when, except_when = clause.get("when"), clause.get("exceptWhen")
        if when and not truthy(evaluate(_program(when), scope.data, variables)):
            return False
        return not (except_when and truthy(evaluate(_program(except_when), scope.data, variables)))

    def _child_attempt(self, kind: str, path: str) -> str:
        """The request ID suffix of a child created in a retried attempt (``paths.attempt_suffix``).

        An HTTP or gRPC retry is the same call (same idempotency key), but a child execution that
        failed is finished: the server would hand the same failed child back for its request ID.
        """
        if kind not in ("run", "agent_call"):
            return ""
        enclosing = sorted((p for p in self._attempts if path.startswith(f"{p}/")), key=len)
        return paths.attempt_suffix([self._attempts[p] for p in enclosing])

    def _runs_under(self, path: str) -> dict[str, int]:
        prefix = f"{path}/"
        return {key: runs for key, runs in self._runs.items() if key.startswith(prefix)}

    def _restore_runs(self, path: str, before: dict[str, int]) -> None:
        """Forget the runs of paths under ``path`` since ``before``: a retried attempt is not a new run."""
        for key in self._runs_under(path):
            if key not in before:
                del self._runs[key]
        self._runs.update(before)

    async def _wait(self, step: Step) -> Outcome:
        config, scope, variables = step.config, step.scope, step.variables
        duration = render(config.get("duration", ""), scope.data, variables)
        seconds = duration if isinstance(duration, int | float) else parse_duration(str(duration))
        if seconds is None or seconds < 0:
            raise error("validation", 400, "Invalid duration", f"{duration!r} is not an ISO 8601 duration")
        await self.reporter.flush()
        await self.effects.sleep(float(seconds))
        return Outcome(None, produced=False)

    async def _raise(self, step: Step) -> Outcome:
        config, scope, variables, path = step.config, step.scope, step.variables, step.path
        details = render(config.get("error") or {}, scope.data, variables)
        raise TaskError(ErrorInfo.from_dict({**details, "instance": path}))

    async def _http_call(self, step: Step) -> Outcome:
        return await self._call("http_call", step)

    async def _grpc_call(self, step: Step) -> Outcome:
        return await self._call("grpc_call", step)

    async def _agent_call(self, step: Step) -> Outcome:
        return await self._call("agent_call", step)

    async def _run(self, step: Step) -> Outcome:
        return await self._call("run", step)

    async def _call(self, kind: str, step: Step) -> Outcome:
        config, scope, variables, path, run = step.config, step.scope, step.variables, step.path, step.run
        rendered: dict[str, Any] = {}
        deferred: list[Deferred] = []
        for key, value in config.items():
            if key in LITERAL:
                rendered[key] = value
            elif key in DEFERRABLE[kind]:
                rendered[key], later = render_except(value, scope.data, variables, references_env)
                deferred += [Deferred([key, *pointer], text) for pointer, text in later]
            else:
                rendered[key] = render(value, scope.data, variables)
        expression_scope = None
        if deferred:
            plain = {k: v for k, v in variables.items() if k not in ("env", "secrets")}
            # only what the deferred strings read: the request is copied into history, in workflow code
            context, plain = needed_by([d.text for d in deferred], scope.data, plain)
            expression_scope = ExpressionScope(context, plain)
        request = CallRequest(
            kind=kind,
            execution_id=self.run_info.execution_id,
            path=path,
            key=paths.run_key(self.run_info.execution_id, path, run) + self._child_attempt(kind, path),
            config=rendered,
            deferred=deferred,
            scope=expression_scope,
            secret_names=list(self.run_info.secret_names),
        )
        await self.reporter.flush()
        return Outcome(await self.effects.call(request))

"""Task builders: one function per task kind of a workflow.

Every builder takes the task's name first and the keywords ``then=`` (the next task, or
``"continue"`` / ``"exit"`` / ``"end"``), ``condition=`` (skip the task unless it holds) and
``export=`` (shape the task's output); it returns a validated ``Task``. Fields that can only be
expressions (``when``, ``in_``, ``condition``, ``export``) accept a bare jq program, which is
wrapped in ``${ }``. Nested task lists (``do``, ``branches``, ``catch_do``) take tasks built here.

The config each kind gets (the ``Task.config`` dict the runners read):

=============  ===============================================================================
set            ``{set: {key: value}}``
http_call      ``{method, endpoint, headers?, body?, query?, timeout_seconds?, retries?}``
grpc_call      ``{address, service, method, arguments?}``
switch         ``{cases: [{when, then}, ..., {then}]}`` (the case without ``when`` is the default)
for            ``{in, each, at, while?, do: [task]}``
fork           ``{branches: [task], compete}``
try            ``{do: [task], catch: {as, errors?: {with: {...}}, when?, exceptWhen?, retry?, do?: [task]}}``
wait           ``{duration}`` (ISO 8601, e.g. ``PT5S``)
raise          ``{error: {type, status, title, detail?}}``
agent_call     ``{agent, message, env?: {NAME: value}, config?: {model?, temperature?, timeout_seconds?}}``
run            ``{workflow, input?}``
=============  ===============================================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, overload

from stigmer.sdk.agent import Agent
from stigmer.sdk.expressions import expr, is_expr
from stigmer.sdk.task import Task
from stigmer.sdk.variables import Var
from stigmer.sdk.workflow import Workflow

__all__ = [
    "Task",
    "agent_call",
    "case",
    "default",
    "for_each",
    "fork",
    "grpc_call",
    "http_call",
    "http_get",
    "http_post",
    "raise_error",
    "retry_policy",
    "run_workflow",
    "set_vars",
    "switch",
    "try_catch",
    "wait",
]

Step = Task | Mapping[str, Any]
Target = str | Task


def _target(value: Target) -> str:
    return value.name if isinstance(value, Task) else value


@overload
def _as_expr(value: str) -> str: ...
@overload
def _as_expr(value: str | Var[str]) -> str | Var[str]: ...
def _as_expr(value: str | Var[str]) -> str | Var[str]:
    if isinstance(value, str) and value.strip() and not is_expr(value):
        return expr(value)
    return value


def _task(
    name: str,
    kind: str,
    config: Mapping[str, Any],
    then: Target,
    condition: str,
    export: str,
    uses: tuple[Any, ...] = (),
) -> Task:
    return Task(
        name=name,
        kind=kind,
        config=config,
        then=_target(then),
        condition=_as_expr(condition) if condition else "",
        export=_as_expr(export) if export else "",
        uses=uses,
    )


def _steps(steps: Sequence[Step]) -> Any:
    # anything but a sequence of tasks is left for validation to report, with the field's name
    return steps if isinstance(steps, Task | Mapping | str) else list(steps)


def _optional(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def set_vars(name: str, values: Mapping[str, Any], *, then: Target = "", condition: str = "", export: str = "") -> Task:
    """Set values (literals, ``Var`` s or ``${ }`` expressions) in the workflow's data."""
    return _task(name, "set", {"set": dict(values)}, then, condition, export)


def http_call(
    name: str,
    method: str,
    endpoint: str | Var[str],
    *,
    headers: Mapping[str, Any] | None = None,
    body: Any = None,
    query: Mapping[str, Any] | None = None,
    timeout_seconds: float | None = None,
    retries: int | None = None,
    then: Target = "",
    condition: str = "",
    export: str = "",
) -> Task:
    """Call an HTTP endpoint (an http(s) URL or an expression giving one).

    ``retries``: how many more times the runner sends the request when no answer came (refused,
    reset, timed out; default 2, 0 for none); an answered error status is never retried here
    (use ``try_catch(retry=...)``). Every try carries the same ``Idempotency-Key``.
    """
    config = {"method": method.upper(), "endpoint": endpoint} | _optional(
        headers=None if headers is None else dict(headers),
        body=body,
        query=None if query is None else dict(query),
        timeout_seconds=timeout_seconds,
        retries=retries,
    )
    return _task(name, "http_call", config, then, condition, export)


def http_get(
    name: str,
    endpoint: str | Var[str],
    *,
    headers: Mapping[str, Any] | None = None,
    query: Mapping[str, Any] | None = None,
    timeout_seconds: float | None = None,
    retries: int | None = None,
    then: Target = "",
    condition: str = "",
    export: str = "",
) -> Task:
    """An HTTP GET (see ``http_call``)."""
    return http_call(
        name,
        "GET",
        endpoint,
        headers=headers,
        query=query,
        timeout_seconds=timeout_seconds,
        retries=retries,
        then=then,
        condition=condition,
        export=export,
    )


def http_post(
    name: str,
    endpoint: str | Var[str],
    *,
    body: Any = None,
    headers: Mapping[str, Any] | None = None,
    query: Mapping[str, Any] | None = None,
    timeout_seconds: float | None = None,
    retries: int | None = None,
    then: Target = "",
    condition: str = "",
    export: str = "",
) -> Task:
    """An HTTP POST (see ``http_call``)."""
    return http_call(
        name,
        "POST",
        endpoint,
        headers=headers,
        body=body,
        query=query,
        timeout_seconds=timeout_seconds,
        retries=retries,
        then=then,
        condition=condition,
        export=export,
    )


def grpc_call(
    name: str,
    address: str | Var[str],
    service: str,
    method: str,
    *,
    arguments: Mapping[str, Any] | None = None,
    then: Target = "",
    condition: str = "",
    export: str = "",
) -> Task:
    """Call a unary gRPC method (``service`` is the full name, e.g. ``pkg.Service``)."""
    config = {"address": address, "service": service, "method": method} | _optional(
        arguments=None if arguments is None else dict(arguments)
    )
    return _task(name, "grpc_call", config, then, condition, export)


def case(when: str | Var[str], then: Target) -> dict[str, Any]:
    """A ``switch`` case: go to ``then`` when the expression ``when`` is true."""
    return {"when": _as_expr(when), "then": _target(then)}


def default(then: Target) -> dict[str, Any]:
    """The ``switch`` case taken when no other case matches."""
    return {"then": _target(then)}


def switch(
    name: str, cases: Sequence[Mapping[str, Any]], *, then: Target = "", condition: str = "", export: str = ""
) -> Task:
    """Branch to the first case whose ``when`` holds (build cases with ``case`` and ``default``)."""
    return _task(name, "switch", {"cases": [dict(c) for c in cases]}, then, condition, export)


def for_each(
    name: str,
    in_: str | Var[str],
    do: Sequence[Step],
    *,
    each: str = "item",
    at: str = "index",
    while_: str | Var[str] | None = None,
    then: Target = "",
    condition: str = "",
    export: str = "",
) -> Task:
    """Run ``do`` once per element of the collection ``in_`` (element ``$<each>``, position ``$<at>``).

    ``while_``: checked before each iteration (with ``$<each>`` / ``$<at>`` set); the loop stops at
    the first element for which it does not hold.
    """
    config = {"in": _as_expr(in_), "each": each, "at": at, "do": _steps(do)} | _optional(
        **{"while": None if while_ is None else _as_expr(while_)}
    )
    return _task(name, "for", config, then, condition, export)


def fork(
    name: str,
    branches: Sequence[Step],
    *,
    compete: bool = False,
    then: Target = "",
    condition: str = "",
    export: str = "",
) -> Task:
    """Run branches concurrently; with ``compete`` the first branch to finish wins."""
    return _task(name, "fork", {"branches": _steps(branches), "compete": compete}, then, condition, export)


def try_catch(
    name: str,
    do: Sequence[Step],
    *,
    catch_do: Sequence[Step] | None = None,
    errors: Mapping[str, Any] | None = None,
    as_: str = "error",
    when: str | Var[str] | None = None,
    except_when: str | Var[str] | None = None,
    retry: Mapping[str, Any] | None = None,
    then: Target = "",
    condition: str = "",
    export: str = "",
) -> Task:
    """Run ``do``; on an error (matching ``errors``, e.g. ``{"status": 503}``) run ``catch_do``.

    The caught error is available as ``$<as_>`` to ``when`` / ``except_when`` (catch the error only
    when / unless they hold), to ``retry`` and to the catch tasks. ``retry`` (build it with
    ``retry_policy``) runs ``do`` again while its limits allow; when they are reached the error goes
    to ``catch_do``, or fails the try without it.
    """
    catch: dict[str, Any] = {"as": as_}
    if errors is not None:
        catch["errors"] = {"with": dict(errors)}
    if when is not None:
        catch["when"] = _as_expr(when)
    if except_when is not None:
        catch["exceptWhen"] = _as_expr(except_when)
    if retry is not None:
        catch["retry"] = dict(retry)
    if catch_do is not None:
        catch["do"] = _steps(catch_do)
    return _task(name, "try", {"do": _steps(do), "catch": catch}, then, condition, export)


def retry_policy(
    *,
    attempts: int | None = None,
    delay: str | None = None,
    backoff: str = "constant",
    within: str | None = None,
    when: str | Var[str] | None = None,
    except_when: str | Var[str] | None = None,
) -> dict[str, Any]:
    """A ``try_catch`` retry policy: at most ``attempts`` runs in all and/or retries only ``within``
    an ISO 8601 duration of the first one; ``delay`` (``"PT1S"``) between attempts, grown by
    ``backoff`` (``"constant"``, ``"linear"`` or ``"exponential"``)."""
    limit: dict[str, Any] = _optional(duration=within)
    if attempts is not None:
        limit["attempt"] = {"count": attempts}
    policy: dict[str, Any] = {"backoff": {backoff: {}}, "limit": limit} | _optional(delay=delay)
    if when is not None:
        policy["when"] = _as_expr(when)
    if except_when is not None:
        policy["exceptWhen"] = _as_expr(except_when)
    return policy


def wait(
    name: str, duration: str | float = "PT5S", *, then: Target = "", condition: str = "", export: str = ""
) -> Task:
    """Pause for an ISO 8601 ``duration`` (``"PT30S"``), or a number of seconds."""
    if isinstance(duration, int | float) and not isinstance(duration, bool):
        seconds = int(duration) if float(duration).is_integer() else duration
        duration = f"PT{seconds}S"
    return _task(name, "wait", {"duration": duration}, then, condition, export)


def raise_error(
    name: str,
    type: str,
    status: int,
    title: str,
    *,
    detail: str | None = None,
    then: Target = "",
    condition: str = "",
    export: str = "",
) -> Task:
    """End the workflow (or the enclosing ``try``) with an error: a type URI, a status and a title."""
    error = {"type": type, "status": status, "title": title} | _optional(detail=detail)
    return _task(name, "raise", {"error": error}, then, condition, export)


def agent_call(
    name: str,
    agent: Agent | str | Var[str],
    message: str | Var[str],
    *,
    env: Mapping[str, Any] | None = None,
    model: str | Var[str] | None = None,
    temperature: float | None = None,
    timeout_seconds: int | None = None,
    then: Target = "",
    condition: str = "",
    export: str = "",
) -> Task:
    """Run an agent with a message: an ``Agent`` of the project, or the slug of a stored agent.

    ``env`` gives the agent's runtime environment (e.g. ``{"GITHUB_TOKEN": env_ref("GITHUB_TOKEN")}``);
    ``model``, ``temperature`` (0 to 2) and ``timeout_seconds`` override the agent's configuration
    for this call.
    """
    uses: tuple[Any, ...] = (agent,) if isinstance(agent, Agent) else ()
    config: dict[str, Any] = {"agent": agent.name if isinstance(agent, Agent) else agent, "message": message}
    if env is not None:
        config["env"] = dict(env)
    overrides = _optional(model=model, temperature=temperature, timeout_seconds=timeout_seconds)
    if overrides:
        config["config"] = overrides
    return _task(name, "agent_call", config, then, condition, export, uses=uses)


def run_workflow(
    name: str,
    workflow: Workflow | str,
    *,
    input: Mapping[str, Any] | None = None,
    then: Target = "",
    condition: str = "",
    export: str = "",
) -> Task:
    """Run another workflow: a ``Workflow`` of the project, ``"namespace/name"``, or a name."""
    uses: tuple[Any, ...] = (workflow,) if isinstance(workflow, Workflow) else ()
    ref = workflow.ref if isinstance(workflow, Workflow) else workflow
    config: dict[str, Any] = {"workflow": ref} | _optional(input=None if input is None else dict(input))
    return _task(name, "run", config, then, condition, export, uses=uses)

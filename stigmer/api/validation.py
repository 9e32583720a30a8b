"""Validation of agents and workflows, shared by the SDK, the CLI and the server.

Every problem names the field it is about, in dotted form (``spec.tasks[2].config.endpoint``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from stigmer.api import jq_builtins, templates

SLUG_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
SLUG_MAX = 63
SEMVER_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
ID_PREFIXES = ("agt", "wfl", "aex", "wex")
ID_SHAPE_RE = re.compile(rf"^({'|'.join(ID_PREFIXES)})-")
# The largest agent or workflow the API stores; far below gRPC's message limit, so that a resource
# and a page of them always fit (see stigmer.server for the page budget).
MAX_RESOURCE_BYTES = 1024 * 1024
# An execution (spec and status, so its input too) never grows past this: well below the transport's limit.
MAX_EXECUTION_BYTES = 4 * 1024 * 1024
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DURATION_RE = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
TASK_KINDS = (
    "set",
    "http_call",
    "grpc_call",
    "switch",
    "for",
    "fork",
    "try",
    "wait",
    "raise",
    "agent_call",
    "run",
)
FLOW_DIRECTIVES = ("continue", "exit", "end")
TASK_KEYS = ("name", "kind", "config", "then", "condition", "export")
# The config keys each kind implements: any other key is refused (never silently ignored).
CONFIG_KEYS = {
    "set": ("set",),
    "http_call": ("method", "endpoint", "headers", "query", "body", "timeout_seconds", "retries"),
    "grpc_call": ("address", "service", "method", "arguments", "timeout_seconds", "retries"),
    "switch": ("cases",),
    "for": ("in", "each", "at", "while", "do"),
    "fork": ("branches", "compete"),
    "try": ("do", "catch"),
    "wait": ("duration",),
    "raise": ("error",),
    "agent_call": ("agent", "message", "env", "config"),
    "run": ("workflow", "input"),
}
CATCH_KEYS = ("errors", "as", "when", "exceptWhen", "retry", "do")
RETRY_KEYS = ("delay", "backoff", "limit", "when", "exceptWhen")
# Tasks whose output is nothing: an ``export`` on them would be ignored, so it is refused.
NO_OUTPUT_KINDS = ("switch", "wait", "raise")
# Arguments every runtime expression may use (DSL 1.0 runtime arguments, plus $env for the workflow's env).
RUNTIME_VARIABLES = ("context", "input", "output", "secrets", "task", "workflow", "runtime", "authorization", "env")


RefCheck = Callable[[str], bool]


@dataclass(frozen=True)
class Problem:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class ValidationError(ValueError):
    """One or more problems with a resource; ``str()`` lists them all."""

    def __init__(self, problems: Iterable[Problem], subject: str = "") -> None:
        self.problems = list(problems)
        self.subject = subject
        text = "; ".join(str(p) for p in self.problems)
        super().__init__(f"{subject}: {text}" if subject else text)


def raise_if(problems: list[Problem], subject: str = "") -> None:
    if problems:
        raise ValidationError(problems, subject)


def slug_problems(field: str, value: str) -> list[Problem]:
    if not value:
        return [Problem(field, "name is required")]
    if len(value) > SLUG_MAX:
        return [Problem(field, f"{value!r} is {len(value)} characters long; at most {SLUG_MAX} are allowed")]
    if not SLUG_RE.match(value):
        return [
            Problem(
                field,
                f"{value!r} is not a valid name: use lower-case letters, digits and '-', "
                "starting and ending with a letter or digit",
            )
        ]
    if ID_SHAPE_RE.match(value):
        return [
            Problem(
                field,
                f"{value!r} has the shape of an ID ({value[:4]}...), so references to it would be ambiguous: "
                f"choose a name that does not start with {', '.join(p + '-' for p in ID_PREFIXES)}",
            )
        ]
    return []


def check_slug(field: str, value: str) -> None:
    raise_if(slug_problems(field, value))


def version_problems(field: str, value: str) -> list[Problem]:
    if not value:
        return [Problem(field, "version is required")]
    if not SEMVER_RE.match(value):
        return [Problem(field, f"{value!r} is not a semantic version such as 1.0.0")]
    return []


def parse_duration(value: str) -> float | None:
    """Seconds in an ISO 8601 duration such as ``PT1M30S``, or None when it is not one."""
    match = DURATION_RE.match(value)
    if not match or value in ("P", "PT") or value.endswith("T"):
        return None
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + seconds


DURATION_UNITS = {"days": 86400.0, "hours": 3600.0, "minutes": 60.0, "seconds": 1.0, "milliseconds": 0.001}


def duration_seconds(value: Any) -> float | None:
    """Seconds in a DSL duration: an ISO 8601 string (``PT2S``) or an object of ``DURATION_UNITS``
    (``{"seconds": 2, "milliseconds": 500}``); None when it is neither."""
    if isinstance(value, str):
        return parse_duration(value)
    if not isinstance(value, Mapping) or not value or set(value) - set(DURATION_UNITS):
        return None
    amounts = list(value.values())
    if not all(isinstance(a, int | float) and not isinstance(a, bool) and a >= 0 for a in amounts):
        return None
    return sum(DURATION_UNITS[unit] * amount for unit, amount in value.items())


def expression_problems(field: str, value: Any, variables: Iterable[str] | None = ()) -> list[Problem]:
    """Problems with every ``${ ... }`` jq expression found in a value (recursively).

    Whole-value expressions and ``${ }`` segments inside longer strings are checked alike (see
    ``stigmer.api.templates`` for how each is evaluated). Expressions may use the runtime variables
    and the extra ``variables`` in scope (loop items, caught errors). ``variables=None`` means the
    enclosing scope is not known yet (a task checked before it is placed in a workflow): then every
    ``$name`` an expression uses is taken as defined, and only its syntax is checked.
    """
    problems: list[Problem] = []
    if isinstance(value, str):
        if templates.OPEN not in value:
            return []
        try:
            found = templates.segments(value)
        except templates.TemplateError as exc:
            return [Problem(field, str(exc))]
        for segment in found:
            problems.extend(_jq_problems(field, segment.program, variables))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            problems.extend(expression_problems(f"{field}.{key}", item, variables))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problems.extend(expression_problems(f"{field}[{index}]", item, variables))
    return problems


_VARIABLE_RE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def _jq_problems(field: str, program: str, variables: Iterable[str] | None) -> list[Problem]:
    if not program:
        return [Problem(field, "expression is empty")]
    names = set(_VARIABLE_RE.findall(program)) if variables is None else set(variables)
    error = _jq_compile_error(program, frozenset(names | set(RUNTIME_VARIABLES)))
    return [Problem(field, f"invalid jq expression {program!r}: {error}")] if error else []


def determinism_problems(field: str, value: Any) -> list[Problem]:
    """Problems with every ``${ ... }`` expression in a value (recursively) that uses a jq builtin
    reading the clock, the host or other inputs (see ``stigmer.api.jq_builtins``).

    Workflow expressions are evaluated in workflow code, which must give the same result on replay.
    """
    if isinstance(value, str):
        if templates.OPEN not in value:
            return []
        try:
            found = templates.segments(value)
        except templates.TemplateError:
            return []  # reported by expression_problems where the field holds an expression
        return [
            Problem(field, f"expression {segment.program!r} uses jq's {use.name}, which {use.reason}")
            for segment in found
            for use in jq_builtins.uses(segment.program)
        ]
    if isinstance(value, Mapping):
        return [p for key, item in value.items() for p in determinism_problems(f"{field}.{key}", item)]
    if isinstance(value, list):
        return [p for index, item in enumerate(value) for p in determinism_problems(f"{field}[{index}]", item)]
    return []


# Config keys that hold nested task lists, checked as tasks of their own.
_NESTED_TASKS = {"for": ("do",), "fork": ("branches",), "try": ("do", "catch.do")}


def _own_config(kind: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` without the nested task lists of its kind."""
    own = dict(config)
    for key in _NESTED_TASKS.get(kind, ()):
        outer, _, inner = key.partition(".")
        if not inner:
            own.pop(outer, None)
        elif isinstance(own.get(outer), Mapping):
            own[outer] = {k: v for k, v in own[outer].items() if k != inner}
    return own


@functools.lru_cache(maxsize=8192)
def _jq_compile_error(program: str, variables: frozenset[str]) -> str:
    """The first line of jq's compile error for ``program`` with ``variables`` bound; empty when it compiles.

    Cached: a compile takes milliseconds, and a workflow repeats the same expressions.
    """
    try:
        import jq
    except ImportError:  # expression syntax is checked where jq is installed
        return ""
    try:
        jq.compile(program, args=dict.fromkeys(sorted(variables)))
    except ValueError as exc:
        return str(exc).splitlines()[0]
    return ""


def env_problems(field: str, env: Iterable[Any]) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for index, var in enumerate(env):
        where = f"{field}[{index}].name"
        if not ENV_NAME_RE.match(var.name or ""):
            problems.append(Problem(where, f"{var.name!r} is not a valid environment variable name"))
        elif var.name in seen:
            problems.append(Problem(where, f"duplicate environment variable {var.name!r}"))
        seen.add(var.name)
    return problems


def size_problems(message: Any, what: str) -> list[Problem]:
    """A problem naming the largest field when ``message`` is over ``MAX_RESOURCE_BYTES`` serialized."""
    size = message.ByteSize()
    if size <= MAX_RESOURCE_BYTES:
        return []
    field, field_size = _largest_field(message, "")
    return [
        Problem(
            field,
            f"{what} is {size:,} bytes, over the limit of {MAX_RESOURCE_BYTES:,} bytes "
            f"(this field alone is {field_size:,} bytes); move large content out of the resource",
        )
    ]


def _largest_field(message: Any, prefix: str) -> tuple[str, int]:
    """The dotted name and size of the largest leaf field of ``message``."""
    best = (prefix, message.ByteSize())
    candidates: list[tuple[str, Any]] = []
    for descriptor, value in message.ListFields():
        name = f"{prefix}.{descriptor.name}" if prefix else descriptor.name
        if descriptor.message_type is not None and descriptor.message_type.GetOptions().map_entry:
            candidates += [(f"{name}.{key}", value[key]) for key in value]
        elif _repeated(descriptor):
            candidates += [(f"{name}[{index}]", item) for index, item in enumerate(value)]
        else:
            candidates.append((name, value))
    sized = [(name, value, _size(value)) for name, value in candidates]
    if not sized:
        return best
    name, value, size = max(sized, key=lambda item: item[2])
    if hasattr(value, "ByteSize"):
        return _largest_field(value, name)
    return (name, size)


def _repeated(descriptor: Any) -> bool:
    if hasattr(descriptor, "is_repeated"):
        return bool(descriptor.is_repeated)
    return bool(descriptor.label == descriptor.LABEL_REPEATED)


def _size(value: Any) -> int:
    if hasattr(value, "ByteSize"):
        return int(value.ByteSize())
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, bytes):
        return len(value)
    return 8


def _unique_names(field: str, items: Iterable[Any], what: str) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        where = f"{field}[{index}].name"
        if not item.name:
            problems.append(Problem(where, f"{what} name is required"))
        elif item.name in seen:
            problems.append(Problem(where, f"duplicate {what} name {item.name!r}"))
        seen.add(item.name)
    return problems


def agent_problems(agent: Any, agent_exists: RefCheck | None = None) -> list[Problem]:
    """Problems with a ``stigmer.api.v1.Agent`` message.

    ``agent_exists`` resolves sub-agents given by reference (``agent_ref``); when None, references
    are checked for shape only.
    """
    spec = agent.spec
    problems = slug_problems("metadata.name", agent.metadata.name)
    problems += size_problems(agent, f"agent {agent.metadata.name!r}")
    if not spec.instructions.strip():
        problems.append(Problem("spec.instructions", "instructions are required"))
    if not spec.model.strip():
        problems.append(Problem("spec.model", "model is required"))
    if spec.icon_url and not re.match(r"^(https?|data|file)://|^data:", spec.icon_url):
        problems.append(Problem("spec.icon_url", f"{spec.icon_url!r} is not an http(s), file or data URL"))
    problems += _unique_names("spec.skills", spec.skills, "skill")
    for index, skill in enumerate(spec.skills):
        if not skill.markdown.strip():
            problems.append(Problem(f"spec.skills[{index}].markdown", "skill content is required"))
    problems += _unique_names("spec.mcp_servers", spec.mcp_servers, "MCP server")
    for index, server in enumerate(spec.mcp_servers):
        problems += _mcp_problems(f"spec.mcp_servers[{index}]", server)
    problems += _unique_names("spec.sub_agents", spec.sub_agents, "sub-agent")
    skill_names = {s.name for s in spec.skills}
    server_names = {s.name for s in spec.mcp_servers}
    for index, sub in enumerate(spec.sub_agents):
        where = f"spec.sub_agents[{index}]"
        if sub.agent_ref:
            ref_problems = slug_problems(f"{where}.agent_ref", sub.agent_ref)
            if not ref_problems and agent_exists is not None and not agent_exists(sub.agent_ref):
                ref_problems = [Problem(f"{where}.agent_ref", f"agent {sub.agent_ref!r} not found")]
            problems += ref_problems
            continue
        if not sub.instructions.strip():
            problems.append(Problem(f"{where}.instructions", "instructions are required"))
        for ref in sub.skill_refs:
            if ref not in skill_names:
                problems.append(Problem(f"{where}.skill_refs", f"unknown skill {ref!r}"))
        for ref in sub.mcp_server_refs:
            if ref not in server_names:
                problems.append(Problem(f"{where}.mcp_server_refs", f"unknown MCP server {ref!r}"))
    problems += env_problems("spec.env", spec.env)
    return problems


def _mcp_problems(field: str, server: Any) -> list[Problem]:
    transport = server.WhichOneof("transport")
    if transport is None:
        return [Problem(f"{field}.transport", "one of stdio, http or docker is required")]
    if transport == "stdio" and not server.stdio.command:
        return [Problem(f"{field}.stdio.command", "command is required")]
    if transport == "http" and not re.match(r"^https?://", server.http.url):
        return [Problem(f"{field}.http.url", f"{server.http.url!r} is not an http(s) URL")]
    if transport == "docker" and not server.docker.image:
        return [Problem(f"{field}.docker.image", "image is required")]
    return []


def validate_agent(agent: Any, agent_exists: RefCheck | None = None) -> None:
    raise_if(agent_problems(agent, agent_exists), f"agent {agent.metadata.name!r}")


# --- workflows -------------------------------------------------------------------------


def task_to_dict(task: Any) -> dict[str, Any]:
    """The dict form of a ``Task`` message, the same shape nested tasks have inside configs.

    A ``config_json`` that is not a JSON object is kept as its text, for validation to report.
    """
    from stigmer.api import json_values

    try:
        config: Any = json_values.loads_object(task.config_json)
    except json_values.JsonValueError:
        config = task.config_json
    data: dict[str, Any] = {"name": task.name, "kind": task.kind, "config": config}
    for key in ("then", "condition", "export"):
        if getattr(task, key):
            data[key] = getattr(task, key)
    return data


def workflow_problems(
    workflow: Any,
    agent_exists: RefCheck | None = None,
    workflow_exists: RefCheck | None = None,
) -> list[Problem]:
    """Problems with a ``stigmer.api.v1.Workflow`` message.

    ``agent_exists`` / ``workflow_exists`` resolve references of agent_call / run tasks; when
    None, references are checked for shape only.
    """
    spec = workflow.spec
    problems = slug_problems("metadata.name", workflow.metadata.name)
    problems += (
        slug_problems("spec.namespace", spec.namespace)
        if spec.namespace
        else [Problem("spec.namespace", "namespace is required")]
    )
    problems += version_problems("spec.version", spec.version)
    problems += env_problems("spec.env", spec.env)
    problems += size_problems(workflow, f"workflow {workflow.metadata.name!r}")
    if not spec.tasks:
        problems.append(Problem("spec.tasks", "a workflow needs at least one task"))
    checker = _TaskChecker(agent_exists, workflow_exists)
    problems += checker.task_list("spec.tasks", [task_to_dict(t) for t in spec.tasks])
    return problems


def validate_workflow(
    workflow: Any,
    agent_exists: RefCheck | None = None,
    workflow_exists: RefCheck | None = None,
) -> None:
    raise_if(workflow_problems(workflow, agent_exists, workflow_exists), f"workflow {workflow.metadata.name!r}")


def task_list_problems(
    tasks: list[Mapping[str, Any]],
    *,
    field: str = "spec.tasks",
    first_index: int = 0,
    earlier_names: Iterable[str] = (),
    scope: tuple[str, ...] | None = (),
    check_targets: bool = True,
    agent_exists: RefCheck | None = None,
    workflow_exists: RefCheck | None = None,
) -> list[Problem]:
    """Problems with tasks (in their dict form) that follow ``earlier_names`` in a task list.

    Lets a workflow check the tasks it gains without checking again the ones it has: positions
    start at ``first_index``; names must differ from ``earlier_names``. ``scope`` lists the extra
    expression variables in scope (None: not known yet, see ``expression_problems``);
    ``check_targets=False`` leaves ``then`` / switch targets of this list unchecked (they may be
    added later).
    """
    checker = _TaskChecker(agent_exists, workflow_exists, scope)
    return checker.task_list(field, tasks, first_index, earlier_names, check_targets)


class _TaskChecker:
    def __init__(
        self, agent_exists: RefCheck | None, workflow_exists: RefCheck | None, scope: tuple[str, ...] | None = ()
    ) -> None:
        self.agent_exists = agent_exists
        self.workflow_exists = workflow_exists
        self.scope = scope

    def _expr(self, field: str, value: Any) -> list[Problem]:
        return expression_problems(field, value, self.scope)

    def _scoped_expr(self, field: str, value: Any, *names: str) -> list[Problem]:
        """Check an expression in which ``names`` are extra variables (and that is nothing else)."""
        if not isinstance(value, str) or not value.strip():
            return [Problem(field, "expected a runtime expression such as ${ .ready }")]
        scope = None if self.scope is None else (*self.scope, *names)
        return expression_problems(field, value, scope)

    def _scoped_list(self, field: str, tasks: Any, *names: str) -> list[Problem]:
        """Check a nested task list in which ``names`` are extra expression variables."""
        outer = self.scope
        self.scope = None if outer is None else (*outer, *names)
        try:
            return self.task_list(field, tasks)
        finally:
            self.scope = outer

    def task_list(
        self,
        field: str,
        tasks: Any,
        first_index: int = 0,
        earlier_names: Iterable[str] = (),
        check_targets: bool = True,
    ) -> list[Problem]:
        if not isinstance(tasks, list):
            return [Problem(field, "expected a list of tasks")]
        problems: list[Problem] = []
        names: set[str] = set(earlier_names)
        for index, task in enumerate(tasks, start=first_index):
            where = f"{field}[{index}]"
            if not isinstance(task, Mapping):
                problems.append(Problem(where, "expected a task object with name, kind and config"))
                continue
            name = task.get("name", "")
            if not name:
                problems.append(Problem(f"{where}.name", "task name is required"))
            elif name in names:
                problems.append(Problem(f"{where}.name", f"duplicate task name {name!r}"))
            else:
                problems += [Problem(f"{where}.name", p.message) for p in slug_problems("", name)]
            names.add(name)
            problems += self.task(where, task)
        if not check_targets:
            return problems
        targets = names | set(FLOW_DIRECTIVES)
        for index, task in enumerate(tasks, start=first_index):
            if not isinstance(task, Mapping):
                continue
            then = task.get("then")
            if then and then not in targets:
                problems.append(Problem(f"{field}[{index}].then", f"unknown task {then!r}"))
            config = task.get("config")
            if task.get("kind") == "switch" and isinstance(config, Mapping):
                for case_index, case in enumerate(_as_list(config.get("cases"))):
                    target = case.get("then") if isinstance(case, Mapping) else None
                    if target and target not in targets:
                        problems.append(
                            Problem(f"{field}[{index}].config.cases[{case_index}].then", f"unknown task {target!r}")
                        )
        return problems

    def task(self, field: str, task: Mapping[str, Any]) -> list[Problem]:
        kind = task.get("kind", "")
        config = task.get("config") or {}
        if kind not in TASK_KINDS:
            return [Problem(f"{field}.kind", f"unknown task kind {kind!r}; expected one of {', '.join(TASK_KINDS)}")]
        if not isinstance(config, Mapping):
            return [Problem(f"{field}.config", "expected a JSON object")]
        problems = _unknown_keys(field, task, TASK_KEYS, "a task")
        problems += _unknown_keys(f"{field}.config", config, CONFIG_KEYS[kind], f"a {kind} task")
        if task.get("export") and kind in NO_OUTPUT_KINDS:
            problems.append(Problem(f"{field}.export", f"a {kind} task has no output to export"))
        for key in ("condition", "export"):
            if task.get(key):
                problems += self._expr(f"{field}.{key}", task[key])
        check = getattr(self, f"_{kind}")
        problems += check(f"{field}.config", config)
        for key in ("condition", "export"):
            if task.get(key):
                problems += determinism_problems(f"{field}.{key}", task[key])
        return problems + determinism_problems(f"{field}.config", _own_config(kind, config))

    def _nested(self, field: str, config: Mapping[str, Any], key: str, required: bool = True) -> list[Problem]:
        if key not in config:
            return [Problem(f"{field}.{key}", "a list of tasks is required")] if required else []
        return self.task_list(f"{field}.{key}", config[key])

    def _set(self, field: str, config: Mapping[str, Any]) -> list[Problem]:
        values = config.get("set")
        if not isinstance(values, Mapping) or not values:
            return [Problem(f"{field}.set", "at least one variable to set is required")]
        return self._expr(f"{field}.set", values)

    def _http_call(self, field: str, config: Mapping[str, Any]) -> list[Problem]:
        problems: list[Problem] = []
        method = str(config.get("method", "")).upper()
        if method not in HTTP_METHODS:
            problems.append(
                Problem(f"{field}.method", f"{config.get('method')!r} is not one of {', '.join(HTTP_METHODS)}")
            )
        endpoint = config.get("endpoint", "")
        if not isinstance(endpoint, str) or not (
            re.match(r"^https?://", endpoint) or endpoint.strip().startswith("${")
        ):
            problems.append(Problem(f"{field}.endpoint", f"{endpoint!r} is not an http(s) URL or an expression"))
        return problems + _retries_problems(field, config) + self._expr(field, dict(config))

    def _grpc_call(self, field: str, config: Mapping[str, Any]) -> list[Problem]:
        problems = [
            Problem(f"{field}.{key}", f"{key} is required")
            for key in ("address", "service", "method")
            if not config.get(key)
        ]
        problems += _retries_problems(field, config)
        return problems + self._expr(f"{field}.arguments", config.get("arguments", {}))

    def _switch(self, field: str, config: Mapping[str, Any]) -> list[Problem]:
        cases = config.get("cases")
        if not isinstance(cases, list) or not cases:
            return [Problem(f"{field}.cases", "at least one case is required")]
        problems: list[Problem] = []
        defaults = 0
        for index, case in enumerate(cases):
            where = f"{field}.cases[{index}]"
            if not isinstance(case, Mapping) or not case.get("then"):
                problems.append(Problem(f"{where}.then", "each case needs a 'then' target"))
                continue
            if case.get("when"):
                problems += self._expr(f"{where}.when", case["when"])
            else:
                defaults += 1
        if defaults > 1:
            problems.append(Problem(f"{field}.cases", "at most one default case (without 'when') is allowed"))
        return problems

    def _for(self, field: str, config: Mapping[str, Any]) -> list[Problem]:
        problems: list[Problem] = []
        if not config.get("in"):
            problems.append(Problem(f"{field}.in", "the collection to iterate ('in') is required"))
        else:
            problems += self._expr(f"{field}.in", config["in"])
        if "do" not in config:
            return [*problems, Problem(f"{field}.do", "a list of tasks is required")]
        names = (str(config.get("each") or "item"), str(config.get("at") or "index"))
        if config.get("while"):
            problems += self._scoped_expr(f"{field}.while", config["while"], *names)
        return problems + self._scoped_list(f"{field}.do", config["do"], *names)

    def _fork(self, field: str, config: Mapping[str, Any]) -> list[Problem]:
        branches = config.get("branches")
        if not isinstance(branches, list) or len(branches) < 2:
            return [Problem(f"{field}.branches", "a fork needs at least two branches")]
        return self.task_list(f"{field}.branches", branches)

    def _try(self, field: str, config: Mapping[str, Any]) -> list[Problem]:
        problems = self._nested(field, config, "do")
        catch = config.get("catch")
        if not isinstance(catch, Mapping):
            problems.append(Problem(f"{field}.catch", "a catch block is required"))
            return problems
        name = str(catch.get("as") or "error")
        problems += _unknown_keys(f"{field}.catch", catch, CATCH_KEYS, "a catch")
        errors = catch.get("errors")
        if errors is not None and not (isinstance(errors, Mapping) and isinstance(errors.get("with", {}), Mapping)):
            problems.append(Problem(f"{field}.catch.errors", "expected {with: {field: value, ...}}"))
        elif isinstance(errors, Mapping):
            problems += _unknown_keys(f"{field}.catch.errors", errors, ("with",), "an error filter")
        for key in ("when", "exceptWhen"):
            if catch.get(key):
                problems += self._scoped_expr(f"{field}.catch.{key}", catch[key], name)
        if "retry" in catch:
            retry = catch["retry"]
            problems += retry_problems(f"{field}.catch.retry", retry)
            for key in ("when", "exceptWhen"):
                if isinstance(retry, Mapping) and retry.get(key):
                    problems += self._scoped_expr(f"{field}.catch.retry.{key}", retry[key], name)
        if "do" in catch:
            problems += self._scoped_list(f"{field}.catch.do", catch["do"], name)
        return problems

    def _wait(self, field: str, config: Mapping[str, Any]) -> list[Problem]:
        duration = config.get("duration")
        if not isinstance(duration, str) or parse_duration(duration) is None:
            return [Problem(f"{field}.duration", f"{duration!r} is not an ISO 8601 duration such as PT5S")]
        return []

    def _raise(self, field: str, config: Mapping[str, Any]) -> list[Problem]:
        error = config.get("error")
        if not isinstance(error, Mapping):
            return [Problem(f"{field}.error", "an error object with type, status and title is required")]
        return [
            Problem(f"{field}.error.{key}", f"{key} is required") for key in ("type", "status") if not error.get(key)
        ]

    def _agent_call(self, field: str, config: Mapping[str, Any]) -> list[Problem]:
        ref = config.get("agent", "")
        problems: list[Problem] = []
        if not ref:
            problems.append(Problem(f"{field}.agent", "the agent to call is required"))
        elif self.agent_exists is not None and not self.agent_exists(ref):
            problems.append(Problem(f"{field}.agent", f"agent {ref!r} not found"))
        if not config.get("message"):
            problems.append(Problem(f"{field}.message", "a message for the agent is required"))
        call_config = config.get("config") or {}
        temperature = call_config.get("temperature") if isinstance(call_config, Mapping) else None
        if temperature is not None and not (isinstance(temperature, int | float) and 0 <= temperature <= 2):
            problems.append(Problem(f"{field}.config.temperature", f"{temperature!r} is not between 0 and 2"))
        return problems + self._expr(f"{field}.message", config.get("message", ""))

    def _run(self, field: str, config: Mapping[str, Any]) -> list[Problem]:
        ref = config.get("workflow", "")
        if not ref:
            return [Problem(f"{field}.workflow", "the workflow to run is required")]
        if self.workflow_exists is not None and not self.workflow_exists(ref):
            return [Problem(f"{field}.workflow", f"workflow {ref!r} not found")]
        return []


def _unknown_keys(field: str, value: Mapping[str, Any], known: Iterable[str], what: str) -> list[Problem]:
    allowed = tuple(known)
    return [
        Problem(f"{field}.{key}" if field else str(key), f"{what} has no field {key!r}; expected {', '.join(allowed)}")
        for key in value
        if key not in allowed
    ]


MAX_CALL_RETRIES = 10


def _retries_problems(field: str, config: Mapping[str, Any]) -> list[Problem]:
    retries = config.get("retries")
    if retries is None or (
        isinstance(retries, int) and not isinstance(retries, bool) and 0 <= retries <= MAX_CALL_RETRIES
    ):
        return []
    return [Problem(f"{field}.retries", f"{retries!r} is not a number of retries from 0 to {MAX_CALL_RETRIES}")]


def retry_problems(field: str, retry: Any) -> list[Problem]:
    """Problems with a ``try.catch.retry`` policy (see ``stigmer.workflow_runner.retries``)."""
    if not isinstance(retry, Mapping):
        return [Problem(field, "a retry policy is an object (delay, backoff, limit, when, exceptWhen)")]
    problems = _unknown_keys(field, retry, RETRY_KEYS, "a retry policy")
    if "jitter" in retry:
        problems = [p for p in problems if p.field != f"{field}.jitter"]
        problems.append(Problem(f"{field}.jitter", "jitter is not supported by this runner; remove it"))
    if retry.get("delay") is not None and duration_seconds(retry["delay"]) is None:
        problems.append(
            Problem(f"{field}.delay", f"{retry['delay']!r} is not a duration such as PT2S or {{seconds: 2}}")
        )
    backoff = retry.get("backoff")
    if backoff is not None:
        kinds = ("constant", "linear", "exponential")
        if not isinstance(backoff, Mapping) or len(backoff) != 1 or next(iter(backoff)) not in kinds:
            problems.append(
                Problem(f"{field}.backoff", "expected one of {constant: {}}, {linear: {}}, {exponential: {}}")
            )
        elif backoff[next(iter(backoff))]:
            problems.append(
                Problem(f"{field}.backoff", "a backoff takes no settings: the wait is derived from 'delay'")
            )
    limit = retry.get("limit")
    if not isinstance(limit, Mapping) or not (limit.get("attempt") or limit.get("duration") is not None):
        problems.append(Problem(f"{field}.limit", "a retry needs a limit: attempt.count and/or duration"))
        return problems
    problems += _unknown_keys(f"{field}.limit", limit, ("attempt", "duration"), "a retry limit")
    attempt = limit.get("attempt")
    if attempt is not None:
        if not isinstance(attempt, Mapping):
            problems.append(Problem(f"{field}.limit.attempt", "expected {count: <number of attempts>}"))
        else:
            if "duration" in attempt:
                problems.append(
                    Problem(f"{field}.limit.attempt.duration", "not supported by this runner; use limit.duration")
                )
            problems += _unknown_keys(f"{field}.limit.attempt", attempt, ("count", "duration"), "a retry attempt limit")
            count = attempt.get("count")
            if not (isinstance(count, int) and not isinstance(count, bool) and count >= 1):
                problems.append(
                    Problem(f"{field}.limit.attempt.count", f"{count!r} is not a number of attempts (1 or more)")
                )
    if limit.get("duration") is not None and duration_seconds(limit["duration"]) is None:
        problems.append(Problem(f"{field}.limit.duration", f"{limit['duration']!r} is not a duration such as PT1M"))
    return problems


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []

"""The ``Task`` value that task builders return and workflows hold."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from stigmer.api import json_values
from stigmer.api.v1 import workflow_pb2
from stigmer.api.validation import Problem, ValidationError, task_list_problems
from stigmer.sdk.checks import check, scoped
from stigmer.sdk.variables import Var, resolve


@dataclass(frozen=True, kw_only=True)
class Task:
    """One step of a workflow: a name, a kind, the kind's config, and optional flow fields.

    ``config`` may hold context values (``Var``) and nested tasks (for ``do`` / ``branches``), which
    are resolved by ``to_dict`` / ``to_proto``. Build tasks with the functions of ``stigmer.tasks``.
    """

    name: str
    kind: str
    config: Mapping[str, Any] = field(default_factory=dict)
    then: str = ""
    condition: str = ""
    export: str = ""
    uses: tuple[Any, ...] = field(default=(), repr=False, compare=False)
    """Resources of the project this task refers to (agents, workflows), checked at synthesis."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check the task alone with the shared workflow rules.

        Its ``then`` target may come later, and the variables of the scope it will be placed in
        (``$item`` inside a ``for_each``, ``$error`` inside a catch) are not known yet: the workflow
        checks those when the task is added to it.
        """
        self.to_proto()  # JSON-like config, or a ValidationError naming it
        problems = task_list_problems([self.to_dict()], field="task", scope=None, check_targets=False)
        check(scoped(problems, "task[0]"), f"task {self.name!r}")

    def to_dict(self) -> dict[str, Any]:
        """The task as ``{name, kind, config, then?, condition?, export?}``, the nested-task shape."""
        data: dict[str, Any] = {"name": self.name, "kind": self.kind, "config": _plain(self.config)}
        for key in ("then", "condition", "export"):
            value = resolve(getattr(self, key))
            if value:
                data[key] = value
        return data

    def to_proto(self) -> workflow_pb2.Task:
        """The ``stigmer.api.v1.Task`` message."""
        data = self.to_dict()
        try:
            config = json_values.dumps(data["config"])
        except json_values.JsonValueError as exc:
            raise ValidationError(
                [Problem("config", f"values must be JSON-like data: {exc}")], f"task {self.name!r}"
            ) from exc
        return workflow_pb2.Task(
            name=data["name"],
            kind=data["kind"],
            config_json=config,
            then=data.get("then", ""),
            condition=data.get("condition", ""),
            export=data.get("export", ""),
        )

    def walk(self) -> Iterator[Task]:
        """This task and every task nested in its config, depth first."""
        yield self
        yield from _nested_tasks(self.config)


def _plain(value: Any) -> Any:
    """JSON-like data: context values resolved, nested tasks as dicts, tuples as lists."""
    if isinstance(value, Task):
        return value.to_dict()
    if isinstance(value, Var):
        return _plain(value.value)
    if isinstance(value, Mapping):
        return {str(resolve(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _nested_tasks(value: Any) -> Iterator[Task]:
    if isinstance(value, Task):
        yield from value.walk()
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _nested_tasks(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _nested_tasks(item)

"""Workflows: an ordered list of tasks under a namespace, name and version."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from stigmer.api.v1 import common_pb2, workflow_pb2
from stigmer.api.validation import Problem, ValidationError, task_list_problems, workflow_problems
from stigmer.sdk.checks import check
from stigmer.sdk.env import EnvVar
from stigmer.sdk.task import Task
from stigmer.sdk.variables import Var, resolve, resolve_text

Text = str | Var[str]


class Workflow:
    """A workflow of tasks, run in order (``then`` and ``switch`` change the flow).

    The constructor validates the name, namespace, version and env; ``add`` validates each task as
    it is added (a ``then`` may name a task added later). Add it to the project with ``ctx.add(wf)``.
    """

    def __init__(
        self,
        *,
        name: Text,
        namespace: Text,
        version: Text = "0.1.0",
        description: Text = "",
        env: Sequence[EnvVar] = (),
        tasks: Sequence[Task] = (),
    ) -> None:
        self.name = name
        self.namespace = namespace
        self.version = version
        self.description = description
        self.env = tuple(env)
        self._tasks: list[Task] = []
        self._names: set[str] = set()
        for index, var in enumerate(self.env):
            if not isinstance(var, EnvVar):
                raise ValidationError([Problem(f"spec.env[{index}]", "expected an EnvVar")], self._subject())
        self._check_so_far()
        self.add(*tasks)

    def _subject(self) -> str:
        return f"workflow {resolve(self.name)!r}"

    @property
    def slug(self) -> str:
        """The workflow's name."""
        return resolve_text(self.name, "metadata.name", self._subject())

    @property
    def ref(self) -> str:
        """``namespace/name``: how tasks and the CLI refer to this workflow."""
        return f"{resolve_text(self.namespace, 'spec.namespace', self._subject())}/{self.slug}"

    @property
    def tasks(self) -> tuple[Task, ...]:
        """The tasks, in order."""
        return tuple(self._tasks)

    def add(self, *tasks: Task) -> None:
        """Append tasks (built with ``stigmer.tasks``), validating each in its place as it is added.

        Only the new tasks are checked (names unique, expressions in the workflow's scope), so
        adding tasks one by one costs the same as passing them at once; ``then`` targets may be
        added later and are checked by ``validate()``.
        """
        for index, task in enumerate(tasks, start=len(self._tasks)):
            if not isinstance(task, Task):
                raise ValidationError(
                    [Problem(f"spec.tasks[{index}]", "expected a Task (build one with stigmer.tasks)")],
                    self._subject(),
                )
        problems = task_list_problems(
            [task.to_dict() for task in tasks],
            first_index=len(self._tasks),
            earlier_names=self._names,
            check_targets=False,
        )
        check(problems, self._subject())
        self._tasks.extend(tasks)
        self._names.update(task.name for task in tasks)

    def _check_so_far(self) -> None:
        """Validate the workflow's own fields (its tasks are checked as they are added)."""
        problems = workflow_problems(self.to_proto())
        check([p for p in problems if not p.field.startswith("spec.tasks")], self._subject())

    def walk(self) -> Iterator[Task]:
        """Every task, nested ones included, depth first."""
        for task in self._tasks:
            yield from task.walk()

    def validate(self) -> None:
        """Check the complete workflow (``then`` targets must exist now)."""
        check(workflow_problems(self.to_proto()), self._subject())

    def to_proto(self) -> workflow_pb2.Workflow:
        """The ``stigmer.api.v1.Workflow`` message (metadata.name set, no ID), context values resolved."""
        subject = self._subject()
        return workflow_pb2.Workflow(
            metadata=common_pb2.Metadata(name=resolve_text(self.name, "metadata.name", subject)),
            spec=workflow_pb2.WorkflowSpec(
                namespace=resolve_text(self.namespace, "spec.namespace", subject),
                version=resolve_text(self.version, "spec.version", subject),
                description=resolve_text(self.description, "spec.description", subject),
                env=[var.to_proto() for var in self.env],
                tasks=[task.to_proto() for task in self._tasks],
            ),
        )

    def __repr__(self) -> str:
        return f"Workflow({self.ref!r}, {len(self._tasks)} task(s))"

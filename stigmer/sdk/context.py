"""The project context: the resources a project declares and its typed context values."""

from __future__ import annotations

from typing import Any, TypeVar, overload

from stigmer.api.validation import Problem, ValidationError
from stigmer.sdk.agent import Agent
from stigmer.sdk.variables import Var
from stigmer.sdk.workflow import Workflow

T = TypeVar("T")
R = TypeVar("R", Agent, Workflow)

_UNSET: Any = object()


class Context:
    """What a project's ``main(ctx)`` fills in: agents, workflows and shared context values."""

    def __init__(self) -> None:
        self._vars: dict[str, Var[Any]] = {}
        self._agents: dict[str, Agent] = {}
        self._workflows: dict[str, Workflow] = {}

    @overload
    def var(self, name: str) -> Var[Any]: ...

    @overload
    def var(self, name: str, value: T) -> Var[T]: ...

    def var(self, name: str, value: Any = _UNSET) -> Var[Any]:
        """The context value ``name``, created with ``value`` on first use.

        Asking again for the same name returns the same ``Var`` (with a value, it must equal the
        current one: use ``var.set(...)`` to change it).
        """
        existing = self._vars.get(name)
        if existing is None:
            if value is _UNSET:
                raise ValidationError([Problem("value", "a value is required to create a context variable")], name)
            self._vars[name] = existing = Var(name, value)
        elif value is not _UNSET and value != existing.value:
            raise ValidationError(
                [Problem("value", f"already set to {existing.value!r}; use .set() to change it")], f"var {name!r}"
            )
        return existing

    @property
    def vars(self) -> dict[str, Var[Any]]:
        """The context values by name."""
        return dict(self._vars)

    def add(self, resource: R) -> R:
        """Declare an ``Agent`` or ``Workflow`` of the project; returns it."""
        if isinstance(resource, Agent):
            key, store, what = resource.slug, self._agents, "agent"
        elif isinstance(resource, Workflow):
            key, store, what = resource.ref, self._workflows, "workflow"
        else:
            raise ValidationError([Problem("resource", f"expected an Agent or a Workflow, got {resource!r}")], "add")
        if key in store and store[key] is not resource:
            raise ValidationError([Problem("metadata.name", f"another {what} is already named {key!r}")], f"{what}")
        store[key] = resource
        return resource

    @property
    def agents(self) -> list[Agent]:
        """The agents, in the order they were added."""
        return list(self._agents.values())

    @property
    def workflows(self) -> list[Workflow]:
        """The workflows, in the order they were added."""
        return list(self._workflows.values())

"""Builders for the API messages the unit tests send: agents, workflows and their tasks."""

from __future__ import annotations

import json
from typing import Any

from stigmer.api.v1.agent_pb2 import Agent, AgentSpec
from stigmer.api.v1.common_pb2 import Metadata
from stigmer.api.v1.workflow_pb2 import Task, Workflow, WorkflowSpec


def make_agent(name: str = "code-reviewer", **spec: Any) -> Agent:
    """A valid agent; keyword arguments override or add `AgentSpec` fields."""
    fields = {"instructions": "Review code", "model": "llama3.2:1b", **spec}
    return Agent(metadata=Metadata(name=name), spec=AgentSpec(**fields))


def make_task(name: str, kind: str, config: dict[str, Any], **extra: str) -> Task:
    """A task of `kind` with `config`; keyword arguments set other `Task` fields (`then`, `condition`)."""
    return Task(name=name, kind=kind, config_json=json.dumps(config), **extra)


def make_workflow(*tasks: Task, name: str = "fetch-data", namespace: str = "demo", version: str = "1.0.0") -> Workflow:
    """A workflow of `tasks`, or of one `set` task when none are given."""
    if not tasks:
        tasks = (make_task("init", "set", {"set": {"x": 1}}),)
    return Workflow(
        metadata=Metadata(name=name), spec=WorkflowSpec(namespace=namespace, version=version, tasks=list(tasks))
    )

"""The Stigmer Python SDK: declare agents and workflows in code, synthesize them for ``stigmer apply``.

A project's entry point defines ``main(ctx)`` and ends with ``stigmer.synthesize(main)``; these
names are also importable from ``stigmer`` itself.
"""

from stigmer.api.validation import ValidationError
from stigmer.sdk import tasks
from stigmer.sdk.agent import Agent, McpServer, Skill, SubAgent
from stigmer.sdk.context import Context
from stigmer.sdk.env import EnvVar
from stigmer.sdk.expressions import env_ref, expr
from stigmer.sdk.files import instructions_from_file, project_path
from stigmer.sdk.synth import Synthesis, build, synthesize
from stigmer.sdk.task import Task
from stigmer.sdk.variables import Var
from stigmer.sdk.workflow import Workflow

__all__ = [
    "Agent",
    "Context",
    "EnvVar",
    "McpServer",
    "Skill",
    "SubAgent",
    "Synthesis",
    "Task",
    "ValidationError",
    "Var",
    "Workflow",
    "build",
    "env_ref",
    "expr",
    "instructions_from_file",
    "project_path",
    "synthesize",
    "tasks",
]

"""One agent execution end to end, without Temporal: plan, tools, loop, answer."""

from __future__ import annotations

import os
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Protocol

from stigmer import secret_logs
from stigmer.agent_runner.env_values import Redactor, RuntimeEnv
from stigmer.agent_runner.llm import ChatOptions
from stigmer.agent_runner.loop import Answer, Loop
from stigmer.agent_runner.mcp_container import execution_labels
from stigmer.agent_runner.mcp_tools import mcp_tools
from stigmer.agent_runner.model_choice import choose_model
from stigmer.agent_runner.progress import Progress
from stigmer.agent_runner.prompt import first_messages, system_prompt
from stigmer.agent_runner.reporting import Reporter
from stigmer.agent_runner.settings import RunnerSettings
from stigmer.agent_runner.sub_agents import SubAgentPlan, plan_inline, plan_stored, sub_agent_name, sub_agent_tools
from stigmer.agent_runner.tools import Tool, ToolBox, ToolError
from stigmer.agent_runner.workspace_tools import Workspace, workspace_tools
from stigmer.api.v1 import agent_pb2, execution_pb2
from stigmer.api.v1.agent_pb2 import Agent


class AgentLookup(Protocol):
    async def agent(self, ref: str) -> Agent: ...


@dataclass
class AgentRun:
    """Everything one execution's loop needs; ``run()`` returns the final answer."""

    settings: RunnerSettings
    execution: execution_pb2.AgentExecution
    agent: agent_pb2.AgentSpec
    env: RuntimeEnv
    reporter: Reporter
    lookup: AgentLookup
    stack: AsyncExitStack
    # What earlier attempts recorded (the execution's status at this attempt's start): the run resumes.
    progress: Progress | None = None
    model: str = ""
    _mcp: list[Tool] = field(default_factory=list)
    # MCP tools of sub-agents by agent_ref, by sub-agent name: their servers start once per execution.
    _sub_mcp: dict[str, list[Tool]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._workspace = Workspace(self.settings.workspace_root / self.execution.metadata.id)
        self._key = self.execution.metadata.id  # tools' idempotency keys: <execution id>/<call id>
        self._labels = execution_labels(str(self.settings.home), self._key, os.environ)  # docker MCP servers'

    @property
    def config(self) -> execution_pb2.ExecutionConfig:
        return self.execution.spec.config

    def chat_options(self, model: str) -> ChatOptions:
        config = self.config
        return ChatOptions(
            host=self.settings.ollama_host,
            model=model,
            timeout_seconds=float(config.timeout_seconds or self.settings.llm_timeout_seconds),
            temperature=config.temperature if config.HasField("temperature") else None,
        )

    def prompt(
        self,
        instructions: str,
        skills: list[agent_pb2.Skill],
        subs: list[tuple[str, str]],
        env: RuntimeEnv | None = None,
    ) -> str:
        env = env or self.env
        return system_prompt(instructions, skills, env.values, env.secret_names, subs)

    async def run(self) -> Answer:
        workspace = self._workspace
        workspace.create()
        self.model = choose_model(
            override=self.settings.model_override, call_model=self.config.model, agent_model=self.agent.model
        )
        self._mcp = await mcp_tools(
            self.stack,
            self.agent.mcp_servers,
            self.env.values,
            workspace.root,
            self.env.redactor(),
            self._key,
            self._labels,
        )
        toolbox = ToolBox([*workspace_tools(workspace), *self._mcp])
        descriptions = await self._sub_agent_descriptions()
        for tool in sub_agent_tools(self.agent.sub_agents, self._run_sub_agent, descriptions):
            toolbox.add(tool)
        subs = [(name, descriptions[name]) for name in map(sub_agent_name, self.agent.sub_agents)]
        system = self.prompt(self.agent.instructions, list(self.agent.skills), subs)
        loop = Loop(self.chat_options(self.model), toolbox, self.reporter, self.env.redactor(), progress=self.progress)
        return await loop.run(first_messages(system, self.execution.spec.message))

    async def _sub_agent_descriptions(self) -> dict[str, str]:
        """Each sub-agent's description; one by ``agent_ref`` without its own has the stored agent's."""
        found = {}
        for sub in self.agent.sub_agents:
            description = sub.description
            if not description and sub.agent_ref:
                try:
                    description = (await self.lookup.agent(sub.agent_ref)).spec.description
                except Exception:  # described without it; calling it reports why it cannot be loaded
                    description = ""
            found[sub_agent_name(sub)] = description
        return found

    async def _run_sub_agent(self, sub: agent_pb2.SubAgent, message: str, call_id: str) -> str:
        plan = await self._plan(sub)
        env = self.env if plan.declared_env is None else self.env.for_declared(plan.declared_env)
        secret_logs.remember(env.secret_values)
        # What leaves the sub-agent is scrubbed of the parent's secrets and of its own.
        redact = Redactor([*self.env.secret_values, *env.secret_values])
        toolbox = ToolBox(workspace_tools(self._workspace))
        for tool in self._mcp:
            if tool.source.removeprefix("mcp:") in plan.parent_servers:
                toolbox.add(tool)
        if plan.name not in self._sub_mcp:
            self._sub_mcp[plan.name] = await mcp_tools(
                self.stack, plan.own_servers, env.values, self._workspace.root, redact, self._key, self._labels
            )
        for tool in self._sub_mcp[plan.name]:
            toolbox.add(tool)
        loop = Loop(
            self.chat_options(plan.model),
            toolbox,
            self.reporter,
            redact,
            stream=False,
            call_prefix=call_id,
            label=f"sub-agent {plan.name!r}",
            progress=self.progress,
        )
        answer = await loop.run(first_messages(self.prompt(plan.instructions, plan.skills, [], env), message))
        return answer.text

    async def _plan(self, sub: agent_pb2.SubAgent) -> SubAgentPlan:
        if not sub.agent_ref:
            return plan_inline(sub, self.agent, self.model, self.settings.model_override)
        try:
            stored = await self.lookup.agent(sub.agent_ref)
        except Exception as exc:
            raise ToolError(f"sub-agent {sub.agent_ref!r} cannot be loaded: {exc}") from None
        return plan_stored(sub, stored, self.settings.model_override)

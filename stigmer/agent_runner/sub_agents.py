"""Sub-agents as tools: the model calls one with a message and gets its final answer back.

An inline sub-agent runs with its own instructions and model (its parent's when it has none), the
parent's skills and MCP servers it names, and the built-in workspace tools. A sub-agent by
``agent_ref`` is the stored agent (``AgentService.Get``): its instructions, model, skills, its own
MCP servers and its own declared env vars (valued from the parent's runtime env, else by their
defaults; secret as it declares them, or as the parent holds them); its own sub-agents are not offered
(no nesting beyond one level).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stigmer.agent_runner.model_choice import choose_model
from stigmer.agent_runner.tools import Tool, ToolError, sub_agent_source
from stigmer.api.v1 import agent_pb2
from stigmer.api.v1.common_pb2 import EnvVar


@dataclass(frozen=True)
class SubAgentPlan:
    name: str
    description: str
    instructions: str
    model: str
    skills: list[agent_pb2.Skill] = field(default_factory=list)
    # Names of the parent's MCP servers it may use (inline) ...
    parent_servers: list[str] = field(default_factory=list)
    # ... or its own servers (by agent_ref).
    own_servers: list[agent_pb2.McpServer] = field(default_factory=list)
    # The env vars it declares (by agent_ref): its servers and prompt see only these.
    declared_env: list[EnvVar] | None = None


def plan_inline(
    sub: agent_pb2.SubAgent, parent: agent_pb2.AgentSpec, parent_model: str, override: str | None
) -> SubAgentPlan:
    skills = {s.name: s for s in parent.skills}
    missing = [name for name in sub.skill_refs if name not in skills]
    if missing:
        raise ToolError(f"sub-agent {sub.name!r} names skill(s) {', '.join(missing)} its parent does not have")
    servers = {s.name for s in parent.mcp_servers}
    missing = [name for name in sub.mcp_server_refs if name not in servers]
    if missing:
        raise ToolError(f"sub-agent {sub.name!r} names MCP server(s) {', '.join(missing)} its parent does not have")
    return SubAgentPlan(
        name=sub.name,
        description=sub.description,
        instructions=sub.instructions,
        model=choose_model(override=override, agent_model=sub.model, inherited=parent_model),
        skills=[skills[name] for name in sub.skill_refs],
        parent_servers=list(sub.mcp_server_refs),
    )


def plan_stored(sub: agent_pb2.SubAgent, agent: agent_pb2.Agent, override: str | None) -> SubAgentPlan:
    spec = agent.spec
    return SubAgentPlan(
        name=sub.name or agent.metadata.name,
        description=sub.description or spec.description,
        instructions=spec.instructions,
        model=choose_model(override=override, agent_model=spec.model),
        skills=list(spec.skills),
        own_servers=list(spec.mcp_servers),
        declared_env=list(spec.env),
    )


RunSubAgent = Callable[[agent_pb2.SubAgent, str, str], Awaitable[str]]
"""``(sub-agent, message, call id) -> final answer``."""


def sub_agent_name(sub: agent_pb2.SubAgent) -> str:
    return sub.name or sub.agent_ref


def sub_agent_tools(
    subs: Sequence[agent_pb2.SubAgent], run: RunSubAgent, descriptions: Mapping[str, str] | None = None
) -> list[Tool]:
    """One tool per sub-agent; ``descriptions`` (by sub-agent name) stand in for those a sub-agent lacks
    (a sub-agent by ``agent_ref`` is described by the stored agent's description)."""
    tools = []
    for sub in subs:
        name = sub_agent_name(sub)
        described = sub.description or (descriptions or {}).get(name, "")

        def handler(sub: agent_pb2.SubAgent = sub) -> Any:
            async def call(arguments: dict[str, Any], call_id: str) -> str:
                message = arguments.get("message")
                if not isinstance(message, str) or not message.strip():
                    raise ToolError("argument 'message' (a string) is required: what the sub-agent should do")
                return await run(sub, message, call_id)

            return call

        description = f"Delegate to the sub-agent {name}"
        if described:
            description += f": {described}"
        parameters = {
            "type": "object",
            "properties": {"message": {"type": "string", "description": "The task for the sub-agent"}},
            "required": ["message"],
        }
        tools.append(Tool(name, description, parameters, sub_agent_source(name), handler()))
    return tools
